"""The live panel: a notebook widget that shows a debugged program and follows it.

    panel = jupdb.widget()       # the most recently paused program (or session.widget())
    panel                        # where it is, its source, stack, variables, watches, output

The panel is an anywidget model: its traits hold what the program looks like, and
``panel.js`` (one ES module, shipped beside this file) draws them and sends the
user's clicks back as custom messages.

The panel opens a :class:`~jupdb.remote.session.Session` of its own to the program,
so that its event reader never takes the events of the user's session. Two daemon
threads serve it: the *reader* waits for the program's events, and the *worker*
does everything else, in order: it turns events into traits (a ``paused`` event
into the new location, source, stack, variables and watches), and runs the
front end's commands. So a click never blocks the kernel, only the worker talks
to the program, and only the worker sets traits. A step asked for here, in
another cell or in a terminal is shown the same way: by the ``paused`` event it
ends with.
"""

from __future__ import annotations

import ast
import atexit
import collections
import functools
import importlib.resources
import os
import queue
import threading
import time
import weakref
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

try:
    import anywidget
    import traitlets
except ImportError as exc:  # an optional dependency of jupdb's: say which
    raise ImportError(f"the jupdb panel needs anywidget (pip install anywidget): {exc}") from exc

from ..remote.session import RemoteError, Session, SessionLost, connect, jupyter_bundle

#: Source lines shown each side of the current line.
SOURCE_CONTEXT = 8
#: Lines of the program's output kept (and characters of one line).
OUTPUT_LINES = 200
OUTPUT_LINE_CHARS = 10_000
#: At most this many children of a container are fetched when it is expanded,
#: variables of a frame shown (a module's frame has all its globals), and
#: expanded containers kept up to date at each stop.
CHILDREN_LIMIT = 100
VARIABLES_LIMIT = 200
EXPANDED_LIMIT = 20
#: Characters of each value's repr.
REPR_LIMIT = 200
#: The front end gets the program's output at most this often (seconds).
OUTPUT_INTERVAL = 0.1
#: How often the reader looks whether it should stop, or the program still lives.
POLL_INTERVAL = 0.25
#: Seconds a request that refreshes the panel may take (the expression box's
#: take the session's timeout). Short, so that a request the program never
#: answers — one that reached a thread as it resumed — holds the panel back
#: only briefly: its next stop is shown anyway.
REFRESH_TIMEOUT = 3.0

#: Values with no parts worth expanding (by their summary's type).
_ATOMS = {
    "int",
    "float",
    "complex",
    "bool",
    "NoneType",
    "str",
    "bytes",
    "bytearray",
    "function",
    "builtin_function_or_method",
    "method",
}

#: The buttons of the panel, as resume actions of the protocol.
_RESUME_ACTIONS = ("continue", "step", "next", "finish")

Job = Tuple[Any, ...]

#: Open panels, closed at exit: a reader thread still waiting in the extension
#: when the interpreter ends would take the process down with it.
_OPEN: "weakref.WeakSet[Panel]" = weakref.WeakSet()


@atexit.register
def _stop_open_panels() -> None:
    for panel in list(_OPEN):
        panel._stop()


def _module_text() -> str:
    """panel.js, read as package data (so it is found in a wheel, a zip, a checkout)."""
    return importlib.resources.files(__package__).joinpath("panel.js").read_text(encoding="utf-8")


def _pairs_expression(expr: str) -> str:
    """Code that evaluates to the first CHILDREN_LIMIT ``(label, value)`` parts of
    ``expr``: a dict's items, a list's, tuple's or set's elements, an object's
    attributes. Everything is in the first iterable or in the lambda, which
    closes over its arguments, so it runs the same in any frame, whatever the
    Python version's comprehension scopes."""
    return (
        "(lambda o, islice=__import__('itertools').islice,"
        " label=__import__('jupdb.remote.summary', fromlist=['safe_repr']).safe_repr:"
        " list(islice("
        "((label(k, 80)[0], v) for k, v in o.items()) if isinstance(o, dict)"
        " else ((str(i), v) for i, v in enumerate(o)) if isinstance(o, (list, tuple, set, frozenset))"
        " else ((str(k), v) for k, v in vars(o).items()) if hasattr(o, '__dict__')"
        f" else (), {CHILDREN_LIMIT})))({expr})"
    )


