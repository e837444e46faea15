"""The ``jupdb`` command (also ``python -m jupdb``).

``jupdb run [--wait] [--break FILE:LINE[:COND]]... [--ip IP] [--port N] script.py [args...]`` runs a script
(``-m module`` a module) as ``__main__``, as ``python`` would, with jupdb's
server started before its first line: a client can connect at once, set
breakpoints, pause it (``Session.pause``) or watch its output, without a
``set_trace()`` in the code; ``breakpoint()`` pauses it as ``jupdb.set_trace()``
does (unless ``PYTHONBREAKPOINT`` says otherwise). ``--wait`` stops it at its
first line until a client lets it go (what ``python -m pdb`` and debugpy's
``--wait-for-client`` do). An uncaught exception, in the main thread or any
other, pauses that thread for a post-mortem (as ``python -m pdb`` does) until
a client continues it; ``--no-post-mortem`` lets the program end at once.
``--break FILE:LINE`` (repeatable; ``FILE:LINE:COND`` with a condition) sets a
breakpoint before the first line, as a client's ``add_breakpoint`` does.

``jupdb sessions`` lists the programs a client can connect to; ``jupdb
--version`` says which jupdb this is.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import runpy
import sys
import traceback
from typing import TYPE_CHECKING, Callable, List, NamedTuple, Optional, Sequence

from .scope import is_launcher_code

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

    from .remote.debuggee import DebugServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupdb", description="Debug Python programs from a notebook or another process."
    )
    parser.add_argument("--version", action=_PrintVersion, nargs=0, help="show jupdb's version and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a script or module with jupdb's server started",
        description="Run a script (or -m module) as __main__ with jupdb's server started, "
        "so that a client can connect before any breakpoint.",
    )
    run.add_argument("--wait", action="store_true", help="stop at the program's first line until a client continues")
    run.add_argument(
        "--no-post-mortem",
        dest="post_mortem",
        action="store_false",
        help="do not pause at an uncaught exception (by default its thread waits for a client)",
    )
    run.add_argument(
        "--break",
        dest="breaks",
        metavar="FILE:LINE[:COND]",
        action="append",
        type=_breakpoint_spec,
        default=[],
        help="pause where FILE:LINE is reached (and COND holds); repeatable",
    )
    run.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: loopback only)")
    run.add_argument("--port", type=int, default=0, help="request port (default: a free one)")
    run.add_argument("-m", dest="module", action="store_true", help="the target is a module, as with python -m")
    run.add_argument("target", help="the script (or, with -m, the module) to run")
    run.add_argument("args", nargs=argparse.REMAINDER, help="the program's arguments")
    commands.add_parser("sessions", help="list the programs a client can connect to")
    attach = commands.add_parser(
        "attach",
        help="a pdb prompt attached to a running or paused program",
        description="Attach pdb's prompt to a program run with jupdb (the most recently paused one, "
        "else the most recent one running, unless TARGET names one).",
    )
    attach.add_argument("target", nargs="?", help="a pid, a session id or a connection file")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    options = _parser().parse_args(argv)
    if options.command == "sessions":
        return _list_sessions()
    if options.command == "attach":
        from .terminal import attach, parse_target

        return attach(parse_target(options.target))
    return run(
        options.target,
        options.args,
        module=options.module,
        wait=options.wait,
        ip=options.ip,
        port=options.port,
        post_mortem=options.post_mortem,
        breaks=options.breaks,
    )


class _PrintVersion(argparse.Action):
    """``--version``, its metadata read only when asked: ``jupdb run``'s program
    starts without importlib.metadata imported for it."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from . import __version__

        print(f"jupdb {__version__}")
        parser.exit()


class BreakpointSpec(NamedTuple):
    """One ``--break FILE:LINE[:COND]``."""

    file: str
    line: int
    condition: Optional[str]


# The file is the shortest prefix followed by ":LINE" and then ":" (or pdb's ","),
# or the end: a condition may hold colons of its own (``x[1:2] > 0``).
_BREAK = re.compile(r"(?P<file>.+?):(?P<line>\d+)(?:\s*[:,]\s*(?P<condition>.*))?", re.S)


def _breakpoint_spec(text: str) -> BreakpointSpec:
    match = _BREAK.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not FILE:LINE or FILE:LINE:CONDITION")
    condition = (match["condition"] or "").strip() or None
    if condition is not None:
        try:
            compile(condition, "<condition>", "eval")
        except SyntaxError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: the condition is not an expression: {exc.msg}") from None
    return BreakpointSpec(match["file"], int(match["line"]), condition)


def _list_sessions() -> int:
    from .remote.session import find_sessions, no_session_error

    found, skipped, searched = find_sessions()
    rows = [("PID", "STATE", "PROGRAM", "WHERE")]
    for info in found:
        where = f"{info.location.file}:{info.location.line}" if info.location else ""
        rows.append((str(info.pid), info.state, " ".join(info.program) or "?", where))
    if found:
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for pid, state, program, where in rows:
            print(f"{pid:>{widths[0]}}  {state:<{widths[1]}}  {program:<{widths[2]}}  {where}".rstrip())
    else:
        print(no_session_error("no jupdb sessions", skipped, searched), file=sys.stderr)
    return 0


