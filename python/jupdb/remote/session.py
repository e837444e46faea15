"""The client: find a paused program, connect, and drive it.

session = jupdb.connect()          # the most recently paused program
session.eval("df.shape")           # RemoteValue; shown richly in a notebook
session.exec("lr = 1e-4")          # written back into the paused frame
arr = session.fetch("weights")     # the real object (pickle protocol 5)
session.next()                     # FrameInfo of the new stop
session.cont()
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import ipaddress
import linecache
import math
import os
import secrets
import sys
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from .. import _native
from . import render
from .probe_handles import ProbeHandle, ProbeInfo, ProbeReader, RemoteBreakpoint, RemoteCall, RemoteCalls
from .value import RemoteValue as RemoteValue  # its home is value.py; imported from here too


class RemoteError(Exception):
    """The debuggee raised while running a request; it stays paused and serving.

    ``repr()`` is short (``RemoteError('ZeroDivisionError: division by zero')``),
    ``str()`` has the remote traceback, and IPython shows the remote traceback
    alone (:meth:`_render_traceback_`), not this client's frames.

    Attributes:
        ename: The remote exception's type name.
        evalue: Its message.
        remote_traceback: The remote traceback, as text: the user's frames only
            (the client's code, then the program's functions it called).
    """

    def __init__(self, ename: str, evalue: str, remote_traceback: str = "") -> None:
        super().__init__(f"{ename}: {evalue}")
        self.ename = ename
        self.evalue = evalue
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        text = super().__str__()
        return text + (f"\n\nRemote traceback:\n{self.remote_traceback}" if self.remote_traceback else "")

    def __repr__(self) -> str:
        return f"RemoteError({f'{self.ename}: {self.evalue}'!r})"

    def __reduce__(self) -> Tuple[Any, ...]:
        return RemoteError, (self.ename, self.evalue, self.remote_traceback)

    def _render_traceback_(self) -> List[str]:
        """The lines IPython shows for this exception: the remote traceback."""
        return (self.remote_traceback or f"{self.ename}: {self.evalue}").rstrip("\n").split("\n")

    def _repr_html_(self) -> str:
        return render.block(
            render.error(f"{self.ename}: {self.evalue}"),
            render.pre(self.remote_traceback) if self.remote_traceback else "",
        )


class SessionLost(ConnectionError):
    """The debugged program has ended or was killed."""


@dataclasses.dataclass(frozen=True, repr=False)
class FrameInfo:
    """One frame of a paused thread's stack (``code`` is its current source line).

    ``repr()`` is one line (``<FrameInfo #0 /app.py:12 in main(): x = f(); paused
    by set_trace()>``), ``str()`` pdb's two, and a notebook shows it as HTML.
    """

    file: str
    line: int
    function: str
    code: str = ""
    index: int = 0
    thread: Optional[int] = None
    #: Watch results reported with this stop: expression -> RemoteValue or error text.
    watches: Dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    #: Why the thread stopped here ("set_trace", "breakpoint", "step", "pause",
    #: "jump", "start", "exception"); None for a frame that is not a stop.
    reason: Optional[str] = dataclasses.field(default=None, compare=False)
    #: A post-mortem's exception (reason "exception"), with its remote traceback.
    exception: Optional[RemoteError] = dataclasses.field(default=None, compare=False)
    #: The id of the breakpoint that stopped the thread (reason "breakpoint").
    breakpoint: Optional[int] = dataclasses.field(default=None, compare=False)
    #: What the function the step left returned (pdb's ``retval``), when a step
    #: (``finish``, ``next``, ``step``) stopped here after it returned.
    returned: Optional[RemoteValue] = dataclasses.field(default=None, compare=False)

    def __str__(self) -> str:
        text = f"{self.file}:{self.line} in {self.function}()" + (f"\n-> {self.code}" if self.code else "")
        if self.exception is not None:  # a post-mortem says what it examines, as pdb does
            text += f"\n!! {self.exception.ename}: {self.exception.evalue}"
        return text

    def _reason(self) -> Optional[str]:
        exc = self.exception
        return render.reason(self.reason, self.breakpoint, None if exc is None else f"{exc.ename}: {exc.evalue}")

    def __repr__(self) -> str:
        text = f"<FrameInfo #{self.index} {render.location(self.file, self.line, self.function)}"
        text += f": {render.shorten(self.code)}" if self.code else ""
        why = self._reason()
        return text + (f"; {render.shorten(why)}>" if why else ">")

    def _repr_html_(self) -> str:
        why = self._reason()
        head = render.location_html(self.file, self.line, self.function)
        head += f" {render.muted('— ' + why)}" if why else ""
        watches = ""
        if self.watches:
            rows = [[render.escape(expr), render.escape(value)] for expr, value in self.watches.items()]
            watches = render.table(["watch", "value"], rows)
        return render.block(head, render.pre(f"-> {self.code}", highlight=True) if self.code else "", watches)


class Stack(List[FrameInfo]):
    """A paused thread's frames, innermost first (``stack[0]`` is where it
    stopped); shown one frame a line, the selected one marked with ``>``, and
    as a table in a notebook."""

    def __init__(self, frames: Sequence[FrameInfo], selected: int = 0, busy: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(frames)
        #: The index of the frame that requests run in (see :meth:`Session.frame`).
        self.selected = selected
        #: While the thread runs a request (``request``: its type, ``since``: when
        #: it began, ``seconds``: how long ago): the stack as it was then, for
        #: the thread may not run Python meanwhile (a long call into C).
        self.busy = busy

    def __repr__(self) -> str:
        lines = []
        for f in self:
            lines.append(f"{'>' if f.index == self.selected else ' '} #{f.index} {f.file}:{f.line} in {f.function}()")
            if f.code:
                lines.append(f"      {f.code}")
        busy = render.busy(self.busy)
        if busy:
            lines.append(f"(the thread is {busy}: its stack as it was then)")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        rows = []
        for f in self:
            mark = "▶" if f.index == self.selected else ""
            rows.append([mark, str(f.index), render.location_html(f.file, f.line, f.function), render.escape(f.code)])
        selected = next((i for i, f in enumerate(self) if f.index == self.selected), None)
        busy = render.busy(self.busy)
        note = render.muted(f"the thread is {busy}: its stack as it was then") if busy else ""
        return render.block(render.table(["", "#", "where", "code"], rows, highlight=selected), note)


@dataclasses.dataclass(frozen=True, repr=False)
class ThreadInfo:
    """A thread of the debuggee."""

    id: int
    name: str
    paused: bool
    location: Optional[FrameInfo]
    #: A paused thread running a client's request: ``request`` (its type),
    #: ``since`` (when it began) and ``seconds``; None when it waits for one.
    busy: Optional[Dict[str, Any]] = None

    def _state(self) -> str:
        if not self.paused:
            return "running"
        where, text = self.location, "paused"
        if where is not None:
            text += f" at {render.location(where.file, where.line, where.function, short=True)}"
        busy = render.busy(self.busy)
        return text + (f", {busy}" if busy else "")

    def __repr__(self) -> str:
        return f"<ThreadInfo {self.id} {self.name!r}: {self._state()}>"

    def _repr_html_(self) -> str:
        head = f"thread {self.id} <b>{render.escape(self.name)}</b>: {render.escape(self._state())}"
        code = self.location.code if self.location is not None else ""
        return render.block(head, render.pre(f"-> {code}", highlight=True) if code else "")


@dataclasses.dataclass(frozen=True, repr=False)
class SessionInfo:
    """A debuggee found in the runtime directory (see :func:`sessions`)."""

    pid: int
    program: List[str]
    state: str
    location: Optional[FrameInfo]
    session_id: str
    path: str
    created: str

    def _state(self) -> str:
        where = self.location
        if where is None:
            return self.state
        return f"{self.state} at {render.location(where.file, where.line, where.function, short=True)}"

    def __repr__(self) -> str:
        return f"<SessionInfo pid {self.pid} {render.program(self.program)!r}: {self._state()}>"

    def _repr_html_(self) -> str:
        return render.block(
            f"pid {self.pid} <b>{render.escape(render.program(self.program))}</b>: {render.escape(self._state())}",
            render.muted(f"session {self.session_id}, started {self.created}"),
        )


class Source(str):
    """Source lines of a paused frame, pdb ``list`` style (the text), with the
    current line highlighted and numbered lines in a notebook."""

    file: str
    first_line: int
    current_line: int
    lines: List[str]

    def __new__(
        cls, text: str = "", *, file: str = "", first_line: int = 1, current_line: int = 0, lines: Sequence[str] = ()
    ) -> "Source":
        self = super().__new__(cls, text)
        self.file = file
        self.first_line = first_line
        self.current_line = current_line
        self.lines = list(lines)
        return self

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return render.source(self.file, self.first_line, self.current_line, self.lines)


def _frame(
    info: Optional[Dict[str, Any]], thread: Optional[int] = None, stop: Optional[Dict[str, Any]] = None
) -> Optional[FrameInfo]:
    """A FrameInfo from a reply's frame, with what ``stop`` (a ``paused`` event,
    or a thread's entry in ``threads``) says about the stop there."""
    if not info:
        return None
    stop = stop or {}
    shown: Dict[str, Any] = {}
    for w in stop.get("watches") or []:
        shown[w["expression"]] = (
            RemoteValue(w["value"], w["expression"])
            if "value" in w
            else f"{w['error']['ename']}: {w['error']['evalue']}"
        )
    exc = stop.get("exception")
    return FrameInfo(
        info["file"],
        info["line"],
        info["function"],
        info.get("code", ""),
        info.get("index", 0),
        thread,
        shown,
        stop.get("reason"),
        None if exc is None else RemoteError(exc["ename"], exc["evalue"], exc.get("traceback", "")),
        stop.get("breakpoint"),
        RemoteValue(stop["returned"], "retval") if stop.get("returned") else None,
    )


