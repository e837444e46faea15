"""A notebook cell run in a paused frame, the way IPython runs one.

The cell's statements run in the frame (what they assign is written through
to its locals, new names too); the value of a last expression is the cell's
``execute_result``; ``display()`` sends ``display_data``; what the cell's
thread prints is sent as ``stream`` events while it runs; matplotlib figures
come back as PNG (:mod:`jupdb.remote.figures`). Every event carries the
client's ``cell`` id. The program's other threads print where they always do,
and keep their stdin.
"""

from __future__ import annotations

import ast
import itertools
import linecache
import os
import sys
import threading
import time
import traceback
import types
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set

from .. import _native
from ..frames import write_back
from .figures import CellFigures, figure_bundle, is_figure
from .summary import is_mime_value, mime_bundle, safe_repr, safe_str

if TYPE_CHECKING:
    from .debuggee import DebugServer

#: A cell's text/plain repr is cut beyond this many characters (an event must
#: stay well under the protocol's 64 MiB).
TEXT_LIMIT = 1 << 20

#: What the cell prints is sent at most this long after it was written, in
#: batches: a printing loop costs a few events a second, not one per write.
STREAM_DELAY = 0.01

#: Text waiting to be sent beyond this many characters is sent at once.
STREAM_BATCH = 1 << 16

#: One stream event holds at most this many characters (a long write is sent
#: in several): an event well inside a subscriber's 2 MiB window of events.
STREAM_EVENT_LIMIT = 1 << 18

#: A long write is sent a mebibyte of text at a time, this many seconds apart.
STREAM_BURST_PAUSE = 0.005

#: A cell's stream text beyond this many characters is cut (and said so).
CELL_OUTPUT_LIMIT = 16 << 20

#: A display event whose data is larger than this is not sent, but described
#: (the protocol refuses content over 64 MiB).
DISPLAY_LIMIT = 32 << 20

_cell_numbers = itertools.count(1)


class CellError(Exception):
    """The cell failed (its code raised, or it could not be compiled): what
    the error reply says, and how many events the cell sent before."""

    def __init__(self, ename: str, evalue: str, traceback: str, events: int) -> None:
        super().__init__(evalue)
        self.ename = ename
        self.traceback = traceback
        self.events = events


class StdinNotAvailable(RuntimeError):
    """Raised by ``input()`` and reads of ``sys.stdin`` in a jupdb cell."""


NO_STDIN = (
    "input() is not available in a jupdb cell: the program's stdin is not connected to the notebook "
    "(nor read from the cell's thread, which would block the debugger)"
)


