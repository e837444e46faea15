"""Stepping: let a paused thread run to the next line a step stops at.

A :class:`Stepper` is an engine probe on line events, limited to one thread:
for ``next``, ``until``, ``finish`` and ``jump`` it watches only the code of
the frames on the thread's stack (so calls made meanwhile run at full speed);
for ``step`` it watches every function. Either way it stops the thread by
pausing it again, inside the line event, where a jump is allowed.

A :class:`Pauser` does the same for a thread that runs and was not paused:
a client's ``pause`` stops it at the next line of the program it runs.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .. import _native
from ..scope import is_launcher_code
from .summary import summarize

if TYPE_CHECKING:
    from .paused import PausedThread

ACTIONS = ("continue", "step", "next", "finish", "until", "jump")


class Stepper:
    """Runs the paused thread on until ``action``'s stopping line, then pauses it."""

    def __init__(self, paused: "PausedThread", action: str, line: Optional[int]) -> None:
        self.server = paused.server
        self.action = action
        self.line = line
        self.thread = threading.get_ident()
        self.stack = paused.stack
        self.target: types.FrameType = paused.stack[0]
        self.callers: List[types.FrameType] = paused.stack[1:]
        self.start_line = self.target.f_lineno
        self.active = False
        self._codes = {f.f_code for f in paused.stack}
        # Python code the main thread runs with none of the program's frames
        # below is the interpreter's shutdown (threading._shutdown, atexit):
        # stepping off the end of the program lets it finish, as with pdb.
        self.orphans = threading.current_thread() is not threading.main_thread()
        #: What the target frame returned, when the step leaves it by returning (pdb's ``retval``).
        self.returned: Optional[Dict[str, Any]] = None
        events = _native.LINE | _native.RETURN
        self.probe = _native.Probe(self, events=events, matcher=self._match, thread=self.thread)

    def _match(self, code: types.CodeType) -> Any:
        return _program_lines(code) if self.action == "step" or code in self._codes else False

    def start(self) -> None:
        self.active = True
        _native.install(self.probe)
        for frame in self.stack:
            _native.watch_running_code(frame.f_code)
        _native.hold_line_events(True)

    def cancel(self) -> None:
        """Stop watching (on the stepping thread: the hold is per thread)."""
        if self.active:
            self.active = False
            _native.uninstall(self.probe)
            _native.hold_line_events(False)
            if self.server.steppers.get(self.thread) is self:
                del self.server.steppers[self.thread]

    def _stops_at(self, frame: types.FrameType, line: int) -> bool:
        is_target = frame is self.target
        is_caller = any(frame is caller for caller in self.callers)
        if self.action == "step":
            return _runs_for_program(frame, self.stack, orphans=self.orphans)
        if self.action == "next":
            return is_target or is_caller
        if self.action == "finish":
            return is_caller
        if self.action == "until":
            return (is_target and line >= (self.line if self.line is not None else self.start_line + 1)) or is_caller
        return is_target  # jump

    def on_call(self, frame: types.FrameType) -> None:
        pass

    def on_return(self, frame: types.FrameType, value: Any) -> None:
        if self.active and frame is self.target and self.thread not in self.server.debugging:
            self.returned = summarize(value)

    def on_raise(self, frame: types.FrameType, exc: Optional[BaseException]) -> None:
        pass

    def on_line(self, frame: types.FrameType, line: int) -> None:
        if not self.active or self.thread in self.server.debugging or not self._stops_at(frame, line):
            return  # (a client's eval on this thread runs through the lines it watches)
        self.cancel()
        from .paused import PausedThread

        details: Dict[str, Any] = {}
        if self.action == "jump":
            details["jumped"] = jump(frame, self.line)  # type: ignore[arg-type]
        if self.returned is not None and frame is not self.target:
            details["returned"] = self.returned
        PausedThread(
            self.server, frame, reason="jump" if self.action == "jump" else "step", in_line_event=True, **details
        ).serve()


