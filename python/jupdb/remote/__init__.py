"""The remote debugger: pause a program, drive it from another process.

Debuggee side: :func:`set_trace` (or ``breakpoint()`` with
``PYTHONBREAKPOINT=jupdb.set_trace``). Client side: :func:`connect` returns a
:class:`Session`; :func:`sessions` lists the programs that can be connected to.
"""

from .debuggee import set_trace
from .session import (
    FrameInfo,
    RemoteError,
    RemoteValue,
    Session,
    SessionInfo,
    SessionLost,
    Source,
    Stack,
    ThreadInfo,
    connect,
    sessions,
)

__all__ = [
    "FrameInfo",
    "RemoteError",
    "RemoteValue",
    "Session",
    "SessionInfo",
    "SessionLost",
    "Source",
    "Stack",
    "ThreadInfo",
    "connect",
    "sessions",
    "set_trace",
]