class CellEvents:
    """Publishes one cell's events, each with its ``cell`` id, and counts them.
    Stream text is sent in batches (see :data:`STREAM_DELAY`), always before
    the next display event, so the client sees everything in the order the
    cell did it."""

    def __init__(self, server: "DebugServer", cell: str, thread: int) -> None:
        self.server = server
        self.cell = cell
        self.thread = thread
        self.count = 0
        self._lock = threading.Condition()
        self._pending: List[str] = []
        self._pending_name = "stdout"
        self._pending_size = 0
        self._due = 0.0  # when the pending text must go
        self._sender: Optional[threading.Thread] = None
        self._streamed = 0  # characters sent so far
        self._cut = 0  # characters beyond CELL_OUTPUT_LIMIT, not sent
        self._closed = False

    def is_cells(self) -> bool:
        """Whether the calling thread is the cell's, and the cell still runs
        (a stream kept by the program, a logging handler say, writes where it
        wrote before once the cell has ended)."""
        return not self._closed and threading.get_ident() == self.thread

    def _publish(self, msg_type: str, content: Dict[str, Any]) -> None:
        try:
            self.server.publish(msg_type, {"cell": self.cell, **content}, self.thread)
        except KeyboardInterrupt:  # a client's interrupt of the cell, come while it printed: it stops the cell
            raise
        except BaseException as exc:  # content that cannot travel: say so instead, in the cell's stderr
            if msg_type == "stream":
                return
            note = f"[jupdb: could not send the cell's {msg_type}: {type(exc).__name__}: {safe_str(exc)}]\n"
            try:
                self.server.publish("stream", {"cell": self.cell, "name": "stderr", "text": note}, self.thread)
            except BaseException:
                return
        self.count += 1

    # -- streams -----------------------------------------------------------------------
    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self._pending and name != self._pending_name:
                self._send_pending()
            if not self._pending:
                self._due = time.monotonic() + STREAM_DELAY
            self._pending_name = name
            self._pending.append(text)
            self._pending_size += len(text)
            if self._pending_size >= STREAM_BATCH:
                self._send_pending()
            elif self._sender is None:
                self._sender = threading.Thread(target=self._send_when_due, name="jupdb-cell-output", daemon=True)
                self._sender.start()
            else:
                self._lock.notify()

    def flush(self) -> None:
        """Send the pending text now."""
        with self._lock:
            self._send_pending()

    def _send_pending(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            room = max(CELL_OUTPUT_LIMIT - self._streamed, 0)
            self._cut += max(len(text) - room, 0)
            text = text[:room]
            self._streamed += len(text)
            for n, start in enumerate(range(0, len(text), STREAM_EVENT_LIMIT)):
                if n and n % 4 == 0:
                    # A burst (one long write): let the server send some before queueing more,
                    # as it drops what waits beyond a few MiB for a subscriber.
                    time.sleep(STREAM_BURST_PAUSE)
                self._publish("stream", {"name": self._pending_name, "text": text[start : start + STREAM_EVENT_LIMIT]})

    def _send_when_due(self) -> None:
        """The sender thread: sends pending text once it is due, until the cell ends."""
        with self._lock:
            while not self._closed:
                if not self._pending:
                    self._lock.wait()
                    continue
                left = self._due - time.monotonic()
                if left > 0:
                    self._lock.wait(left)
                    continue
                try:
                    self._send_pending()
                except BaseException:  # nothing may raise into the program, not even from this thread
                    self._pending.clear()

    # -- rich output -------------------------------------------------------------------
    def display(self, msg_type: str, data: Dict[str, Any]) -> None:
        """A ``display_data`` or ``execute_result`` event, after the text printed before it."""
        size = sum(len(v) for v in data.values() if isinstance(v, (str, bytes)))
        if size > DISPLAY_LIMIT:
            kinds = ", ".join(sorted(data))
            data = {"text/plain": f"[jupdb: not shown: {size} bytes of {kinds}, more than a message may carry]"}
        with self._lock:
            self._send_pending()
            self._publish(msg_type, {"data": data, "metadata": {}})

    def close(self) -> int:
        """Send what is pending, stop the sender thread; the number of events sent."""
        with self._lock:
            self._closed = True
            self._send_pending()
            if self._cut:
                note = f"\n[jupdb: output cut: {self._cut} more characters]\n"
                self._publish("stream", {"name": "stderr", "text": note})
            self._lock.notify()
        if self._sender is not None:
            self._sender.join()
        return self.count


class _CellStream:
    """``sys.stdout`` / ``sys.stderr`` while a cell runs: the cell's thread's
    writes become ``stream`` events, every other thread's go where they went."""

    def __init__(self, original: Any, name: str, events: CellEvents) -> None:
        self.original = original
        self.name = name
        self.events = events

    def write(self, text: str) -> int:
        if not self.events.is_cells():
            return self.original.write(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.events.stream(self.name, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.events.is_cells():
            self.original.flush()
        else:
            self.events.flush()

    def isatty(self) -> bool:
        if not self.events.is_cells():
            return bool(self.original.isatty())
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _CellStdin:
    """``sys.stdin`` while a cell runs: reading it in the cell's thread fails at
    once (nothing would ever answer); other threads read the program's stdin."""

    def __init__(self, original: Any, events: CellEvents) -> None:
        self.original = original
        self.events = events

    def _refuse(self) -> None:
        if self.events.is_cells():
            raise StdinNotAvailable(NO_STDIN)

    def read(self, *args: Any) -> Any:
        self._refuse()
        return self.original.read(*args)

    def readline(self, *args: Any) -> Any:
        self._refuse()
        return self.original.readline(*args)

    def readlines(self, *args: Any) -> Any:
        self._refuse()
        return self.original.readlines(*args)

    def fileno(self) -> int:
        self._refuse()
        return self.original.fileno()

    def __iter__(self) -> Any:
        self._refuse()
        return iter(self.original)

    def __next__(self) -> Any:
        self._refuse()
        return next(self.original)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _CellNamespace(dict):  # type: ignore[type-arg]
    """The globals a cell runs in: the frame's locals (copied), then the
    frame's real globals, looked up live. One namespace, so that what the
    cell defines sees the frame's locals: a generator expression, a lambda or
    a function of the cell (``sum(x for x in xs if x > limit)``) finds
    ``limit``, which it would not with separate locals."""

    def __init__(self, locals: Dict[str, Any], globals: Dict[str, Any]) -> None:
        super().__init__(locals)
        self.globals = globals

    def __missing__(self, name: str) -> Any:
        return self.globals[name]


class CellRun:
    """One cell, run on the paused thread in ``frame``."""

    def __init__(self, server: "DebugServer", frame: types.FrameType, code: str, cell: str) -> None:
        self.frame = frame
        self.code = code
        self.thread = threading.get_ident()
        self.filename = f"<jupdb-cell-{next(_cell_numbers)}>"
        self.events = CellEvents(server, cell, self.thread)
        self.figures = CellFigures(self.thread, self._send_figure)

    # -- output --------------------------------------------------------------------------
    def bundle(self, obj: Any) -> Dict[str, Any]:
        """``obj`` as a notebook shows it: its MIME bundle and text/plain."""
        if is_figure(obj):
            try:
                data = figure_bundle(obj)
                self.figures.shown(obj)
                return data
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a figure that cannot draw itself: its repr, and why
                text = f"{safe_repr(obj)[0]}\n[jupdb: could not draw it: {type(exc).__name__}: {safe_str(exc)}]"
                return {"text/plain": text}
        data = mime_bundle(obj)
        text, truncated = safe_repr(obj, TEXT_LIMIT)
        data["text/plain"] = text + ("…" if truncated else "")
        return data

    def display(self, *objs: Any, raw: bool = False, **ignored: Any) -> None:
        """Show each object in the notebook, as IPython's ``display`` does
        (``raw=True``: the objects are MIME bundles already; its other keyword
        arguments are accepted and ignored)."""
        for obj in objs:
            if raw and isinstance(obj, dict):
                data = {k: v for k, v in obj.items() if isinstance(k, str) and is_mime_value(k, v)}
            else:
                data = self.bundle(obj)
            self.events.display("display_data", data)

    def _send_figure(self, fig: Any) -> None:
        try:
            data = figure_bundle(fig)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self.events.stream("stderr", f"[jupdb: could not draw {safe_repr(fig)[0]}: {type(exc).__name__}]\n")
            return
        self.events.display("display_data", data)

    # -- running -------------------------------------------------------------------------
    def run(self) -> int:
        """Run the cell; the number of events it sent. CellError if it failed."""
        try:
            body, last, declared_global = self._compile()
        except SyntaxError as exc:
            text = "".join(traceback.format_exception_only(type(exc), exc))
            raise CellError("SyntaxError", safe_str(exc), text, self.events.close()) from None
        frame = self.frame
        module_level = frame.f_locals is frame.f_globals
        if module_level:  # IPython's own case: the cell runs in the module's globals
            before: Dict[str, Any] = {}
            namespace: Dict[str, Any] = frame.f_globals
        else:
            before = dict(frame.f_locals)
            namespace = _CellNamespace(before, frame.f_globals)
            namespace["__builtins__"] = frame.f_builtins
        injected = "display" not in namespace
        if injected:
            namespace["display"] = self.display
        failure: Optional[BaseException] = None
        handled = sys.exc_info()[1]  # a post-mortem's exception: not the context of the cell's
        streams = self._redirect()
        try:
            self.figures.start()
            _native.run_interruptibly(self._execute, body, last, namespace)
        except BaseException as exc:  # even SystemExit or KeyboardInterrupt: a cell never ends the program
            failure = exc
        try:
            self.figures.finish()
        except BaseException as exc:
            failure = failure or exc
        self._restore(streams)
        try:
            if injected and namespace.get("display") == self.display:
                del namespace["display"]
            if not module_level:  # even after an error: what ran before it stays done, as in IPython
                self._write_back(before, namespace, declared_global)
        except BaseException as exc:
            failure = failure or exc
        count = self.events.close()
        if failure is not None:
            raise self._error(failure, handled, count)
        return count

    def _compile(self) -> "tuple[types.CodeType, Optional[types.CodeType], Set[str]]":
        """The cell's statements, and its last expression apart (None if it
        ends with a statement or a ``;``, as IPython shows no value then),
        compiled under the cell's own file name, which linecache knows:
        tracebacks show the cell's lines. Also the names the cell declares
        ``global``."""
        source = self.code
        linecache.cache[self.filename] = (len(source), None, source.splitlines(True), self.filename)
        tree = ast.parse(source, self.filename, "exec")
        declared = {name for node in tree.body if isinstance(node, ast.Global) for name in node.names}
        last: Optional[types.CodeType] = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not _ends_with_semicolon(source, tree.body[-1]):
            expression = ast.Expression(tree.body.pop().value)  # type: ignore[attr-defined]
            last = compile(expression, self.filename, "eval")
        return compile(tree, self.filename, "exec"), last, declared

    def _execute(self, body: types.CodeType, last: Optional[types.CodeType], namespace: Dict[str, Any]) -> None:
        """The cell's code, then its value shown (all of it interruptible)."""
        exec(body, namespace)
        if last is not None:
            value = eval(last, namespace)
            if value is not None:
                self.events.display("execute_result", self.bundle(value))

    def _redirect(self) -> "tuple[Any, Any, Any]":
        """Put the cell's streams in place; what they replace."""
        originals = (sys.stdout, sys.stderr, sys.stdin)
        sys.stdout = _CellStream(originals[0], "stdout", self.events)
        sys.stderr = _CellStream(originals[1], "stderr", self.events)
        sys.stdin = _CellStdin(originals[2], self.events)
        return originals

    @staticmethod
    def _restore(originals: "tuple[Any, Any, Any]") -> None:
        """Put the streams back, unless someone else replaced ours meanwhile."""
        for name, original in zip(("stdout", "stderr", "stdin"), originals, strict=False):
            current = getattr(sys, name)
            if isinstance(current, (_CellStream, _CellStdin)) and current.original is original:
                setattr(sys, name, original)

    def _write_back(self, before: Dict[str, Any], namespace: Dict[str, Any], declared_global: Set[str]) -> None:
        """What the cell bound, rebound or deleted, into the frame's locals (its
        ``global`` names into the frame's globals)."""
        after = {k: v for k, v in namespace.items() if k != "__builtins__"}
        for name in declared_global:
            if name in after:
                self.frame.f_globals[name] = after.pop(name)
            before.pop(name, None)
        kept = write_back(self.frame, before, after)
        if kept:
            names = ", ".join(kept)
            why = "this Python cannot unbind a running function's locals"
            self.events.stream("stderr", f"[jupdb: del {names}: {why}; kept]\n")

    def _users_traceback(self, tb: Optional[types.TracebackType]) -> Optional[types.TracebackType]:
        """``tb`` from the cell's first line on, without the debugger's frames
        (those of this module that ran it, of ``display``, of ``input``'s refusal)."""
        while tb is not None and tb.tb_frame.f_code.co_filename != self.filename:
            tb = tb.tb_next
        kept = []
        while tb is not None:
            if not _is_jupdbs(tb.tb_frame.f_code):
                kept.append(tb)
            tb = tb.tb_next
        rebuilt: Optional[types.TracebackType] = None
        for entry in reversed(kept):
            rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
        return rebuilt

    def _error(self, exc: BaseException, handled: Optional[BaseException], events: int) -> CellError:
        """The error reply for an exception from the cell: its traceback from
        the cell's first line on (not the debugger's frames around it)."""
        if exc.__context__ is handled:
            exc.__context__ = None
        if isinstance(exc, KeyboardInterrupt) and not exc.args:
            exc.args = ("interrupted",)  # by a client's interrupt
        try:
            text = "".join(traceback.format_exception(type(exc), exc, self._users_traceback(exc.__traceback__)))
        except BaseException:  # an exception whose str() raises, say
            text = f"{type(exc).__name__}: {safe_str(exc)}\n"
        return CellError(type(exc).__name__, safe_str(exc), text, events)


_JUPDB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_jupdbs(code: types.CodeType) -> bool:
    return code.co_filename.startswith(_JUPDB_DIR + os.sep)


def _ends_with_semicolon(source: str, node: ast.stmt) -> bool:
    """Whether the statement ``node`` is followed by ``;`` in ``source``."""
    lines = source.splitlines()
    end_line, end_col = node.end_lineno or node.lineno, node.end_col_offset or 0
    if end_line > len(lines):
        return False
    rest = lines[end_line - 1].encode("utf-8", "surrogatepass")[end_col:]  # ast's columns count UTF-8 bytes
    return rest.lstrip().startswith(b";")


def run_cell(server: "DebugServer", frame: types.FrameType, code: str, cell: str) -> int:
    """Run ``code`` in ``frame`` as a notebook cell whose events carry ``cell``;
    the number of events sent. CellError when it fails."""
    return CellRun(server, frame, code, cell).run()
