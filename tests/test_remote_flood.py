"""Hostile peers on real sockets: strangers without the key who flood the
debuggee's port, and a fake debuggee that lies to the client. Nothing they
send may abort either side, grow the debuggee by more than 256 MiB, or keep a
real client out. Loopback only; each test bounded in count and time."""

import os
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import jupdb
from remote_helpers import PAUSED_AT_A, TIMEOUT, launch, runtime_dir, wait_until  # noqa: F401 (fixtures)

MiB = 1 << 20
RSS_BUDGET = 256 * MiB


# ZMTP 3.0, NULL mechanism, as a client (as-server 0).
GREETING = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31


def ready(socket_type: bytes) -> bytes:
    """A READY command frame naming `socket_type`."""
    body = b"\x05READY" + b"\x0bSocket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    return b"\x04" + bytes([len(body)]) + body


def frame_header(length: int, more: bool) -> bytes:
    """The flags and length of a message frame of `length` bytes (long form)."""
    return bytes([0x02 | (0x01 if more else 0)]) + length.to_bytes(8, "big")


def stranger(port: int) -> socket.socket:
    """A connection that has done the ZMTP handshake as a DEALER: no key needed."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    raw.sendall(GREETING + ready(b"DEALER"))
    return raw


def proc_status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """Samples a process's RSS from another thread; `growth` is the peak over the start."""

    def __init__(self, pid: int):
        self.pid = pid
        self.start = proc_status(pid, "VmRSS")
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, proc_status(self.pid, "VmRSS"))
            except OSError:
                return

    @property
    def growth(self) -> int:
        self._stop.set()
        self._thread.join(TIMEOUT)
        return self.peak - self.start


class Target:
    """A paused program and a session with it."""

    def __init__(self, launch):
        self.program = launch(PAUSED_AT_A)
        self.session = self.program.connect(timeout=TIMEOUT)
        # Its first authentic request proves the session's connection: a flood
        # can no longer take its place.
        assert self.session.status()["state"] == "paused"
        self.pid = self.program.pid
        self.port = self.session.info["request_port"]

    def assert_alive_and_serving(self):
        """The program lives, and a new client gets in and evaluates."""
        if self.program.proc.poll() is not None:
            pytest.fail(f"the program died ({self.program.proc.returncode}):\n{self.program.stderr[-1500:]}")
        with jupdb.connect(self.pid, timeout=TIMEOUT) as fresh:
            assert fresh.eval("a + 1").repr == "11"
        assert self.session.eval("a").repr == "10"

    def finish(self):
        self.session.cont()
        self.program.assert_finishes_ok()
        assert self.program.stdout_lines() == ["a 10"]


@pytest.fixture
def target(launch):
    return Target(launch)


def send_until_refused(raw: socket.socket, chunks, limit: int) -> int:
    """Sends chunks until `limit` bytes went out or the debuggee hangs up; returns bytes sent."""
    sent = 0
    try:
        for chunk in chunks:
            raw.sendall(chunk)
            sent += len(chunk)
            if sent >= limit:
                break
    except OSError:
        pass  # the debuggee hung up: what a limit does
    return sent


def test_a_message_whose_frames_never_end_does_not_grow_the_program(target):
    """Frames of 64 KiB, each saying "more follows", for 384 MiB: the 64 MiB
    limit is per frame, so only a limit on the whole message stops this."""
    rss = PeakRss(target.pid)
    frame = frame_header(64 * 1024, more=True) + b"x" * (64 * 1024)
    raw = stranger(target.port)
    try:
        send_until_refused(raw, iter(lambda: frame, None), 384 * MiB)
        time.sleep(0.3)  # let the debuggee read what is in flight
        assert rss.growth <= RSS_BUDGET, f"the debuggee grew by {rss.growth / MiB:.0f} MiB"
        target.assert_alive_and_serving()
    finally:
        raw.close()
    target.finish()


def test_many_tiny_frames_do_not_grow_the_program(target):
    """Empty frames cost the debuggee memory too (one record each), though
    they add no bytes to the message."""
    rss = PeakRss(target.pid)
    raw = stranger(target.port)
    try:
        burst = frame_header(0, more=True) * 65536
        send_until_refused(raw, iter(lambda: burst, None), 300 * MiB)
        time.sleep(0.3)
        assert rss.growth <= RSS_BUDGET, f"the debuggee grew by {rss.growth / MiB:.0f} MiB"
        target.assert_alive_and_serving()
    finally:
        raw.close()
    target.finish()


def test_large_frame_announcements_under_an_address_space_limit(target):
    """Many connections each announce a 64 MiB frame and send a little of it:
    memory reserved at the announcement exhausts an address-space limit."""
    vm_size = proc_status(target.pid, "VmSize")
    _, hard = resource.prlimit(target.pid, resource.RLIMIT_AS)
    resource.prlimit(target.pid, resource.RLIMIT_AS, (vm_size + 512 * MiB, hard))
    rss = PeakRss(target.pid)
    strangers = []
    try:
        for _ in range(24):
            raw = stranger(target.port)
            strangers.append(raw)
            try:
                raw.sendall(frame_header(64 * MiB, more=False) + b"y" * (256 * 1024))
            except OSError:
                pass  # refused: fine
        time.sleep(0.5)
        assert rss.growth <= RSS_BUDGET, f"the debuggee grew by {rss.growth / MiB:.0f} MiB"
        target.assert_alive_and_serving()
    finally:
        for raw in strangers:
            raw.close()
    resource.prlimit(target.pid, resource.RLIMIT_AS, (hard, hard))
    target.finish()


