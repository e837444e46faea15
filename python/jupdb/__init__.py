"""jupdb: debugger superpowers for Python, on a Rust engine.

From code (nopdb-compatible, ``import jupdb as nopdb`` works)::

    with jupdb.capture_call(f) as call:
        g(1)
    call.args, call.locals, call.return_value, call.exception

    with jupdb.breakpoint(f, line="return 2 * z") as bp:
        z = bp.eval("z")
        bp.exec("z = 10")      # the running function sees z == 10

Probes fire in every thread; code they do not target runs at full speed
(``sys.monitoring`` on CPython 3.12+, a C profile hook on 3.10 and 3.11).
"""

from .breakpoints import Breakpoint
from .calls import CallCapture, CallInfo, CallListCapture
from .debugger import Debugger, NoPdb, breakpoint, capture_call, capture_calls, get_nopdb
from .scope import Scope

__all__ = [
    "Breakpoint",
    "CallCapture",
    "CallInfo",
    "CallListCapture",
    "Debugger",
    "NoPdb",
    "Scope",
    "breakpoint",
    "capture_call",
    "capture_calls",
    "get_nopdb",
]
__version__ = "0.1.0"
