"""The notebook's current session: the program that magics, completion and
``jump_context`` talk to when they are not given one.

One per process (a kernel debugs one program at a time); ``%jupdb connect``
chooses it, and any command that needs one and finds none connects to the most
recently paused program by itself.
"""

from __future__ import annotations

from typing import Callable, Optional

from ..remote.session import Session, connect

_current: Optional[Session] = None


def get() -> Optional[Session]:
    """The current session, None when there is none (or it was closed)."""
    if _current is not None and _current._closed:
        return None
    return _current


def use(session: Optional[Session]) -> None:
    """Make ``session`` the current one (None: forget it); the one it replaces
    is closed, unless it is the same."""
    global _current
    if _current is not None and _current is not session:
        _current.close()
    _current = session


def get_or_connect(announce: Optional[Callable[[Session], None]] = None) -> Session:
    """The current session; when there is none, a new connection to the most
    recently paused program becomes it (``announce`` is told, so the user learns
    which program that is)."""
    session = get()
    if session is None:
        session = connect()
        use(session)
        if announce is not None:
            announce(session)
    return session