def _source_of(target: str, module: bool) -> str:
    """The file that runs first: the script, or the module's (a package's ``__main__``)."""
    if not module:
        if not os.path.isfile(target):
            raise SystemExit(f"jupdb run: no such file: {target}")
        return os.path.abspath(target)
    try:
        spec = _find_without_importing(target)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = _find_without_importing(f"{target}.__main__", spec)
    except (ImportError, ValueError) as exc:
        raise SystemExit(f"jupdb run: cannot find module {target}: {exc}") from None
    if spec is None or not spec.has_location or spec.origin is None:
        raise SystemExit(f"jupdb run: no module named {target} (with a source file to run)")
    return spec.origin


def _find_without_importing(name: str, parent: "Optional[ModuleSpec]" = None) -> "Optional[ModuleSpec]":
    """``name``'s spec, found without running any of the program's code: a
    package's ``__init__`` runs under runpy, with the server started, so that
    an exception there is the program's (printed as such, a post-mortem)."""
    from importlib.machinery import PathFinder

    head, _, _ = name.rpartition(".")
    if not head:
        return importlib.util.find_spec(name)  # a top-level name imports nothing
    if parent is None:
        parent = _find_without_importing(head)
    if parent is None or parent.submodule_search_locations is None:
        return None
    found = PathFinder.find_spec(name, list(parent.submodule_search_locations))
    # Elsewhere than on the file system (a zip, a custom finder): as runpy finds it, importing the package.
    return found if found is not None else importlib.util.find_spec(name)


def run(
    target: str,
    args: List[str],
    *,
    module: bool = False,
    wait: bool = False,
    ip: str = "127.0.0.1",
    port: int = 0,
    post_mortem: bool = True,
    breaks: Sequence[BreakpointSpec] = (),
) -> int:
    """Run ``target`` as ``__main__`` with the server started; its exit code."""
    from .remote.debuggee import DebugServer, set_trace, tell_terminal
    from .remote.debuggee import post_mortem as pause_at

    # As python does: a script's directory, or for -m the current one, comes first on sys.path.
    sys.path[0] = os.getcwd() if module else os.path.dirname(os.path.abspath(target))
    source = _source_of(target, module)
    sys.argv = [source if module else target, *args]  # before the server records it
    try:
        server = DebugServer.get(ip, port)
    except OSError as exc:
        raise SystemExit(f"jupdb run: cannot serve the program: {exc}") from None
    _set_breakpoints(server, breaks)
    tell_terminal(
        f"jupdb: running {target} (pid {os.getpid()}, port {server.info['request_port']}); "
        f"connect with jupdb.connect({os.getpid()})"
    )
    if not os.environ.get("PYTHONBREAKPOINT"):
        sys.breakpointhook = set_trace
    if wait:
        server.service.pause_at_first_line(source)
    if post_mortem:
        _pause_at_uncaught_exceptions_in_threads(pause_at)
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(source, run_name="__main__")  # __file__ absolute, as python makes it
    except SystemExit:
        raise
    except BaseException as exc:
        # The program's traceback, as python would print it: without jupdb's and runpy's frames.
        tb = exc.__traceback__
        while tb is not None and is_launcher_code(tb.tb_frame.f_code):
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb)
        if isinstance(exc, KeyboardInterrupt):
            return 130
        if post_mortem and tb is not None:  # a frame of the program's to look at (not a SyntaxError in it, say)
            try:
                pause_at(exc)
            except KeyboardInterrupt:  # Ctrl-C instead of a client's continue: the traceback is printed already
                return 130
        return 1
    return 0


def _set_breakpoints(server: "DebugServer", breaks: Sequence[BreakpointSpec]) -> None:
    """Set the ``--break`` breakpoints as a client sets them; a file or line that
    cannot be stopped at ends ``jupdb run`` before the program starts, as a
    mistyped option should (pdb's ``b`` refuses such a line too)."""
    from .remote.paused import RequestError

    for spec in breaks:
        request = {"file": spec.file, "line": spec.line, "condition": spec.condition}
        try:
            server.service.do_break(request)
        except RequestError as exc:
            server.close()
            raise SystemExit(f"jupdb run: --break {spec.file}:{spec.line}: {exc}") from None


def _pause_at_uncaught_exceptions_in_threads(pause_at: Callable[[BaseException], None]) -> None:
    """After a thread's uncaught exception is printed, that thread pauses for a post-mortem."""
    import threading

    printing = threading.excepthook

    def hook(args: "threading.ExceptHookArgs") -> None:
        printing(args)
        if args.exc_value is not None and args.exc_value.__traceback__ is not None:
            pause_at(args.exc_value)

    threading.excepthook = hook
