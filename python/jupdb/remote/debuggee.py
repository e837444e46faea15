"""The debuggee's side: the server, its connection file, ``listen()`` and ``set_trace()``.

One server per process, started by :func:`listen` or the first pause. Its sockets are served
in Rust, by the paused thread while it waits or else by jupdb's I/O thread;
requests for a paused thread are run by that thread itself (see
:mod:`jupdb.remote.paused`), and requests that need no paused thread (threads,
breakpoints, watches) by a small service thread. While it serves,
what the program prints to ``sys.stdout`` and ``sys.stderr`` is also
published to clients, as ``output`` events.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import sys
import threading
import types
import warnings
from typing import Any, Dict, Optional, Set, Union

from .. import _native

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_LOOPBACK_DEFAULT = "127.0.0.1"


class DebugServer:
    """The process's server and connection file."""

    _instance: Optional["DebugServer"] = None
    _lock = threading.Lock()

    def __init__(self, ip: str = "127.0.0.1", request_port: int = 0) -> None:
        if ip not in _LOOPBACK:
            warnings.warn(
                f"jupdb is listening on {ip}: anyone who can reach that address and read the "
                f"connection file's key can run code in this process",
                RuntimeWarning,
                stacklevel=3,
            )
        # First, so that a process with nowhere private to write has started nothing.
        directory, refused = _native.prepare_connection_dir()
        self.directory = str(directory)
        self.private_fallback = refused is not None  # a directory of our own, removed at exit
        if refused is not None:
            tell_terminal(
                f"jupdb: not using the runtime directory {refused}; "
                f"the connection file goes to {self.directory} instead"
            )
        self.session = os.urandom(8).hex()  # (what secrets.token_hex does, without importing it)
        self.native = _native.Server(
            os.urandom(32),
            self.session,
            ip=ip,
            request_port=request_port,
            details={"python_version": "%d.%d.%d" % sys.version_info[:3], "argv": list(sys.argv)},
        )
        self.info: Dict[str, Any] = {
            "transport": "tcp",
            "ip": ip,
            "request_port": self.native.request_port,
            "key": self.native.key.hex(),
            "signature_scheme": _native.SIGNATURE_SCHEME,
            "pid": os.getpid(),
            "argv": list(sys.argv),
            "python_version": "%d.%d.%d" % sys.version_info[:3],
            "session_id": self.session,
            "created": _now(),
            "state": "running",
            "location": None,
        }
        self.announced = False
        self.paused: Dict[int, Any] = {}  # thread id -> PausedThread, in pause order
        self.steppers: Dict[int, Any] = {}  # thread id -> its active Stepper
        self.pausers: Dict[int, Any] = {}  # thread id -> the Pauser a client's pause left waiting
        self.last_line_event: Dict[int, int] = {}  # thread id -> line event it paused in
        #: Threads that run the debugger's own work (serving a pause, a
        #: breakpoint's condition): as in pdb, nothing stops them there, so a
        #: client's eval that reaches a breakpoint, a set_trace() or a step's
        #: line runs through it (see PausedThread.serve).
        self.debugging: Set[int] = set()
        self.stops = 0  # pauses so far: clients wait for a stop newer than the one they saw
        from .service import Service

        self.service = Service(self)
        forward_output(self.native)
        # Only now that every request can be served and all output is forwarded:
        # a client that finds the file may ask at once (threads, pause and break
        # go to the service thread).
        try:
            self.path = str(_native.write_connection(self.info, self.directory))
        except BaseException:
            stop_forwarding_output()
            self.service.stop()
            self.native.close()
            self._remove_private_dir()
            raise
        atexit.register(self.close)

    @classmethod
    def get(cls, ip: str = "127.0.0.1", port: int = 0) -> "DebugServer":
        """The process's server, started on first use (on ``port``, 0: a free one).
        OSError when it cannot start (nowhere private to write the connection
        file, the port taken)."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(ip, port)
            elif port and port != cls._instance.info["request_port"]:
                raise RuntimeError(
                    f"jupdb is already serving this process on port {cls._instance.info['request_port']}"
                )
            return cls._instance

    @classmethod
    def running(cls) -> Optional["DebugServer"]:
        return cls._instance

    @classmethod
    def get_or_say_why(cls, ip: str = "127.0.0.1", port: int = 0) -> Optional["DebugServer"]:
        """As :meth:`get`, but where the server cannot start, None, and why on
        stderr: a pause in the program never raises into it for that."""
        try:
            return cls.get(ip, port)
        except OSError as exc:
            tell_terminal(f"jupdb: cannot serve this process, so it goes on without pausing: {exc}")
            return None

    def update_state(self) -> None:
        """Record in the connection file whether (and where) a thread is paused."""
        if DebugServer._instance is not self:
            return  # closed, or the parent's in a forked child: the file is not ours
        latest = next(reversed(self.paused.values()), None)
        self.info["state"] = "paused" if latest is not None else "running"
        self.info["location"] = latest.location() if latest is not None else None
        try:
            _native.write_connection(self.info, self.directory)
        except OSError:
            pass  # the file is a convenience for finding us; serving goes on

    def announce(self, location: Dict[str, Any], exception: Optional[Dict[str, str]] = None) -> None:
        """One line on stderr at the first pause, and at every post-mortem (a
        program that crashed says so): where, and how to connect."""
        if self.announced and exception is None:
            return
        self.announced = True
        what = "paused" if exception is None else f"post-mortem of {exception['ename']}"
        tell_terminal(
            f"jupdb: {what} at {location['file']}:{location['line']} in {location['function']}() "
            f"(pid {os.getpid()}, port {self.info['request_port']}); "
            f"connect with jupdb.connect({os.getpid()})"
        )

    def publish(self, msg_type: str, content: Dict[str, Any], thread: Optional[int] = None) -> None:
        self.native.publish(msg_type, content, thread)

    def close(self) -> None:
        """Tell subscribers the program is ending, stop serving, remove the file."""
        if DebugServer._instance is not self:
            return
        DebugServer._instance = None
        stop_forwarding_output()
        self.publish("exited", {"exit_code": None})
        # Wake every thread still waiting in Rust: a thread blocked there when the
        # interpreter finalizes would be torn down mid-call.
        for paused in list(self.paused.values()):
            paused.handle.close()
        for pauser in list(self.pausers.values()):
            pauser.cancel()
        self.service.stop()
        self.native.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        self._remove_private_dir()

    def _remove_private_dir(self) -> None:
        if self.private_fallback:
            try:
                os.rmdir(self.directory)  # only if empty: never another's file
            except OSError:
                pass


class OutputStandIn(_native.OutputTee):
    """``sys.stdout`` / ``sys.stderr`` while the server runs: ``write`` goes to the
    original stream and is published (in Rust); every other attribute is the
    original stream's."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    def __repr__(self) -> str:
        return f"<jupdb forwarding {self.original!r}>"


