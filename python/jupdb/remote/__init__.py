"""The remote debugger: pause a program, drive it from another process.

Debuggee side: :func:`set_trace` (or ``breakpoint()`` with
``PYTHONBREAKPOINT=jupdb.set_trace``). Client side: :func:`connect` returns a
:class:`Session`; :func:`sessions` lists the programs that can be connected to.

The client side is imported on first use: a program that only serves (a
``set_trace()``, or one ``jupdb.attach`` started serving) never loads it.
"""

from typing import TYPE_CHECKING

from .debuggee import set_trace

if TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    if name in __all__:
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module 'jupdb.remote' has no attribute {name!r}")
