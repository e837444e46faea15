"""pdb's words over a :class:`~jupdb.remote.session.Session`: what ``%jupdb
<command>`` runs in a notebook and what ``jupdb attach`` runs in a terminal.

Each command checks its arguments, asks the session, and hands what it got
(a Stack, a FrameInfo, a Source, a RemoteValue, or a table made in
:mod:`.views`) to ``show``. Nothing here needs IPython: the front end supplies
``show``, ``say`` and where the current session is kept (``current``), and may
add commands or replace some (a subclass's ``@command`` methods). A command
used wrongly raises :class:`CommandError`; a program that ended or cannot be
found is a CommandError too, so the user sees one short line, never jupdb's
own traceback. An exception in the
program (:class:`RemoteError`) is raised as it is: it renders as the remote
traceback.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import dataclasses
import shlex
from typing import Any, Callable, Dict, Iterator, List, Optional, Protocol, Sequence, Tuple, Union

from ..remote.attach import AttachError, connect_or_attach
from ..remote.session import FrameInfo, RemoteError, RemoteValue, Session, SessionLost, connect, sessions
from .views import View, as_html, message, table


#: Seconds ``connect PID`` waits for a running program to pause (Ctrl-C stops the wait).
PID_WAIT = 30.0


class CommandError(Exception):
    """A command used wrongly, or a program that cannot be reached; shown as
    its message alone (IPython calls ``_render_traceback_`` instead of
    printing a traceback)."""

    def _render_traceback_(self) -> List[str]:
        return [f"jupdb: {line}" if i == 0 else line for i, line in enumerate(str(self).splitlines())]


class Current(Protocol):
    """Where a front end keeps its current session (the notebook's is the
    module :mod:`jupdb.notebook.current`)."""

    def get(self) -> Optional[Session]: ...

    def use(self, session: Optional[Session]) -> None: ...

    def get_or_connect(self, announce: Optional[Callable[[Session], None]] = None) -> Session: ...


@dataclasses.dataclass(frozen=True)
class Command:
    """One of pdb's words: its names (the first is its own, the rest short forms),
    what it takes, and what it does."""

    names: Sequence[str]
    usage: str
    help: str
    run: Callable[["Commands", str], None]


def command(*names: str, usage: str, help: str) -> Callable[[Callable[[Any, str], None]], Any]:
    """Make a method of :class:`Commands` (or of a subclass) the command ``names[0]``."""

    def register(method: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
        method._command = Command(names, usage, help, method)  # type: ignore[attr-defined]
        return method

    return register


#: The Commands running a line now: whose usage lines the argument checks quote.
_RUNNING: "contextvars.ContextVar[Optional[Commands]]" = contextvars.ContextVar("jupdb_commands", default=None)


class Commands:
    """Runs command lines against a front end's current session.

    Args:
        show: Displays an object (rich in a notebook, its text in a terminal).
        say: Prints a line of text.
        current: Where the current session is kept.
    """

    #: What a command line starts with where users type it (usage lines and hints quote it).
    prefix = ""
    #: Commands the front end answers itself, listed by ``help`` with the rest.
    extra: Sequence[Command] = ()
    #: Commands of this class the front end does not offer.
    hidden: Sequence[str] = ()
    #: Seconds each request of a session opened here (``connect``, ``attach``) may take.
    request_timeout = 10.0

    def __init__(self, show: Callable[[Any], None], say: Callable[[str], None], current: Current) -> None:
        self.show = show
        self.say = say
        self.current = current
        #: The selected frame as last seen (for a prompt), None once the program runs on.
        self.location: Optional[FrameInfo] = None
        #: What the function the last step left returned (``retval``), if it returned.
        self.returned: Optional[RemoteValue] = None
        #: The thread chosen with ``thread ID`` (None: the most recently paused).
        self.thread: Optional[int] = None

    # -- running ---------------------------------------------------------------------
    @classmethod
    def commands(cls) -> List[Command]:
        """Every command, in the order they were defined (a subclass's own after its base's)."""
        found: Dict[str, Command] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                cmd = getattr(attr, "_command", None)
                if isinstance(cmd, Command):
                    found.pop(cmd.names[0], None)
                    found[cmd.names[0]] = cmd
        # A method overridden without @command keeps its base's words and runs the override.
        listed = [dataclasses.replace(c, run=getattr(cls, c.run.__name__)) for c in found.values()]
        return [c for c in listed if c.names[0] not in cls.hidden] + list(cls.extra)

    def find(self, word: str) -> Optional[Command]:
        """The command called ``word`` (its name or a short form)."""
        return next((c for c in self.commands() if word in c.names), None)

    def usage_of(self, name: str) -> str:
        cmd = self.find(name)
        return f"{self.prefix}{cmd.usage if cmd is not None else name}"

    def usage_text(self) -> str:
        """Every command, a line each."""
        lines = [self.usage_head(), ""]
        for cmd in self.commands():
            names = cmd.usage + (f"  ({', '.join(cmd.names[1:])})" if len(cmd.names) > 1 else "")
            lines.append(f"  {names:<44} {cmd.help}")
        return "\n".join(lines)

    def usage_head(self) -> str:
        return "usage: COMMAND [ARGS]"

    def run(self, line: str) -> None:
        """Run one command line (``"b app.py:12, x > 3"``)."""
        word, _, args = line.strip().partition(" ")
        cmd = self.find(word)
        if cmd is None:
            raise CommandError(f"unknown command {word!r}; {self.prefix}help lists them" if word else self.usage_text())
        token = _RUNNING.set(self)
        try:
            with program_errors(self.current):
                cmd.run(self, args.strip())
        finally:
            _RUNNING.reset(token)

    def session(self) -> Session:
        """The current session, connecting to the most recently paused program when there is none."""
        return self.current.get_or_connect(self._announce)

    def _announce(self, session: Session) -> None:
        self.say(f"jupdb: connected to pid {session.pid} ({_program(session)}), the most recently paused program")

    # -- showing ---------------------------------------------------------------------
    def show_stop(self, stop: FrameInfo, note: str = "") -> None:
        """Where a thread stopped, with the watches' values, as pdb shows it
        (the FrameInfo's HTML has the watches; its text does not)."""
        self.location, self.returned = stop, stop.returned
        text = [note] if note else []
        text.append(str(stop))
        if stop.watches:
            text.append(table(["watch", "value"], [[expr, value] for expr, value in stop.watches.items()]).text)
        self.show(View("\n".join(text), (message(note).html if note else "") + as_html(stop)))

    def show_frame(self, frame: FrameInfo) -> None:
        """A frame, as pdb shows one (``file:line in function()``, ``-> line``)."""
        self.location = frame
        self.show(View(str(frame), as_html(frame)))

    # -- connecting ----------------------------------------------------------------------
    def connect(self, target: str) -> Session:
        """Make the program ``target`` names (pid, session id, connection file;
        empty: the most recently paused) the current one, unless it is already.
        A pid that runs but has no session yet is waited for, up to ``PID_WAIT`` s."""
        chosen: Union[None, int, str] = None
        if target:
            words = _split(target, "connect")
            if len(words) != 1:
                raise CommandError(f"connect takes one target\nusage: {usage_of('connect')}")
            chosen = int(words[0]) if words[0].isdecimal() else words[0]
        mine = self.current.get()
        if mine is not None and chosen is not None and chosen in (mine.pid, mine.session_id, mine.path):
            return mine
        # A program just started from the notebook may not have paused yet: wait for it.
        wait = PID_WAIT if isinstance(chosen, int) else 0.0
        session = connect(chosen, timeout=self.request_timeout, wait=wait)
        self.switch_to(session)
        self.say(f"jupdb: connected to pid {session.pid} ({_program(session)})")
        return session

    def switch_to(self, session: Session) -> None:
        """Make ``session`` the current one; the one it replaces is closed (its
        paused threads stay paused)."""
        self.current.use(session)
        self.thread = None
        self.location = None

    @command("connect", usage="connect [PID | SESSION_ID | CONNECTION_FILE]", help="connect to a paused program")
    def do_connect(self, args: str) -> None:
        if self.current.get() is not None and not args:
            self.current.use(None)  # a plain connect looks again for the most recently paused program
        self._show_state(self.connect(args))

    @command(
        "attach",
        usage="attach PID",
        help="debug the running program PID; starts jupdb's server in it if it has none (Linux)",
    )
    def do_attach(self, args: str) -> None:
        session = self.attach(_pid(args, "attach"))
        self.say(f"jupdb: attached to pid {session.pid} ({_program(session)})")
        self._show_state(session)

    def attach(self, pid: int) -> Session:
        """Make program ``pid`` the current one, unless it is already: through the
        session it serves, else one that :func:`jupdb.attach` starts in it. Not
        waiting for a pause: a program that never paused is attached to running."""
        mine = self.current.get()
        if mine is not None and mine.pid == pid:
            return mine
        try:
            session = connect_or_attach(pid, timeout=self.request_timeout)
        except (AttachError, OSError) as exc:  # not allowed, no such process…: the program is left as it was
            raise CommandError(str(exc)) from None
        self.switch_to(session)
        return session

    def _show_state(self, session: Session) -> None:
        status = session.status()
        if status.get("state") != "paused":
            self.say(f"the program is running; {self.prefix}pause stops it")
            return
        stack = session.where()
        self.show_frame(stack[stack.selected])

    @command("sessions", usage="sessions", help="list the programs that can be connected to")
    def do_sessions(self, args: str) -> None:
        _no_args(args, "sessions")
        found = sessions()
        if not found:
            self.say("no jupdb session is running")
            return
        mine = self.current.get()
        rows = [
            [
                s.pid,
                s.state,
                "" if s.location is None else f"{s.location.file}:{s.location.line} in {s.location.function}()",
                " ".join(s.program),
                s.session_id,
            ]
            for s in found
        ]
        marked = next((i for i, s in enumerate(found) if mine is not None and s.session_id == mine.session_id), None)
        self.show(table(["pid", "state", "where", "program", "session"], rows, marked=marked))

    @command("detach", usage="detach", help="disconnect; the program stays as it is (a paused thread stays paused)")
    def do_detach(self, args: str) -> None:
        _no_args(args, "detach")
        session = self.current.get()
        if session is None:
            self.say("jupdb: not connected")
            return
        self.current.use(None)
        self.location = None
        self.say(
            f"jupdb: detached from pid {session.pid}; its paused threads stay paused ({self.prefix}c lets one run)"
        )

    # -- the stack -----------------------------------------------------------------------
    @command("where", "w", "bt", usage="where", help="the paused thread's stack, the selected frame marked")
    def do_where(self, args: str) -> None:
        _no_args(args, "where")
        stack = self.session().where()
        if stack:
            self.location = stack[stack.selected]
        self.show(stack)

    @command("up", "u", usage="up [COUNT]", help="select the caller's frame (COUNT frames up)")
    def do_up(self, args: str) -> None:
        self.show_frame(self.session().up(_count(args, "up")))

    @command("down", "d", usage="down [COUNT]", help="select the callee's frame (COUNT frames down)")
    def do_down(self, args: str) -> None:
        self.show_frame(self.session().down(_count(args, "down")))

    @command("frame", usage="frame [INDEX]", help="select frame INDEX (0: where the thread stopped)")
    def do_frame(self, args: str) -> None:
        session = self.session()
        if not args:
            stack = session.where()
            self.show_frame(stack[stack.selected])
            return
        self.show_frame(session.frame(_number(args, "frame")))

    # -- moving on -------------------------------------------------------------------------
    @command("step", "s", usage="step", help="run to the next line, entering calls")
    def do_step(self, args: str) -> None:
        _no_args(args, "step")
        self._move(lambda s: s.step())

    @command("next", "n", usage="next", help="run to the next line of this function")
    def do_next(self, args: str) -> None:
        _no_args(args, "next")
        self._move(lambda s: s.next())

    @command("return", "r", usage="return", help="run until this function returns")
    def do_return(self, args: str) -> None:
        _no_args(args, "return")
        self._move(lambda s: s.finish())

    @command("until", "unt", usage="until [LINE]", help="run to a line past this one (or to LINE) in this frame")
    def do_until(self, args: str) -> None:
        line = _number(args, "until") if args else None
        self._move(lambda s: s.until(line))

    @command("jump", "j", usage="jump LINE", help="make LINE the next line to run")
    def do_jump(self, args: str) -> None:
        line = _number(args, "jump")
        self._move(lambda s: s.jump(line))

    @command(
        "continue",
        "c",
        "cont",
        usage="continue [--no-wait]",
        help="let the program run; waits for its next stop (its output shown meanwhile) unless --no-wait",
    )
    def do_continue(self, args: str) -> None:
        words = _split(args, "continue")
        if words not in ([], ["--no-wait"]):
            raise CommandError(f"continue takes only --no-wait\nusage: {usage_of('continue')}")
        session = self.session()
        if words:
            session.cont()
            self.location = None
            self.say(f"jupdb: pid {session.pid} runs on; {self.prefix}pause stops it")
            return
        self._move(_continue_and_wait)

    def _move(self, go: Callable[[Session], FrameInfo]) -> None:
        """Run the program until it stops (``go``); the kernel's interrupt button
        (Ctrl-C) meanwhile pauses it where it is, as Ctrl-C in pdb does."""
        session = self.session()
        thread = self.thread if self.thread is not None else getattr(self.location, "thread", None)
        self.location = None
        try:
            stop = go(session)
        except SessionLost as exc:  # the program ran to its end: an outcome, not an error
            self.current.use(None)
            self.say(f"jupdb: {exc}")
            return
        except KeyboardInterrupt:
            stop = session.pause(thread)
            self.show_stop(stop, f"jupdb: interrupted; pid {session.pid} paused here")
            return
        self.show_stop(stop)

    @command("pause", usage="pause [THREAD]", help="stop a running thread (default: the main thread)")
    def do_pause(self, args: str) -> None:
        thread = _number(args, "pause") if args else None
        self.show_stop(self.session().pause(thread))

    @command("interrupt", usage="interrupt", help="stop the client code (a cell, an eval) that runs in the program")
    def do_interrupt(self, args: str) -> None:
        _no_args(args, "interrupt")
        threads = self.session().interrupt()
        if threads:
            self.say(f"jupdb: interrupted the code running in thread {', '.join(map(str, threads))}")
        else:
            self.say("jupdb: no client code was running")

    # -- breakpoints and watches -----------------------------------------------------------
    @command("break", "b", usage="break [[FILE:]LINE [, CONDITION]]", help="stop at a line (no argument: list them)")
    def do_break(self, args: str) -> None:
        self._break(args, temporary=False)

    @command("tbreak", usage="tbreak [FILE:]LINE [, CONDITION]", help="stop at a line once")
    def do_tbreak(self, args: str) -> None:
        if not args:
            raise CommandError(f"tbreak needs a line\nusage: {usage_of('tbreak')}")
        self._break(args, temporary=True)

    def _break(self, args: str, temporary: bool) -> None:
        session = self.session()
        if not args:
            self._list_breakpoints(session)
            return
        where, _, condition = args.partition(",")
        name = "tbreak" if temporary else "break"
        file, line = self._location(session, where.strip(), name)
        cond = condition.strip() or None
        if cond is not None:
            _check_expression(cond, name)
        bid = session.add_breakpoint(file, line, cond, temporary)
        described = next((b for b in session.breakpoints() if b["id"] == bid), {"file": file, "line": line})
        kind = "Temporary breakpoint" if temporary else "Breakpoint"
        self.say(f"{kind} {bid} at {described['file']}:{described['line']}" + (f", if {cond}" if cond else ""))

    def _location(self, session: Session, where: str, name: str) -> Tuple[str, int]:
        """The file and line a breakpoint's ``FILE:LINE`` (or ``LINE``) names."""
        file, _, line_text = where.rpartition(":")
        line = _number(line_text, name)
        if not file:
            stack = session.where()  # pdb's default: the file of the selected frame
            if not stack:
                raise CommandError(f"no frame to take the file from; give FILE:LINE\nusage: {usage_of(name)}")
            file = stack[stack.selected].file
        return file, line

    def _list_breakpoints(self, session: Session) -> None:
        found = session.breakpoints()
        if not found:
            self.say("no breakpoints")
            return
        rows = [
            [
                b["id"],
                f"{b['file']}:{b['line']}",
                b.get("condition") or "",
                b.get("hits", 0),
                "yes" if b.get("temporary") else "",
                "yes" if b.get("enabled", True) else "no",
            ]
            for b in found
        ]
        self.show(table(["id", "where", "condition", "hits", "temporary", "enabled"], rows))

    @command("clear", "cl", usage="clear [ID ... | FILE:LINE]", help="remove breakpoints (by id, at a line; none: all)")
    def do_clear(self, args: str) -> None:
        session = self.session()
        words = _split(args, "clear")
        cleared: List[int] = []
        if len(words) == 1 and ":" in words[0]:  # pdb's `clear FILE:LINE`
            file, _, line = words[0].rpartition(":")
            cleared = session.clear_breakpoint(file=file, line=_number(line, "clear"))
        elif words:
            for word in words:
                cleared += session.clear_breakpoint(_number(word, "clear"))
        else:
            cleared = session.clear_breakpoint()
        if cleared:
            self.say(f"Deleted breakpoint{'s' if len(cleared) > 1 else ''} {', '.join(map(str, cleared))}")
        else:
            self.say("no breakpoints to clear")

    @command("retval", "rv", usage="retval", help="what the function the last step left returned")
    def do_retval(self, args: str) -> None:
        _no_args(args, "retval")
        if self.returned is None:
            raise CommandError("not yet returned: retval shows what a function returned after r (or n, s) left it")
        self.show(self.returned)

    @command("watch", usage="watch EXPR", help="show EXPR's value at every stop")
    def do_watch(self, args: str) -> None:
        expr = _expression(args, "watch")
        session = self.session()
        wid = session.watch(expr)
        try:
            now = repr(session.eval(expr, repr_limit=200))
        except RemoteError as exc:
            now = f"{exc.ename}: {exc.evalue}"
        self.say(f"watch {wid}: {expr} = {now}")

    @command("unwatch", usage="unwatch EXPR", help="stop watching EXPR")
    def do_unwatch(self, args: str) -> None:
        expr = _expression(args, "unwatch")
        self.session().unwatch(expr)
        self.say(f"no longer watching {expr}")

    # -- threads ---------------------------------------------------------------------------
    @command("threads", usage="threads", help="the program's threads")
    def do_threads(self, args: str) -> None:
        _no_args(args, "threads")
        threads = self.session().threads()
        rows = []
        for t in threads:
            where = "" if t.location is None else f"{t.location.file}:{t.location.line} in {t.location.function}()"
            state = "paused" if t.paused else "running"
            if t.paused and t.location is not None and t.location.reason:
                state += f" ({t.location.reason})"
            if t.busy:
                state += f", busy with {t.busy.get('request', '?')}"
            rows.append([t.id, t.name, state, where])
        marked = next((i for i, t in enumerate(threads) if t.id == self.thread), None)
        self.show(table(["id", "name", "state", "where"], rows, marked=marked))

    @command("thread", usage="thread [ID]", help="send later commands to thread ID (no ID: list the threads)")
    def do_thread(self, args: str) -> None:
        if not args:
            self.do_threads("")
            return
        tid = _number(args, "thread")
        session = self.session()
        chosen = next((t for t in session.threads() if t.id == tid), None)
        if chosen is None:
            raise CommandError(f"there is no thread {tid}; {self.prefix}threads lists them")
        if not chosen.paused:
            raise CommandError(f"thread {tid} ({chosen.name}) is running; {self.prefix}pause {tid} stops it")
        session.select_thread(tid)
        self.thread = tid
        self.say(f"jupdb: thread {tid} ({chosen.name})")
        stack = session.where()
        self.show_frame(stack[stack.selected])

    # -- looking -----------------------------------------------------------------------------
    @command("locals", usage="locals", help="the selected frame's local variables")
    def do_locals(self, args: str) -> None:
        _no_args(args, "locals")
        values = self.session().locals()
        rows = [[name, value.type, _size(value), _short(value.repr)] for name, value in values.items()]
        self.show(table(["name", "type", "size", "value"], rows) if rows else message("no local variables"))

    @command("list", "l", usage="list", help="source around the current line")
    def do_list(self, args: str) -> None:
        _no_args(args, "list")
        self.show(self.session().source())

    @command("ll", "longlist", usage="ll", help="the whole source of the current function")
    def do_longlist(self, args: str) -> None:
        _no_args(args, "ll")
        self.show(self.session().source(whole=True))

    @command("p", "print", usage="p EXPR", help="the value of EXPR in the selected frame")
    def do_p(self, args: str) -> None:
        self.show(self.session().eval(_expression(args, "p")))

    @command("pp", usage="pp EXPR", help="the value of EXPR, pretty-printed")
    def do_pp(self, args: str) -> None:
        expr = _expression(args, "pp")
        # On a line of its own: a comment ending the expression must not take the parentheses with it.
        value = self.session().eval(f"__import__('pprint').pformat((\n{expr}\n))", repr_limit=1_000_000)
        self.show(message(_literal_text(value.repr)))

    @command("help", "h", usage="help [COMMAND]", help="this list, or what COMMAND does")
    def do_help(self, args: str) -> None:
        if args:
            cmd = self.find(args)
            if cmd is None:
                raise CommandError(f"unknown command {args!r}; {self.prefix}help lists them")
            also = f" (also {', '.join(cmd.names[1:])})" if len(cmd.names) > 1 else ""
            self.say(f"{self.prefix}{cmd.usage}{also}\n    {cmd.help}")
            return
        self.show(message(self.usage_text()))


@contextlib.contextmanager
def program_errors(current: Current) -> Iterator[None]:
    """Turn a program that ended, cannot be found or does not answer into a
    one-line :class:`CommandError` (a program that ended is forgotten by ``current``)."""
    try:
        yield
    except SessionLost as exc:
        current.use(None)  # the next command connects to whatever is paused then
        raise CommandError(str(exc)) from None
    except (LookupError, TimeoutError, ConnectionError) as exc:  # no program found; busy; closed
        raise CommandError(str(exc.args[0]) if exc.args else type(exc).__name__) from None


def _continue_and_wait(session: Session) -> FrameInfo:
    session.cont()
    return session.wait()  # prints the program's output as it comes


def usage_of(name: str) -> str:
    """The usage line of command ``name``, as the Commands running now write it."""
    running = _RUNNING.get()
    return running.usage_of(name) if running is not None else name


def _program(session: Session) -> str:
    return " ".join(session.info.get("argv") or []) or "?"


# -- arguments -------------------------------------------------------------------------------
def _split(args: str, name: str) -> List[str]:
    try:
        return shlex.split(args)
    except ValueError as exc:
        raise CommandError(f"{exc}\nusage: {usage_of(name)}") from None


def _no_args(args: str, name: str) -> None:
    if args:
        raise CommandError(f"{name} takes no arguments\nusage: {usage_of(name)}")


def _number(text: str, name: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise CommandError(f"{text.strip() or 'nothing'} is not a number\nusage: {usage_of(name)}") from None


def _pid(args: str, name: str) -> int:
    words = _split(args, name)
    if len(words) != 1:
        wrong = "needs a process id" if not words else "takes one process id"
        raise CommandError(f"{name} {wrong}\nusage: {usage_of(name)}")
    if not words[0].isdecimal() or int(words[0]) == 0:
        raise CommandError(f"{words[0]} is not a process id\nusage: {usage_of(name)}")
    return int(words[0])


def _count(args: str, name: str) -> int:
    count = _number(args, name) if args else 1
    if count < 1:
        raise CommandError(f"COUNT must be at least 1\nusage: {usage_of(name)}")
    return count


def _check_expression(expr: str, name: str) -> None:
    try:
        ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise CommandError(f"{expr!r} is not an expression ({exc.msg})\nusage: {usage_of(name)}") from None


def _expression(args: str, name: str) -> str:
    if not args:
        raise CommandError(f"{name} needs an expression\nusage: {usage_of(name)}")
    _check_expression(args, name)
    return args


def _literal_text(text_repr: str) -> str:
    """The text a remote str's repr stands for (cut reprs end with a mark)."""
    try:
        value = ast.literal_eval(text_repr)
    except (ValueError, SyntaxError):
        return text_repr + "…"
    return value if isinstance(value, str) else text_repr


def _size(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        dtype = getattr(value, "dtype", None)
        return " x ".join(map(str, shape)) + (f" {dtype}" if dtype else "")
    length = getattr(value, "len", None)
    return "" if length is None else f"len {length}"


def _short(text: str, limit: int = 80) -> str:
    first = text.split("\n", 1)[0]
    return first if len(first) <= limit and first == text else first[: limit - 1] + "…"