def sessions() -> List[SessionInfo]:
    """Live debuggees on this machine (files of dead processes are removed), newest first.
    Only connection files the user owns, with mode 0600, in a directory of the
    user's alone, are read (see :func:`find_sessions` for what was passed over)."""
    return find_sessions()[0]


def find_sessions() -> Tuple[List[SessionInfo], List[str], List[str]]:
    """:func:`sessions`; each file or directory passed over, with why (another
    user's, a link, a mode that lets others in, not a connection file); the
    directories looked in."""
    files, skipped, searched = _native.list_connections()
    found = []
    for path, info in files:
        found.append(
            SessionInfo(
                info["pid"],
                info.get("argv", []),
                info.get("state", "?"),
                _frame(info.get("location")),
                info["session_id"],
                str(path),
                info.get("created", ""),
            )
        )
    found.sort(key=lambda s: _mtime(s.path), reverse=True)
    return found, skipped, [str(dir) for dir in searched]


def no_session_error(what: str, skipped: List[str], searched: List[str]) -> LookupError:
    """``what`` was not found: where jupdb looked, and what it passed over and why."""
    text = f"{what} (looked in {', '.join(searched) or 'no directory'})"
    if skipped:
        text += "; passed over, as only the user's own files (mode 0600, in a directory of theirs alone) are read:\n"
        text += "\n".join(f"  {reason}" for reason in skipped)
    return LookupError(text)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _find(target: Union[None, int, str, os.PathLike[str]]) -> Tuple[str, Dict[str, Any]]:
    if isinstance(target, os.PathLike) or (isinstance(target, str) and os.path.exists(target)):
        return str(target), _native.read_connection(os.fspath(target))
    live, skipped, searched = find_sessions()
    if target is None:
        chosen = next((s for s in live if s.state == "paused"), live[0] if live else None)
    elif isinstance(target, int):
        chosen = next((s for s in live if s.pid == target), None)
    else:
        chosen = next((s for s in live if s.session_id == target), None)
    if chosen is None:
        raise no_session_error(
            "no jupdb session is running" if target is None else f"no jupdb session matches {target!r}",
            skipped,
            searched,
        )
    return chosen.path, _native.read_connection(chosen.path)


