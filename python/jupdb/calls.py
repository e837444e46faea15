"""Capturing calls: arguments at the start, locals and result at the end."""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without the cost of importing typing

from . import _native
from .probe import Probe, report_exception

if TYPE_CHECKING:
    import traceback
    from typing import Any, Callable, Dict, List, Optional, Tuple

    from .debugger import NoPdb
    from .scope import Scope


class CallInfo(_native.CallInfo):
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

    The engine records a call without running any Python code: ``args`` and
    ``stack`` are built from what it kept (the argument values, and the code and
    instruction offset of each calling frame) when first read, and the stack's
    source lines are read then too. No frame object is kept.

    A generator, coroutine or async generator is one call, from its first start to
    its end, recorded when it ends. Closed before the end (``close()``, ``aclose()``,
    or dropped after a ``break`` out of the loop over it: closed when its last
    reference goes, or when the garbage collector frees it), it ends with the
    ``GeneratorExit`` thrown in, or with what it returned or raised in reply. A
    cancelled coroutine ends with ``CancelledError``. On CPython 3.13, a generator
    closed at a ``yield`` outside any ``try`` block is not run again: its
    ``locals`` are freed first and read as ``{}``.
    """

    @property
    def stack(self) -> Optional["traceback.StackSummary"]:
        return self._stack(_build_stack)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in (self.args or {}).items())
        return (
            f"{type(self).__name__}(name={self.name!r}, "
            f"args={type(self.args).__name__}({args}), return_value={self.return_value!r})"
        )

    def print_stack(self, file: Any = None, *, all: bool = False) -> None:
        """Print the call stack, as :func:`traceback.print_stack` would.

        In IPython or a notebook, the stack printed starts at the cell that made
        the call (the outermost frame of code from a cell), not in the kernel's
        own frames; ``all=True`` prints them too. ``stack`` always holds every frame.
        """
        stack = self.stack
        if stack is None:
            return
        if not all:
            stack = _from_outermost_cell(stack)
        for line in stack.format():
            print(line, end="", file=file)


def _from_outermost_cell(stack: "traceback.StackSummary") -> "traceback.StackSummary":
    """The part of ``stack`` from its outermost frame of IPython cell code on
    (all of it outside IPython, or when no frame comes from a cell)."""
    import traceback

    is_cell = _cell_file_test()
    if is_cell is None:
        return stack
    for i, summary in enumerate(stack):
        if is_cell(summary.filename):
            return traceback.StackSummary.from_list(stack[i:])
    return stack


def _cell_file_test() -> "Optional[Callable[[str], bool]]":
    """Whether a file name is the code of an IPython cell, as IPython itself
    tells (its compiler names each cell it runs), or None outside IPython."""
    ipython = sys.modules.get("IPython")  # imported by IPython itself; never import it here
    shell = ipython.get_ipython() if ipython is not None else None
    format_code_name = getattr(getattr(shell, "compile", None), "format_code_name", None)
    if format_code_name is None:
        return None
    return lambda filename: format_code_name(filename) is not None


def _line_at(code: types.CodeType, offset: int) -> Optional[int]:
    """The line of the instruction at ``offset``, as ``frame.f_lineno`` reads it."""
    if offset < 0:
        return code.co_firstlineno
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


def _build_stack(frames: "List[Tuple[types.CodeType, int]]") -> "traceback.StackSummary":
    """What ``traceback.extract_stack`` gives, from the (code, offset) of each frame."""
    import linecache
    import traceback

    summaries = [
        traceback.FrameSummary(code.co_filename, _line_at(code, offset), code.co_name, lookup_line=False)
        for code, offset in frames
    ]
    for filename in {summary.filename for summary in summaries}:
        linecache.checkcache(filename)
    stack = traceback.StackSummary.from_list(summaries)
    for summary in stack:
        summary.line  # noqa: B018  # read the source now, as extract_stack does
    return stack


class _CallRecorder(Probe):
    """Handler side of a capture: the engine records each call into ``self``."""

    def _events(self) -> int:
        return _native.CALL | _native.RETURN

    def _native_options(self) -> Dict[str, Any]:
        sink: Any = self  # a CallInfo (CallCapture) or a list (CallListCapture)
        return {"recorder": _native.CallRecorder(sink, info_type=CallInfo, report=report_exception)}


class CallCapture(_CallRecorder, CallInfo):
    """A :class:`CallInfo` of the most recent call to return, updated as calls end."""

    def __init__(self, nopdb: "NoPdb", scope: Scope) -> None:
        _CallRecorder.__init__(self, nopdb, scope)


class CallListCapture(_CallRecorder, "list[CallInfo]" if TYPE_CHECKING else list):  # type: ignore[misc]
    """A list of :class:`CallInfo`, one per call, in the order the calls returned."""

    def __init__(self, nopdb: "NoPdb", scope: Scope) -> None:
        _CallRecorder.__init__(self, nopdb, scope)
        list.__init__(self)

    # A list compares and hashes by content; the engine keys nothing on it.
    __hash__ = object.__hash__
