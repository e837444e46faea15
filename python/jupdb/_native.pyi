"""Type stubs for ``jupdb._native``, the Rust core of jupdb."""

from types import CodeType, FrameType
from typing import Any, Callable, Iterable, Optional, Protocol, Union

CALL: int
"""Event bit: the handler's ``on_call(frame)`` runs when a targeted call starts."""
RETURN: int
"""Event bit: ``on_return(frame, value)`` / ``on_raise(frame, exc)`` when it ends."""
LINE: int
"""Event bit: ``on_line(frame, line)`` at the probe's lines."""

class Handler(Protocol):
    def on_call(self, frame: FrameType) -> None: ...
    def on_return(self, frame: FrameType, value: Any) -> None: ...
    def on_raise(self, frame: FrameType, exc: Optional[BaseException]) -> None: ...
    def on_line(self, frame: FrameType, line: int) -> None: ...

Matcher = Callable[[CodeType], Union[bool, None, Iterable[int]]]

class Probe:
    """A registration with the engine: what to watch and whom to tell.

    Either ``code`` (one code object) or ``matcher`` (asked once per code
    object: false/None = no, True = yes with ``lines``, an iterable of line
    numbers = yes at those lines). ``instance``: fire only for frames whose
    first argument is this object. Exceptions a handler raises never reach
    the traced program.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        events: int,
        code: Optional[CodeType] = None,
        matcher: Optional[Matcher] = None,
        lines: Optional[Iterable[int]] = None,
        instance: Any = None,
    ) -> None: ...
    @property
    def events(self) -> int: ...
    @property
    def handler(self) -> Handler: ...

def install(probe: Probe) -> None:
    """Start firing ``probe`` (no-op if active)."""

def uninstall(probe: Probe) -> None:
    """Stop firing ``probe``; the last one removes every hook."""

def active_probes() -> int:
    """Number of installed probes."""

def backend_name() -> str:
    """"sys.monitoring" (3.12+) or "profile hook" (3.10, 3.11)."""

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
