"""What the commands show: objects with a plain-text form (a terminal IPython
prints it) and an HTML form (a notebook renders it).

The remote API's own objects (Stack, FrameInfo, Source, RemoteValue, …) bring
their reprs; here are only the tables and messages the magics make themselves.
"""

from __future__ import annotations

import html
from typing import Any, Optional, Sequence

#: A small, self-contained style: no external CSS, readable in light and dark themes.
_TABLE = 'style="border-collapse:collapse;font-family:monospace;font-size:90%;text-align:left"'
_CELL = 'style="padding:1px 8px;text-align:left;vertical-align:top"'
_MARKED = 'style="font-weight:bold;background:rgba(255,200,0,0.25)"'


class View:
    """An output with a plain-text and an HTML form."""

    def __init__(self, text: str, html_text: str) -> None:
        self.text = text
        self.html = html_text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)


def message(text: str) -> View:
    """A line (or a few) of text, kept as written in HTML too."""
    return View(text, f'<pre style="margin:0">{html.escape(text)}</pre>')


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, marked: Optional[int] = None, title: str = ""
) -> View:
    """Rows under headers: aligned columns as text, an HTML table; row ``marked``
    (an index) stands out (``>`` in the text)."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str], mark: str) -> str:
        return (mark + " " + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))).rstrip()

    text_lines = [title] if title else []
    text_lines.append(line(headers, " "))
    text_lines += [line(row, ">" if i == marked else " ") for i, row in enumerate(cells)]

    head = "".join(f"<th {_CELL}>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(cells):
        tds = "".join(f"<td {_CELL}>{html.escape(v)}</td>" for v in row)
        body.append(f"<tr {_MARKED if i == marked else ''}>{tds}</tr>")
    caption = f'<caption style="text-align:left">{html.escape(title)}</caption>' if title else ""
    html_text = f"<table {_TABLE}>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return View("\n".join(text_lines), html_text)


def as_html(obj: Any) -> str:
    """``obj``'s own HTML when it has some, else its text, escaped."""
    render = getattr(obj, "_repr_html_", None)
    if render is not None:
        try:
            shown = render()
        except Exception:  # a repr that fails must not lose the rest of the output
            shown = None
        if isinstance(shown, str):
            return shown
    return f'<pre style="margin:0">{html.escape(str(obj))}</pre>'
