"""Tab completion from the paused frame: in a ``%%jupdb`` cell, in ``%jupdb on``
mode, and after ``%jupdb p `` (``pp``, ``watch``, ``unwatch``) the debuggee
completes the code (``Session.complete``), and its matches replace IPython's
own, which know the notebook's names, not the program's.

An IPython matcher of the v2 API (IPython 8.6 and later); with an older IPython
there is no remote completion.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Optional, Tuple

from . import current

try:
    from IPython.core.completer import SimpleCompletion, context_matcher
except ImportError:  # IPython before 8.6: no matcher API to plug into
    context_matcher = None

#: A line whose rest is an expression for the program: ``%jupdb p df.co``.
_EXPRESSION_COMMAND = re.compile(r"[ \t]*%jupdb[ \t]+(?:p|pp|print|watch|unwatch)[ \t]+")

_NOTHING: Dict[str, Any] = {"completions": [], "suppress": False}


def remote_code(full_text: str, offset: int, on: bool) -> Optional[Tuple[str, int]]:
    """The code the program should complete, and the cursor in it, for a cell
    ``full_text`` with the cursor at ``offset``; None where the cell runs here.

    ``on``: whether ``%jupdb on`` runs every cell in the paused frame."""
    line_start = full_text.rfind("\n", 0, offset) + 1
    line_end = full_text.find("\n", offset)
    line = full_text[line_start : len(full_text) if line_end < 0 else line_end]
    command = _EXPRESSION_COMMAND.match(line)
    if command is not None and offset - line_start >= command.end():
        return line[command.end() :], offset - line_start - command.end()

    first_start = 0  # of the first line that is not blank
    for text in full_text.split("\n"):
        if text.strip():
            break
        first_start += len(text) + 1
    first_end = full_text.find("\n", first_start)
    first = full_text[first_start : len(full_text) if first_end < 0 else first_end].lstrip()
    if first.startswith("%%jupdb"):
        if first_end < 0 or offset <= first_end:
            return None  # on the magic's own line
        return full_text[first_end + 1 :], offset - first_end - 1
    if on and not first.startswith("%jupdb"):
        return full_text, offset
    return None


def make_matcher(is_on: Callable[[], bool]) -> Any:
    """The matcher to add to ``shell.Completer.custom_matchers`` (None before
    IPython 8.6); ``is_on`` tells whether ``%jupdb on`` is in force."""
    if context_matcher is None:
        return None

    @context_matcher(identifier="jupdb")  # type: ignore[untyped-decorator]
    def jupdb_matcher(context: Any) -> Dict[str, Any]:
        lines = context.full_text.split("\n")
        offset = sum(len(line) + 1 for line in lines[: context.cursor_line]) + context.cursor_position
        where = remote_code(context.full_text, offset, is_on())
        if where is None:
            return dict(_NOTHING)
        code, cursor = where
        try:  # a completer must never raise: IPython would print a traceback under the cell
            reply = current.get_or_connect().complete(code, cursor)
        except Exception:
            return dict(_NOTHING)
        start = reply.get("cursor_start", cursor)
        if not isinstance(start, int) or not 0 <= start <= cursor:
            return dict(_NOTHING)
        matches = reply.get("matches") or []
        types = reply.get("types") or []
        completions = [
            SimpleCompletion(text, type=types[i] if i < len(types) else None) for i, text in enumerate(matches)
        ]
        # The program's matches alone: IPython's would complete the notebook's names.
        return {"completions": completions, "matched_fragment": code[start:cursor], "suppress": bool(completions)}

    return jupdb_matcher
