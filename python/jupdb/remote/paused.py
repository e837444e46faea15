"""A paused thread's command loop: it runs each request itself, in its own frames.

While it waits for the next request the GIL is released (the wait is in
Rust), so the rest of the program runs on. A request that fails gets an error
reply; the thread stays paused and serving.
"""

from __future__ import annotations

import functools
import io
import keyword
import linecache
import os
import sys
import threading
import traceback
import types
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set, Tuple

from .. import _native
from ..frames import write_back
from ..scope import is_launcher_code
from .cell import CellError, run_cell
from .completion import complete
from .debuggee import forward_output
from .stepping import check_action, start_stepping
from .summary import LOCALS_VALUE_LIMIT, REPR_LIMIT, safe_str, summarize

if TYPE_CHECKING:
    from .debuggee import DebugServer

Reply = Tuple[Dict[str, Any], List[Any]]


class RequestError(Exception):
    """A request that cannot be done; becomes an error reply named ``ename``."""

    def __init__(self, ename: str, evalue: str, traceback: str = "") -> None:
        super().__init__(evalue)
        self.ename = ename
        self.traceback = traceback


def user_code_failed(exc: BaseException, handled: Optional[BaseException]) -> RequestError:
    """The error reply for an exception raised by the client's code, with the
    traceback of the user's frames only (see :func:`user_traceback`; not of the
    exception ``handled`` where the thread paused, a post-mortem's say)."""
    if exc.__context__ is handled:
        exc.__context__ = None
    if isinstance(exc, KeyboardInterrupt) and not exc.args:
        exc.args = ("interrupted",)  # by a client's interrupt, or Ctrl-C in the program
    return RequestError(type(exc).__name__, safe_str(exc), user_traceback(exc))


#: The jupdb package's folder: frames of code in it are the debugger's, never the user's.
_JUPDB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback as Python prints it, with the user's frames only: the
    client's code (``<remote>``, a cell) and the program's functions it called,
    none of jupdb's (the command loop, a cell's runner), in chained exceptions too."""
    try:
        shown = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
        _drop_jupdb_frames(shown, set())
        return "".join(shown.format())
    except BaseException:  # an exception whose __str__ raises SystemExit, say: its name will do
        return f"{type(exc).__name__}: {safe_str(exc)}\n"


def _drop_jupdb_frames(shown: traceback.TracebackException, seen: Set[int]) -> None:
    if id(shown) in seen:
        return
    seen.add(id(shown))
    shown.stack = traceback.StackSummary.from_list([f for f in shown.stack if not f.filename.startswith(_JUPDB_DIR)])
    for linked in (shown.__cause__, shown.__context__, *(getattr(shown, "exceptions", None) or ())):
        if linked is not None:
            _drop_jupdb_frames(linked, seen)


def _calls_the_launcher(outermost: types.FrameType, called: types.FrameType) -> bool:
    """Whether ``outermost``, the bottom of a stack, is module code that only
    started jupdb's launcher (the ``jupdb`` script's ``sys.exit(main())``)."""
    return outermost.f_code.co_name == "<module>" and is_launcher_code(called.f_code)


def location_of(frame: types.FrameType, line: Optional[int] = None) -> Dict[str, Any]:
    """Where ``frame`` is (at ``line``, if not at its current one)."""
    return {
        "file": frame.f_code.co_filename,
        "line": frame.f_lineno if line is None else line,
        "function": frame.f_code.co_name,
    }


def chained_exceptions(exc: BaseException) -> List[BaseException]:
    """``exc``, the exception it was raised from (``__cause__``) or while handling
    (``__context__``, unless suppressed), and so on: oldest first, as pdb lists them."""
    chain: List[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and all(current is not seen for seen in chain) and len(chain) < _MAX_CHAINED:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain[::-1]


#: As pdb: a longer chain (a loop that re-raises) is cut here.
_MAX_CHAINED = 999


def exception_details(exc: BaseException) -> Dict[str, str]:
    """An exception as a ``paused`` event reports it, its traceback without
    the launcher's frames (``jupdb run``'s and runpy's)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and is_launcher_code(tb.tb_frame.f_code):
        tb = tb.tb_next
    return {
        "ename": type(exc).__name__,
        "evalue": safe_str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, tb)),
    }


