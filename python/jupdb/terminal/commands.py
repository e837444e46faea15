"""pdb's commands for ``jupdb attach``: the shared words (:mod:`jupdb.commands`)
written and shown as pdb writes and shows them, and the ones only a terminal
has (``commands``, ``display``, ``interact``, ``q``, …).

Everything goes through the Session; what the program itself must keep
(a breakpoint's condition and ignore count) is kept there, what is one
client's own (a breakpoint's ``commands`` list, ``display`` expressions) here.
"""

from __future__ import annotations

import ast
import codeop
import dataclasses
import os
import signal
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..commands.words import CommandError, Commands, Current, command, program_errors, usage_of
from ..remote.session import FrameInfo, RemoteError, RemoteValue, Session, SessionLost, Stack

#: Seconds a request may take before the prompt gives up on it (Ctrl-C stops sooner).
REQUEST_TIMEOUT = 600.0

#: The commands that let the program run: one of them ends a breakpoint's
#: ``commands`` list, as in pdb.
RESUMING = {"step", "s", "next", "n", "return", "r", "until", "unt", "jump", "j", "continue", "c", "cont", "q", "quit"}

#: Evaluated in the selected frame: the arguments of the frame it runs in, as
#: ``(name, repr)`` pairs. The request runs on the paused thread itself, so the
#: selected frame is one of the evaluating frame's callers, found by where it is.
_ARGS = """[(n, __import__('reprlib').repr(f.f_locals[n]) if n in f.f_locals else '*** undefined')
 for f in [next(f for f, _ in __import__('traceback').walk_stack(__import__('sys')._getframe())
                if (f.f_code.co_filename, f.f_code.co_name, f.f_lineno) == ({file!r}, {function!r}, {line}))]
 for c in [f.f_code]
 for n in c.co_varnames[: c.co_argcount + c.co_kwonlyargcount + bool(c.co_flags & 4) + bool(c.co_flags & 8)]]"""

#: What pdb's ``whatis`` says of a value.
_WHATIS = """(lambda v: 'Method ' + v.__func__.__name__ if hasattr(v, '__func__') and hasattr(v.__func__, '__code__')
 else 'Function ' + v.__name__ if hasattr(v, '__code__') and hasattr(v, '__name__')
 else 'Class ' + v.__module__ + '.' + v.__qualname__ if isinstance(v, type)
 else str(type(v)))(({expr}))"""

#: Where a function (or method) named by an expression starts: its file and first body line.
_FUNCTION_START = """(lambda c: (c.co_filename,
 min([l for _, _, l in c.co_lines() if l is not None and l > c.co_firstlineno] or [c.co_firstlineno])))(
 getattr(getattr({expr}, '__func__', {expr}), '__code__'))"""


class Slot:
    """The terminal's session: the one it attached to, until it detaches."""

    def __init__(self, session: Optional[Session] = None) -> None:
        self.session = session

    def get(self) -> Optional[Session]:
        return None if self.session is None or self.session._closed else self.session

    def use(self, session: Optional[Session]) -> None:
        if self.session is not None and self.session is not session:
            self.session.close()
        self.session = session

    def get_or_connect(self, announce: Optional[Callable[[Session], None]] = None) -> Session:
        session = self.get()
        if session is None:
            raise CommandError("not attached to a program (it ended, or this terminal detached)")
        return session


@dataclasses.dataclass
class Listing:
    """Where ``list`` goes on from: the file and the last line it showed."""

    file: str
    last: int


