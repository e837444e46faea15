"""What captures and breakpoints share: a scope, an on/off switch, a debugger.

A probe fires while it is enabled *and* its :class:`~jupdb.NoPdb` is started
(the context manager does both). Its handler methods are called by the Rust
engine; nothing a handler raises reaches the traced program: failures are
reported as :class:`RuntimeWarning` with the traceback.
"""

from __future__ import annotations

import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without the cost of importing typing

from . import _native

if TYPE_CHECKING:
    from typing import Any, Dict, Optional, TypeVar

    from .debugger import NoPdb
    from .scope import Scope

    P = TypeVar("P", bound="Probe")


def report_exception(what: str, exc: BaseException, frame: Optional[types.FrameType]) -> None:
    """Report ``exc``, raised by something the engine ran for a probe, as a warning."""
    import traceback
    import warnings

    where = f" at {frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else ""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    warnings.warn(f"jupdb: {what} failed{where}; the program continues.\n{text}", RuntimeWarning, stacklevel=2)


class Probe:
    """Base of :class:`~jupdb.CallCapture`, :class:`~jupdb.CallListCapture` and
    :class:`~jupdb.Breakpoint`."""

    def __init__(self, nopdb: "NoPdb", scope: Scope) -> None:
        self._nopdb = nopdb
        self._scope = scope
        self._native: Optional[_native.Probe] = None
        self._enabled = False
        self._was_started = False

    # -- subclasses say what the engine should watch --------------------------
    def _events(self) -> int:
        raise NotImplementedError

    def _lines(self) -> Optional[frozenset[int]]:
        return None

    def _native_options(self) -> Dict[str, Any]:
        """What the engine runs itself instead of calling this probe's handler
        methods (``recorder``, ``actions``: see :class:`_native.Probe`)."""
        return {}

    def _match(self, code: types.CodeType) -> Any:
        """Matcher for scopes that are not one code object: truthy to watch."""
        return self._scope.matches_code(code)

    def _native_probe(self) -> _native.Probe:
        if self._native is None:
            scope = self._scope
            self._native = _native.Probe(
                self,
                events=self._events(),
                code=scope.code,
                matcher=None if scope.is_code_target else self._match,
                lines=self._lines(),
                instance=scope.instance,
                **self._native_options(),
            )
        return self._native

    # -- on/off -------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self._enabled

    def enable(self) -> None:
        """Let this probe fire (while its NoPdb is started)."""
        if not self._enabled:
            self._enabled = True
            self._nopdb._attach(self)

    def disable(self) -> None:
        """Stop this probe from firing; :meth:`enable` turns it back on."""
        if self._enabled:
            self._enabled = False
            self._nopdb._detach(self)

    def _install(self) -> None:
        _native.install(self._native_probe())

    def _uninstall(self) -> None:
        if self._native is not None:
            _native.uninstall(self._native)

    def __enter__(self: P) -> P:
        self._was_started = self._nopdb.started
        if not self._was_started:
            self._nopdb.start()
        self.enable()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.disable()
        finally:
            if self._nopdb.started and not self._was_started:
                self._nopdb.stop()