def forward_output(server: _native.Server) -> None:
    """Stand in for sys.stdout and sys.stderr (unless standing in already):
    what the program prints still goes where it went, and ``server``
    publishes it too. Writes to their ``.buffer`` or file descriptor are not
    seen. Called again at every pause: a program that put its own stream
    back (``contextlib.redirect_stdout`` ending) is forwarded again from then."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, OutputStandIn):
            setattr(sys, name, OutputStandIn(server, name, stream))


def tell_terminal(line: str) -> None:
    """Print jupdb's own ``line`` on the program's stderr, not forwarded to
    clients: it is not the program's output. Never raises."""
    stream = sys.stderr
    original = stream.original if isinstance(stream, OutputStandIn) else stream
    if original is None:  # pythonw, a daemon: print would write to stdout instead
        return
    try:
        print(line, file=original, flush=True)
    except Exception:  # a closed or broken stderr: the line is a courtesy, the debugging goes on
        pass


def stop_forwarding_output() -> None:
    """Put the original sys.stdout and sys.stderr back."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, OutputStandIn):
            setattr(sys, name, stream.original)


def _forget_server_in_child() -> None:
    """In a forked child, the parent's server is the parent's: its sockets and
    connection file stay untouched, and the child's first pause starts a
    server of its own (its own port and file), as a new process would."""
    global _listen_lock
    DebugServer._instance = None
    DebugServer._lock = threading.Lock()  # another thread may have held it at the fork
    _listen_lock = threading.Lock()
    stop_forwarding_output()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_server_in_child)


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def post_mortem(
    exception: Union[BaseException, types.TracebackType, None] = None, *, ip: str = "127.0.0.1", port: int = 0
) -> None:
    """Pause the calling thread where ``exception`` was raised (default: the one
    being handled) and serve remote clients until one continues, as
    ``pdb.post_mortem`` does locally. Clients see the traceback's frames (and
    the callers of its outermost one) at the lines the exception passed, and
    may inspect and change them, but not step: they have finished."""
    from .paused import PausedThread

    if exception is None:
        exception = sys.exc_info()[1]
        if exception is None:
            raise ValueError("post_mortem() needs an exception or a traceback when none is being handled")
    elif isinstance(exception, types.TracebackType):
        exception = _exception_of(exception)
    if exception.__traceback__ is None:
        raise ValueError(f"{type(exception).__name__} has no traceback: it was never raised")
    server = DebugServer.get_or_say_why(ip, port)
    if server is not None:
        PausedThread.post_mortem(server, exception).serve()


def _exception_of(tb: types.TracebackType) -> BaseException:
    """The exception whose traceback ``tb`` is, if Python still knows it (the one
    being handled, or the last uncaught one); else a stand-in carrying ``tb``."""
    for known in (sys.exc_info()[1], getattr(sys, "last_exc", None), getattr(sys, "last_value", None)):
        if known is not None and known.__traceback__ is tb:
            return known
    return Exception("an exception known only by its traceback").with_traceback(tb)


@dataclasses.dataclass(frozen=True)
class ListenInfo:
    """Where this process's jupdb server listens (what :func:`listen` returns)."""

    pid: int
    ip: str
    port: int
    session_id: str
    #: The connection file a client finds the server by (``jupdb.connect(pid)`` reads it).
    connection_file: str

    def __repr__(self) -> str:
        return f"<jupdb listening on {self.ip}:{self.port} (pid {self.pid}); connect with jupdb.connect({self.pid})>"


