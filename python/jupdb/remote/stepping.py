"""Stepping: let a paused thread run to the next line a step stops at.

A :class:`Stepper` is an engine probe on line events, limited to one thread:
for ``next``, ``until``, ``finish`` and ``jump`` it watches only the code of
the frames on the thread's stack (so calls made meanwhile run at full speed);
for ``step`` it watches every function. Either way it stops the thread by
pausing it again, inside the line event, where a jump is allowed.
"""

from __future__ import annotations

import threading
import types
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .. import _native
from ..scope import _PACKAGE_DIR

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
        self.target: types.FrameType = paused.stack[0]
        self.callers: List[types.FrameType] = paused.stack[1:]
        self.start_line = self.target.f_lineno
        self.active = False
        self._codes = {f.f_code for f in paused.stack}
        self.probe = _native.Probe(self, events=_native.LINE, matcher=self._match, thread=self.thread)

    def _match(self, code: types.CodeType) -> Any:
        if code.co_filename.startswith(_PACKAGE_DIR):
            return False
        if self.action == "step" or code in self._codes:
            return _native.code_lines(code)
        return False

    def start(self) -> None:
        self.active = True
        _native.install(self.probe)
        for frame in [self.target, *self.callers]:
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
            return not self._inside_debugger(frame)
        if self.action == "next":
            return is_target or is_caller
        if self.action == "finish":
            return is_caller
        if self.action == "until":
            return (is_target and line >= (self.line if self.line is not None else self.start_line + 1)) or is_caller
        return is_target  # jump

    def _inside_debugger(self, frame: types.FrameType) -> bool:
        """Whether ``frame`` runs on behalf of jupdb (called from its code)."""
        f: Optional[types.FrameType] = frame
        while f is not None and f is not self.target and not any(f is c for c in self.callers):
            if f.f_code.co_filename.startswith(_PACKAGE_DIR):
                return True
            f = f.f_back
        return False

    def on_line(self, frame: types.FrameType, line: int) -> None:
        if not self.active or not self._stops_at(frame, line):
            return
        self.cancel()
        from .paused import PausedThread

        details: Dict[str, Any] = {}
        if self.action == "jump":
            details["jumped"] = jump(frame, self.line)  # type: ignore[arg-type]
        PausedThread(self.server, frame, reason="jump" if self.action == "jump" else "step",
                     in_line_event=True, **details).serve()


def jump(frame: types.FrameType, line: int) -> Any:
    """Set the next line of ``frame`` (inside a line event); True, or CPython's refusal."""
    try:
        frame.f_lineno = line
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
