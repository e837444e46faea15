"""Capturing calls: arguments at the start, locals and result at the end."""

from __future__ import annotations

import threading
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without the cost of importing typing

from . import _native
from .probe import Probe, report_failure

if TYPE_CHECKING:
    import collections
    import traceback
    from typing import Any, Dict, Optional

    from .debugger import NoPdb
    from .scope import Scope


class CallInfo:
    """What happened in one call.

    Attributes:
        name: Name of the function's code object.
        file: File the function is defined in.
        stack: The call stack at the call (:class:`traceback.StackSummary`).
        args: Arguments as they were at the call (positional, keyword-only,
            ``*args``, ``**kwargs``), in an ``OrderedDict``.
        locals: Local variables at return.
        globals: The function's globals.
        return_value: What the call returned (None if it raised).
        exception: The exception that ended the call, or None.
        thread_name, thread_id: The thread the call ran in.

    A generator, coroutine or async generator is one call, from its first start to
    its end, recorded when it ends. Closed before the end (``close()``, ``aclose()``,
    or dropped after a ``break`` out of the loop over it: closed when its last
    reference goes, or when the garbage collector frees it), it ends with the
    ``GeneratorExit`` thrown in, or with what it returned or raised in reply. A
    cancelled coroutine ends with ``CancelledError``. On CPython 3.13, a generator
    closed at a ``yield`` outside any ``try`` block is not run again: its
    ``locals`` are freed first and read as ``{}``.
    """

    def __init__(self) -> None:
        self.name: Optional[str] = None
        self.file: Optional[str] = None
        self.stack: Optional["traceback.StackSummary"] = None
        self.args: Optional[collections.OrderedDict[str, Any]] = None
        self.locals: Optional[Dict[str, Any]] = None
        self.globals: Optional[Dict[str, Any]] = None
        self.return_value: Any = None
        self.exception: Optional[BaseException] = None
        self.thread_name: Optional[str] = None
        self.thread_id: Optional[int] = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in (self.args or {}).items())
        return (
            f"{type(self).__name__}(name={self.name!r}, "
            f"args={type(self.args).__name__}({args}), return_value={self.return_value!r})"
        )

    def print_stack(self, file: Any = None) -> None:
        """Print the call stack, as :func:`traceback.print_stack` would."""
        if self.stack is not None:
            for line in self.stack.format():
                print(line, end="", file=file)


def _start(frame: types.FrameType) -> CallInfo:
    import collections
    import inspect
    import traceback

    info = CallInfo()
    code = frame.f_code
    info.name = code.co_name
    info.file = code.co_filename
    info.stack = traceback.extract_stack(frame)
    arginfo = inspect.getargvalues(frame)
    names = [*arginfo.args, arginfo.varargs, arginfo.keywords]
    info.args = collections.OrderedDict((n, arginfo.locals[n]) for n in names if n in arginfo.locals)
    thread = threading.current_thread()
    info.thread_name, info.thread_id = thread.name, thread.ident
    return info


class _CallRecorder(Probe):
    """Handler side of a capture: pairs each frame's start with its end."""

    def __init__(self, nopdb: "NoPdb", scope: Scope) -> None:
        super().__init__(nopdb, scope)
        self._open: Dict[types.FrameType, CallInfo] = {}

    def _events(self) -> int:
        return _native.CALL | _native.RETURN

    def on_call(self, frame: types.FrameType) -> None:
        try:
            self._open[frame] = _start(frame)
        except Exception:
            report_failure("capturing a call", frame)

    def on_return(self, frame: types.FrameType, value: Any) -> None:
        self._end(frame, value, None)

    def on_raise(self, frame: types.FrameType, exc: Optional[BaseException]) -> None:
        self._end(frame, None, exc)

    def _end(self, frame: types.FrameType, value: Any, exc: Optional[BaseException]) -> None:
        info = self._open.pop(frame, None)
        if info is None:
            return
        info.locals = dict(frame.f_locals)
        info.globals = frame.f_globals
        info.return_value = value
        info.exception = exc
        self._record(info)

    def _record(self, info: CallInfo) -> None:
        raise NotImplementedError


class CallCapture(_CallRecorder, CallInfo):
    """A :class:`CallInfo` of the most recent call to return, updated as calls end."""

    def __init__(self, nopdb: "NoPdb", scope: Scope) -> None:
        _CallRecorder.__init__(self, nopdb, scope)
        CallInfo.__init__(self)

    def _record(self, info: CallInfo) -> None:
        self.__dict__.update(info.__dict__)


class CallListCapture(_CallRecorder, "list[CallInfo]" if TYPE_CHECKING else list):  # type: ignore[misc]
    """A list of :class:`CallInfo`, one per call, in the order the calls returned."""

    def __init__(self, nopdb: "NoPdb", scope: Scope) -> None:
        _CallRecorder.__init__(self, nopdb, scope)
        list.__init__(self)

    def _record(self, info: CallInfo) -> None:
        self.append(info)

    # A list compares and hashes by content; the engine keys nothing on it.
    __hash__ = object.__hash__