#: Serialises listen(): one server, and one line saying so, whichever threads call it.
_listen_lock = threading.Lock()


def listen(ip: str = "127.0.0.1", port: int = 0) -> ListenInfo:
    """Serve remote clients from now on, without pausing: returns at once.

    What ``jupdb run`` does for a program it starts, from inside the program:
    the server starts (loopback and a free port unless ``ip`` / ``port`` say
    otherwise), its connection file is written, one line on stderr says how
    to connect, and ``breakpoint()`` pauses as ``jupdb.set_trace()`` does
    (unless ``PYTHONBREAKPOINT`` or the program chose another hook). A client
    may then connect (``jupdb.connect(pid)``), set breakpoints, pause the
    program or watch its output.

    Safe from any thread, at any time, any number of times: once serving,
    it returns the same server's details. Raises OSError when the server
    cannot start (the port is taken, nowhere private to write the connection
    file) and RuntimeError when this process already serves on another
    ``port``, or another ``ip`` than the default loopback.
    """
    with _listen_lock:
        server = DebugServer.running()
        if server is not None and ip not in (_LOOPBACK_DEFAULT, server.info["ip"]):
            raise RuntimeError(f"jupdb is already serving this process on {server.info['ip']}, not {ip}")
        started = server is None
        try:
            server = DebugServer.get(ip, port)  # RuntimeError if a different port is asked of a running one
        except OSError as exc:
            asked = f"{ip} port {port}" if port else ip
            raise OSError(f"jupdb cannot serve this process on {asked}: {exc}") from None
        if started:
            if not os.environ.get("PYTHONBREAKPOINT") and sys.breakpointhook is sys.__breakpointhook__:
                sys.breakpointhook = set_trace
            tell_terminal(
                f"jupdb: listening on {server.info['ip']}:{server.info['request_port']} "
                f"(pid {os.getpid()}); connect with jupdb.connect({os.getpid()})"
            )
        return ListenInfo(
            pid=server.info["pid"],
            ip=server.info["ip"],
            port=server.info["request_port"],
            session_id=server.session,
            connection_file=server.path,
        )


def set_trace(frame: Optional[types.FrameType] = None, *, ip: str = "127.0.0.1", port: int = 0) -> None:
    """Pause the calling thread here and serve remote clients until one resumes it.

    The first pause starts the server (loopback and a free port unless ``ip`` /
    ``port`` say otherwise), writes the connection file and prints one line
    to stderr. Works as ``PYTHONBREAKPOINT=jupdb.set_trace``. Where the
    server cannot start (no private directory for the connection file), it
    says why on stderr and returns: the program goes on.
    """
    from .paused import PausedThread

    if frame is None:
        frame = sys._getframe(1)
    server = DebugServer.get_or_say_why(ip, port)
    if server is not None:
        PausedThread(server, frame, reason="set_trace").serve()


def attached(directory: str) -> None:
    """What the bootstrap of :func:`jupdb.attach` runs in the program: serve as
    :func:`listen` does, and say how it went to the attaching client in
    ``directory`` (``attach-PID``: ``ok`` and the connection file, or the error).
    Never raises: the program goes on whatever happened."""
    try:
        report = "ok\n" + listen().connection_file
    except BaseException as exc:
        report = f"{type(exc).__name__}: {exc}"
    path = os.path.join(directory, f"attach-{os.getpid()}")
    try:
        write_private(path + ".new", report)
        os.replace(path + ".new", path)
    except OSError:
        pass


def write_private(path: str, text: str) -> None:
    """Write ``text`` to a new file at ``path`` that only this user can read
    (a link there is refused, not followed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
