"""NoPdb: a group of probes switched on and off together, and the module-level API."""

from __future__ import annotations

import threading
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without the cost of importing typing

from .breakpoints import Breakpoint
from .calls import CallCapture, CallListCapture
from .scope import Scope

if TYPE_CHECKING:
    from typing import Any, List, Optional, Union

    from .breakpoints import Source
    from .probe import Probe
    from .scope import FileSpec, Target

_local = threading.local()


def _active_stack() -> List["NoPdb"]:
    stack = getattr(_local, "active", None)
    if stack is None:
        stack = _local.active = []
    return stack


class NoPdb:
    """A programmatic debugger: the probes made through it fire while it is started.

    Unlike nopdb's, its probes fire in every thread of the process, including
    threads that were running before it started. Use it as a context manager,
    or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self) -> None:
        self._started = False
        self._probes: List[Probe] = []

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        """Start firing this debugger's enabled probes."""
        self._start()
        _active_stack().append(self)

    def _start(self) -> None:
        """Start without becoming this thread's current NoPdb (for jupdb's own use)."""
        if self._started:
            raise RuntimeError("this NoPdb has already been started")
        self._started = True
        for probe in self._probes:
            probe._install()

    def stop(self) -> None:
        """Stop firing; the probes stay and fire again after :meth:`start`."""
        if not self._started:
            raise RuntimeError("this NoPdb has not been started")
        self._started = False
        stack = _active_stack()
        if self in stack:
            stack.remove(self)
        for probe in self._probes:
            probe._uninstall()

    def __enter__(self) -> "NoPdb":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _attach(self, probe: Probe) -> None:
        self._probes.append(probe)
        if self._started:
            probe._install()

    def _detach(self, probe: Probe) -> None:
        self._probes.remove(probe)
        probe._uninstall()

    def capture_call(
        self,
        function: Target = None,
        *,
        module: Optional[types.ModuleType] = None,
        file: FileSpec = None,
        unwrap: bool = True,
    ) -> CallCapture:
        """Capture the most recent call to return (a :class:`CallInfo` that is also a context manager).

        Args:
            function: A Python callable or a function name. For a bound method or a
                callable instance, only calls on that very object count.
            module: Only functions defined in this module.
            file: Only functions defined in this file (a ``str`` is a glob pattern,
                a path-like object an exact path).
            unwrap: Follow ``__wrapped__`` (decorators) to the wrapped function.
        """
        capture = CallCapture(self, Scope(function, module, file, unwrap))
        capture.enable()
        return capture

    def capture_calls(
        self,
        function: Target = None,
        *,
        module: Optional[types.ModuleType] = None,
        file: FileSpec = None,
        unwrap: bool = True,
    ) -> CallListCapture:
        """Capture every call: a list of :class:`CallInfo` in return order (and a context manager).

        Arguments as for :meth:`capture_call`.
        """
        capture = CallListCapture(self, Scope(function, module, file, unwrap))
        capture.enable()
        return capture

    def breakpoint(
        self,
        function: Target = None,
        *,
        module: Optional[types.ModuleType] = None,
        file: FileSpec = None,
        line: Union[int, str, None] = None,
        cond: Optional[Source] = None,
        unwrap: bool = True,
    ) -> Breakpoint:
        """Set a breakpoint that runs scheduled actions instead of stopping.

        Args:
            function, module, file, unwrap: Where, as for :meth:`capture_call`;
                at least one of function, module and file.
            line: A line number of the file, the source text of a line (leading and
                trailing whitespace ignored), or None to fire when the function is
                called. A line that is not one of the function's raises ValueError.
            cond: An expression; the breakpoint fires only where it is true.
        """
        bp = Breakpoint(self, Scope(function, module, file, unwrap), line=line, cond=cond)
        bp.enable()
        return bp


#: The name the nopdb documentation does not use but a reader expects.
Debugger = NoPdb


def get_nopdb() -> NoPdb:
    """The NoPdb started most recently in this thread, else this thread's default one."""
    stack = _active_stack()
    if stack:
        return stack[-1]
    default = getattr(_local, "default", None)
    if default is None:
        default = _local.default = NoPdb()
    return default


def capture_call(
    function: Target = None, *, module: Optional[types.ModuleType] = None, file: FileSpec = None, unwrap: bool = True
) -> CallCapture:
    return get_nopdb().capture_call(function, module=module, file=file, unwrap=unwrap)


def capture_calls(
    function: Target = None, *, module: Optional[types.ModuleType] = None, file: FileSpec = None, unwrap: bool = True
) -> CallListCapture:
    return get_nopdb().capture_calls(function, module=module, file=file, unwrap=unwrap)


def breakpoint(
    function: Target = None,
    *,
    module: Optional[types.ModuleType] = None,
    file: FileSpec = None,
    line: Union[int, str, None] = None,
    cond: Optional[Source] = None,
    unwrap: bool = True,
) -> Breakpoint:
    return get_nopdb().breakpoint(function, module=module, file=file, line=line, cond=cond, unwrap=unwrap)


capture_call.__doc__ = NoPdb.capture_call.__doc__
capture_calls.__doc__ = NoPdb.capture_calls.__doc__
breakpoint.__doc__ = NoPdb.breakpoint.__doc__
