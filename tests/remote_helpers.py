"""Helpers for the remote debugger's end-to-end tests (tests/test_remote_*.py).

Every test runs real programs in real subprocesses and talks to them over real
sockets. Nothing here is a mock:

* ``runtime_dir`` (fixture) gives each test its own ``JUPDB_RUNTIME_DIR``, set
  both in the test process (the client side) and in every program it starts,
  so that tests never see each other's debuggees.
* ``launch`` (fixture) writes a program into ``tmp_path`` and starts it; its
  output is collected by reader threads; every program still running at the end
  of the test is killed, and every session opened through ``program.connect()``
  closed.
* ``in_process`` (fixture) is for ``set_trace`` in a thread of the test process.
* ``line_in`` finds a line by a marker comment, so that no line number is
  hard-coded.
* ``msgpack_packb`` / ``msgpack_unpackb`` and ``sign`` build protocol messages
  by hand (docs/protocol.md sections 2-4), for the tests that talk to the
  server's sockets directly (msgpack is not a test dependency); ``sign`` runs
  the page's own Python, so every such test checks the page too.

Import the fixtures into a test module with
``from remote_helpers import launch, runtime_dir  # noqa: F401``.
"""

from __future__ import annotations

import datetime
import hmac
import itertools
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

import pytest

import jupdb

#: How long a test waits for anything that should happen (generous: the suite
#: runs on small, busy machines; the tests never assert on elapsed time).
TIMEOUT = 30.0

#: The one line a debuggee prints to stderr when it first pauses.
PAUSED_LINE = re.compile(
    r"jupdb: paused at (?P<file>.+):(?P<line>\d+) in (?P<function>.+)\(\) "
    r"\(pid (?P<pid>\d+), port (?P<port>\d+)\); connect with "
)

PROGRAMS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "remote_programs")


