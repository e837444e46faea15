"""The original jupdb client API, kept working::

    from jupdb.client import debug_eval, debug_continue
    debug_eval("a")          # {'result': '10'}
    debug_eval("a = 42")     # {'result': 'executed'}
    debug_eval("1/0")        # {'error': 'division by zero'}
    debug_continue()         # {'status': 'resuming'}

The debuggee on ``port`` is found through its connection file (which holds
the signing key), and one connection per port is reused.

``jump_context`` is here too, where the original README promised it::

    with jump_context():     # the paused frame's locals, as variables here
        a = a + 32           # written back when the block ends
"""

from __future__ import annotations

import os
from typing import Any, Dict, Tuple

from .notebook.jump_context import jump_context
from .remote.session import RemoteError, Session, SessionLost, find_sessions, no_session_error

__all__ = ["JuPDbClient", "debug_continue", "debug_eval", "jump_context"]

_open: Dict[int, Tuple[str, Session]] = {}

if hasattr(os, "register_at_fork"):
    # A forked child connects anew: the parent's connections are the parent's.
    os.register_at_fork(after_in_child=_open.clear)


def _session(port: int) -> Session:
    cached = _open.get(port)
    if cached is not None and os.path.exists(cached[0]):
        return cached[1]
    if cached is not None:
        cached[1].close()
    live, skipped, searched = find_sessions()
    for found in live:
        from . import _native

        info = _native.read_connection(found.path)
        if info["request_port"] == port:
            session = Session(info, path=found.path)
            _open[port] = (found.path, session)
            return session
    raise ConnectionError(str(no_session_error(f"no jupdb debuggee is listening on port {port}", skipped, searched)))


class JuPDbClient:
    """A client for the debuggee listening on ``port`` (loopback)."""

    def __init__(self, port: int = 5555) -> None:
        self.port = port

    def eval(self, code: str) -> Dict[str, Any]:
        """Evaluate an expression (``{'result': str(value)}``) or run a statement
        (``{'result': 'executed'}``); ``{'error': message}`` if it fails."""
        session = _session(self.port)
        try:
            try:
                reply, _ = session.request("eval", {"code": code, "mime": False, "str": True})
                return {"result": reply["str"]}
            except RemoteError as exc:
                if exc.ename != "SyntaxError":
                    raise
            session.request("exec", {"code": code})
            return {"result": "executed"}
        except (RemoteError, SessionLost, TimeoutError) as exc:
            return {"error": getattr(exc, "evalue", str(exc))}

    def cont(self) -> Dict[str, Any]:
        """Let the paused program run on."""
        try:
            _session(self.port).request("resume", {"action": "continue"})
        except (RemoteError, SessionLost, TimeoutError) as exc:
            return {"error": getattr(exc, "evalue", str(exc))}
        return {"status": "resuming"}


def debug_eval(code: str, port: int = 5555) -> Dict[str, Any]:
    return JuPDbClient(port).eval(code)


def debug_continue(port: int = 5555) -> Dict[str, Any]:
    return JuPDbClient(port).cont()
