"""Type stubs for ``jupdb._native``, the Rust core of jupdb."""

from types import CodeType, FrameType
from collections import OrderedDict
from typing import Any, Callable, Iterable, Literal, Optional, TextIO, TypeVar, Union, final

from typing_extensions import Self, disjoint_base

# PyO3 constructs objects in __new__, and makes classes final unless declared
# `subclass` (those are disjoint bases: each has its own C layout).

CALL: int
"""Event bit: the handler's ``on_call(frame)`` runs when a targeted call starts."""
RETURN: int
"""Event bit: ``on_return(frame, value)`` / ``on_raise(frame, exc)`` when it ends."""
LINE: int
"""Event bit: ``on_line(frame, line)`` at the probe's lines."""

# A probe's handler is any object with the methods of the events it asks for:
# on_call(frame), on_return(frame, value), on_raise(frame, exc), on_line(frame, line).
# Private (underscore) aliases exist only in the stub; stubtest skips them.
_T = TypeVar("_T")
_Matcher = Callable[[CodeType], Union[bool, None, Iterable[int]]]

@final
class Probe:
    """A registration with the engine: what to watch and whom to tell.

    Either ``code`` (one code object) or ``matcher`` (asked once per code
    object: false/None = no, True = yes with ``lines``, an iterable of line
    numbers = yes at those lines). ``instance``: fire only for frames whose
    first argument is this object; ``thread``: only in the thread with this
    ``threading.get_ident()``. Exceptions a handler raises never reach the
    traced program.
    """

    def __new__(
        cls,
        handler: object,
        *,
        events: int,
        code: Optional[CodeType] = None,
        matcher: Optional[_Matcher] = None,
        lines: Optional[Iterable[int]] = None,
        instance: Any = None,
        thread: Optional[int] = None,
        recorder: Optional[CallRecorder] = None,
        actions: Optional[Actions] = None,
    ) -> Self: ...
    @property
    def events(self) -> int: ...
    @property
    def handler(self) -> object: ...

@disjoint_base
class CallInfo:
    """What happened in one call (base of ``jupdb.CallInfo``); every attribute is
    None until a call is recorded into it."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def file(self) -> Optional[str]: ...
    @property
    def args(self) -> Optional["OrderedDict[str, Any]"]: ...
    @property
    def locals(self) -> Optional[dict[str, Any]]: ...
    @property
    def globals(self) -> Optional[dict[str, Any]]: ...
    @property
    def return_value(self) -> Any: ...
    @property
    def exception(self) -> Optional[BaseException]: ...
    @property
    def thread_name(self) -> Optional[str]: ...
    @property
    def thread_id(self) -> Optional[int]: ...
    def _stack(self, build: Callable[[list[tuple[CodeType, int]]], _T]) -> Optional[_T]:
        """``build(frames)`` of the (code, instruction offset) of each calling
        frame, outermost first; built once, then the same object."""

_Report = Callable[[str, BaseException, Optional[FrameType]], None]

@final
class CallRecorder:
    """Records the calls a probe (``Probe(recorder=...)``) sees into ``sink``: a
    list gets a new ``info_type`` per call, a ``CallInfo`` shows the latest.
    ``report(what, exc, frame)`` is told of failures."""

    def __new__(cls, sink: Union[list[Any], CallInfo], *, info_type: type[CallInfo], report: _Report) -> Self: ...
    def open_calls(self) -> int:
        """Calls started and not ended yet."""

@final
class Actions:
    """A breakpoint's condition and actions (``Probe(actions=...)``), run by the
    engine at each hit: ``cond`` and eval expressions are evaluated without
    calling Python; ``report(what, exc, frame)`` is told of failures."""

    def __new__(cls, *, cond: Optional[CodeType], cond_text: str, report: _Report) -> Self: ...
    def add_eval(self, code: CodeType, variables: Optional[dict[str, Any]], results: list[Any], what: str) -> None:
        """Append the value of ``code`` in the frame (``variables`` added) to ``results`` at each hit."""
    def add_call(self, function: Callable[[FrameType], Any], what: str) -> None:
        """Call ``function(frame)`` at each hit."""
    def run(self, frame: FrameType) -> None:
        """One hit: the condition, then the actions in order."""

def install(probe: Probe) -> None:
    """Start firing ``probe`` (no-op if active)."""

def uninstall(probe: Probe) -> None:
    """Stop firing ``probe``; the last one removes every hook."""

def active_probes() -> int:
    """Number of installed probes."""

def backend_name() -> str:
    """ "sys.monitoring" (3.12+) or "frame evaluation hook" (3.10, 3.11)."""

def watch_running_code(code: CodeType) -> None:
    """Let matcher line probes reach ``code`` although it is already running."""

def code_lines(code: CodeType) -> frozenset[int]:
    """Line numbers ``code`` itself has instructions on."""

def restore_trace(previous: Any) -> None:
    """Put back what ``sys.gettrace()`` returned before a debugger took the slot."""

def write_locals(frame: FrameType, updates: dict[str, Any], deleted: list[str] = ...) -> None:
    """Write ``updates`` into the live locals of ``frame``; unbind ``deleted``."""

def first_argument(frame: FrameType) -> Any:
    """The frame's first argument (``self`` of a method), or None."""

