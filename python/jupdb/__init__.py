"""jupdb: debugger superpowers for Python, on a Rust engine.

Remote (pause a running program, drive it from a notebook or another process)::

    jupdb.set_trace()                  # in the program (or breakpoint() with PYTHONBREAKPOINT=jupdb.set_trace)
    session = jupdb.connect()          # elsewhere
    session.eval("x"); session.exec("x = 1"); session.next(); session.cont()

From code (nopdb-compatible, ``import jupdb as nopdb`` works)::

    with jupdb.capture_call(f) as call:
        g(1)
    call.args, call.locals, call.return_value, call.exception

    with jupdb.breakpoint(f, line="return 2 * z") as bp:
        z = bp.eval("z")
        bp.exec("z = 10")      # the running function sees z == 10

Probes fire in every thread; code they do not target runs at full speed
(``sys.monitoring`` on CPython 3.12+, a C profile hook on 3.10 and 3.11).
"""

from typing import TYPE_CHECKING, Any

from .breakpoints import Breakpoint
from .calls import CallCapture, CallInfo, CallListCapture
from .debugger import Debugger, NoPdb, breakpoint, capture_call, capture_calls, get_nopdb
from .scope import Scope

__all__ = [
    "Breakpoint",
    "CallCapture",
    "CallInfo",
    "CallListCapture",
    "Debugger",
    "NoPdb",
    "Scope",
    "breakpoint",
    "capture_call",
    "capture_calls",
    "get_nopdb",
]
#: The package's version, whose one source is the Cargo workspace's version
#: (maturin gives it to the installed metadata): read on first use, since
#: importlib.metadata is slow to import.
__version__: str

if TYPE_CHECKING:
    import types

    from .notebook.panel import Panel
    from .remote.attach import AttachError as AttachError
    from .remote.attach import attach as attach
    from .remote.debuggee import ListenInfo
    from .remote.session import Session

# The remote debugger is imported on first use, so that `import jupdb` stays cheap.
_REMOTE = {
    "connect",
    "sessions",
    "Session",
    "RemoteValue",
    "RemoteError",
    "SessionLost",
    "FrameInfo",
    "Stack",
    "ThreadInfo",
    "SessionInfo",
    "Source",
}
_ATTACH = {"attach", "AttachError"}
__all__ += sorted(
    _REMOTE | _ATTACH | {"set_trace", "post_mortem", "pm", "listen", "ListenInfo", "widget", "jump_context"}
)


def __getattr__(name: str) -> object:
    if name == "__version__":
        global __version__
        __version__ = _installed_version()
        return __version__
    if name in _REMOTE:
        from . import remote

        return getattr(remote, name)
    if name == "ListenInfo":
        from .remote.debuggee import ListenInfo

        return ListenInfo
    if name == "JuPDb":  # the original jupdb's entry point
        from .core import JuPDb

        return JuPDb
    if name == "jump_context":
        from .notebook.jump_context import jump_context

        return jump_context
    if name in _ATTACH:  # attaching to a program that never imported jupdb
        from .remote import attach

        return getattr(attach, name)
    raise AttributeError(f"module 'jupdb' has no attribute {name!r}")


def __dir__() -> "list[str]":
    """The module's names and those imported on first use, so that ``jupdb.con<TAB>``
    completes and ``help(jupdb)`` shows the remote API (without importing it here)."""
    return sorted(set(globals()) | _REMOTE | _ATTACH | {"JuPDb", "jump_context", "ListenInfo", "__version__"})


def _installed_version() -> str:
    import os
    import re

    # Run from a checkout (an editable install, PYTHONPATH): the checkout's own version.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.isdir(os.path.join(root, "crates", "jupdb-native")):
        with open(os.path.join(root, "Cargo.toml"), encoding="utf-8") as f:
            found = re.search(r'\[workspace\.package\][^[]*?^version\s*=\s*"([^"]+)"', f.read(), re.M)
        if found:
            return found.group(1)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jupdb")
    except PackageNotFoundError:
        return "0+unknown"


def listen(ip: str = "127.0.0.1", port: int = 0) -> "ListenInfo":
    """Serve remote clients from now on and return at once, without pausing
    (what ``jupdb run`` does, from inside the program): a client connects
    with ``jupdb.connect(pid)`` and may pause the program, set breakpoints,
    watch its output. Idempotent and safe from any thread; returns the pid,
    ip, port, session id and connection file. See
    :func:`jupdb.remote.debuggee.listen`."""
    from .remote.debuggee import listen as serve

    return serve(ip, port)


def set_trace(*, ip: str = "127.0.0.1", port: int = 0) -> None:
    """Pause the calling thread and serve remote clients (see :mod:`jupdb.remote`)."""
    import sys

    from .remote.debuggee import set_trace as pause

    pause(sys._getframe(1), ip=ip, port=port)


def post_mortem(
    exception: "BaseException | types.TracebackType | None" = None, *, ip: str = "127.0.0.1", port: int = 0
) -> None:
    """Pause the calling thread where ``exception`` (default: the one being
    handled; or a traceback) was raised and serve remote clients until one
    continues: ``pdb.post_mortem`` for the remote debugger."""
    from .remote.debuggee import post_mortem as pause

    pause(exception, ip=ip, port=port)


def pm(*, ip: str = "127.0.0.1", port: int = 0) -> None:
    """Post-mortem of the last uncaught exception (``sys.last_exc``, before 3.12
    ``sys.last_value``: what the interactive interpreter and IPython set), as ``pdb.pm``."""
    import sys

    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if last is None:
        raise ValueError("no uncaught exception to examine (sys.last_exc is not set)")
    post_mortem(last, ip=ip, port=port)


def widget(session: "Session | None" = None) -> "Panel":
    """A live panel of a debugged program for a notebook (needs anywidget); see
    :func:`jupdb.notebook.panel.widget`. ``session``: None for the most recently
    paused program."""
    from .notebook.panel import widget as panel

    return panel(session)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupdb``: the ``%jupdb`` and ``%%jupdb`` magics, and completion
    from the paused frame (see :mod:`jupdb.notebook`)."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupdb``."""
    from .notebook import unload_ipython_extension as unload

    unload(ipython)
