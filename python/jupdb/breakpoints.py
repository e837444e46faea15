"""Breakpoints that do not stop: at every hit they run the actions scheduled on them."""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without the cost of importing typing

from . import _native
from .frames import write_back
from .probe import Probe, report_exception
from .scope import Scope, code_lines, lines_with_text

if TYPE_CHECKING:
    import bdb
    from typing import Any, Callable, Dict, List, Optional, Type, Union

    from .debugger import NoPdb

    Source = Union[str, bytes, types.CodeType]
    Action = Callable[[types.FrameType], None]


def _compile(source: Source, mode: str, what: str) -> types.CodeType:
    """Compile now, so a syntax error is reported when the action is scheduled."""
    if isinstance(source, types.CodeType):
        return source
    return compile(source, f"<jupdb {what}>", mode)


class Breakpoint(Probe):
    """A breakpoint: a place in the code plus actions run, in order, at each hit.

    Created by :func:`jupdb.breakpoint`. An action that fails is reported as a
    :class:`RuntimeWarning` and the program goes on; so does a failing ``cond``
    (the hit is then skipped).
    """

    def __init__(
        self,
        nopdb: "NoPdb",
        scope: Scope,
        line: Union[int, str, None] = None,
        cond: Optional[Source] = None,
    ) -> None:
        if scope.function is None and scope.module is None and scope.file is None:
            raise TypeError("A breakpoint needs a function, a module or a file")
        if line is None and scope.function is None:
            raise TypeError("A line must be given if no function is specified")
        if line is not None and not isinstance(line, (int, str)):
            raise TypeError(f"line must be an int, a str or None, not {type(line).__name__}")
        super().__init__(nopdb, scope)
        self.scope = scope
        self.line = line
        self.cond = cond
        self._cond_code = None if cond is None else _compile(cond, "eval", "cond")
        # Run by the engine at each hit: cond and eval expressions without calling Python.
        self._actions = _native.Actions(cond=self._cond_code, cond_text=repr(cond), report=report_exception)
        self._code_lines = self._lines_in_code() if scope.code is not None else None

    # -- where it fires -------------------------------------------------------
    def _lines_in_code(self) -> Optional[frozenset[int]]:
        code = self.scope.code
        assert code is not None
        if self.line is None:
            return None
        lines = self._lines_of(code)
        if not lines:
            what = f"line {self.line}" if isinstance(self.line, int) else f"the source text {self.line!r}"
            raise ValueError(
                f"{what} names no line of {code.co_name}() ({code.co_filename}:{code.co_firstlineno}); "
                f"its lines are {min(code_lines(code))}-{max(code_lines(code))}"
            )
        return lines

    def _lines_of(self, code: types.CodeType) -> frozenset[int]:
        candidates = code_lines(code)
        if isinstance(self.line, int):
            return frozenset({self.line} & candidates)
        assert isinstance(self.line, str)
        return frozenset(lines_with_text(code.co_filename, candidates, self.line))

    def _events(self) -> int:
        return _native.CALL if self.line is None else _native.LINE

    def _lines(self) -> Optional[frozenset[int]]:
        return self._code_lines

    def _native_options(self) -> Dict[str, Any]:
        return {"actions": self._actions}

    def _match(self, code: types.CodeType) -> Any:
        if not self.scope.matches_code(code):
            return False
        if self.line is None:
            return True
        return self._lines_of(code) or False

    def _install(self) -> None:
        super()._install()
        if self.line is not None and not self.scope.is_code_target:
            # Code already running (a loop in progress) is found on the stacks now;
            # the rest when it is next called.
            for top in sys._current_frames().values():
                frame: Optional[types.FrameType] = top
                while frame is not None:
                    _native.watch_running_code(frame.f_code)
                    frame = frame.f_back

    # -- what a hit does (the engine runs self._actions itself) ----------------
    def on_call(self, frame: types.FrameType) -> None:
        self._actions.run(frame)

    def on_line(self, frame: types.FrameType, line: int) -> None:
        self._actions.run(frame)

    def _add(self, action: Action, what: str) -> None:
        self._actions.add_call(action, what)

    # -- actions -------------------------------------------------------------
    def eval(self, expression: Source, variables: Optional[Dict[str, Any]] = None) -> List[Any]:
        """Schedule an expression; returns a list that gets its value at each hit.

        Args:
            expression: Evaluated in the frame (its locals and globals).
            variables: Extra names for the expression.
        """
        code = _compile(expression, "eval", "eval")
        results: List[Any] = []
        self._actions.add_eval(code, variables, results, f"eval({expression!r})")
        return results

    def exec(self, code: Source, variables: Optional[Dict[str, Any]] = None) -> None:
        """Schedule statements to run in the frame; assignments to locals stick.

        New names become locals of the frame too. ``variables`` are extra names
        for the code; they must not clash with locals and are not written back.
        """
        compiled = _compile(code, "exec", "exec")
        extra = dict(variables or {})

        def execute(frame: types.FrameType) -> None:
            before = dict(frame.f_locals)
            if not extra:  # the common case, without the set and dict work below
                namespace = before.copy()
                exec(compiled, frame.f_globals, namespace)
                write_back(frame, before, namespace)
                return
            clash = before.keys() & extra.keys()
            if clash:
                raise RuntimeError(
                    "The following external variables conflict with local ones: " + ", ".join(sorted(map(repr, clash)))
                )
            namespace = {**before, **extra}
            exec(compiled, frame.f_globals, namespace)
            for name in extra:
                namespace.pop(name, None)
            write_back(frame, before, namespace)

        self._add(execute, f"exec({code!r})")

    def callback(self, fn: Callable[[types.FrameType], Any]) -> None:
        """Schedule ``fn(frame)`` to be called with the live frame."""
        if not callable(fn):
            raise TypeError(f"callback needs a callable, not {type(fn).__name__}")

        def call(frame: types.FrameType) -> None:
            _as_trace_function(frame, fn, frame)

        self._add(call, f"callback({getattr(fn, '__qualname__', fn)!r})")

    def jump(self, line: int) -> None:
        """Schedule a jump: execution goes on at ``line`` of the same function."""
        if self.line is None:
            raise ValueError("jump needs a line breakpoint: CPython cannot jump at a call event")
        if not isinstance(line, int):
            raise TypeError(f"jump needs a line number, not {type(line).__name__}")
        code = self.scope.code
        if code is not None and line not in code_lines(code):
            raise ValueError(f"line {line} is not a line of {code.co_name}() to jump to")

        def jump(frame: types.FrameType) -> None:
            frame.f_lineno = line  # type: ignore[misc]  # writable in a line event

        self._add(jump, f"jump({line})")

    def debug(self, debugger_cls: Optional[Type["bdb.Bdb"]] = None, **kwargs: Any) -> None:
        """Schedule an interactive debugger (pdb by default) at the breakpoint.

        ``kwargs`` go to the debugger's constructor (e.g. ``stdin``, ``stdout``).
        When the debugger continues, the trace function that was there before
        is back.
        """
        import pdb

        cls = debugger_cls or pdb.Pdb

        def enter(frame: types.FrameType) -> None:
            debugger = _returning_debugger(cls)(**kwargs)
            debugger.set_trace(frame)
            event = "line" if self.line is not None else "call"
            _as_trace_function(frame, debugger.trace_dispatch, frame, event, None)

        self._add(enter, f"debug({cls.__name__})")


def _as_trace_function(frame: types.FrameType, fn: Callable[..., Any], *args: Any) -> None:
    """Calls ``fn(*args)`` so that changes it makes to ``frame.f_locals`` stick,
    as they do in a trace function."""
    _ = frame.f_locals  # refresh the snapshot first, as CPython does before a trace call
    try:
        fn(*args)
    finally:
        _native.commit_locals(frame)


def _returning_debugger(cls: Type["bdb.Bdb"]) -> Type["bdb.Bdb"]:
    """A subclass of ``cls`` that gives the trace slot back when it continues."""
    import bdb

    class ReturningDebugger(cls):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            self._previous_trace = sys.gettrace()
            super().__init__(**kwargs)

        def set_continue(self) -> None:
            super().set_continue()
            if sys.gettrace() is None:
                _native.restore_trace(self._previous_trace)

        def trace_dispatch(self, frame: types.FrameType, event: str, arg: Any) -> Any:
            try:
                return super().trace_dispatch(frame, event, arg)
            except bdb.BdbQuit:
                sys.settrace(None)
                _native.restore_trace(self._previous_trace)
                return None

    ReturningDebugger.__name__ = ReturningDebugger.__qualname__ = f"Returning{cls.__name__}"
    return ReturningDebugger