def commit_locals(frame: FrameType) -> None:
    """Copy changes made to the dict ``frame.f_locals`` returned back into the frame.

    Up to 3.12, as CPython does after a trace function returns; a no-op from 3.13,
    where ``f_locals`` writes through.
    """

def hold_line_events(hold: bool) -> None:
    """While held, line events reach the engine from every frame of the calling
    thread, running ones included (stepping). Holds nest; release on the same thread."""

def line_event_number() -> int:
    """Number of the line event being fired: probes firing for one event see the same."""

# -- remote debugging -------------------------------------------------------

@final
class Frame:
    """A received buffer frame; bytes-like (buffer protocol), read-only, no copy."""

    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

@final
class Request:
    """A request received by a paused thread (or the service thread). Reply once."""

    @property
    def msg_type(self) -> str: ...
    @property
    def content(self) -> Any: ...
    @property
    def buffers(self) -> list[Frame]: ...
    @property
    def peer(self) -> Optional[bytes]:
        """The identity of the client's connection (``Server.publish_to``); None for the server's notices."""
    @property
    def client_session(self) -> str:
        """The ``session`` of the request's header: the client's own id."""
    def reply(self, content: dict[str, Any], buffers: list[Any] = ...) -> None:
        """Send the reply; bytes-like buffers go out without a copy."""
    def error(self, ename: str, evalue: str, traceback: str = "") -> None:
        """Send an error reply."""

@final
class PauseHandle:
    """A paused thread's inbox."""

    def next_request(self, timeout: Optional[float] = None) -> Optional[Request]:
        """The next request (GIL released while waiting); None on timeout or once closed.
        A paused thread's handle runs signal handlers meanwhile (Ctrl-C raises here).
        Content that Python cannot hold (a list as a map key) gets a BadRequest error
        reply and the wait goes on."""
    def set_location(self, location: dict[str, Any], stack: Optional[dict[str, Any]] = None) -> None:
        """Record where the thread is (and its ``where`` reply, answered while it is busy)."""
    def close(self) -> None:
        """The thread resumes: later requests for it get a NotPaused error."""

@final
class Server:
    """The debuggee's ROUTER socket (requests, replies, and events to subscribed clients),
    served by jupdb's I/O thread."""

    def __new__(
        cls,
        key: bytes,
        session: str,
        *,
        ip: str = "127.0.0.1",
        request_port: int = 0,
        details: Optional[dict[str, Any]] = None,
    ) -> Self: ...
    @property
    def ip(self) -> str: ...
    @property
    def request_port(self) -> int: ...
    @property
    def session(self) -> str: ...
    @property
    def key(self) -> bytes: ...
    @property
    def dropped(self) -> int:
        """Messages dropped for a bad signature or framing, or as stale or replayed requests."""
    def pause(
        self, thread: int, name: str, location: dict[str, Any], stack: Optional[dict[str, Any]] = None
    ) -> PauseHandle:
        """Register the calling thread as paused; its requests arrive through the handle.
        ``stack`` (a ``where`` reply) answers ``where`` while the thread is busy."""
    def busy(self, thread: int) -> Optional[dict[str, Any]]:
        """What paused ``thread`` is busy with (``request``, ``since``, ``seconds``); None if it waits."""
    def serve_service(self) -> PauseHandle:
        """The inbox of process-wide requests (threads, breakpoints, watches)."""
    def publish(self, msg_type: str, content: dict[str, Any], thread: Optional[int] = None) -> None:
        """Send an event to every subscribed client, after the output printed before it."""
    def publish_to(self, peer: bytes, msg_type: str, content: dict[str, Any]) -> int:
        """Send an event to the client ``peer`` (a request's) only, never dropped on the way
        (the caller bounds what it sends); its size in bytes."""
    def close(self) -> None:
        """Stop serving and forwarding output; events already published still go out."""

@disjoint_base
class OutputTee:
    """Stands in for sys.stdout / sys.stderr: writes go to ``original`` and are
    published by ``server`` in batches. Subclass it to delegate other attributes."""

    def __new__(cls, server: Server, stream: Literal["stdout", "stderr"], original: TextIO) -> Self: ...
    @property
    def original(self) -> TextIO: ...
    def write(self, text: str) -> int: ...
    def writelines(self, lines: Iterable[str]) -> None: ...
    def flush(self) -> None: ...

