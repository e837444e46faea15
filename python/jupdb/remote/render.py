"""How the client's objects read: the words for a stop and a location, and small
HTML for a notebook.

The HTML is escaped throughout (a remote repr or a source line may hold
``<script>``), styled inline (a notebook's output takes no stylesheet of
ours) with colours that read on light and dark themes alike, and small: a
stack is a table, a source listing a ``<pre>``-like table.
"""

from __future__ import annotations

import html
import os
import shlex
from typing import Any, Dict, Iterable, List, Optional, Sequence

#: The notebook's code font where it has one (JupyterLab's variables), else monospace.
_MONO = "font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 0.9em)"
#: A translucent yellow: marks the current line or the selected frame on any theme.
_HIGHLIGHT = "background: rgba(255, 191, 0, 0.3)"
_MUTED = "opacity: 0.65"
_ERROR = "color: #d32f2f"
_CELL = "padding: 1px 8px; text-align: left; vertical-align: top; white-space: pre"


def escape(text: Any) -> str:
    """``text`` as HTML text (``<``, ``>``, ``&`` and quotes escaped)."""
    return html.escape(str(text), quote=True)


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis saying so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def location(file: str, line: int, function: str, *, short: bool = False) -> str:
    """``file:line in function()`` (``short``: the file's name without its folder)."""
    return f"{os.path.basename(file) if short else file}:{line} in {function}()"


def location_html(file: str, line: int, function: str) -> str:
    """A location in HTML: the file's folder muted, its name, line and function plain."""
    folder, name = os.path.split(file)
    shown_folder = f'<span style="{_MUTED}">{escape(folder + os.sep)}</span>' if folder else ""
    return f"{shown_folder}{escape(name)}:{int(line)} in <b>{escape(function)}()</b>"


def program(argv: Sequence[str]) -> str:
    """The command a program runs as, shortly: ``python app.py --epochs 3``."""
    if not argv:
        return "python"
    words = [os.path.basename(str(argv[0])), *map(str, argv[1:])]
    return shorten("python " + " ".join(shlex.quote(word) for word in words), 60)


#: Why a thread stopped (a ``paused`` event's ``reason``), in words.
_REASONS = {
    "set_trace": "paused by set_trace()",
    "step": "paused after a step",
    "pause": "paused by a client's pause",
    "jump": "paused after a jump",
    "start": "paused at the program's start",
}


def reason(why: Optional[str], breakpoint: Optional[int] = None, exception: Optional[str] = None) -> Optional[str]:
    """A stop's reason in words (None for a frame that is not a stop)."""
    if why is None:
        return None
    if why == "breakpoint":
        return "paused by a breakpoint" + (f" ({breakpoint})" if breakpoint is not None else "")
    if why == "exception":
        return "post-mortem" + (f" of {exception}" if exception else "")
    return _REASONS.get(why, f"paused ({why})")


def busy(info: Optional[Dict[str, Any]]) -> Optional[str]:
    """What a paused thread is busy with (a ``busy`` field), in words."""
    if not info:
        return None
    seconds = info.get("seconds")
    took = f" for {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
    return f"busy with {info.get('request', 'a request')}{took}"


# -- HTML ----------------------------------------------------------------------------------


def block(*parts: str) -> str:
    """Parts of HTML one under the other, in the code font."""
    return f'<div style="{_MONO}">' + "".join(f"<div>{part}</div>" for part in parts if part) + "</div>"


def muted(text: str) -> str:
    return f'<span style="{_MUTED}">{escape(text)}</span>'


def error(text: str) -> str:
    return f'<span style="{_ERROR}">{escape(text)}</span>'


def pre(text: str, *, highlight: bool = False) -> str:
    """Preformatted text (a code line, a traceback), escaped."""
    style = "margin: 2px 0; padding: 1px 4px; white-space: pre-wrap" + (f"; {_HIGHLIGHT}" if highlight else "")
    return f'<pre style="{style}">{escape(text)}</pre>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]], *, highlight: Optional[int] = None) -> str:
    """A table of cells given as HTML (escaped by the caller); row ``highlight`` marked."""
    head = "".join(f'<th style="{_CELL}">{escape(name)}</th>' for name in header)
    body: List[str] = []
    for i, row in enumerate(rows):
        style = f' style="{_HIGHLIGHT}"' if i == highlight else ""
        body.append(f"<tr{style}>" + "".join(f'<td style="{_CELL}">{cell}</td>' for cell in row) + "</tr>")
    return (
        f'<table style="border-collapse: collapse; {_MONO}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def source(file: str, first_line: int, current_line: int, lines: Sequence[str]) -> str:
    """A source listing: line numbers, the current line marked and highlighted."""
    rows = []
    for number, text in enumerate(lines, first_line):
        current = number == current_line
        style = f' style="{_HIGHLIGHT}"' if current else ""
        rows.append(
            f"<tr{style}>"
            f'<td style="{_CELL}; text-align: right; {_MUTED}">{number}</td>'
            f'<td style="{_CELL}">{"→" if current else ""}</td>'
            f'<td style="{_CELL}">{escape(text)}</td></tr>'
        )
    return (
        f'<div style="{_MONO}"><div style="{_MUTED}">{escape(file)}</div>'
        f'<table style="border-collapse: collapse; {_MONO}"><tbody>{"".join(rows)}</tbody></table></div>'
    )