def _children_expression(expr: str) -> str:
    """Code that evaluates to ``[(label, summary), ...]`` of ``expr``'s parts; its
    repr is a Python literal (strings, numbers, lists and dicts of them). The
    summaries leave out the scalars' ``value`` (the panel shows reprs): a
    float's may be ``nan`` or ``inf``, which are no literals."""
    return (
        "(lambda pairs, summarize=__import__('jupdb.remote.summary', fromlist=['summarize']).summarize:"
        f" [(k, {{f: x for f, x in summarize(v, repr_limit={REPR_LIMIT}).items() if f != 'value'}})"
        f" for k, v in pairs])({_pairs_expression(expr)})"
    )


def path_expression(path: Any) -> str:
    """The expression of a value in the variables tree: ``path`` is a local's name,
    then the positions of parts, as panel.js sends it. ValueError when it is not
    such a path."""
    if not isinstance(path, list) or not path or not isinstance(path[0], str) or not path[0].isidentifier():
        raise ValueError(f"not a variable's path: {path!r}")
    expr = path[0]
    for step in path[1:]:
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < CHILDREN_LIMIT:
            raise ValueError(f"not a variable's path: {path!r}")
        expr = f"{_pairs_expression(expr)}[{step}][1]"
    return expr


def path_key(path: List[Any]) -> str:
    """How a path names its node in the ``children`` trait (and in panel.js)."""
    return "/".join(str(step) for step in path)


def expandable(summary: Dict[str, Any]) -> bool:
    """Whether a value (by its summary) may have parts to show."""
    return summary.get("type") not in _ATOMS and summary.get("len") != 0


def _entry(summary: Dict[str, Any], **extra: Any) -> Dict[str, Any]:
    """A value as the front end gets it: its summary and whether it can be expanded."""
    return {**summary, **extra, "expandable": expandable(summary)}


def _mime_for_browser(bundle: Dict[str, Any]) -> Dict[str, str]:
    """A MIME bundle's text and binary (base64) representations, which panel.js shows."""
    return {mime: data for mime, data in jupyter_bundle(bundle).items() if isinstance(data, str)}


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, RemoteError):
        return f"{exc.ename}: {exc.evalue}"
    return f"{type(exc).__name__}: {exc}"