def line_in(path_or_text: str, marker: str) -> int:
    """The number of the one line containing ``marker`` (in a file, or in source text)."""
    if "\n" not in path_or_text and os.path.exists(path_or_text):
        with open(path_or_text, encoding="utf-8") as fh:
            text = fh.read()
    else:
        text = path_or_text
    hits = [i for i, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times"
    return hits[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(predicate, timeout: float = TIMEOUT, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Program:
    """A program running in a subprocess, its stdout and stderr collected line by line."""

    def __init__(
        self, path: str, env: Dict[str, str], args: List[str], reap: bool = True, command: Optional[List[str]] = None
    ) -> None:
        self.path = path
        self.source = open(path, encoding="utf-8").read()
        self.proc = subprocess.Popen(
            [*(command or [sys.executable]), path, *args],
            cwd=os.path.dirname(path),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.pid = self.proc.pid
        self._stdout: List[str] = []
        self._stderr: List[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self._stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self._stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        if reap:
            # Like a shell, collect the process as soon as it ends, so that it does not
            # linger as a zombie (which kill(pid, 0) still finds). reap=False models a
            # parent that has not waited for it yet, e.g. a notebook's subprocess.Popen.
            threading.Thread(target=self.proc.wait, daemon=True).start()
        self.sessions: List[Any] = []

    def _read(self, stream, into: List[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    # -- output ------------------------------------------------------------------------
    @property
    def stdout(self) -> str:
        with self._changed:
            return "".join(self._stdout)

    @property
    def stderr(self) -> str:
        with self._changed:
            return "".join(self._stderr)

    def stdout_lines(self) -> List[str]:
        return [line.rstrip("\n") for line in self.stdout.splitlines()]

    def _wait_for(self, lines: List[str], pattern: "re.Pattern[str] | str", timeout: float, name: str):
        regex = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in lines:
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                ended = self.proc.poll() is not None and not any(r.is_alive() for r in self._readers)
                if left <= 0 or ended:
                    raise AssertionError(
                        f"{name} of {self.path} never matched {regex.pattern!r} "
                        f"({'the program ended' if ended else f'within {timeout} s'}) "
                        f"(exit code {self.proc.poll()})\n--- stdout ---\n{''.join(self._stdout)}"
                        f"--- stderr ---\n{''.join(self._stderr)}"
                    )
                self._changed.wait(min(left, 0.2))

    def wait_stdout(self, pattern, timeout: float = TIMEOUT):
        return self._wait_for(self._stdout, pattern, timeout, "stdout")

    def wait_stderr(self, pattern, timeout: float = TIMEOUT):
        return self._wait_for(self._stderr, pattern, timeout, "stderr")

    def wait_paused(self, timeout: float = TIMEOUT) -> "re.Match[str]":
        """Wait for the "jupdb: paused at ..." line on stderr (the first pause)."""
        return self.wait_stderr(PAUSED_LINE, timeout)

    # -- connecting ----------------------------------------------------------------------
    def connect(self, timeout: float = TIMEOUT, wait: bool = True) -> "jupdb.Session":
        """A session with this program (after its first pause, unless ``wait`` is False);
        closed at the end of the test."""
        if wait:
            self.wait_paused()
        session = jupdb.connect(self.pid, timeout=timeout)
        self.sessions.append(session)
        return session

    # -- ending ----------------------------------------------------------------------------
    def finish(self, timeout: float = TIMEOUT) -> int:
        """Wait for the program to exit (and its output to be read); its exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.path} did not exit within {timeout} s\n--- stdout ---\n{self.stdout}"
                f"--- stderr ---\n{self.stderr}"
            ) from None
        for reader in self._readers:
            reader.join(timeout)
        return code

    def assert_finishes_ok(self, timeout: float = TIMEOUT) -> None:
        code = self.finish(timeout)
        assert code == 0, f"exit code {code}\n--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass

    def cleanup(self) -> None:
        for session in self.sessions:
            try:
                session.close()
            except Exception:
                pass
        self.kill()
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except Exception:
                pass


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch) -> str:
    """A fresh JUPDB_RUNTIME_DIR (not created yet: jupdb creates it, mode 0700)."""
    path = str(tmp_path / "runtime")
    monkeypatch.setenv("JUPDB_RUNTIME_DIR", path)
    monkeypatch.delenv("PYTHONBREAKPOINT", raising=False)
    return path


@pytest.fixture
def launch(tmp_path, runtime_dir):
    """Factory: ``launch(source, name="prog", env=None, args=(), reap=True, command=None)``
    writes the program (dedented) to ``tmp_path/name.py`` and starts it, in ``tmp_path``
    with this test's runtime dir, as ``command + [path] + args`` (``command``: python)."""
    started: List[Program] = []

    def start(
        source: str,
        name: str = "prog",
        env: Optional[Dict[str, str]] = None,
        args=(),
        reap: bool = True,
        command: Optional[List[str]] = None,
    ) -> Program:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
        full_env = dict(os.environ, JUPDB_RUNTIME_DIR=runtime_dir, PYTHONUNBUFFERED="1")
        full_env.pop("PYTHONBREAKPOINT", None)
        full_env.update(env or {})
        program = Program(str(path), full_env, list(args), reap=reap, command=command)
        started.append(program)
        return program

    yield start
    for program in started:
        program.cleanup()


@pytest.fixture
def in_process(runtime_dir):
    """For set_trace in a thread of the test process itself: yields a list to put
    those threads in; closes this process's jupdb server after the test (it is a
    per-process singleton) and checks that the threads resumed."""
    threads: List[threading.Thread] = []
    yield threads
    from jupdb.remote.debuggee import DebugServer

    server = DebugServer.running()
    if server is not None:
        server.close()  # also wakes a thread a failed test left paused
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the paused thread did not resume"


def wait_paused_in_process() -> None:
    """Wait until a thread of the test process has paused (see ``in_process``)."""
    wait_until(lambda: [s for s in jupdb.sessions() if s.state == "paused"], what="the thread to pause")


# -- hand-made protocol messages (docs/protocol.md, sections 2-4) ------------------------------

DELIMITER = b"<IDS|MSG>"


def msgpack_packb(obj: Any) -> bytes:
    """A minimal MessagePack encoder: None, bool, int, float, str, bytes, list, dict."""
    if obj is None:
        return b"\xc0"
    if obj is True:
        return b"\xc3"
    if obj is False:
        return b"\xc2"
    if isinstance(obj, int):
        if 0 <= obj < 0x80:
            return bytes([obj])
        if -32 <= obj < 0:
            return struct.pack(">b", obj)
        if 0 <= obj < 2**64:
            return b"\xcf" + struct.pack(">Q", obj)
        return b"\xd3" + struct.pack(">q", obj)
    if isinstance(obj, float):
        return b"\xcb" + struct.pack(">d", obj)
    if isinstance(obj, str):
        data = obj.encode("utf-8")
        if len(data) < 32:
            return bytes([0xA0 | len(data)]) + data
        return b"\xdb" + struct.pack(">I", len(data)) + data
    if isinstance(obj, (bytes, bytearray)):
        return b"\xc6" + struct.pack(">I", len(obj)) + bytes(obj)
    if isinstance(obj, (list, tuple)):
        return b"\xdd" + struct.pack(">I", len(obj)) + b"".join(msgpack_packb(x) for x in obj)
    if isinstance(obj, dict):
        return (
            b"\xdf"
            + struct.pack(">I", len(obj))
            + b"".join(msgpack_packb(k) + msgpack_packb(v) for k, v in obj.items())
        )
    raise TypeError(f"cannot pack {type(obj).__name__}")


def msgpack_unpackb(data: bytes) -> Any:
    """A minimal MessagePack decoder (the types the server sends)."""
    value, end = _unpack(data, 0)
    assert end == len(data), "trailing bytes after a MessagePack value"
    return value


def _unpack(data: bytes, i: int):  # noqa: C901 - one branch per format
    b = data[i]
    i += 1
    if b <= 0x7F:
        return b, i
    if b >= 0xE0:
        return b - 0x100, i
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        return data[i : i + n].decode("utf-8"), i + n
    if 0x90 <= b <= 0x9F:
        return _unpack_array(data, i, b & 0x0F)
    if 0x80 <= b <= 0x8F:
        return _unpack_map(data, i, b & 0x0F)
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if b in simple:
        return simple[b], i
    sized = {
        0xCC: ">B",
        0xCD: ">H",
        0xCE: ">I",
        0xCF: ">Q",
        0xD0: ">b",
        0xD1: ">h",
        0xD2: ">i",
        0xD3: ">q",
        0xCA: ">f",
        0xCB: ">d",
    }
    if b in sized:
        fmt = sized[b]
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, data[i : i + size])[0], i + size
    lengths = {
        0xD9: ">B",
        0xDA: ">H",
        0xDB: ">I",
        0xC4: ">B",
        0xC5: ">H",
        0xC6: ">I",
        0xDC: ">H",
        0xDD: ">I",
        0xDE: ">H",
        0xDF: ">I",
    }
    if b in lengths:
        fmt = lengths[b]
        size = struct.calcsize(fmt)
        (n,) = struct.unpack(fmt, data[i : i + size])
        i += size
        if b in (0xD9, 0xDA, 0xDB):
            return data[i : i + n].decode("utf-8"), i + n
        if b in (0xC4, 0xC5, 0xC6):
            return bytes(data[i : i + n]), i + n
        if b in (0xDC, 0xDD):
            return _unpack_array(data, i, n)
        return _unpack_map(data, i, n)
    raise ValueError(f"unsupported MessagePack byte 0x{b:02x}")


def _unpack_array(data: bytes, i: int, n: int):
    items = []
    for _ in range(n):
        item, i = _unpack(data, i)
        items.append(item)
    return items, i


def _unpack_map(data: bytes, i: int, n: int):
    out = {}
    for _ in range(n):
        key, i = _unpack(data, i)
        value, i = _unpack(data, i)
        out[key] = value
    return out, i


PROTOCOL_VERSION = "4.1"


def _load_documented_sign() -> Callable[[bytes, str, bytes, bytes, List[bytes]], bytes]:
    """The ``sign`` function of docs/protocol.md section 3, run as the page gives it."""
    with open(os.path.join(os.path.dirname(__file__), os.pardir, "docs", "protocol.md"), encoding="utf-8") as f:
        page = f.read()
    code = re.search(r"```python\n(import blake3.*?def sign\(.*?)```", page, re.S)
    assert code, "docs/protocol.md no longer shows sign() in Python"
    namespace: Dict[str, Any] = {}
    exec(code.group(1), namespace)
    return namespace["sign"]


_documented_sign = _load_documented_sign()


def sign(key: bytes, frames: List[bytes], direction: str = "to_debuggee") -> bytes:
    """The protocol's signature of ``frames = [header, content, *buffers]`` going ``direction``
    (``"to_debuggee"``: a request; ``"to_client"``: a reply or event), by the page's own code."""
    return _documented_sign(key, direction, frames[0], frames[1], frames[2:])


#: Every hand-made request's ``seq``: one counter for the whole test run, so numbers never repeat
#: within a client session, whatever the test.
_next_seq = itertools.count(1)


def date(seconds_from_now: float = 0.0) -> str:
    """A header ``date``: now (or that many seconds from now), as the protocol writes it."""
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def header(msg_type: str, session: str = "raw-test-client", **extra: Any) -> Dict[str, Any]:
    return {
        "msg_id": str(uuid.uuid4()),
        "session": session,
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
        "date": date(),
        "seq": next(_next_seq),
        **extra,
    }


def request_frames(
    key: Optional[bytes],
    msg_type: str,
    content: Dict[str, Any],
    signature: Optional[bytes] = None,
    body: Optional[bytes] = None,
    **header_extra: Any,
) -> List[bytes]:
    """A request as a DEALER sends it: delimiter, signature, header, content.

    The signature is the right one for ``key`` unless ``signature`` is given;
    ``body``, if given, is the content already packed (``content`` is then ignored).
    """
    head = msgpack_packb(header(msg_type, **header_extra))
    if body is None:
        body = msgpack_packb(content)
    if signature is None:
        assert key is not None
        signature = sign(key, [head, body])
    return [DELIMITER, signature, head, body]


def parse_reply(frames: List[bytes], key: bytes) -> Dict[str, Any]:
    """Checks a reply's signature; its header and content."""
    at = frames.index(DELIMITER)
    signature, head, body = frames[at + 1 : at + 4]
    expected = sign(key, [head, body, *frames[at + 4 :]], direction="to_client")
    assert hmac.compare_digest(signature, expected), "reply badly signed"
    return {"header": msgpack_unpackb(head), "content": msgpack_unpackb(body)}


# A program that pauses once with a = 10, then prints it: a target for attacks and floods.
PAUSED_AT_A = """
import jupdb

def main():
    a = 10
    jupdb.set_trace()                          # PAUSE
    print("a", a, flush=True)

main()
"""