class TerminalCommands(Commands):
    """pdb's commands over the attached session, shown as pdb shows them."""

    hidden = ("connect", "frame")
    request_timeout = REQUEST_TIMEOUT

    def __init__(self, show: Callable[[Any], None], say: Callable[[str], None], current: Current) -> None:
        super().__init__(show, say, current)
        #: Commands to run at a breakpoint's hits (pdb's ``commands``), by breakpoint id.
        self.breakpoint_commands: Dict[int, List[str]] = {}
        #: ``display`` expressions and their last values, by frame (file, function).
        self.displays: Dict[Tuple[str, str], Dict[str, Optional[str]]] = {}
        self.listing: Optional[Listing] = None
        #: Asks a yes/no question (``q``), reads a line (``commands``); the terminal sets them.
        self.ask: Callable[[str], str] = input
        #: Set by ``detach``, ``q`` and a program that ended: the terminal's loop ends.
        self.done = False
        #: The stop this client last saw (its ``stop`` number).
        self.last_stop = 0

    def usage_head(self) -> str:
        return "Commands (any other line runs as Python in the selected frame, as does !LINE):"

    # -- showing --------------------------------------------------------------------------
    def show_stop(self, stop: FrameInfo, note: str = "") -> None:
        """pdb's ``> file(line)function()`` and ``-> line``, the displays that
        changed, then the commands of the breakpoint that stopped it."""
        commands = self.breakpoint_commands.get(stop.breakpoint or -1) if stop.reason == "breakpoint" else None
        silent = commands is not None and "silent" in commands
        self.location, self.returned = stop, stop.returned
        self.listing = None
        if note:
            self.say(note)
        if not silent:
            self.say(pdb_location(stop, current=True))
            for expr, value in stop.watches.items():
                self.say(f"watch {expr}: {value!r}")
        self._show_displays()
        if commands:
            for line in commands:
                if line == "silent":
                    continue
                self.say_run(line)
                if line.split(" ", 1)[0] in RESUMING:
                    break  # the command moved on: its own stop was shown, with its own commands

    def say_run(self, line: str) -> None:
        """Run a line of a breakpoint's ``commands`` list, its errors shown as pdb's ``***``."""
        try:
            self.run_line(line)
        except (CommandError, RemoteError) as exc:
            self.say(error_text(exc))

    def show_frame(self, frame: FrameInfo) -> None:
        self.location = frame
        self.listing = None
        self.say(pdb_location(frame, current=True))

    def run_line(self, line: str) -> None:
        """A command, or Python run in the selected frame (``!`` forces Python)."""
        line = line.strip()
        if not line:
            return
        word, _, rest = line.partition(" ")
        if line.startswith("!"):
            self.python(line[1:])
        elif self.find(word) is not None and not _assigns(rest):
            self.run(line)
        else:
            self.python(line)

    def python(self, code: str) -> None:
        """Run a line (or block) in the selected frame, as pdb does: an
        expression's value is printed (not None's), statements run and write
        through to the frame."""
        if not code.strip():
            return
        session = self.session()
        try:
            ast.parse(code, mode="eval")
        except SyntaxError:
            try:
                compile(code, "<stdin>", "exec")
            except SyntaxError as exc:
                raise CommandError(f"{type(exc).__name__}: {exc}") from None
            with_errors(lambda: session.exec(code), self.current)
            return
        value: RemoteValue = with_errors(lambda: session.eval(code), self.current)
        if not (value.type == "NoneType"):
            self.say(repr(value))

    # -- the stack -------------------------------------------------------------------------
    def do_where(self, args: str) -> None:  # pdb's order: the oldest frame first
        if args:
            raise CommandError(f"where takes no arguments\nusage: {usage_of('where')}")
        stack = self.session().where()
        if stack:
            self.location = stack[stack.selected]
        self.say(pdb_stack(stack))

    # -- breakpoints -----------------------------------------------------------------------
    def _location(self, session: Session, where: str, name: str) -> Tuple[str, int]:
        if where.rpartition(":")[2].strip().isdecimal():
            return super()._location(session, where, name)
        try:  # pdb's `b FUNCTION`: its first line
            ast.parse(where, mode="eval")
        except SyntaxError:
            raise CommandError(f"{where!r} is not a line or a function\nusage: {usage_of(name)}") from None
        file, line = session.fetch(_FUNCTION_START.format(expr=where))
        return file, int(line)

    def _list_breakpoints(self, session: Session) -> None:
        found = session.breakpoints()
        if not found:
            self.say("No breakpoints")
            return
        lines = ["Num Type         Disp Enb   Where"]
        for b in found:
            disp = "del " if b.get("temporary") else "keep"
            enabled = "yes" if b.get("enabled", True) else "no "
            lines.append(f"{b['id']:<4}breakpoint   {disp} {enabled}   at {b['file']}:{b['line']}")
            if b.get("condition"):
                lines.append(f"\tstop only if {b['condition']}")
            if b.get("ignore"):
                lines.append(f"\twill ignore next {b['ignore']} hits")
            if b.get("hits"):
                lines.append(f"\tbreakpoint already hit {b['hits']} time{'s' if b['hits'] > 1 else ''}")
            for line in self.breakpoint_commands.get(b["id"], []):
                lines.append(f"\t\t{line}")
        self.say("\n".join(lines))

    def _breakpoint_id(self, word: str, name: str) -> int:
        if not word.isdecimal():
            raise CommandError(f"{word or 'nothing'} is not a breakpoint number\nusage: {usage_of(name)}")
        bid = int(word)
        if not any(b["id"] == bid for b in self.session().breakpoints()):
            raise CommandError(f"there is no breakpoint {bid}")
        return bid

    @command("condition", usage="condition ID [CONDITION]", help="stop at breakpoint ID only where CONDITION holds")
    def do_condition(self, args: str) -> None:
        word, _, cond = args.partition(" ")
        bid = self._breakpoint_id(word, "condition")
        cond = cond.strip()
        if cond:
            try:
                ast.parse(cond, mode="eval")
            except SyntaxError as exc:
                raise CommandError(f"{cond!r} is not an expression ({exc.msg})") from None
        self.session().set_condition(bid, cond or None)
        self.say(f"New condition set for breakpoint {bid}." if cond else f"Breakpoint {bid} is now unconditional.")

    @command("ignore", usage="ignore ID [COUNT]", help="pass over the next COUNT hits of breakpoint ID")
    def do_ignore(self, args: str) -> None:
        word, _, count_text = args.partition(" ")
        bid = self._breakpoint_id(word, "ignore")
        count_text = count_text.strip() or "0"
        if not count_text.isdecimal():
            raise CommandError(f"{count_text} is not a count\nusage: {usage_of('ignore')}")
        count = int(count_text)
        self.session().ignore_breakpoint(bid, count)
        if count == 0:
            self.say(f"Will stop next time breakpoint {bid} is reached.")
        else:
            self.say(f"Will ignore next {count} crossing{'s' if count > 1 else ''} of breakpoint {bid}.")

    @command(
        "commands",
        usage="commands [ID]",
        help="commands to run when breakpoint ID (default: the last one) stops this client; end with 'end'",
    )
    def do_commands(self, args: str) -> None:
        if args:
            bid = self._breakpoint_id(args.strip(), "commands")
        else:
            found = self.session().breakpoints()
            if not found:
                raise CommandError("no breakpoints: set one first")
            bid = found[-1]["id"]
        self.say(f"(com) commands for breakpoint {bid}: one a line; 'silent' hides the stop, 'end' ends the list")
        lines: List[str] = []
        while True:
            try:
                line = self.ask("(com) ").strip()
            except EOFError:
                break
            except KeyboardInterrupt:
                self.say("command definition aborted, old commands restored")
                return
            if not line:
                continue
            if line == "end":
                break
            lines.append(line)
            if line.split(" ", 1)[0] in RESUMING:  # as pdb: a command that moves on ends the list
                break
        self.breakpoint_commands[bid] = lines
        if not lines:
            self.breakpoint_commands.pop(bid)

    # -- looking -----------------------------------------------------------------------------
    @command("list", "l", usage="list [. | FIRST[, LAST]]", help="source around the line (again: the next lines)")
    def do_list(self, args: str) -> None:
        session = self.session()
        stack = session.where()
        frame = stack[stack.selected]
        lines = self._lines(frame.file)
        args = args.strip()
        if args and args != ".":
            first_text, _, last_text = args.partition(",")
            try:
                first = int(first_text)
                last = int(last_text) if last_text.strip() else None
            except ValueError:
                raise CommandError(f"{args} is not a line or a range\nusage: {usage_of('list')}") from None
            if last is None:
                first = max(1, first - 5)
                last = first + 10
            elif last < first:  # pdb: LAST smaller than FIRST is a count
                last = first + last
        elif not args and self.listing is not None and self.listing.file == frame.file:
            first = self.listing.last + 1
            last = first + 10
        else:
            first = max(1, frame.line - 5)
            last = first + 10
        last = min(last, len(lines))
        if first > last:
            self.say("[EOF]")
            return
        self._print_lines(frame, lines, first, last)
        self.listing = Listing(frame.file, last)

    @command("ll", "longlist", usage="ll", help="the whole source of the current function")
    def do_longlist(self, args: str) -> None:
        if args:
            raise CommandError(f"ll takes no arguments\nusage: {usage_of('ll')}")
        session = self.session()
        source = session.source(whole=True)
        stack = session.where()
        frame = stack[stack.selected]
        lines = self._lines(frame.file)
        self._print_lines(frame, lines, source.first_line, source.first_line + len(source.lines) - 1)

    def _lines(self, file: str) -> List[str]:
        """The file's lines as the program sees them (its linecache: a cell's, a changed file's)."""
        lines: List[str] = self.session().fetch(f"__import__('linecache').getlines({file!r})")
        if not lines:
            raise CommandError(f"no source for {file}")
        return lines

    def _print_lines(self, frame: FrameInfo, lines: List[str], first: int, last: int) -> None:
        marks = {b["line"] for b in self.session().breakpoints() if b["file"] == frame.file}
        out = []
        for number in range(first, last + 1):
            text = f"{number:>3}".ljust(4) + ("B" if number in marks else " ")
            text += "->" if number == frame.line else "  "
            out.append(text + "\t" + lines[number - 1].rstrip("\n"))
        self.say("\n".join(out))

    @command("args", "a", usage="args", help="the arguments of the current function")
    def do_args(self, args: str) -> None:
        session = self.session()
        stack = session.where()
        f = stack[stack.selected]
        try:
            pairs = session.fetch(_ARGS.format(file=f.file, function=f.function, line=f.line))
        except RemoteError:
            raise CommandError("the arguments are not available here (the frame has finished: a post-mortem)") from None
        self.say("\n".join(f"{name} = {value}" for name, value in pairs))

    @command("whatis", usage="whatis EXPR", help="the type of EXPR")
    def do_whatis(self, args: str) -> None:
        expr = _expression(args, "whatis")
        self.say(str(with_errors(lambda: self.session().eval(_WHATIS.format(expr=expr)), self.current).value))

    @command("source", usage="source EXPR", help="the source of the function, class or module EXPR")
    def do_source(self, args: str) -> None:
        expr = _expression(args, "source")
        code = f"__import__('inspect').getsourcelines(({expr}))"
        try:
            lines, first = self.session().fetch(code)
        except RemoteError as exc:
            raise CommandError(f"{exc.ename}: {exc.evalue}") from None
        self.say("\n".join(f"{n:>3}".ljust(4) + "\t" + text.rstrip("\n") for n, text in enumerate(lines, first or 1)))

    @command("display", usage="display [EXPR]", help="show EXPR's value whenever it changed at a stop in this frame")
    def do_display(self, args: str) -> None:
        key = self._display_key()
        shown = self.displays.setdefault(key, {})
        if not args:
            self.say("Currently displaying:" + "".join(f"\n{expr}: {value}" for expr, value in shown.items()))
            return
        expr = _expression(args, "display")
        shown[expr] = self._display_value(expr)
        self.say(f"display {expr}: {shown[expr]}")

    @command("undisplay", usage="undisplay [EXPR]", help="stop displaying EXPR (no EXPR: all of this frame's)")
    def do_undisplay(self, args: str) -> None:
        shown = self.displays.setdefault(self._display_key(), {})
        if not args:
            shown.clear()
        elif shown.pop(args.strip(), None) is None:
            raise CommandError(f"not displaying {args.strip()}")

    def _display_key(self) -> Tuple[str, str]:
        stack = self.session().where()
        frame = stack[stack.selected]
        return frame.file, frame.function

    def _display_value(self, expr: str) -> str:
        try:
            return repr(self.session().eval(expr, repr_limit=200))
        except RemoteError as exc:
            return f"** raised {exc.ename}: {exc.evalue} **"

    def _show_displays(self) -> None:
        if self.location is None:
            return
        shown = self.displays.get((self.location.file, self.location.function))
        for expr, old in list((shown or {}).items()):
            new = self._display_value(expr)
            if new != old:
                shown[expr] = new  # type: ignore[index]
                self.say(f"display {expr}: {new}  [old: {old}]")

    @command(
        "exceptions",
        "exc",
        usage="exceptions [NUMBER]",
        help="a post-mortem's chained exceptions; NUMBER: examine that one's traceback",
    )
    def do_exceptions(self, args: str) -> None:
        session = self.session()
        if args:
            if not args.strip().isdecimal():
                raise CommandError(f"{args.strip()} is not a number\nusage: {usage_of('exceptions')}")
            self.show_stop(with_errors(lambda: session.examine_exception(int(args)), self.current))
            return
        chain, examined = with_errors(session.exceptions, self.current)
        for i, exc in enumerate(chain):
            self.say(f"{'>' if i == examined else ' '} {i} {exc.ename}: {exc.evalue}")

    @command("interact", usage="interact", help="a Python prompt whose lines run in the current frame (Ctrl-D returns)")
    def do_interact(self, args: str) -> None:
        import code

        commands = self

        class Console(code.InteractiveConsole):
            def runsource(self, source: str, filename: str = "<input>", symbol: str = "single") -> bool:
                try:
                    compiled = codeop.compile_command(source, filename, symbol)
                except (SyntaxError, ValueError, OverflowError):
                    self.showsyntaxerror(filename)
                    return False
                if compiled is None:
                    return True  # more lines to come
                try:
                    commands.python(source)
                except (CommandError, RemoteError) as exc:
                    self.write(error_text(exc) + "\n")
                return False

        Console().interact(banner="*interactive* (its lines run in the program's frame; Ctrl-D returns)", exitmsg="")

    # -- leaving ---------------------------------------------------------------------------
    def switch_to(self, session: Session) -> None:
        """``attach PID`` at the prompt: the program this terminal leaves runs on, as
        after ``detach``; what was kept for it here (commands, displays) goes."""
        before = self.current.get()
        if before is not None:
            let_run(before)
            self.say(f"jupdb: detached from pid {before.pid}; the program runs on")
        super().switch_to(session)
        self.breakpoint_commands.clear()
        self.displays.clear()
        self.listing = None
        self.returned = None
        self.last_stop = 0

    @command("detach", usage="detach", help="disconnect and let the program run on (Ctrl-D too)")
    def do_detach(self, args: str) -> None:
        if args:
            raise CommandError(f"detach takes no arguments\nusage: {usage_of('detach')}")
        session = self.current.get()
        self.done = True
        if session is None:
            return
        let_run(session)
        self.current.use(None)
        self.say(f"jupdb: detached from pid {session.pid}; the program runs on")

    @command("quit", "q", "exit", usage="quit", help="end the program (asks first) and leave")
    def do_quit(self, args: str) -> None:
        session = self.session()
        try:
            answer = self.ask(f"End the program (pid {session.pid})? [y/N] ").strip().lower()
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if answer not in ("y", "yes"):
            self.say("the program goes on; detach (or Ctrl-D) leaves it running")
            return
        self.done = True
        end_program(session)
        self.current.use(None)
        self.say(f"jupdb: the program (pid {session.pid}) has ended")

    # -- moving on ---------------------------------------------------------------------------
    def _move(self, go: Callable[[Session], FrameInfo]) -> None:
        self.listing = None
        super()._move(go)
        if self.current.get() is None:
            self.done = True  # the program ran to its end