def test_idle_and_half_open_connections_are_bounded(target):
    """Hundreds of connections that never finish the handshake, or finish it
    and say nothing: they must not hold descriptors for ever, and a real
    client must still get in while they are held."""
    before = descriptors(target.pid)
    held = []
    try:
        for i in range(300):
            if i % 2:
                held.append(stranger(target.port))
            else:
                raw = socket.create_connection(("127.0.0.1", target.port), timeout=TIMEOUT)
                raw.sendall(b"\xff\x00\x00")  # the start of a greeting, and then nothing
                held.append(raw)
        # The debuggee keeps a bounded number (128 for unproven peers), and lets
        # go of those that did not finish their handshake within 5 s.
        wait_until(
            lambda: descriptors(target.pid) <= before + 130,
            timeout=8,
            what="the debuggee to let go of the strangers' connections",
        )
        target.assert_alive_and_serving()
        wait_until(
            lambda: descriptors(target.pid) <= before + 70,
            timeout=8,
            what="the debuggee to close connections whose handshake did not end",
        )
    finally:
        for raw in held:
            raw.close()
    target.finish()


def test_a_real_client_gets_in_while_strangers_keep_connecting(target):
    """Strangers connect as fast as they can and hold 400 connections, more
    than the debuggee keeps: each newcomer takes the place of the oldest
    stranger, never of a client that has proven the key, and a new client
    proves it with its first request."""
    stop = threading.Event()
    opened = []

    def flood():
        held = []
        while not stop.is_set():
            try:
                held.append(stranger(target.port))
            except OSError:
                time.sleep(0.01)
            opened.append(1)
            if len(held) > 400:
                held.pop(0).close()
        for raw in held:
            raw.close()

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(opened) > 400, what="the strangers' connections")
        for i in range(5):
            with jupdb.connect(target.pid, timeout=TIMEOUT) as fresh:
                assert fresh.eval(f"a + {i}").repr == str(10 + i)
            assert target.session.eval("a").repr == "10"
        assert descriptors(target.pid) < 200, "the debuggee holds every stranger's connection"
    finally:
        stop.set()
        thread.join(TIMEOUT)
    target.finish()


def test_accept_does_not_spin_when_the_program_is_out_of_descriptors(target):
    """When accept() fails with EMFILE the listener must wait, not retry at once."""
    _, hard = resource.prlimit(target.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(target.pid, resource.RLIMIT_NOFILE, (descriptors(target.pid) + 10, hard))
    held = []
    try:
        for _ in range(40):
            held.append(socket.create_connection(("127.0.0.1", target.port), timeout=TIMEOUT))
        time.sleep(0.5)
        start = cpu_seconds(target.pid)
        time.sleep(2.0)
        busy = cpu_seconds(target.pid) - start
        # A paused program uses next to no CPU; a spinning accept loop takes a
        # core, or its share of a loaded machine's.
        assert busy < 0.15, f"the debuggee used {busy:.2f} s of CPU in 2 s while out of descriptors"
    finally:
        for raw in held:
            raw.close()
        resource.prlimit(target.pid, resource.RLIMIT_NOFILE, (hard, hard))
    target.assert_alive_and_serving()
    target.finish()


FAKE_CLIENT = """
import sys
from jupdb.remote.session import Session
info = {{"pid": 1, "session_id": "fake", "ip": "127.0.0.1", "request_port": {request_port},
        "key": "00" * 32, "signature_scheme": "jupdb-blake3-v1"}}
try:
    session = Session(info, timeout=3)
    session.status()
except Exception as exc:
    print("survived:", type(exc).__name__, flush=True)
else:
    print("no error?", flush=True)
"""


class FakeDebuggee:
    """A ZMTP endpoint in a debuggee's place: it greets its client properly as
    a ROUTER, then sends what `poison` gives."""

    def __init__(self, poison: bytes):
        self.poison = poison
        self.listeners = {}
        self.threads = []
        for name, socket_type in (("request_port", b"ROUTER"),):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(4)
            self.listeners[name] = listener
            thread = threading.Thread(target=self._serve, args=(listener, socket_type), daemon=True)
            thread.start()
            self.threads.append(thread)
        self.conns = []

    def _serve(self, listener, socket_type):
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        self.conns.append(conn)
        greeting = bytearray(GREETING)
        greeting[32] = 1  # as-server
        conn.sendall(bytes(greeting) + ready(socket_type))
        if socket_type == b"ROUTER":
            try:
                conn.sendall(self.poison)
            except OSError:
                pass

    @property
    def ports(self):
        return {name: listener.getsockname()[1] for name, listener in self.listeners.items()}

    def close(self):
        for sock in list(self.listeners.values()) + self.conns:
            sock.close()


@pytest.mark.parametrize(
    "poison", [frame_header(1 << 40, more=False), frame_header(1 << 62, more=False)], ids=["1TiB", "2**62"]
)
def test_a_fake_debuggee_announcing_a_huge_frame_does_not_abort_the_client(tmp_path, poison):
    fake = FakeDebuggee(poison)
    try:
        script = tmp_path / "client.py"
        script.write_text(textwrap.dedent(FAKE_CLIENT.format(**fake.ports)))
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    finally:
        fake.close()
    assert done.returncode == 0, f"the client died ({done.returncode}):\n{done.stderr[-1500:]}"
    # Not a KeyError or a refused scheme: the client went as far as reading the poison.
    assert done.stdout.strip() in ("survived: TimeoutError", "survived: ConnectionError", "survived: SessionLost"), (
        done.stdout + done.stderr
    )
