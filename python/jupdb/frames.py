"""Writing back into a live frame: the part of "exec in a frame" that is not exec."""

from __future__ import annotations

import types
from typing import Any, Dict

from . import _native


def write_back(frame: types.FrameType, before: Dict[str, Any], after: Dict[str, Any]) -> None:
    """Make the frame's locals go from ``before`` to ``after``: names bound anew or
    rebound (new names too) are written, names that are gone are unbound."""
    changed = {k: v for k, v in after.items() if k not in before or before[k] is not v}
    deleted = [k for k in before if k not in after]
    if changed or deleted:
        _native.write_locals(frame, changed, deleted)
