"""Events (output, paused, resumed, exited) reach only clients that proved the
key, and a client that stops reading costs the program a bounded amount of
memory: events beyond its share are dropped, and it is told so."""

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

import zmq

from remote_helpers import TIMEOUT, launch, line_in, request_frames, runtime_dir  # noqa: F401


def listening_ports(pid: int) -> list:
    """Every TCP port the process listens on (whatever its connection file says)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def test_a_peer_without_the_key_receives_no_event(launch, capsys):
    program = launch("""
        import jupdb

        jupdb.set_trace()
        for i in range(100):
            print("secret", i)
        jupdb.set_trace()                         # SECOND
    """)
    session = program.connect()
    ports = listening_ports(program.pid)
    assert session.info["request_port"] in ports
    context = zmq.Context()
    spies = []
    try:
        for port in ports:
            # What anyone on the machine can do: subscribe to everything, and ask
            # for events with a request signed by a key of their own.
            sub = context.socket(zmq.SUB)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(f"tcp://127.0.0.1:{port}")
            dealer = context.socket(zmq.DEALER)
            dealer.connect(f"tcp://127.0.0.1:{port}")
            dealer.send_multipart(request_frames(secrets.token_bytes(32), "subscribe_request", {}))
            dealer.send_multipart(request_frames(None, "subscribe_request", {}, signature=b""))
            spies += [sub, dealer]
        time.sleep(1)  # a SUB socket misses what is published before it has joined

        session.cont()
        stop = session.wait(timeout=TIMEOUT)
        assert stop.line == line_in(program.source, "# SECOND")
        assert "secret 99\n" in capsys.readouterr().out  # the client with the key got it all
        session.eval("1")

        poller = zmq.Poller()
        for spy in spies:
            poller.register(spy, zmq.POLLIN)
        received = dict(poller.poll(500))
        assert not received, "a peer without the key received messages"
    finally:
        for spy in spies:
            spy.close(linger=0)
        context.term()
    session.cont()
    program.assert_finishes_ok()


STOPPED_CLIENT = """
import json, sys, time
import jupdb

session = jupdb.connect(int(sys.argv[1]), timeout=30)
print("subscribed", flush=True)
sys.stdin.readline()  # the test writes a line once this process is continued
seen, dropped = {}, None
deadline = time.monotonic() + 30
while dropped is None and time.monotonic() < deadline:
    event = session._client.next_event(1)
    if event is not None:
        seen[event[0]] = seen.get(event[0], 0) + 1
        if event[0] == "dropped":
            dropped = event[1]
print(json.dumps({"seen": seen, "dropped": dropped}), flush=True)
"""


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_stopped_client_costs_bounded_memory_blocks_nobody_and_learns_what_it_missed(launch, tmp_path):
    program = launch("""
        import os, time
        import jupdb

        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # printed for the clients only
        jupdb.set_trace()
        line = "x" * 1000
        end = time.monotonic() + 6
        while time.monotonic() < end:
            print(line)
        jupdb.set_trace()                         # SECOND
    """)
    program.wait_paused()
    script = tmp_path / "stopped_client.py"
    script.write_text(STOPPED_CLIENT)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    stopped = subprocess.Popen(
        [sys.executable, str(script), str(program.pid)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert stopped.stdout.readline() == "subscribed\n"
        session = program.connect()
        stopped.send_signal(signal.SIGSTOP)
        before = rss(program.pid)
        peak = [before]
        printing = threading.Event()
        printing.set()

        def sample():
            while printing.is_set():
                peak[0] = max(peak[0], rss(program.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            session.cont()
            # The other client gets its events (and replies) all along.
            while True:
                event = session._client.next_event(TIMEOUT)
                assert event is not None, "the running client got no pause"
                if event[0] == "paused":
                    break
            assert event[1]["location"]["line"] == line_in(program.source, "# SECOND")
            assert session.eval("line[:3]").repr == "'xxx'"
        finally:
            printing.clear()
            sampler.join()
        grown = peak[0] - before
        assert grown < 32 << 20, f"the program grew by {grown >> 20} MiB while a client was stopped"

        stopped.send_signal(signal.SIGCONT)
        out, _ = stopped.communicate("go\n", timeout=TIMEOUT)
        report = json.loads(out)
        assert report["dropped"] is not None, f"the stopped client was not told what it missed: {report}"
        assert report["dropped"]["events"] > 0 and report["dropped"]["output"] > 0
        assert report["seen"].get("output", 0) > 0  # what fitted in its share came
    finally:
        if stopped.poll() is None:
            stopped.send_signal(signal.SIGCONT)
            stopped.kill()
            stopped.wait()
    session.cont()
    program.assert_finishes_ok()