def reply_error(request: Any, exc: BaseException) -> None:
    """Answer ``request`` with the error ``exc`` (whatever it is: a request never
    ends the program). Never raises: a request answered already, or a reply that
    cannot go out, leaves nothing more to say."""
    if isinstance(exc, CellError):  # with the number of events the cell sent, for the client to wait for
        try:
            fields = {"ename": exc.ename, "evalue": safe_str(exc), "traceback": exc.traceback, "events": exc.events}
            request.reply({"status": "error", **fields})
        except BaseException:
            pass
        return
    if isinstance(exc, RequestError):
        ename, text = exc.ename, exc.traceback
    elif isinstance(exc, SyntaxError):
        ename, text = "SyntaxError", "".join(traceback.format_exception_only(type(exc), exc))
    else:
        ename, text = type(exc).__name__, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        request.error(ename, safe_str(exc), text)
    except BaseException:
        pass


class _ThreadOutput(io.TextIOBase):
    """Stands in for sys.stdout/stderr during a command: the commanding thread's
    writes are captured, every other thread's go where they always went."""

    def __init__(self, original: Any, thread: int) -> None:
        self.original = original
        self.thread = thread
        self.captured = io.StringIO()

    def taken(self) -> str:
        """What was captured, emptying the capture."""
        text = self.captured.getvalue()
        if text:
            self.captured.seek(0)
            self.captured.truncate()
        return text

    def write(self, text: str) -> int:
        if threading.get_ident() == self.thread:
            return self.captured.write(text)
        return self.original.write(text)

    def flush(self) -> None:
        if threading.get_ident() != self.thread:
            self.original.flush()