class Pauser:
    """Pauses a running thread at the next line of the program's code it runs.

    Installed from the service thread. On 3.12+ ``sys.monitoring`` reaches
    the thread's running frames at once; on 3.10 and 3.11 the engine hands
    them to the thread at its next bytecode if it is the main thread, else at
    its next call of a Python function (see the engine's adoption).
    """

    def __init__(self, server: Any, thread: int) -> None:
        self.server = server
        self.thread = thread
        self.active = False
        self.running: List[types.FrameType] = []  # the thread's stack when it was asked to pause
        self.probe = _native.Probe(self, events=_native.LINE, matcher=_program_lines, thread=thread)

    def start(self) -> None:
        self.active = True
        _native.install(self.probe)
        frame = sys._current_frames().get(self.thread)
        while frame is not None:
            # Not the launcher's own work (runpy still loading the program, say):
            # a pause asked for then stops at the program's first line.
            if _runs_for_program(frame, [], orphans=True):
                self.running.append(frame)
                _native.watch_running_code(frame.f_code)  # so that it needs no new call to be seen
            frame = frame.f_back

    def cancel(self) -> None:
        """Stop waiting."""
        if self.server.pausers.get(self.thread) is self:
            del self.server.pausers[self.thread]
        self.running = []
        if self.active:
            self.active = False
            _native.uninstall(self.probe)

    def on_line(self, frame: types.FrameType, line: int) -> None:
        if (
            not self.active
            or self.thread in self.server.debugging
            or not _runs_for_program(frame, self.running, orphans=True)
        ):
            return
        self.cancel()
        from .paused import PausedThread

        PausedThread(self.server, frame, reason="pause", in_line_event=True).serve()


def _runs_for_program(frame: Optional[types.FrameType], program: List[types.FrameType], *, orphans: bool) -> bool:
    """Whether ``frame`` runs for the program: called from one of the
    ``program`` frames (or the main module runpy runs) with no jupdb or
    runpy code in between. A frame that none of them called (a callback from
    C with no Python caller) counts if ``orphans``."""
    while frame is not None:
        if any(frame is f for f in program):
            return True
        if is_launcher_code(frame.f_code):
            return False
        if _is_main_module_run_by_runpy(frame):
            return True
        frame = frame.f_back
    return orphans


def _is_main_module_run_by_runpy(frame: types.FrameType) -> bool:
    """Whether ``frame`` runs the program's main module for ``jupdb run``:
    module code that runpy's ``_run_code`` execs (client code that jupdb
    evaluates is module-like code too, but called by jupdb's own)."""
    caller = frame.f_back
    return (
        frame.f_code.co_name == "<module>"
        and caller is not None
        and caller.f_code.co_name == "_run_code"
        and is_launcher_code(caller.f_code)
    )


def _program_lines(code: types.CodeType) -> Any:
    """Every line of ``code``, unless it is jupdb's or runpy's."""
    return False if is_launcher_code(code) else _native.code_lines(code)


def jump(frame: types.FrameType, line: int) -> Any:
    """Set the next line of ``frame`` (inside a line event); True, or CPython's refusal."""
    try:
        frame.f_lineno = line  # type: ignore[misc]  # writable in a line event
    except ValueError as exc:
        return str(exc)
    return True


def check_action(action: str) -> None:
    if action not in ACTIONS:
        from .paused import RequestError

        raise RequestError("ValueError", f"unknown action {action!r}; one of {', '.join(ACTIONS)}")


def start_stepping(paused: "PausedThread", action: str, line: Optional[int]) -> None:
    """Replace this thread's stepper by one for ``action`` (none for ``continue``)."""
    previous = paused.server.steppers.get(threading.get_ident())
    if previous is not None:
        previous.cancel()
    if action != "continue":
        stepper = Stepper(paused, action, line)
        paused.server.steppers[stepper.thread] = stepper
        stepper.start()
