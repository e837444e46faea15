"""Writing back into a live frame: the part of "exec in a frame" that is not exec."""

from __future__ import annotations

import sys
import types
from typing import Any, Dict, List

from . import _native

#: From 3.11 CPython cannot unbind a running function's local: 3.11 and 3.12
#: set it to None instead (with a RuntimeWarning on the program's stderr),
#: 3.13's f_locals proxy refuses. Such a name keeps its value.
_CANNOT_UNBIND_LOCALS = sys.version_info >= (3, 11)


def write_back(frame: types.FrameType, before: Dict[str, Any], after: Dict[str, Any]) -> List[str]:
    """Make the frame's locals go from ``before`` to ``after``: names bound anew or
    rebound (new names too) are written, names that are gone are unbound. The
    names that could not be unbound (a running function's own locals, from
    Python 3.11), which keep their values."""
    changed = {k: v for k, v in after.items() if k not in before or before[k] is not v}
    deleted = [k for k in before if k not in after]
    kept: List[str] = []
    if deleted and _CANNOT_UNBIND_LOCALS:
        code = frame.f_code
        own = {*code.co_varnames, *code.co_cellvars, *code.co_freevars}
        kept = [k for k in deleted if k in own]
        deleted = [k for k in deleted if k not in own]
    if changed or deleted:
        _native.write_locals(frame, changed, deleted)
    return kept