class PausedThread:
    """The calling thread, paused at ``frame``, serving requests until resumed."""

    def __init__(
        self, server: "DebugServer", frame: types.FrameType, reason: str, *, in_line_event: bool = False, **details: Any
    ) -> None:
        self.server = server
        self.stack: List[types.FrameType] = []
        #: The stack's line numbers where they are not the frames' current ones
        #: (post-mortem: where the exception passed), by index.
        self.lines: Dict[int, int] = {}
        f: Optional[types.FrameType] = frame
        while f is not None:
            self.stack.append(f)
            f = f.f_back
        self._trim_launcher()
        self.selected = 0
        self.reason = reason
        self.details = details
        #: A post-mortem's chained exceptions, oldest first, and the one its stack shows.
        self.exceptions: List[BaseException] = []
        self.examined = 0
        # Paused from inside a line event (breakpoint, step): a jump is allowed here.
        self.in_line_event = in_line_event
        self.thread = threading.current_thread()
        self.resume: Optional[Dict[str, Any]] = None
        me = threading.get_ident()
        self._output = (_ThreadOutput(None, me), _ThreadOutput(None, me))

    @classmethod
    def post_mortem(cls, server: "DebugServer", exc: BaseException) -> "PausedThread":
        """The calling thread, paused at the frame where ``exc`` was raised, the
        stack being its traceback (innermost first) and the callers of its
        outermost frame. The traceback's frames have finished (or will not
        resume from these lines): they can be inspected, not stepped."""
        assert exc.__traceback__ is not None
        paused = cls(server, exc.__traceback__.tb_frame, reason="exception")
        paused.exceptions = chained_exceptions(exc)
        paused.examined = len(paused.exceptions) - 1
        paused._examine(exc)
        return paused

    def _examine(self, exc: BaseException) -> None:
        """Show ``exc``'s traceback as the stack: the outermost frame of the
        traceback and its callers, then the rest of the traceback in front."""
        entries = []
        tb: Optional[types.TracebackType] = exc.__traceback__
        while tb is not None:
            entries.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
        callers: List[types.FrameType] = []
        f = entries[0][0].f_back
        while f is not None:
            callers.append(f)
            f = f.f_back
        self.stack = [frame for frame, _ in reversed(entries)] + callers
        self.lines = {i: line for i, (_, line) in enumerate(reversed(entries))}
        self._trim_launcher()
        self.selected = 0
        self.details["exception"] = exception_details(exc)

    def _trim_launcher(self) -> None:
        """Drop the outermost frames that are not the program's: ``jupdb run``'s
        and runpy's, and below them the ``jupdb`` console script (or any
        module code that called jupdb's launcher directly)."""
        while len(self.stack) > 1 and (
            is_launcher_code(self.stack[-1].f_code) or _calls_the_launcher(self.stack[-1], self.stack[-2])
        ):
            self.lines.pop(len(self.stack) - 1, None)
            self.stack.pop()

    # -- where ---------------------------------------------------------------
    @property
    def is_post_mortem(self) -> bool:
        return self.reason == "exception"

    def frame(self, index: Optional[int] = None) -> types.FrameType:
        index = self.selected if index is None else index
        if not 0 <= index < len(self.stack):
            raise RequestError("NoSuchFrame", f"there is no frame {index} (0 to {len(self.stack) - 1})")
        return self.stack[index]

    def line(self, index: int) -> int:
        """The line frame ``index`` is at."""
        return self.lines.get(index, self.stack[index].f_lineno)

    def frame_info(self, index: int) -> Dict[str, Any]:
        frame, line = self.stack[index], self.line(index)
        info = location_of(frame, line)
        info["index"] = index
        info["code"] = linecache.getline(frame.f_code.co_filename, line, frame.f_globals).strip()
        return info

    def location(self) -> Dict[str, Any]:
        return location_of(self.stack[0], self.line(0))

    def stop_details(self) -> Dict[str, Any]:
        """Where and why the thread stopped (with the breakpoint, exception, … that made it)."""
        return {"reason": self.reason, "location": self.location(), **self.details}

    # -- the loop ------------------------------------------------------------
    def serve(self) -> Optional[Dict[str, Any]]:
        """Serve requests until one resumes the thread; returns that request's content."""
        server, tid = self.server, self.thread.ident
        assert tid is not None
        if tid in server.debugging:
            # Reached by code the debugger runs on this thread (a client's eval
            # calling a function with a breakpoint, a set_trace() in it, a
            # watch): no stop, as in pdb; the code runs on.
            return None
        server.debugging.add(tid)
        try:
            return self._serve(tid)
        finally:
            server.debugging.discard(tid)

    def _serve(self, tid: int) -> Optional[Dict[str, Any]]:
        server = self.server
        if self.in_line_event:
            # A breakpoint and a step stopping at the same line pause once.
            event_number = _native.line_event_number()
            if server.last_line_event.get(tid) == event_number:
                return None
            server.last_line_event[tid] = event_number
        pauser = server.pausers.get(tid)
        if pauser is not None:  # a client asked for this pause, or it is moot now
            pauser.cancel()
        forward_output(server.native)
        # Watches first, before the thread is paused for clients: a watch that a
        # client adds once it sees this pause is evaluated at the next one, never
        # in between (one that never ends would keep this thread from serving).
        server.stops += 1
        event = {
            "thread": tid,
            "thread_name": self.thread.name,
            "stop": server.stops,
            "watches": server.service.evaluate_watches(self.stack[0]),
            **self.stop_details(),
        }
        try:
            # In the try: Ctrl-C from here on leaves the pause (and unregisters it) as in the loop.
            handle = self.handle = server.native.pause(tid, self.thread.name, self.location(), self.where())
            server.paused[tid] = self
            server.update_state()
            server.publish("paused", event, tid)
            # After the event: a client that connects when it reads this line gets the next one.
            server.announce(self.location(), self.details.get("exception"))
            while self.resume is None:
                request = handle.next_request()
                if request is None:
                    break
                self.dispatch(request)
        except BaseException:
            # Ctrl-C (or a signal handler's exception) while paused: the program
            # gets it here, as from any blocking call.
            self._leave()
            server.publish("resumed", {"thread": tid, "action": "interrupted"}, tid)
            raise
        finally:
            self._leave()
        resume = self.resume or {"action": "continue"}
        server.publish("resumed", {"thread": tid, "action": resume["action"]}, tid)
        # Last, so that the step does not stop in the debugger's own bookkeeping.
        start_stepping(self, resume["action"], resume.get("line"))
        return self.resume

    def dispatch(self, request: Any) -> None:
        name = request.msg_type.removesuffix("_request")
        handler = getattr(self, f"do_{name}", None)
        if handler is None:
            request.error("UnknownRequest", f"unknown request {request.msg_type!r}")
            return
        try:
            if name in _TAKES_BUFFERS:
                content, buffers = handler(request.content or {}, request.buffers)
            else:
                content, buffers = handler(request.content or {})
        except BaseException as exc:  # even SystemExit or KeyboardInterrupt from the program's objects
            reply_error(request, exc)
            return
        if self.resume is not None:
            self._leave()  # before the reply: a status or pause asked next finds it running
        try:
            request.reply({"status": "ok", **content}, buffers)
        except BaseException as exc:  # content that cannot travel
            reply_error(request, exc)

    def _leave(self) -> None:
        """Stop being a paused thread, for every client (again: nothing)."""
        handle = getattr(self, "handle", None)  # None: interrupted before it paused for clients
        if handle is not None:
            handle.close()
        if self.server.paused.pop(self.thread.ident, None) is not None:  # type: ignore[arg-type]
            self.server.update_state()

    # -- evaluating ------------------------------------------------------------
    def _run(self, code: str, mode: str, frame: types.FrameType, namespace: Any) -> Tuple[Any, Dict[str, str]]:
        compiled = compile_client_code(code, mode)
        out, err = self._output
        out.original, err.original = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err  # what this thread prints goes into the reply
        handled = sys.exc_info()[1]
        try:
            value = _native.run_interruptibly(eval, compiled, frame.f_globals, namespace)
        except BaseException as exc:  # even SystemExit: a command never ends the program
            raise user_code_failed(exc, handled) from None
        finally:
            if sys.stdout is out:
                sys.stdout = out.original
            if sys.stderr is err:
                sys.stderr = err.original
        return value, {"stdout": _capped(out.taken()), "stderr": _capped(err.taken())}

    def do_eval(self, c: Dict[str, Any]) -> Reply:
        frame = self.frame(c.get("frame"))
        value, texts = self._run(c["code"], "eval", frame, frame.f_locals)
        # The summary runs the value's __repr__ and _repr_*_: the program's code, interruptible too.
        summary = _native.run_interruptibly(
            functools.partial(summarize, repr_limit=c.get("repr_limit", REPR_LIMIT), mime=c.get("mime", True)), value
        )
        reply = {"value": summary, **texts}
        if c.get("str"):  # str() of the value, as the original jupdb API returns
            reply["str"] = safe_str(value)
        return reply, []

    def do_exec(self, c: Dict[str, Any]) -> Reply:
        frame = self.frame(c.get("frame"))
        before = dict(frame.f_locals)
        namespace = dict(before)
        _, texts = self._run(c["code"], "exec", frame, namespace)
        write_back(frame, before, namespace)
        return dict(texts), []

    def do_fetch(self, c: Dict[str, Any]) -> Reply:
        frame = self.frame(c.get("frame"))
        value, _ = self._run(c["code"], "eval", frame, frame.f_locals)
        return pickled(value, c["code"])

    def do_run_cell(self, c: Dict[str, Any]) -> Reply:
        code, cell = c.get("code"), c.get("cell")
        if not isinstance(code, str) or not isinstance(cell, str):
            raise RequestError("InvalidRequest", "run_cell_request needs code and cell, both strings")
        frame = self.frame(c.get("frame"))
        return {"events": run_cell(self.server, frame, code, cell)}, []

    def do_complete(self, c: Dict[str, Any]) -> Reply:
        code, pos = c.get("code"), c.get("cursor_pos")
        if not isinstance(code, str):
            raise RequestError("InvalidRequest", "complete_request needs code, a string")
        if pos is None:
            pos = len(code)
        if not isinstance(pos, int) or isinstance(pos, bool) or not 0 <= pos <= len(code):
            raise RequestError("InvalidRequest", f"cursor_pos must be an int from 0 to {len(code)}, not {pos!r}")
        frame = self.frame(c.get("frame"))
        # Interruptible: a property or __dir__ of the program's may take long.
        found = _native.run_interruptibly(complete, code, pos, frame.f_locals, frame.f_globals, frame.f_builtins)
        return found, []

    def do_assign(self, c: Dict[str, Any], raws: List[Any]) -> Reply:
        import pickle

        name = c.get("name")
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise RequestError("InvalidRequest", f"cannot assign to {name!r}: not a variable name")
        if not raws:
            raise RequestError("InvalidRequest", "assign_request needs the pickled value as its first buffer")
        frame = self.frame(c.get("frame"))
        # Received buffers are read-only views of the message: the program gets
        # memory of its own, which it may change (an array it updates in place).
        joined = _join_parts(raws, c.get("parts"))
        try:
            value = _native.run_interruptibly(functools.partial(pickle.loads, buffers=joined[1:]), joined[0])
        except BaseException as exc:  # a __setstate__ may raise anything, SystemExit too
            raise RequestError(
                "UnpicklingError",
                f"cannot set {name}: the value did not unpickle: {type(exc).__name__}: {safe_str(exc)}",
            ) from None
        _native.write_locals(frame, {name: value})
        return {}, []

    # -- stack and source ---------------------------------------------------------
    def where(self) -> Dict[str, Any]:
        """The stack as ``where`` replies it (also recorded in Rust: while this
        thread is busy, the server answers ``where`` from that record)."""
        return {"selected": self.selected, "frames": [self.frame_info(i) for i in range(len(self.stack))]}

    def do_where(self, c: Dict[str, Any]) -> Reply:
        return self.where(), []

    def do_exceptions(self, c: Dict[str, Any]) -> Reply:
        """A post-mortem's chained exceptions (pdb's ``exceptions``); with
        ``index``, examine that one: the stack becomes its traceback."""
        if not self.is_post_mortem:
            raise RequestError("NotPostMortem", "exceptions: the thread is not stopped in a post-mortem")
        if "index" in c:
            index = c["index"]
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self.exceptions):
                raise RequestError(
                    "NoSuchException", f"there is no exception {index!r} (0 to {len(self.exceptions) - 1})"
                )
            if self.exceptions[index].__traceback__ is None:
                raise RequestError("NoSuchException", f"exception {index} has no traceback to examine")
            self.examined = index
            self._examine(self.exceptions[index])
            self.handle.set_location(self.location(), self.where())
        listed = [{"ename": type(e).__name__, "evalue": safe_str(e)} for e in self.exceptions]
        return {"exceptions": listed, "examined": self.examined, "frame": self.frame_info(0), **self.stop_details()}, []

    def do_frame(self, c: Dict[str, Any]) -> Reply:
        if "index" in c:
            index = c["index"]
        else:  # as pdb's up and down: as far as there are frames, an error only at the end
            move, step = c.get("move", "up"), c.get("count", 1)
            if move not in ("up", "down") or not isinstance(step, int) or isinstance(step, bool) or step < 1:
                raise RequestError("InvalidRequest", "frame: move is 'up' or 'down', count a positive int")
            end = len(self.stack) - 1 if move == "up" else 0
            if self.selected == end:
                which = "oldest" if move == "up" else "newest"
                raise RequestError("NoSuchFrame", f"{move}: frame {end} is the {which} frame")
            index = min(self.selected + step, end) if move == "up" else max(self.selected - step, end)
        self.frame(index)  # checks the index
        self.selected = index
        self.handle.set_location(self.location(), self.where())
        return {"frame": self.frame_info(index)}, []

    def do_locals(self, c: Dict[str, Any]) -> Reply:
        frame = self.frame(c.get("frame"))
        limit = c.get("repr_limit", 200)

        def summaries() -> Dict[str, Any]:
            return {
                str(k): summarize(v, repr_limit=limit, value_limit=LOCALS_VALUE_LIMIT)
                for k, v in dict(frame.f_locals).items()
            }

        # The locals' reprs are the program's code: a repr that never returns is interrupted as an eval is.
        return {"locals": _native.run_interruptibly(summaries)}, []

    def do_source(self, c: Dict[str, Any]) -> Reply:
        index = self.selected if c.get("frame") is None else c["frame"]
        frame, current = self.frame(index), self.line(index)
        filename = frame.f_code.co_filename
        lines = linecache.getlines(filename, frame.f_globals)
        if not lines:
            raise RequestError("NoSource", f"no source for {filename}")
        if c.get("whole"):
            import inspect

            try:
                source, first = inspect.getsourcelines(frame.f_code)
            except (OSError, TypeError) as exc:
                raise RequestError("NoSource", str(exc)) from None
            first = max(first, 1)
            chosen = source
        else:
            context = int(c.get("context", 5))
            first = max(current - context, 1)
            chosen = lines[first - 1 : current + context]
        return {
            "file": filename,
            "first_line": first,
            "current_line": current,
            "lines": [line.rstrip("\n") for line in chosen],
        }, []

    # -- moving on -------------------------------------------------------------------
    def _check_running(self, what: str) -> None:
        if self.is_post_mortem:
            raise RequestError(
                "PostMortem",
                f"no {what} in a post-mortem (of {self.details['exception']['ename']}): "
                "its frames have finished; cont() lets the program go on",
            )

    def do_resume(self, c: Dict[str, Any]) -> Reply:
        action = c.get("action", "continue")
        check_action(action)
        line = c.get("line")
        if line is not None and (not isinstance(line, int) or isinstance(line, bool)):
            raise RequestError("TypeError", f"line must be an int, not {type(line).__name__}")
        if action != "continue":
            self._check_running(action)
        if action == "until" and line is not None and line <= self.line(0):
            # As pdb: a line at or before this one would run the frame to its end.
            raise RequestError("InvalidRequest", f"until: line {line} is not after the current line {self.line(0)}")
        self.resume = dict(c, action=action)
        return {"stop": self.server.stops}, []

    def do_jump(self, c: Dict[str, Any]) -> Reply:
        from .stepping import jump

        self._check_running("jump")
        line = int(c["line"])
        frame = self.stack[0]
        if line not in _native.code_lines(frame.f_code):
            raise RequestError("ValueError", f"line {line} is not a line of {frame.f_code.co_name}() to jump to")
        if self.in_line_event:
            jumped = jump(frame, line)
            if jumped is not True:
                raise RequestError("ValueError", jumped)
            self.handle.set_location(self.location(), self.where())  # what status and where report
            self.server.update_state()
            return {"frame": self.frame_info(0), "jumped": True}, []
        # Paused by set_trace (not in a line event): jump at the frame's next line event.
        self.resume = {"action": "jump", "line": line}
        return {"stop": self.server.stops}, []


