"""The original jupdb API, kept working: ``JuPDb(port=5555).set_trace()``.

Unlike the original, it listens on 127.0.0.1 only and every message is signed
with the key in the session's connection file (which :mod:`jupdb.client` reads).
"""

from __future__ import annotations

import sys


class JuPDb:
    """Pauses the caller at :meth:`set_trace`, serving clients on ``port``."""

    def __init__(self, port: int = 5555) -> None:
        from .remote.debuggee import DebugServer

        self.port = port
        self.server = DebugServer.get_or_say_why(port=port)

    def set_trace(self) -> None:
        """Pause the calling frame until a client continues it (where the
        server could not start, the program goes on)."""
        from .remote.paused import PausedThread

        if self.server is not None:
            PausedThread(self.server, sys._getframe(1), reason="set_trace").serve()
