"""Writing back into a live frame: the part of "exec in a frame" that is not exec."""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any, Dict, List

from . import _native

#: From 3.11 CPython cannot unbind a running function's local: 3.11 and 3.12
#: set it to None instead (with a RuntimeWarning on the program's stderr),
#: 3.13's f_locals proxy refuses. Such a name keeps its value.
_CANNOT_UNBIND_LOCALS = sys.version_info >= (3, 11)
#: 3.13's proxy removes no name from a running function's frame, not even one a
#: debugger added ("cannot remove variables from FrameLocalsProxy").
_CANNOT_REMOVE_ADDED_LOCALS = sys.version_info >= (3, 13)


def write_back(frame: types.FrameType, before: Dict[str, Any], after: Dict[str, Any]) -> List[str]:
    """Make the frame's locals go from ``before`` to ``after``: names bound anew or
    rebound (new names too) are written, names that are gone are unbound. The
    names that could not be unbound (a running function's own locals, from
    Python 3.11; any name of a running function, from 3.13), which keep their values."""
    changed = {k: v for k, v in after.items() if k not in before or before[k] is not v}
    deleted = [k for k in before if k not in after]
    kept: List[str] = []
    if deleted and _CANNOT_UNBIND_LOCALS:
        code = frame.f_code
        stays = {*code.co_varnames, *code.co_cellvars, *code.co_freevars}  # the function's own
        if _CANNOT_REMOVE_ADDED_LOCALS and code.co_flags & inspect.CO_OPTIMIZED:  # a module's are its globals
            stays.update(deleted)
        kept = [k for k in deleted if k in stays]
        deleted = [k for k in deleted if k not in stays]
    if changed or deleted:
        _native.write_locals(frame, changed, deleted)
    return kept
