"""``jupdb attach``: pdb's prompt in a terminal, attached to a running or
paused program through a remote Session (no IPython, no notebook).

- :mod:`.commands` — pdb's commands, as pdb writes and shows them, over the
  shared words of :mod:`jupdb.commands`;
- :mod:`.repl` — the prompt: readline history and completion, Ctrl-C, the
  program's events shown while the user types.
"""

from __future__ import annotations

import os
from typing import Optional, Union

from ..remote.attach import AttachError, connect_or_attach
from ..remote.session import SessionLost, connect
from .commands import REQUEST_TIMEOUT


def attach(target: Union[None, int, str, "os.PathLike[str]"] = None) -> int:
    """Attach a pdb prompt to the program ``target`` names (a pid, a session
    id, a connection file; None: the most recently paused, else the most
    recent running one; a pid with no jupdb session: a program that never
    imported jupdb, which :func:`jupdb.attach` makes serve) and run it until ``detach``, Ctrl-D, ``q`` or the
    program's end. The exit status of ``jupdb attach``."""
    from .repl import Terminal

    try:
        if isinstance(target, int):  # its session, else one started in a program that never imported jupdb
            session = connect_or_attach(target, timeout=REQUEST_TIMEOUT)
        else:
            session = connect(target, timeout=REQUEST_TIMEOUT)
    except (LookupError, SessionLost, ConnectionError, OSError, AttachError) as exc:
        raise SystemExit(f"jupdb attach: {exc.args[0] if exc.args else exc}") from None
    return Terminal(session).run()


def parse_target(text: Optional[str]) -> Union[None, int, str]:
    """A command line's target: a pid is a number, anything else a session id or file."""
    if text is None:
        return None
    return int(text) if text.isdecimal() else text


__all__ = ["REQUEST_TIMEOUT", "attach", "parse_target"]