#: The requests whose handler also takes the request's buffers.
_TAKES_BUFFERS = ("assign",)


def _join_parts(frames: List[Any], parts: Any) -> List[bytearray]:
    """The buffers a client sent in parts (``parts[i]`` frames for buffer ``i``;
    none: one frame each), each in memory of its own."""
    if parts is None:
        parts = [1] * len(frames)
    if (
        not isinstance(parts, list)
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in parts)
        or sum(parts) != len(frames)
    ):
        raise RequestError("InvalidRequest", f"parts must be positive counts of the {len(frames)} buffers sent")
    joined, start = [], 0
    for count in parts:
        views = [memoryview(frame) for frame in frames[start : start + count]]
        start += count
        buffer = bytearray(sum(view.nbytes for view in views))
        offset = 0
        for view in views:
            buffer[offset : offset + view.nbytes] = view.cast("B")
            offset += view.nbytes
        joined.append(buffer)
    return joined


def pickled(value: Any, what: str) -> Reply:
    """A fetch reply: ``value`` pickled (protocol 5) as the first buffer, its
    out-of-band buffers after it."""
    import pickle

    buffers: List[Any] = []
    try:
        data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    except BaseException as exc:  # a __reduce__ may raise anything, SystemExit too
        raise RequestError(
            type(exc).__name__ if not isinstance(exc, Exception) else "PicklingError",
            f"cannot send {what!r} ({type(value).__name__}): {type(exc).__name__}: {safe_str(exc)}",
        ) from None
    # The pickle travels as the first buffer frame: buffers have no size limit.
    raws = [data, *(_contiguous(b) for b in buffers)]
    return {"buffer_count": len(raws) - 1, "value": summarize(value, mime=False)}, raws


@functools.lru_cache(maxsize=256)
def compile_client_code(code: str, mode: str) -> types.CodeType:
    """Compiled once: clients repeat the same expressions (watches, polling)."""
    return compile(code, "<remote>", mode)


#: Captured output beyond this many characters is cut (a reply's content must
#: stay under the protocol's 64 MiB).
OUTPUT_LIMIT = 1 << 20


def _capped(text: str) -> str:
    if len(text) <= OUTPUT_LIMIT:
        return text
    return text[:OUTPUT_LIMIT] + f"\n[jupdb: output cut: {len(text) - OUTPUT_LIMIT} more characters]\n"


def _contiguous(buffer: Any) -> Any:
    try:
        return buffer.raw()
    except BufferError:  # not contiguous: one copy makes it so
        return memoryview(buffer).tobytes()