@final
class Client:
    """A DEALER connection to a debuggee: requests, their replies, and events.

    Returns once subscribed to events (the debuggee confirmed it): no later event is missed."""

    def __new__(
        cls, request_endpoint: str, key: bytes, session: str, timeout: float = 10.0, *, signature_scheme: str
    ) -> Self:
        """ValueError if ``signature_scheme`` (the connection file's) is not ``SIGNATURE_SCHEME``."""
    def request(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        buffers: list[Any] = ...,
        thread: Optional[int] = None,
        timeout: float = 10.0,
        alive: Optional[Callable[[], bool]] = None,
    ) -> tuple[str, dict[str, Any], list[Frame], Optional[int]]:
        """Send a request, wait (GIL released) for its reply; TimeoutError after ``timeout``.
        Signal handlers run meanwhile: Ctrl-C raises KeyboardInterrupt (the late reply is dropped).
        ``alive`` is called every 0.25 s while waiting: once it returns false, ConnectionError."""
    def next_event(
        self, timeout: Optional[float] = None
    ) -> Optional[tuple[str, dict[str, Any], list[Frame], Optional[int]]]:
        """The next event, waiting up to ``timeout`` s (None: for ever); None if none came.
        Signal handlers run meanwhile."""
    def next_probe_event(
        self, timeout: Optional[float] = None
    ) -> Optional[tuple[str, dict[str, Any], list[Frame], Optional[int]]]:
        """The next probe event (``probe_hit``, ``probe_removed``), which ``next_event`` never returns."""
    @property
    def dropped(self) -> int: ...
    @property
    def output_dropped(self) -> int:
        """Bytes of output events dropped because more waited than the client keeps."""
    def close(self) -> None: ...

SIGNATURE_SCHEME: str
"""The signature scheme this jupdb speaks, as connection files name it."""

MAX_FRAME_LEN: int
"""The largest frame (content or buffer) a debuggee accepts in a request."""

MAX_REQUEST_LEN: int
"""The largest request a debuggee accepts, all its frames together."""

def connection_dir() -> str:
    """Where connection files are meant to live (``JUPDB_RUNTIME_DIR`` overrides),
    whether or not it can be used."""

def prepare_connection_dir() -> tuple[str, Optional[str]]:
    """The directory (the user's alone) to write this process's connection file
    to, and why the runtime directory was refused when it is a private one
    instead. OSError when neither can be used."""

def write_connection(info: dict[str, Any], dir: str) -> str:
    """Write a connection file (0600) into ``dir`` (the user's alone); its path."""

def read_connection(path: str) -> dict[str, Any]:
    """One connection file: a regular file of the user's with mode 0600, else OSError."""

def list_connections() -> tuple[list[tuple[str, dict[str, Any]]], list[str], list[str]]:
    """Every live session's (path, info), newest first; what was passed over and
    why; the directories looked in. Files of dead processes are removed."""

def digest(buffers: list[Any]) -> bytes:
    """A BLAKE3 digest of the bytes of ``buffers`` (bytes-like, C-contiguous),
    each with its length: whether they still hold what they held, without a copy."""

def run_interruptibly(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, a client's code, which a client's interrupt may stop."""

def raise_interrupts() -> list[int]:
    """Raise KeyboardInterrupt in the client's code the server marked as interrupted
    (answering ``interrupt_request`` without the GIL); the threads it was raised in."""

# Attaching to a running program (Linux; crates/jupdb-native/src/attach).

def attach_probe(pid: int, timeout: float = 10.0) -> dict[str, Any]:
    """What jupdb can tell of process ``pid`` without changing it, within ``timeout``
    seconds: ``version`` (major, minor, micro), ``object`` (the file holding its
    interpreter, " (deleted)" if so), ``method`` ("pending call" or "PEP 768"),
    ``main_thread_only``. RuntimeError for a target that opted out or that jupdb
    cannot attach to, PermissionError saying what to do, ProcessLookupError for no
    such process (any ``pid`` outside 1..2**31-1), TimeoutError where reading its
    files did not end in time, ValueError for a negative or NaN ``timeout``."""

def attach_inject(pid: int, code: str, script: str, timeout: float) -> dict[str, Any]:
    """Make process ``pid`` run ``code`` (3.10–3.13) or the file ``script`` (3.14+)
    within ``timeout`` seconds (over a day: no limit; negative or NaN: ValueError):
    what ``attach_probe`` says, and ``taken`` (a thread took it), ``withdrawn`` (none
    did in time, and nothing was left pending), ``busy`` (tries that found the queue
    in use), ``frozen_us``, ``seconds``. KeyboardInterrupt (Ctrl-C) stops it, leaving
    nothing pending."""

def attach_layout(minor: int) -> Optional[dict[str, int]]:
    """The pending-call layout used for CPython 3.``minor``, by field (offsets, sizes)."""