class Panel(anywidget.AnyWidget):  # type: ignore[misc]  # anywidget is typed Any where the checks run
    """A live view of a debugged program; see :func:`widget`.

    Its traits are what panel.js draws: ``state`` (``"connecting"``, ``"paused"``,
    ``"running"``, ``"ended"``), the ``thread`` it follows and the program's
    ``threads``, the ``location`` it is paused at, the ``source`` around it, the
    ``stack`` and selected ``frame``, that frame's ``variables`` and the parts of
    the expanded ones (``children``), the ``watches``, the ``result`` of the
    expression box, the program's recent ``output``, and a ``message`` when
    something the user asked failed. :meth:`close` disconnects it.
    """

    _esm = _module_text()

    program = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("connecting").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    #: Thread ids are strings: JavaScript numbers cannot hold every 64-bit id.
    thread = traitlets.Unicode("").tag(sync=True)
    pinned = traitlets.Bool(False).tag(sync=True)
    threads = traitlets.List().tag(sync=True)
    location = traitlets.Dict().tag(sync=True)
    source = traitlets.Dict().tag(sync=True)
    stack = traitlets.List().tag(sync=True)
    frame = traitlets.Int(0).tag(sync=True)
    variables = traitlets.List().tag(sync=True)
    children = traitlets.Dict().tag(sync=True)
    watches = traitlets.List().tag(sync=True)
    result = traitlets.Dict().tag(sync=True)
    output = traitlets.List().tag(sync=True)

    def __init__(self, session: Session, **kwargs: Any) -> None:
        """Follow the program of ``session``, a session the panel owns from now
        on (it closes it when it closes)."""
        super().__init__(**kwargs)
        self._session = session
        self.program = " ".join([f"pid {session.pid}:", *(session.info.get("argv") or [])])
        self._jobs: "queue.Queue[Job]" = queue.Queue()
        self._stopping = threading.Event()
        self._followed: Optional[int] = None  # the thread shown
        self._pinned: Optional[int] = None  # the thread the user chose (None: the latest stop)
        self._paused: Dict[int, Dict[str, Any]] = {}  # paused threads: their stop (location, reason, …)
        self._expanded: List[List[Any]] = []  # paths of the expanded nodes, oldest first
        self._lines: Deque[List[str]] = collections.deque(maxlen=OUTPUT_LINES)
        self._output_pending = False
        self._output_sent = 0.0
        self.on_msg(self._on_message)
        self._worker = threading.Thread(target=self._work, name="jupdb-panel-worker", daemon=True)
        self._reader = threading.Thread(target=self._read, name="jupdb-panel-reader", daemon=True)
        _OPEN.add(self)
        self._worker.start()
        self._reader.start()

    def __repr__(self) -> str:
        # What a front end without widgets (nbconvert, a terminal) shows.
        where = self.location
        at = f" at {os.path.basename(where['file'])}:{where['line']}" if self.state == "paused" and where else ""
        return f"<jupdb panel of {self.program}: {self.state}{at}>"

    # -- life --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop following the program and close the panel's session (the program
        is not affected), then close the widget."""
        self._stop()
        super().close()

    def _stop(self) -> None:
        _OPEN.discard(self)
        self._stopping.set()
        self._jobs.put(("stop",))
        for thread in (self._worker, self._reader):
            if thread is not threading.current_thread():
                thread.join(POLL_INTERVAL * 4)
        self._session.close()

    def settle(self, timeout: Optional[float] = None) -> bool:
        """Wait until the panel has shown every event and done every command it
        had received when called (for scripts and benchmarks); False if that
        took longer than ``timeout`` seconds, or the panel has stopped."""
        done = threading.Event()
        self._jobs.put(("settled", done))
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(POLL_INTERVAL):
            if not self._worker.is_alive() or (deadline is not None and time.monotonic() >= deadline):
                return False
        return True

    def command(self, content: Dict[str, Any]) -> None:
        """Do what panel.js asks, ``{"do": <what>, ...}``, soon, in the panel's
        worker thread (so the caller never waits for the program); what fails
        is said in ``message``. ``<what>``: ``continue``, ``step``, ``next``,
        ``finish``, ``pause``; ``frame`` (``index``); ``thread`` (``id``, ""
        for the latest stop); ``expand`` / ``collapse`` (``path``: a variable's
        name, then the positions of its parts); ``eval`` (``code``); ``watch``
        (``expression``); ``unwatch`` (``id``)."""
        self._jobs.put(("command", content))

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        """A message from panel.js (in the kernel's thread)."""
        if isinstance(content, dict) and "do" in content:  # not anywidget's own messages
            self.command(content)

    def _read(self) -> None:
        """The reader thread: hands the program's events to the worker."""
        next_event = self._session.next_event  # the panel's own session: no one else reads it
        while not self._stopping.is_set():
            try:
                event = next_event(POLL_INTERVAL)
            except Exception as exc:  # the connection is gone: the worker says so
                self._jobs.put(("lost", _error_text(exc)))
                return
            if event is None:
                if not self._session.alive():
                    self._jobs.put(("lost", f"the program (pid {self._session.pid}) has ended"))
                    return
                continue
            msg_type, content, _, thread = event
            self._jobs.put(("event", msg_type, content, content.get("thread", thread)))
            if msg_type == "exited":
                return

    # -- the worker ----------------------------------------------------------------------
    def _work(self) -> None:
        """The worker thread: the panel's state first, then events and commands in order."""
        self._guarded(self._load)
        while True:
            jobs = self._next_jobs()
            for index, job in enumerate(jobs):
                if job[0] == "stop":
                    return
                if job[0] == "event" and job[1] == "paused" and _superseded(jobs, index):
                    continue  # a later event of the same thread says more: show that one
                self._guarded(functools.partial(self._do, job))
            self._guarded(self._send_output)
            if self.state == "ended":  # nothing more will happen
                self._stopping.set()
                return

    def _next_jobs(self) -> List[Job]:
        """Waits for a job (or until output is due); returns every job waiting."""
        wait = None
        if self._output_pending:
            wait = max(self._output_sent + OUTPUT_INTERVAL - time.monotonic(), 0.0)
        try:
            jobs = [self._jobs.get(timeout=wait)]
        except queue.Empty:
            return []
        while True:
            try:
                jobs.append(self._jobs.get_nowait())
            except queue.Empty:
                return jobs

    def _guarded(self, work: Callable[[], None]) -> None:
        """Runs ``work``; what fails is said in ``message``, never raised."""
        try:
            work()
        except SessionLost as exc:
            self._end(str(exc))
        except (RemoteError, ConnectionError, TimeoutError, ValueError, TypeError, KeyError) as exc:
            self.message = _error_text(exc)
        except Exception as exc:  # a bug here must not stop the panel
            self.message = f"jupdb panel: {_error_text(exc)}"

    def _do(self, job: Job) -> None:
        kind = job[0]
        if kind == "event":
            self._on_event(job[1], job[2], job[3])
        elif kind == "command":
            self._on_command(job[1])
        elif kind == "lost":
            self._end(job[1])
        elif kind == "settled":
            job[1].set()

    def _end(self, why: str) -> None:
        with self.hold_sync():
            self.state = "ended"
            self.message = why

    def _load(self) -> None:
        """What the program looks like now: the latest stop, if a thread is paused."""
        self._refresh_threads()
        paused = self._session.status().get("paused_threads") or []
        if paused:  # in the order they paused: the last is the latest stop
            latest = paused[-1]["id"]
            self._show(latest, self._paused.get(latest) or {"location": paused[-1].get("location")})
        else:
            self.state = "running"

    # -- events ----------------------------------------------------------------------------
    def _on_event(self, msg_type: str, content: Dict[str, Any], thread: Optional[int]) -> None:
        if msg_type == "output":
            self._add_output(content.get("name", "stdout"), content.get("text", ""))
            if content.get("dropped"):
                self._add_output("stderr", f"[jupdb: {content['dropped']} bytes of output were dropped]\n")
        elif msg_type == "dropped":
            self._add_output("stderr", f"[jupdb: {content.get('events', 0)} events were dropped]\n")
        elif msg_type == "exited":
            code = content.get("exit_code")
            self._end(f"the program exited{'' if code is None else f' with code {code}'}")
        elif msg_type == "paused" and thread is not None:
            self._paused[thread] = content
            if self._pinned in (None, thread):
                self._show(thread, content)
            else:
                self._refresh_threads()
        elif msg_type == "resumed" and thread is not None:
            self._paused.pop(thread, None)
            if thread == self._followed:
                self.state = "running"
            self._refresh_threads()

    def _show(self, thread: int, stop: Dict[str, Any]) -> None:
        """Show the stop of ``thread``: location and source first (what a step
        changes), then the stack, variables and watches."""
        self._followed = thread
        source = self._source(0)
        location = dict(stop.get("location") or {}, reason=stop.get("reason"), stop=stop.get("stop"))
        with self.hold_sync():
            self.thread = str(thread)
            self.state = "paused"
            self.frame = 0
            self.location = location
            self.source = source
            self.message = ""
        reply, _ = self._request("where")
        self.stack = [
            {key: frame.get(key) for key in ("index", "file", "line", "function")} for frame in reply["frames"]
        ]
        self._show_values(stop.get("watches"))
        self._refresh_threads()

    def _show_values(self, watches: Optional[List[Dict[str, Any]]] = None) -> None:
        """The variables of the selected frame, its expanded parts and the watches
        (``watches``: as a ``paused`` event reports them, else evaluated here)."""
        reply, _ = self._request("locals", {"frame": self.frame, "repr_limit": REPR_LIMIT})
        names = list(reply["locals"])[:VARIABLES_LIMIT]
        self.variables = [_entry(reply["locals"][name], name=name) for name in names]
        self._expanded = [path for path in self._expanded if path[0] in names]
        self.children = {path_key(path): self._children(path) for path in self._expanded}
        if watches is None:
            watches = [self._evaluate_watch(w["id"], w["expression"]) for w in self.watches]
        self.watches = [_watch_entry(w) for w in watches]

    def _source(self, frame: int) -> Dict[str, Any]:
        try:
            reply, _ = self._request("source", {"frame": frame, "context": SOURCE_CONTEXT})
        except RemoteError as exc:
            if exc.ename == "NotPaused":
                raise  # it moved on: its next stop will be shown
            return {"error": _error_text(exc)}  # no source (code built at run time, say)
        return {key: reply[key] for key in ("file", "first_line", "current_line", "lines")}

    def _children(self, path: List[Any]) -> Dict[str, Any]:
        """The parts of the value at ``path``, as the ``children`` trait holds them."""
        try:
            reply, _ = self._request(
                "eval",
                {
                    "code": _children_expression(path_expression(path)),
                    "frame": self.frame,
                    "repr_limit": 1 << 24,
                    "mime": False,
                },
            )
            parts = ast.literal_eval(reply["value"]["repr"])
        except (RemoteError, ValueError, SyntaxError) as exc:
            return {"items": [], "error": _error_text(exc)}
        return {"items": [_entry(summary, label=label) for label, summary in parts]}

    def _evaluate_watch(self, id: int, expression: str) -> Dict[str, Any]:
        try:
            reply, _ = self._request("eval", {"code": expression, "frame": self.frame, "repr_limit": REPR_LIMIT})
        except RemoteError as exc:
            return {"id": id, "expression": expression, "error": {"ename": exc.ename, "evalue": exc.evalue}}
        return {"id": id, "expression": expression, "value": reply["value"]}

    def _refresh_threads(self) -> None:
        reply, _ = self._session.request("threads")
        threads = []
        for info in reply["threads"]:
            if info.get("paused"):
                self._paused.setdefault(info["id"], info)
            else:
                self._paused.pop(info["id"], None)
            threads.append({"id": str(info["id"]), "name": info.get("name", ""), "paused": bool(info.get("paused"))})
        self.threads = threads

    def _request(
        self, msg_type: str, content: Optional[Dict[str, Any]] = None, timeout: Optional[float] = REFRESH_TIMEOUT
    ) -> Tuple[Dict[str, Any], Any]:
        """A request to the thread shown (a paused thread's requests need it);
        ``timeout`` None: the session's."""
        return self._session.request(msg_type, content, thread=self._followed, timeout=timeout)

    # -- output ----------------------------------------------------------------------------
    def _add_output(self, name: str, text: str) -> None:
        for piece in text.splitlines(keepends=True):
            last = self._lines[-1] if self._lines else None
            if last is not None and last[0] == name and not last[1].endswith("\n"):
                last[1] = (last[1] + piece)[-OUTPUT_LINE_CHARS:]
            else:
                self._lines.append([name, piece[-OUTPUT_LINE_CHARS:]])
        self._output_pending = True

    def _send_output(self) -> None:
        """Sends the output to the front end, at most every OUTPUT_INTERVAL."""
        if self._output_pending and time.monotonic() >= self._output_sent + OUTPUT_INTERVAL:
            self.output = [list(line) for line in self._lines]
            self._output_pending = False
            self._output_sent = time.monotonic()

    # -- commands ------------------------------------------------------------------------
    def _on_command(self, command: Any) -> None:
        """A click or an entry in panel.js (see :meth:`command`)."""
        if not isinstance(command, dict):
            raise ValueError(f"a panel command is a dict, not {command!r}")
        what = command.get("do")
        self.message = ""
        if what in _RESUME_ACTIONS:
            self._resume(what)
        elif what == "pause":
            self._pause()
        elif what == "frame":
            self._select_frame(_int(command, "index"))
        elif what == "thread":
            self._select_thread(_text(command, "id"))
        elif what == "expand":
            self._expand(command.get("path"))
        elif what == "collapse":
            self._collapse(command.get("path"))
        elif what == "eval":
            self._evaluate(_text(command, "code"))
        elif what == "watch":
            self._watch(_text(command, "expression"))
        elif what == "unwatch":
            self._unwatch(_int(command, "id"))
        else:
            raise ValueError(f"unknown panel command {what!r}")

    def _resume(self, action: str) -> None:
        if self._followed is None or self._followed not in self._paused:
            raise ValueError(f"{action}: the thread shown is not paused")
        self._request("resume", {"action": action})  # the new stop comes as a paused event
        self._paused.pop(self._followed, None)  # a second click before it stops is refused
        self.state = "running"

    def _pause(self) -> None:
        thread = self._pinned if self._pinned is not None else self._followed
        reply, _ = self._session.request("pause", {} if thread is None else {"thread": thread})
        if reply.get("paused"):  # it was paused already: show it
            self._show(reply["thread"], reply)

    def _select_frame(self, index: int) -> None:
        if not 0 <= index < len(self.stack):
            raise ValueError(f"there is no frame {index}")
        self.frame = index
        self.source = self._source(index)
        self._show_values()

    def _select_thread(self, id: str) -> None:
        """Follow thread ``id`` ("": the thread of the latest stop, as at first)."""
        if not id:
            self._pinned = None
            self.pinned = False
            return
        thread = int(id)
        self._refresh_threads()
        if str(thread) not in {t["id"] for t in self.threads}:
            raise ValueError(f"there is no thread {id}")
        self._pinned = thread
        self.pinned = True
        if thread in self._paused:
            self._show(thread, self._paused[thread])
        else:
            with self.hold_sync():
                self._followed = thread
                self.thread = id
                self.state = "running"

    def _expand(self, path: Any) -> None:
        path_expression(path)  # checks it
        if path[0] not in {v["name"] for v in self.variables}:
            raise ValueError(f"no variable {path[0]!r} in this frame")
        self._expanded = [p for p in self._expanded if p != path][-(EXPANDED_LIMIT - 1) :] + [path]
        self.children = {**self.children, path_key(path): self._children(path)}

    def _collapse(self, path: Any) -> None:
        self._expanded = [p for p in self._expanded if p[: len(path)] != path] if isinstance(path, list) else []
        kept = {path_key(p) for p in self._expanded}
        self.children = {key: value for key, value in self.children.items() if key in kept}

    def _evaluate(self, code: str) -> None:
        """The expression box: the value's MIME bundle (HTML, PNG, text), or the error."""
        try:
            reply, _ = self._request("eval", {"code": code, "frame": self.frame, "mime": True}, timeout=None)
        except RemoteError as exc:
            self.result = {"code": code, "error": f"{exc.ename}: {exc.evalue}", "traceback": exc.remote_traceback}
            return
        value = reply["value"]
        data = {"text/plain": value["repr"] + ("…" if value.get("truncated") else ""), **value.get("mime", {})}
        self.result = {
            "code": code,
            "data": _mime_for_browser(data),
            "stdout": reply.get("stdout", ""),
            "stderr": reply.get("stderr", ""),
        }

    def _watch(self, expression: str) -> None:
        if not expression.strip():
            raise ValueError("a watch needs an expression")
        reply, _ = self._session.request("watch", {"expression": expression})
        id = reply["watch"]["id"]
        entry = self._evaluate_watch(id, expression) if self.state == "paused" else {"id": id, "expression": expression}
        self.watches = [w for w in self.watches if w["id"] != id] + [_watch_entry(entry)]

    def _unwatch(self, id: int) -> None:
        self._session.request("unwatch", {"id": id})
        self.watches = [w for w in self.watches if w["id"] != id]


def _superseded(jobs: List[Job], index: int) -> bool:
    """Whether a later job in ``jobs`` is a paused or resumed event of the same
    thread as the paused event ``jobs[index]``."""
    thread = jobs[index][3]
    return any(job[0] == "event" and job[1] in ("paused", "resumed") and job[3] == thread for job in jobs[index + 1 :])


def _watch_entry(watch: Dict[str, Any]) -> Dict[str, Any]:
    """A watch as the front end gets it: ``value`` (a summary) or ``error`` (text)."""
    entry: Dict[str, Any] = {"id": watch["id"], "expression": watch["expression"]}
    if "value" in watch:
        entry["value"] = watch["value"]
    elif "error" in watch:
        error = watch["error"]
        entry["error"] = (
            f"{error.get('ename', 'Error')}: {error.get('evalue', '')}" if isinstance(error, dict) else error
        )
    return entry


def _int(command: Dict[str, Any], field: str) -> int:
    value = command.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{command.get('do')}: {field} must be an integer, not {value!r}")
    return value


def _text(command: Dict[str, Any], field: str) -> str:
    value = command.get(field)
    if not isinstance(value, str):
        raise ValueError(f"{command.get('do')}: {field} must be text, not {value!r}")
    return value


def widget(session: Optional[Session] = None) -> Panel:
    """A live panel of a debugged program, for a notebook.

    Shows whether it runs or where it is paused (and which thread), the source
    around the current line, the stack (click a frame to select it), the
    selected frame's variables (containers expand), watches, an expression box
    whose result is shown richly, the buttons continue, step, next, return and
    pause, a thread selector and the program's recent output. It follows the
    program as it moves, whoever moves it: this panel, another cell, a terminal.

    Args:
        session: The program to show; None for the most recently paused one
            (as :func:`jupdb.connect` finds it). The panel connects to it
            with a session of its own; ``session`` is not used further.
    """
    own = connect() if session is None else Session(session.info, timeout=session.timeout, path=session.path)
    return Panel(own)