def let_run(session: Session) -> None:
    """What leaving a program does, as debugpy's disconnect and pdb's attach client:
    it runs on. Only the thread this terminal selected is let go; others paused by
    other clients stay."""
    try:
        if session.status().get("paused_threads"):
            session.cont()
    except (RemoteError, SessionLost):
        pass  # not paused any more, or gone: there is nothing to let go


def end_program(session: Session) -> None:
    """End the debugged program with SIGTERM, as ``kill`` from a shell would
    (a handler the program set for it runs). Sent by the paused program itself,
    so that it works wherever the program runs; a running one on this machine
    gets it from here."""
    import time

    here = _on_this_machine(session.info.get("ip", ""))
    try:
        if session.status().get("paused_threads"):
            try:
                session.exec("__import__('os').kill(__import__('os').getpid(), __import__('signal').SIGTERM)")
            except (SessionLost, ConnectionError, TimeoutError):
                pass  # ended before it could reply
        elif here:
            os.kill(session.pid, signal.SIGTERM)
        else:
            raise CommandError("the program runs on another machine: pause it first, then q ends it")
    except (ProcessLookupError, SessionLost):
        return
    deadline = time.monotonic() + 10
    while here and session.alive() and time.monotonic() < deadline:
        time.sleep(0.02)  # another process's end: no event of ours to wait on
    session.close()
    if here and session.alive():
        raise CommandError(f"pid {session.pid} did not end on SIGTERM; kill -9 {session.pid} ends it")