def _on_this_machine(ip: str) -> bool:
    """Whether a debuggee listening on ``ip`` runs on this machine: a loopback or
    unspecified address (the only ones a client elsewhere cannot use)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip == "localhost"
    return address.is_loopback or address.is_unspecified


def connect(
    target: Union[None, int, str, "os.PathLike[str]"] = None, *, timeout: float = 10.0, wait: float = 0.0
) -> "Session":
    """Connect to a debuggee.

    Args:
        target: None for the most recently paused program; a connection-file
            path, a pid, or a session id. Only connection files the user owns
            with mode 0600 are read (found ones: in a directory of the user's
            alone); LookupError says what was passed over and why.
        timeout: Seconds each request may take before it fails.
        wait: Seconds to wait for such a session to appear (a program just
            started that has not paused yet); a pid that is not running any
            more ends the wait at once.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            path, info = _find(target)
        except LookupError:
            gone = isinstance(target, int) and not process_runs(target)
            if gone or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
            continue
        return Session(info, timeout=timeout, path=path)


def process_runs(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Session:
    """A connection to one debuggee. Every call has a timeout; a program that
    ended raises :class:`SessionLost`, an exception in remote code
    :class:`RemoteError` (the program stays paused)."""

    def __init__(self, info: Dict[str, Any], *, timeout: float = 10.0, path: Optional[str] = None) -> None:
        self.info = info
        self.pid: int = info["pid"]
        self.session_id: str = info["session_id"]
        self.path = path
        self.timeout = timeout
        host = f"[{info['ip']}]" if ":" in info["ip"] else info["ip"]
        self._client_session = secrets.token_hex(8)  # names this client's probes in the program
        # Returns once subscribed: what the program prints or a pause from now on reaches wait().
        self._client = _native.Client(
            f"tcp://{host}:{info['request_port']}",
            bytes.fromhex(info["key"]),
            self._client_session,
            timeout,
            signature_scheme=info["signature_scheme"],
        )
        self._thread: Optional[int] = None
        self._last_stop = 0
        self._closed = False
        self._output_dropped = 0  # of the client's count, reported so far
        #: Events read while a cell ran that were not the cell's (paused, resumed, …), for wait().
        self._events: Deque[Tuple[str, Dict[str, Any], List[Any], Optional[int]]] = collections.deque()
        # A request asks while it waits whether the program still lives, where its
        # pid means something: on this machine (a connection file copied from
        # another one names that machine's address).
        self._pid_is_here = _on_this_machine(info["ip"])
        self._probes: Optional[ProbeReader] = None
        self._probes_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------
    def request(
        self,
        msg_type: str,
        content: Optional[Dict[str, Any]] = None,
        *,
        buffers: Sequence[Any] = (),
        thread: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Tuple[Dict[str, Any], List[Any]]:
        """Send ``<msg_type>_request`` and return the reply's content and buffers."""
        reply, frames = self._exchange(msg_type, content, buffers=buffers, thread=thread, timeout=timeout)
        if reply.get("status") == "error":
            raise RemoteError(reply.get("ename", "Error"), reply.get("evalue", ""), reply.get("traceback", ""))
        return reply, frames

    def _exchange(
        self,
        msg_type: str,
        content: Optional[Dict[str, Any]] = None,
        *,
        buffers: Sequence[Any] = (),
        thread: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Tuple[Dict[str, Any], List[Any]]:
        """:meth:`request`, but an error reply is returned, not raised."""
        if self._closed:
            raise ConnectionError(f"this session (pid {self.pid}) has been closed")
        limit = self.timeout if timeout is None else timeout
        thread = self._thread if thread is None else thread
        try:
            _, reply, frames, _ = self._client.request(
                f"{msg_type}_request",
                content or {},
                buffers=list(buffers),
                thread=thread,
                timeout=limit,
                alive=self.alive if self._pid_is_here else None,
            )
        except KeyboardInterrupt:
            if msg_type in _RUNS_CLIENT_CODE:  # Ctrl-C on a long eval: stop it there too, as in a notebook
                raise KeyboardInterrupt(self._interrupt_quietly(thread, msg_type)) from None
            raise
        except (TimeoutError, ConnectionError) as exc:
            if not self.alive():
                raise SessionLost(f"the debugged program (pid {self.pid}) has ended") from None
            if isinstance(exc, ConnectionError):
                raise
            raise TimeoutError(f"{msg_type}: no reply within {limit} s (pid {self.pid} is alive but busy)") from None
        return reply, frames

    def interrupt(self, thread: Optional[int] = None) -> List[int]:
        """Raise KeyboardInterrupt in the code a client is running in the
        program (``thread``; default: in every thread): an eval, exec, watch or
        breakpoint condition that takes too long. The thread stays paused and
        serving; the interrupted request gets a ``KeyboardInterrupt`` RemoteError. Code blocked in a call into C
        (``time.sleep``, I/O, a long C loop that holds the GIL) stops when that call returns; the
        reply comes at once even then. Ctrl-C during
        :meth:`eval`, :meth:`exec` or :meth:`fetch` does this by itself. The
        threads interrupted (none: no client code was running)."""
        reply, _ = self.request("interrupt", _without_none(thread=thread))
        return reply["interrupted"]

    def _interrupt_quietly(self, thread: Optional[int], msg_type: str) -> str:
        """Interrupt the client's code ``thread`` runs (after Ctrl-C here); what happened, in words."""
        what = f"{msg_type}_request"
        try:
            # Answered by the debuggee at once, even while a call into C holds its GIL.
            interrupted = self.interrupt(thread)
        except (RemoteError, ConnectionError, TimeoutError) as exc:
            return f"{what} abandoned here; the debuggee could not be asked to stop it ({exc})"
        if not interrupted:
            return f"{what} abandoned here; the debuggee had finished it"
        try:
            busy = [t.get("busy") for t in self.status().get("paused_threads", []) if t["id"] in interrupted]
        except (RemoteError, ConnectionError, TimeoutError):
            busy = []
        since = next((f" since {b['since']} ({b['seconds']:.1f} s)" for b in busy if b), "")
        return (
            f"{what} abandoned here; thread {interrupted[0]} of the debuggee was busy with it{since} and "
            "was interrupted: KeyboardInterrupt is raised there at its next Python bytecode "
            "(a call into C runs to its end first); its reply will not be shown"
        )

    def alive(self) -> bool:
        """Whether the debugged process still runs (a zombie, dead but not yet
        reaped by its parent, does not)."""
        return process_runs(self.pid)

    def status(self) -> Dict[str, Any]:
        """State without involving Python in the debuggee: works while it is busy."""
        return self.request("status")[0]

    def close(self) -> None:
        """Disconnect; the program is not affected (a paused thread stays paused)."""
        self._closed = True
        if self._probes is not None:
            self._probes.stop()
        self._client.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- how it reads -------------------------------------------------------------------
    def __repr__(self) -> str:
        return self._describe()[0]

    def _repr_html_(self) -> str:
        return self._describe()[1]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, str]:
        text, page = self._describe()  # one status request for both
        return {"text/plain": text, "text/html": page}

    def _describe(self) -> Tuple[str, str]:
        """``<jupdb.Session pid 1234 'python app.py': paused at app.py:12 in main()>``, and as HTML."""
        state, where = self._state()
        name = render.program(self.info.get("argv") or [])
        text = f"<jupdb.Session pid {self.pid} {name!r}: {state}>"
        code = linecache.getline(where["file"], where["line"]).strip() if where else ""
        page = render.block(
            f"<b>jupdb.Session</b> pid {self.pid} <b>{render.escape(name)}</b>: {render.escape(state)}",
            render.pre(f"-> {code}", highlight=True) if code else "",
        )
        return text, page

    def _state(self) -> Tuple[str, Optional[Dict[str, Any]]]:
        """The program's state in words, from ``status`` (which the debuggee's
        server answers without Python), and where the thread this session talks
        to is paused. Never raises, and waits at most a second: a repr."""
        if self._closed:
            return "closed", None
        try:
            status = self.request("status", timeout=min(self.timeout, 1.0))[0]
        except SessionLost:
            return "ended", None
        except TimeoutError:
            return "not answering (busy, or stopped)", None
        except Exception as exc:  # whatever went wrong, a repr says it rather than raise it
            return f"unknown ({type(exc).__name__}: {exc})", None
        paused = status.get("paused_threads") or []
        if not paused:
            return "running", None
        if self._thread is not None:
            chosen = next((t for t in paused if t.get("id") == self._thread), None)
            if chosen is None:
                return f"thread {self._thread} running; {len(paused)} other(s) paused", None
        else:
            chosen = paused[-1]  # the most recently paused, which requests go to
        where = chosen.get("location") or {}
        text = "paused"
        if where:
            text += " at " + render.location(where["file"], where["line"], where["function"], short=True)
        if chosen.get("name") not in (None, "MainThread"):
            text += f" (thread {chosen['name']!r})"
        busy = render.busy(chosen.get("busy"))
        text += f", {busy}" if busy else ""
        if len(paused) > 1:
            text += f"; {len(paused) - 1} other thread(s) paused"
        return text, where or None

    # -- values ---------------------------------------------------------------------
    def eval(self, expr: str, *, frame: Optional[int] = None, repr_limit: int = 1000) -> RemoteValue:
        """Evaluate ``expr`` in the paused frame; a summary of the result."""
        reply, _ = self.request("eval", _without_none(code=expr, frame=frame, repr_limit=repr_limit))
        _echo(reply)
        return RemoteValue(reply["value"], expr)

    def exec(self, code: str, *, frame: Optional[int] = None) -> None:
        """Run statements in the paused frame; assignments write through to its locals.
        What they print is printed here."""
        reply, _ = self.request("exec", _without_none(code=code, frame=frame))
        _echo(reply)

    def fetch(self, expr: str, *, frame: Optional[int] = None) -> Any:
        """The value of ``expr`` itself, pickled (protocol 5, buffers out of band).

        This unpickles what the debuggee sends, and unpickling can run any code:
        fetch only from a session you trust (one whose connection file you
        found as :func:`connect` does, written by a program of your own).
        """
        import pickle

        _, frames = self.request("fetch", _without_none(code=expr, frame=frame))
        return pickle.loads(frames[0], buffers=frames[1:])

    def locals(self, *, frame: Optional[int] = None) -> Dict[str, RemoteValue]:
        """Summaries of the local variables of the selected frame."""
        reply, _ = self.request("locals", _without_none(frame=frame))
        return {name: RemoteValue(summary, name) for name, summary in reply["locals"].items()}

    # -- stack ------------------------------------------------------------------------
    def where(self) -> Stack:
        """The paused thread's stack, innermost frame first."""
        reply, _ = self.request("where")
        frames = [_frame(f, self._thread) for f in reply["frames"]]
        return Stack(frames, reply["selected"], reply.get("busy"))  # type: ignore[arg-type]

    def exceptions(self) -> Tuple[List[RemoteError], int]:
        """A post-mortem's chained exceptions, oldest first (the one it stopped at
        last, as pdb's ``exceptions`` lists them), and the index of the one whose
        traceback the stack shows."""
        reply, _ = self.request("exceptions")
        return [RemoteError(e["ename"], e["evalue"]) for e in reply["exceptions"]], reply["examined"]

    def examine_exception(self, index: int) -> FrameInfo:
        """Make the stack that of chained exception ``index`` (pdb's ``exceptions
        NUMBER``); the FrameInfo where it was raised."""
        reply, _ = self.request("exceptions", {"index": index})
        return _frame(reply["frame"], self._thread, reply)  # type: ignore[return-value]

    def frame(self, index: int) -> FrameInfo:
        """Select frame ``index`` (0 = where the thread stopped) for later requests."""
        return _frame(self.request("frame", {"index": index})[0]["frame"], self._thread)  # type: ignore[return-value]

    def up(self, count: int = 1) -> FrameInfo:
        """Select the caller's frame (pdb's ``up``)."""
        return _frame(self.request("frame", {"move": "up", "count": count})[0]["frame"], self._thread)  # type: ignore[return-value]

    def down(self, count: int = 1) -> FrameInfo:
        """Select the callee's frame (pdb's ``down``)."""
        return _frame(self.request("frame", {"move": "down", "count": count})[0]["frame"], self._thread)  # type: ignore[return-value]

    def source(self, context: int = 5, *, whole: bool = False) -> Source:
        """Source around the current line of the selected frame, pdb ``list``
        style; in a notebook, numbered lines with the current one highlighted."""
        reply, _ = self.request("source", {"context": context, "whole": whole})
        out = []
        for number, text in enumerate(reply["lines"], reply["first_line"]):
            marker = "->" if number == reply["current_line"] else "  "
            out.append(f"{number:4d} {marker} {text}")
        return Source(
            "\n".join(out),
            file=reply["file"],
            first_line=reply["first_line"],
            current_line=reply["current_line"],
            lines=reply["lines"],
        )

    # -- moving on ----------------------------------------------------------------------
    def _resume(self, action: str, line: Optional[int] = None) -> int:
        reply, _ = self.request("resume", _without_none(action=action, line=line))
        return reply["stop"]

    def _move(self, action: str, line: Optional[int] = None, timeout: Optional[float] = None) -> FrameInfo:
        thread = self._thread
        stop = self._resume(action, line)
        return self._wait_after(stop, thread, timeout)

    def step(self, timeout: Optional[float] = None) -> FrameInfo:
        """Run to the next line, entering calls."""
        return self._move("step", timeout=timeout)

    def next(self, timeout: Optional[float] = None) -> FrameInfo:
        """Run to the next line of this function (or its caller's, if it returns)."""
        return self._move("next", timeout=timeout)

    def finish(self, timeout: Optional[float] = None) -> FrameInfo:
        """Run until this function returns; stop at the caller's next line."""
        return self._move("finish", timeout=timeout)

    def until(self, line: Optional[int] = None, timeout: Optional[float] = None) -> FrameInfo:
        """Run until a line greater than the current one (or ``line``) in this frame."""
        return self._move("until", line, timeout=timeout)

    def jump(self, line: int, timeout: Optional[float] = None) -> FrameInfo:
        """Make ``line`` the next line to run in the paused frame (pdb's ``jump``)."""
        thread = self._thread
        reply, _ = self.request("jump", {"line": line})
        if "frame" in reply:  # jumped in place
            return _frame(reply["frame"], thread)  # type: ignore[return-value]
        return self._wait_after(reply["stop"], thread, timeout)

    def cont(self) -> None:
        """Let the paused thread run on; returns at once (see :meth:`wait`)."""
        self._last_stop = self._resume("continue")

    def pause(self, thread: Optional[int] = None, timeout: Optional[float] = None) -> FrameInfo:
        """Pause a running thread (default: the main thread) at the next line of
        the program it runs; the FrameInfo of that stop (of where it is, if it
        was paused already). Like any new pause, it becomes the most recently
        paused thread, which later commands go to unless :meth:`select_thread`
        chose one.

        A thread blocked in a call (``time.sleep``, a lock, I/O) stops when the
        call returns; if that is not within ``timeout``, TimeoutError, and the
        thread still stops then (see :meth:`wait`). On CPython 3.10 and 3.11 a
        thread other than the main one stops at its next call of a Python
        function (a loop that calls none runs on)."""
        reply, _ = self.request("pause", _without_none(thread=thread))
        tid = reply["thread"]
        if reply["paused"]:
            return _stop(reply["location"], tid, reply)
        limit = self.timeout if timeout is None else timeout
        try:
            return self._wait_after(reply["stop"], tid, limit)
        except TimeoutError:
            why = "a call such as time.sleep may block it"
            if tuple(map(int, self.info["python_version"].split(".")[:2])) < (3, 12):
                why += (
                    "; on CPython 3.10 and 3.11 a thread other than the main one stops at its next call "
                    "of a Python function"
                )
            raise TimeoutError(
                f"thread {tid} ran no line of the program within {limit} s ({why}); it pauses when it does"
            ) from None

    def wait(self, timeout: Optional[float] = None) -> FrameInfo:
        """Block until a thread pauses (after the last resume); its FrameInfo.

        What the program prints meanwhile is printed here as it comes (as it is
        while :meth:`step`, :meth:`next`, … run)."""
        return self._wait_after(self._last_stop, None, timeout)

    def _wait_after(self, stop: int, thread: Optional[int], timeout: Optional[float]) -> FrameInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            event = self.next_event(0.5 if left is None else min(left, 0.5))
            if event is None:
                if not self.alive():
                    raise SessionLost(f"the debugged program (pid {self.pid}) has ended")
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"no thread paused within {timeout} s")
                continue
            msg_type, content, _, _ = event
            if msg_type == "output":
                self._print_output(content)
            elif msg_type == "dropped":
                self._report_missed(content)
            elif msg_type == "exited":
                raise SessionLost(f"the debugged program (pid {self.pid}) has exited")
            elif (
                msg_type == "paused"
                and content.get("stop", 0) > stop
                and (thread is None or content["thread"] == thread)
            ):
                self._last_stop = content["stop"]
                return _stop(content["location"], content["thread"], content)

    def _report_missed(self, dropped: Dict[str, Any]) -> None:
        """Events the program dropped for this client, which did not read them in time."""
        sys.stderr.write(
            f"[jupdb: {dropped.get('events', 0)} events for this client were dropped in the program "
            "while it did not read them]\n"
        )
        if self.pid != os.getpid():  # in the same process, the output is on the screen already
            _report_dropped(dropped.get("output", 0), "in the program, while this client did not read them")

    def _print_output(self, content: Dict[str, Any]) -> None:
        """Print here what the program printed there (in the same process it is
        on the screen already). Text lost on the way is reported where it was."""
        if self.pid == os.getpid():
            return
        dropped_here = self._client.output_dropped - self._output_dropped
        self._output_dropped += dropped_here
        _report_dropped(dropped_here, "here, while nobody waited")
        stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
        stream.write(content.get("text", ""))
        stream.flush()
        _report_dropped(content.get("dropped", 0), "in the program, which printed faster than it could send")

    # -- breakpoints and watches -----------------------------------------------------------
    def add_breakpoint(self, file: str, line: int, cond: Optional[str] = None, temporary: bool = False) -> int:
        """Pause any thread that reaches ``file``:``line`` (where ``cond`` holds); its id.

        On CPython 3.10 and 3.11, a thread other than the main one that already
        runs that line's function reaches the breakpoint once it calls a Python
        function (a loop that calls none, or only C functions, runs on).

        A relative ``file`` is found in the program, as pdb finds it: in its
        working directory, its script's directory or on its ``sys.path`` (with
        ``.py`` added when it has none), or a module name (``"pkg.mod"``)."""
        content = _without_none(file=os.fspath(file), line=line, condition=cond, temporary=temporary)
        return self.request("break", content)[0]["breakpoint"]["id"]

    def breakpoints(self) -> List[Dict[str, Any]]:
        return self.request("breakpoints")[0]["breakpoints"]

    def set_condition(self, id: int, cond: Optional[str]) -> Dict[str, Any]:
        """Make breakpoint ``id`` stop only where ``cond`` holds (None: always),
        as pdb's ``condition``; the breakpoint as :meth:`breakpoints` lists it."""
        return self.request("break", {"id": id, "condition": cond})[0]["breakpoint"]

    def ignore_breakpoint(self, id: int, count: int) -> Dict[str, Any]:
        """Let breakpoint ``id`` pass its next ``count`` hits (where its
        condition holds), as pdb's ``ignore``; the breakpoint as listed."""
        return self.request("break", {"id": id, "ignore": count})[0]["breakpoint"]

    def clear_breakpoint(
        self, id: Optional[int] = None, *, file: Optional[str] = None, line: Optional[int] = None
    ) -> List[int]:
        """Remove breakpoint ``id``, or those at ``file``:``line`` (found in the program as
        :meth:`add_breakpoint` finds it), or all of them, as pdb's ``clear``; the ids removed."""
        if file is not None:
            return self.request("clear", {"file": file, "line": line})[0]["cleared"]
        return self.request("clear", {"all": True} if id is None else {"id": id})[0]["cleared"]

    def watch(self, expr: str) -> int:
        """Evaluate ``expr`` at every stop; results come with each FrameInfo (``watches``)."""
        return self.request("watch", {"expression": expr})[0]["watch"]["id"]

    def unwatch(self, expr: Union[str, int]) -> None:
        self.request("unwatch", {"id": expr} if isinstance(expr, int) else {"expression": expr})

    # -- probes in the running program (see probe_handles.py) --------------------------------
    def capture_calls(
        self,
        target: Optional[str] = None,
        *,
        module: Optional[str] = None,
        file: Union[str, "os.PathLike[str]", None] = None,
        limit: Optional[int] = None,
        every: int = 1,
        keep: bool = False,
        fetchable: int = 32,
    ) -> RemoteCalls:
        """Capture the calls of ``target`` in the running program, which goes on
        running: a live sequence of calls (summaries of ``args``, ``locals``,
        ``return_value``, ``exception``; ``fetch`` for an object itself) that
        grows as calls return there.

        ``target``: a function named as the program sees it, a dotted path from
        its ``__main__`` globals or an imported module, integer parts indexing
        (``"model.blocks.4.attn.forward"``), ``"module:function"``, or a bare
        name that names nothing there (every function of that name); ``module``
        (an imported module's name) and ``file`` (a glob on the code's path)
        narrow it or stand for it. ``limit``: remove the probe after that many
        calls; ``every``: take one call in that many. The program holds the
        objects of the latest ``fetchable`` calls for ``fetch``. The probe goes
        when this session closes or this process dies, unless ``keep``.
        RemoteError for a target the program does not have (it is untouched)."""
        spec = {"target": target, "module": module, "file": file, "limit": limit, "every": every}
        return self._install_probe(RemoteCalls, "calls", {**spec, "keep": keep, "fetchable": fetchable})

    def capture_call(
        self,
        target: Optional[str] = None,
        *,
        module: Optional[str] = None,
        file: Union[str, "os.PathLike[str]", None] = None,
        every: int = 1,
        keep: bool = False,
    ) -> RemoteCall:
        """As :meth:`capture_calls`, but keep only the latest call: the handle's
        ``args``, ``locals``, ``return_value``, … are that call's."""
        return self._install_probe(
            RemoteCall, "call", {"target": target, "module": module, "file": file, "every": every, "keep": keep}
        )

    def breakpoint(
        self,
        target: Optional[str] = None,
        *,
        module: Optional[str] = None,
        file: Union[str, "os.PathLike[str]", None] = None,
        line: Optional[int] = None,
        cond: Optional[str] = None,
        pause: bool = False,
        limit: Optional[int] = None,
        every: int = 1,
        keep: bool = False,
    ) -> RemoteBreakpoint:
        """A breakpoint in the running program at ``target``'s start (named as
        for :meth:`capture_calls`) or at ``line`` (of ``target``, or of
        ``file``), where ``cond`` holds. It does not stop the program: its
        handle's ``eval(expr)`` streams a value per hit, ``exec(code)`` changes
        the program at each hit; with ``pause=True`` it pauses the thread there,
        as :meth:`add_breakpoint` does. ``limit``, ``every``, ``keep`` as for
        :meth:`capture_calls`."""
        spec = {"target": target, "module": module, "file": file, "line": line, "cond": cond, "pause": pause}
        return self._install_probe(RemoteBreakpoint, "break", {**spec, "limit": limit, "every": every, "keep": keep})

    def probes(self) -> List[ProbeInfo]:
        """The probes installed in the program, by any client (``mine``: this session's)."""
        reply, _ = self.request("probes")
        return [ProbeInfo(p, p.get("owner") == self._client_session) for p in reply["probes"]]

    def remove_probe(self, id: int) -> None:
        """Remove probe ``id``, whichever client installed it (see :meth:`probes`)."""
        self.request("unprobe", {"probe": id})

    def _install_probe(self, kind: Callable[["Session", Dict[str, Any]], "P"], name: str, spec: Dict[str, Any]) -> "P":
        if spec.get("target") is not None and not isinstance(spec["target"], str):
            raise TypeError(f"target must be a name the program knows (a str), not {type(spec['target']).__name__}")
        if spec.get("file") is not None:
            spec["file"] = os.fspath(spec["file"])
        reader = self._probe_reader()  # first: hits may come before the reply
        reply, _ = self.request("probe", {"kind": name, **{k: v for k, v in spec.items() if v is not None}})
        handle = kind(self, reply["probe"])
        reader.add(handle)
        return handle

    def _probe_reader(self) -> ProbeReader:
        with self._probes_lock:
            if self._probes is None:
                self._probes = ProbeReader(self)
            return self._probes

    # -- threads --------------------------------------------------------------------------
    def threads(self) -> List[ThreadInfo]:
        reply, _ = self.request("threads")
        return [
            ThreadInfo(
                t["id"],
                t["name"],
                t["paused"],
                _stop(t["location"], t["id"], t) if t.get("location") else None,
                t.get("busy"),
            )
            for t in reply["threads"]
        ]

    def select_thread(self, id: Optional[int]) -> None:
        """Send later requests to thread ``id`` (None: the most recently paused one)."""
        self._thread = id

    # -- notebook cells, completion, assignment ----------------------------------------------
    def next_event(
        self, timeout: Optional[float] = None
    ) -> Optional[Tuple[str, Dict[str, Any], List[Any], Optional[int]]]:
        """The program's next event ``(msg_type, content, buffers, thread)``
        (``paused``, ``resumed``, ``output``, ``exited``, …; docs/protocol.md),
        waiting up to ``timeout`` s (None: for ever); None if none came. For a
        reader of its own, such as the panel, on a session no one else waits
        on: :meth:`wait` and the stepping calls read these same events."""
        if self._events:
            return self._events.popleft()
        return self._client.next_event(timeout)

    def run_cell(
        self,
        code: str,
        *,
        frame: Optional[int] = None,
        on_event: Optional[Callable[[str, Dict[str, Any]], None]] = None,
        timeout: Optional[float] = None,
    ) -> None:
        """Run ``code`` in the paused frame as a notebook cell runs: statements
        written through to the frame's locals (new names too), the value of a
        last expression shown, ``display(...)`` in the cell shown, matplotlib
        figures shown as PNG, and what it prints shown as it prints it.

        Its events (``stream``, ``display_data``, ``execute_result``) go to
        ``on_event(msg_type, content)`` in this thread, in order, as they come
        (default: streams written to sys.stdout/sys.stderr; rich output shown
        with IPython's display in an IPython shell, else its text/plain
        printed). Returns once the cell has ended and all its events were
        handed over. ``timeout``: seconds the cell may run (None: no limit).

        RemoteError if the cell raised (the program stays paused). Ctrl-C (a
        kernel's interrupt) interrupts the cell in the program, waits for it to
        stop and raises KeyboardInterrupt; a second Ctrl-C stops waiting.
        """
        cell = secrets.token_hex(8)
        show = _show_cell_event if on_event is None else on_event
        thread = self._thread
        content = _without_none(code=code, cell=cell, frame=frame)
        outcome: List[Any] = []  # the reply, or what the request raised

        def send() -> None:
            try:
                outcome.append(
                    self._exchange("run_cell", content, thread=thread, timeout=math.inf if timeout is None else timeout)
                )
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=send, name="jupdb-run-cell", daemon=True)
        worker.start()
        interrupted = False
        reply: Optional[Dict[str, Any]] = None
        failure: Optional[BaseException] = None
        counted = 0  # the cell's events received, or dropped on the way
        started = time.monotonic()
        settled_by = math.inf  # once replied: how long the cell's last events may take
        while True:
            try:  # all of it: Ctrl-C comes at any line
                if reply is None and outcome:
                    if isinstance(outcome[0], BaseException):
                        failure = outcome[0]
                        break
                    reply = outcome[0][0]
                    settled_by = time.monotonic() + self.timeout
                if reply is not None:
                    # Events travel apart from the reply: wait for as many as the cell sent.
                    missing = reply.get("events", 0) - counted
                    if missing <= 0:
                        break
                    if time.monotonic() >= settled_by:
                        sys.stderr.write(f"[jupdb: {missing} of the cell's events never arrived]\n")
                        break
                event = self._client.next_event(_cell_poll(time.monotonic() - started, reply is not None))
                if event is None:
                    continue
                msg_type, fields, _, _ = event
                if msg_type in _CELL_EVENTS and fields.get("cell") == cell:
                    counted += 1  # first: show() may be where Ctrl-C comes
                    show(msg_type, fields)
                else:
                    counted += self._set_aside(event)
            except KeyboardInterrupt:
                if interrupted or reply is not None:
                    raise KeyboardInterrupt(
                        "run_cell_request abandoned here; the cell may still be running in the program"
                    ) from None
                interrupted = True
                self._interrupt_quietly(thread, "run_cell")  # then wait for the cell to stop
        if interrupted:
            raise KeyboardInterrupt("run_cell_request interrupted") from failure
        if failure is not None:
            raise failure
        assert reply is not None
        if reply.get("status") == "error":
            raise RemoteError(reply.get("ename", "Error"), reply.get("evalue", ""), reply.get("traceback", ""))

    def _set_aside(self, event: Tuple[str, Dict[str, Any], List[Any], Optional[int]]) -> int:
        """An event read while a cell runs that is not the cell's: the program's
        output is printed, another cell's event ignored (one abandoned here, or
        another client's), the rest kept for :meth:`wait`. How many of the cell's
        events it accounts for: those a ``dropped`` event says were dropped."""
        msg_type, fields, _, _ = event
        if msg_type in _CELL_EVENTS and "cell" in fields:
            pass
        elif msg_type == "output":
            self._print_output(fields)
        elif msg_type == "dropped":
            self._report_missed(fields)
            return int(fields.get("events", 0))
        else:
            self._events.append(event)  # paused, resumed, exited: for wait()
        return 0

    def complete(
        self,
        code: str,
        cursor_pos: Optional[int] = None,
        *,
        frame: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Completions at ``cursor_pos`` (characters into ``code``; default: its
        end) from the paused frame's names, attributes, dict keys and DataFrame
        columns: ``matches``, ``cursor_start``, ``cursor_end`` (the text they
        replace) and ``types`` (one for each match), as Jupyter's
        ``complete_reply`` has them.

        Completing ``obj.attr.`` runs ``obj.attr`` (a property, say) in the
        program; if that takes longer than ``timeout`` (default: the session's),
        it is interrupted there and TimeoutError raised here."""
        pos = len(code) if cursor_pos is None else cursor_pos
        thread = self._thread
        try:
            reply, _ = self.request(
                "complete", _without_none(code=code, cursor_pos=pos, frame=frame), thread=thread, timeout=timeout
            )
        except TimeoutError:
            self._interrupt_quietly(thread, "complete")  # the paused thread serves again
            raise
        return {key: reply[key] for key in ("matches", "cursor_start", "cursor_end", "types")}

    def assign(self, name: str, value: Any, *, frame: Optional[int] = None) -> None:
        """Set the local variable ``name`` of the paused frame to ``value`` (sent
        pickled, protocol 5, large buffers out of band: a big array crosses
        without copies). TypeError here when ``value`` cannot be pickled."""
        import pickle

        buffers: List[pickle.PickleBuffer] = []
        try:
            data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
        except Exception as exc:
            raise TypeError(f"cannot send {type(value).__name__} to the program: {type(exc).__name__}: {exc}") from exc
        raws: List[Any] = [memoryview(data)]
        for buffer in buffers:
            try:
                raws.append(buffer.raw())
            except BufferError:  # not contiguous: one copy makes it so
                raws.append(memoryview(memoryview(buffer).tobytes()))
        # The debuggee takes frames of at most MAX_FRAME_LEN: bigger ones go in parts.
        step = _native.MAX_FRAME_LEN
        parts = [max(1, -(-raw.nbytes // step)) for raw in raws]
        frames = [raw[i : i + step] for raw in raws for i in range(0, max(raw.nbytes, 1), step)]
        self.request("assign", _without_none(name=name, frame=frame, parts=parts), buffers=frames)

    def widget(self) -> Any:
        """A live panel of this program for a notebook (see :func:`jupdb.widget`)."""
        from ..notebook.panel import widget  # the notebook layer, imported only when asked for

        return widget(self)


P = TypeVar("P", bound=ProbeHandle)


def _stop(location: Dict[str, Any], thread: int, stop: Optional[Dict[str, Any]] = None) -> FrameInfo:
    """The FrameInfo of a stop, with its source line read here."""
    code = linecache.getline(location["file"], location["line"]).strip()
    return _frame(dict(location, code=code), thread, stop)  # type: ignore[return-value]


#: The events a cell sends, each with its ``cell`` id.
_CELL_EVENTS = ("stream", "display_data", "execute_result")


def _cell_poll(elapsed: float, replied: bool) -> float:
    """How long to wait for the next event of a running cell before looking
    whether its reply came (replies do not wake an event wait): briefly at
    first, so a short cell returns at once, less often as it runs on."""
    if replied:
        return 0.05
    return 0.001 if elapsed < 0.05 else 0.01 if elapsed < 1.0 else 0.05


def _show_cell_event(msg_type: str, content: Dict[str, Any]) -> None:
    """:meth:`Session.run_cell`'s default: streams to sys.stdout/sys.stderr,
    rich output through IPython's display in an IPython shell, else its text."""
    if msg_type == "stream":
        stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
        stream.write(content.get("text", ""))
        stream.flush()
        return
    data = content.get("data") or {}
    if _in_ipython():
        from IPython.display import display

        display(jupyter_bundle(data), raw=True, metadata=content.get("metadata") or {})
    else:
        print(data.get("text/plain", ""))


def _in_ipython() -> bool:
    """Whether this process runs an IPython shell (a kernel, a terminal) whose display shows bundles."""
    if "IPython" not in sys.modules:
        return False
    from IPython.core.interactiveshell import InteractiveShell

    return bool(InteractiveShell.initialized())


def jupyter_bundle(data: Dict[str, Any]) -> Dict[str, Any]:
    """A MIME bundle as Jupyter carries it: binary values base64-encoded."""
    return {
        mime: base64.b64encode(value).decode("ascii") if isinstance(value, (bytes, bytearray)) else value
        for mime, value in data.items()
    }


#: The requests that run a client's code, or the program's reprs, which Ctrl-C in the client interrupts.
_RUNS_CLIENT_CODE = ("eval", "exec", "fetch", "run_cell", "complete", "assign", "locals")


def _without_none(**fields: Any) -> Dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _report_dropped(count: int, where: str) -> None:
    if count:
        sys.stderr.write(f"[jupdb: {count} bytes of the program's output were dropped {where}]\n")


def _echo(reply: Dict[str, Any]) -> None:
    """Print here what the remote code printed there."""
    if reply.get("stdout"):
        sys.stdout.write(reply["stdout"])
    if reply.get("stderr"):
        sys.stderr.write(reply["stderr"])