def _on_this_machine(ip: str) -> bool:
    """Whether a program listening on ``ip`` runs here (its pid is one of ours to signal)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip == "localhost"
    return address.is_loopback or address.is_unspecified


def pdb_location(frame: FrameInfo, current: bool = False) -> str:
    """pdb's two lines for a frame: ``> file(line)function()`` and ``-> code``."""
    text = f"{'>' if current else ' '} {frame.file}({frame.line}){frame.function}()"
    if frame.code:
        text += f"\n-> {frame.code}"
    if frame.exception is not None:
        text += f"\n!! {frame.exception.ename}: {frame.exception.evalue}"
    return text


def pdb_stack(stack: Stack) -> str:
    """pdb's ``where``: the oldest frame first, the selected one marked ``>``."""
    return "\n".join(pdb_location(f, current=f.index == stack.selected) for f in reversed(stack))


def error_text(exc: BaseException) -> str:
    """pdb's ``*** message`` for a command's error."""
    if isinstance(exc, RemoteError):
        return f"*** {exc.ename}: {exc.evalue}"
    return "\n".join(("*** " if i == 0 else "") + line for i, line in enumerate(str(exc).splitlines()))


def with_errors(call: Callable[[], Any], current: Current) -> Any:
    """``call()`` with a program that ended turned into a CommandError."""
    with program_errors(current):
        return call()


def _expression(args: str, name: str) -> str:
    if not args.strip():
        raise CommandError(f"{name} needs an expression\nusage: {usage_of(name)}")
    try:
        ast.parse(args.strip(), mode="eval")
    except SyntaxError as exc:
        raise CommandError(f"{args.strip()!r} is not an expression ({exc.msg})") from None
    return args.strip()


def _assigns(rest: str) -> bool:
    """Whether a line's words after a command's name make it Python: ``n = 3``,
    ``c += 1``, ``p.x`` (as pdb 3.13 takes them)."""
    rest = rest.lstrip()
    if rest.startswith("=") and not rest.startswith("=="):
        return True
    return any(
        rest.startswith(op + "=") for op in ("+", "-", "*", "/", "//", "%", "**", "&", "|", "^", ">>", "<<", "@")
    )
