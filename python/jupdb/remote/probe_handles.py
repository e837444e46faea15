"""The client's side of remote probes: handles and live lists.

``Session.capture_calls`` returns a :class:`RemoteCalls`, a sequence that
grows as calls return in the program; ``Session.capture_call`` a
:class:`RemoteCall` whose attributes are the latest call's;
``Session.breakpoint`` a :class:`RemoteBreakpoint`. They fill by themselves:
a :class:`ProbeReader` thread per session reads the probe events (which the
transport keeps apart from the others, so ``wait`` never misses a pause for
them) and acknowledges them, which lets the program send more.
"""

from __future__ import annotations

import atexit
import bisect
import html
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Union, overload

from . import render
from .value import RemoteValue

if TYPE_CHECKING:
    from .session import Session

#: The client acknowledges a probe's hits at least every this many (and
#: whenever no event came for a moment): the program sends at most 1000 unacknowledged.
ACK_EVERY = 100

#: Rows a live table shows in a notebook (the latest ones).
TABLE_ROWS = 20


class HitError:
    """What an expression (or the condition, or an ``exec``) raised at one hit."""

    def __init__(self, error: Dict[str, Any]) -> None:
        self.ename: str = error.get("ename", "Error")
        self.evalue: str = error.get("evalue", "")
        self.where: str = error.get("where", "")

    def __repr__(self) -> str:
        return f"<{self.where} raised {self.ename}: {self.evalue}>"


class ProbeHandle:
    """What every remote probe's handle has: ``id``, ``kind``, ``target``,
    ``hits`` (times the target was reached), ``dropped`` (hits the program did
    not send, since this client had not read enough of them), ``active``
    (false once it stopped: ``ended`` says why — ``"limit"``, ``"removed"``,
    ``"exited"``), and :meth:`remove`."""

    def __init__(self, session: "Session", description: Dict[str, Any]) -> None:
        self._session = session
        self.id: int = description["id"]
        self.kind: str = description["kind"]
        self.target: str = description["target"]
        self.hits: int = description.get("hits", 0)
        self.dropped: int = description.get("dropped", 0)
        self.active = True
        self.ended: Optional[str] = None
        self._changed = threading.Condition()
        self._watchers: List[Callable[[], None]] = []

    def remove(self) -> None:
        """Remove the probe from the program, with the objects it holds for
        ``fetch`` (nothing happens if it is gone already)."""
        if self.ended in (None, "limit"):  # a probe past its limit still holds its objects there
            try:
                reply, _ = self._session.request("unprobe", {"probe": self.id})
                self._counts(reply["probe"])
            except Exception as exc:
                if getattr(exc, "ename", None) != "NoSuchProbe":
                    raise
        self._ended("removed")

    def wait(self, hits: int, timeout: float = 10.0) -> None:
        """Wait until ``hits`` hits have arrived here (or the probe is gone);
        TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._arrived() < hits and self.active:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"probe {self.id}: {self._arrived()} of {hits} hits within {timeout} s")
                self._changed.wait(left)

    def _arrived(self) -> int:
        raise NotImplementedError

    # -- the reader's side -------------------------------------------------------
    def _counts(self, content: Dict[str, Any]) -> None:
        self.hits = max(self.hits, content.get("hits", 0))
        self.dropped = max(self.dropped, content.get("dropped", 0))

    def _hit(self, content: Dict[str, Any]) -> None:
        with self._changed:
            self._counts(content)
            self._take(content)
            self._changed.notify_all()
        for watcher in list(self._watchers):
            watcher()

    def _take(self, content: Dict[str, Any]) -> None:
        raise NotImplementedError

    def _ended(self, why: str, content: Optional[Dict[str, Any]] = None) -> None:
        with self._changed:
            if content is not None:
                self._counts(content)
            self.active, self.ended = False, why
            self._changed.notify_all()
        self._session._probe_reader().forget(self.id)
        for watcher in list(self._watchers):
            watcher()

    def _state(self) -> str:
        state = f"{self.hits} hits"
        if self.dropped:
            state += f", {self.dropped} dropped"
        if not self.active:
            state += f", ended ({self.ended})"
        return state


class RemoteCallInfo:
    """One call of a remote capture: summaries of its ``args`` (as they were at
    the call), ``locals`` (at its end), ``return_value``, ``exception``, and
    ``name``, ``thread_name``, ``hit`` (its number among the hits sent),
    ``location``. :meth:`fetch` brings back an object itself, while the
    program still holds it (a capture holds its latest hits' objects:
    ``fetchable``)."""

    def __init__(self, handle: "ProbeHandle", content: Dict[str, Any]) -> None:
        self._handle = handle
        self.hit: int = content["hit"]
        self.name: str = content.get("name", "")
        self.thread_name: str = content.get("thread_name", "")
        self.location: Dict[str, Any] = content.get("location") or {}
        self.args = {k: RemoteValue(v, k) for k, v in (content.get("args") or {}).items()}
        self.locals = {k: RemoteValue(v, k) for k, v in (content.get("locals") or {}).items()}
        self.return_value: Optional[RemoteValue] = _value(content.get("return_value"), "return_value")
        self.exception: Optional[RemoteValue] = _value(content.get("exception"), "exception")
        self.error: Optional[HitError] = HitError(content["error"]) if content.get("error") else None

    def fetch(self, what: str, *path: Union[str, int]) -> Any:
        """The object itself: ``fetch("return_value")``, ``fetch("exception")``,
        ``fetch("locals", "attn")``, ``fetch("args", "x")`` (further parts
        index into it: ``fetch("locals", "batch", 0)``). Unpickles what the
        program sends: as ``Session.fetch``, only from a program you trust.
        RemoteError ``NoSuchHit`` once the program no longer holds this call's objects."""
        import pickle

        _, frames = self._handle._session.request(
            "probe_fetch", {"probe": self._handle.id, "hit": self.hit, "path": [what, *path]}
        )
        return pickle.loads(frames[0], buffers=frames[1:])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v.repr}" for k, v in self.args.items())
        if self.error is not None:
            return f"<call {self.hit} {self.name}(): {self.error!r}>"
        ended = f"raised {self.exception.repr}" if self.exception is not None else f"-> {_text(self.return_value)}"
        return f"<call {self.hit} {self.name}({args}) {ended} in {self.thread_name}>"


class RemoteCalls(ProbeHandle, Sequence[RemoteCallInfo]):
    """``Session.capture_calls``: a live sequence of :class:`RemoteCallInfo`,
    one per call that returned in the program (in the order of their hit
    numbers), that grows while the probe lives; in a notebook, a table that grows."""

    def __init__(self, session: "Session", description: Dict[str, Any]) -> None:
        super().__init__(session, description)
        self._calls: List[RemoteCallInfo] = []

    def _take(self, content: Dict[str, Any]) -> None:
        call = RemoteCallInfo(self, content)
        if not self._calls or self._calls[-1].hit < call.hit:
            self._calls.append(call)
        else:  # two threads' calls published out of order
            bisect.insort(self._calls, call, key=lambda c: c.hit)

    def _arrived(self) -> int:
        return len(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    @overload
    def __getitem__(self, index: int) -> RemoteCallInfo: ...
    @overload
    def __getitem__(self, index: slice) -> List[RemoteCallInfo]: ...
    def __getitem__(self, index: Union[int, slice]) -> Union[RemoteCallInfo, List[RemoteCallInfo]]:
        return self._calls[index]

    def __iter__(self) -> Iterator[RemoteCallInfo]:
        return iter(list(self._calls))

    def __repr__(self) -> str:
        return f"<jupdb remote capture_calls {self.target!r} (probe {self.id}): {len(self)} calls, {self._state()}>"

    def _repr_html_(self) -> str:
        return calls_table(self)

    def _ipython_display_(self) -> None:
        live_display(self, lambda: {"text/html": calls_table(self), "text/plain": repr(self)})


class RemoteCall(ProbeHandle):
    """``Session.capture_call``: its attributes (``args``, ``locals``,
    ``return_value``, ``exception``, ``name``, ``thread_name``) are the latest
    call's, None before the first; :meth:`fetch` brings an object of the latest
    call the program holds."""

    def __init__(self, session: "Session", description: Dict[str, Any]) -> None:
        super().__init__(session, description)
        self.latest: Optional[RemoteCallInfo] = None
        self._count = 0

    def _take(self, content: Dict[str, Any]) -> None:
        call = RemoteCallInfo(self, content)
        if self.latest is None or self.latest.hit < call.hit:
            self.latest = call
        self._count += 1

    def _arrived(self) -> int:
        return self._count

    def fetch(self, what: str, *path: Union[str, int]) -> Any:
        """As :meth:`RemoteCallInfo.fetch`, of the latest call the program
        holds: in a program that calls the target often, newer than
        :attr:`latest` here may be. RemoteError ``NoSuchHit`` before the first call."""
        import pickle

        _, frames = self._session.request("probe_fetch", {"probe": self.id, "hit": -1, "path": [what, *path]})
        return pickle.loads(frames[0], buffers=frames[1:])

    def __getattr__(self, name: str) -> Any:
        if name in ("args", "locals", "return_value", "exception", "name", "thread_name", "hit", "location"):
            latest = self.__dict__.get("latest")
            return None if latest is None else getattr(latest, name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        latest = "no call yet" if self.latest is None else repr(self.latest)
        return f"<jupdb remote capture_call {self.target!r} (probe {self.id}): {latest}; {self._state()}>"

    def _repr_html_(self) -> str:
        return calls_table(self, [self.latest] if self.latest is not None else [])

    def _ipython_display_(self) -> None:
        live_display(self, lambda: {"text/html": self._repr_html_(), "text/plain": repr(self)})


class RemoteResults(Sequence[Union[RemoteValue, HitError]]):
    """The values one expression of a remote breakpoint took, one per hit
    (a :class:`HitError` where it raised), growing as hits come."""

    def __init__(self, breakpoint: "RemoteBreakpoint", action: int, expression: str) -> None:
        self.breakpoint = breakpoint
        self.action = action
        self.expression = expression
        self._values: List[Union[RemoteValue, HitError]] = []

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> Union[RemoteValue, HitError]: ...
    @overload
    def __getitem__(self, index: slice) -> List[Union[RemoteValue, HitError]]: ...
    def __getitem__(self, index: Union[int, slice]) -> Union[RemoteValue, HitError, List[Union[RemoteValue, HitError]]]:
        return self._values[index]

    def __iter__(self) -> Iterator[Union[RemoteValue, HitError]]:
        return iter(list(self._values))

    def wait(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` values have arrived (TimeoutError after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        with self.breakpoint._changed:
            while len(self._values) < count and self.breakpoint.active:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.expression!r}: {len(self)} of {count} values within {timeout} s")
                self.breakpoint._changed.wait(left)

    def __repr__(self) -> str:
        shown = ", ".join(v.repr if isinstance(v, RemoteValue) else repr(v) for v in self._values[-10:])
        more = "…, " if len(self) > 10 else ""
        return f"<{self.expression!r} at probe {self.breakpoint.id}: [{more}{shown}]>"

    def _repr_html_(self) -> str:
        return results_table(self)

    def _ipython_display_(self) -> None:
        live_display(self.breakpoint, lambda: {"text/html": results_table(self), "text/plain": repr(self)})


class RemoteBreakpoint(ProbeHandle):
    """``Session.breakpoint``: :meth:`eval` streams an expression's value at
    each hit into a live sequence, :meth:`exec` runs code at each hit (its
    assignments change the program's locals), ``errors`` holds what the
    condition and ``exec`` code raised (with the hit), ``pause`` says whether
    it stops the program there."""

    def __init__(self, session: "Session", description: Dict[str, Any]) -> None:
        super().__init__(session, description)
        self.pause: bool = description.get("pause", False)
        self.errors: List[HitError] = []
        self._results: Dict[int, RemoteResults] = {}
        self._count = 0

    def eval(self, expression: str) -> RemoteResults:
        """Evaluate ``expression`` in the frame at each hit from now on; its
        values (summaries) arrive in the returned sequence. A syntax error is a
        RemoteError at once."""
        reply, _ = self._session.request("probe_action", {"probe": self.id, "action": "eval", "code": expression})
        with self._changed:
            results = self._results[reply["action"]] = RemoteResults(self, reply["action"], expression)
        return results

    def exec(self, code: str) -> None:
        """Run ``code`` in the frame at each hit from now on; names it assigns
        are written back to the frame's locals, so the program runs on with
        them. What it raises goes to ``errors`` (the program goes on)."""
        self._session.request("probe_action", {"probe": self.id, "action": "exec", "code": code})

    def _take(self, content: Dict[str, Any]) -> None:
        self._count += 1
        for result in content.get("results") or []:
            target = self._results.get(result.get("action"))
            if "error" in result:
                error = HitError(result["error"])
                if target is not None:
                    target._values.append(error)
                else:
                    self.errors.append(error)
            elif target is not None:
                target._values.append(RemoteValue(result["value"], target.expression))

    def _arrived(self) -> int:
        return self._count

    def __repr__(self) -> str:
        what = "pauses" if self.pause else "runs on"
        return f"<jupdb remote breakpoint {self.target!r} (probe {self.id}, {what}): {self._state()}>"


class ProbeInfo:
    """One probe as ``Session.probes()`` lists it."""

    def __init__(self, description: Dict[str, Any], mine: bool) -> None:
        self.id: int = description["id"]
        self.kind: str = description["kind"]
        self.target: str = description["target"]
        self.hits: int = description["hits"]
        self.dropped: int = description["dropped"]
        self.owner: Optional[str] = description.get("owner")
        self.keep: bool = description.get("keep", False)
        self.mine = mine
        self.details = description

    def __repr__(self) -> str:
        owner = "this session" if self.mine else f"client {self.owner}"
        kept = ", kept" if self.keep else ""
        return f"<probe {self.id} {self.kind} {self.target!r}: {self.hits} hits, {self.dropped} dropped; {owner}{kept}>"


class ProbeReader:
    """A session's reader of probe events: hands each to its probe's handle
    and acknowledges them. Started by the session's first probe; ends with
    the session."""

    def __init__(self, session: "Session") -> None:
        self._session = session
        self._handles: Dict[int, ProbeHandle] = {}
        self._early: Dict[int, List[Dict[str, Any]]] = {}  # events that came before their install reply
        self._received: Dict[int, int] = {}
        self._acked: Dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="jupdb-probe-reader", daemon=True)
        self._thread.start()
        # Ended before the interpreter finalizes: a daemon thread waiting in Rust
        # then would be torn down mid-call, which aborts the process.
        atexit.register(self.stop)

    def stop(self) -> None:
        """End the reader (it reads for at most 0.1 s more)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        atexit.unregister(self.stop)

    def add(self, handle: ProbeHandle) -> None:
        with self._lock:
            self._handles[handle.id] = handle
            early = self._early.pop(handle.id, [])
        for content in early:
            self._deliver(handle, content)

    def forget(self, pid: int) -> None:
        with self._lock:
            self._handles.pop(pid, None)

    def _read(self) -> None:
        session = self._session
        while not session._closed and not self._stop.is_set():
            try:
                event = session._client.next_probe_event(0.1)
            except Exception:
                return  # closed, or a forked child's copy
            if event is None:
                self._ack(every=1)
                continue
            msg_type, content, _, _ = event
            pid = content.get("probe")
            if not isinstance(pid, int):
                continue
            if msg_type == "probe_hit":
                self._received[pid] = self._received.get(pid, 0) + 1
            with self._lock:
                handle = self._handles.get(pid)
                if handle is None:
                    self._early.setdefault(pid, []).append({"msg_type": msg_type, **content})
                    continue
            self._deliver(handle, {"msg_type": msg_type, **content})
            self._ack(every=ACK_EVERY)

    def _deliver(self, handle: ProbeHandle, content: Dict[str, Any]) -> None:
        try:
            if content["msg_type"] == "probe_hit":
                handle._hit(content)
            else:
                handle._ended(content.get("reason", "removed"), content)
        except Exception:
            pass  # one odd event never stops the reader

    def _ack(self, every: int) -> None:
        for pid, received in list(self._received.items()):
            if received - self._acked.get(pid, 0) >= every:
                self._acked[pid] = received
                try:
                    self._session.request("probe_ack", {"probe": pid, "received": received})
                except Exception:
                    pass  # the probe or the program is gone


def _value(summary: Optional[Dict[str, Any]], expression: str) -> Optional[RemoteValue]:
    return None if summary is None else RemoteValue(summary, expression)


def _text(value: Optional[RemoteValue]) -> str:
    return "None" if value is None else value.repr


# -- in a notebook ------------------------------------------------------------------------
def live_display(handle: ProbeHandle, bundle: Callable[[], Dict[str, str]]) -> None:
    """Show ``bundle()`` with a display id, and update it as hits arrive (at
    most every 0.2 s, and once more when the probe ends)."""
    from IPython.display import display

    shown = display(bundle(), raw=True, display_id=True)
    if shown is None:
        return
    pending = threading.Event()

    def update() -> None:
        while True:
            pending.wait()
            time.sleep(0.2)  # gather the hits of a busy probe into one update
            pending.clear()
            shown.update(bundle(), raw=True)
            if not handle.active:
                return

    handle._watchers.append(pending.set)
    threading.Thread(target=update, name="jupdb-probe-display", daemon=True).start()


def calls_table(handle: ProbeHandle, calls: Optional[List[RemoteCallInfo]] = None) -> str:
    """The latest calls as an HTML table: hit, thread, arguments, return value."""
    rows = list(handle)[-TABLE_ROWS:] if calls is None else calls  # type: ignore[call-overload]
    head = "".join(f"<th>{h}</th>" for h in ("hit", "thread", "args", "returned", "locals"))
    body = "".join(
        "<tr>"
        f"<td>{call.hit}</td><td>{html.escape(call.thread_name)}</td>"
        f"<td><code>{html.escape(', '.join(f'{k}={v.repr}' for k, v in call.args.items()))}</code></td>"
        f"<td><code>{html.escape(_ended(call))}</code></td>"
        f"<td><code>{html.escape(', '.join(f'{k}={v.repr}' for k, v in call.locals.items()))}</code></td>"
        "</tr>"
        for call in rows
    )
    title = f"<b>{html.escape(handle.kind)}</b> <code>{html.escape(handle.target)}</code> (probe {handle.id}): "
    return render.block(title + html.escape(handle._state()), f"<table><tr>{head}</tr>{body}</table>")


def results_table(results: RemoteResults) -> str:
    rows = list(results)[-TABLE_ROWS:]
    first = len(results) - len(rows)
    body = "".join(
        f"<tr><td>{first + i + 1}</td><td><code>{html.escape(v.repr if isinstance(v, RemoteValue) else repr(v))}"
        "</code></td></tr>"
        for i, v in enumerate(rows)
    )
    title = f"<code>{html.escape(results.expression)}</code> at probe {results.breakpoint.id}: "
    return render.block(
        title + html.escape(results.breakpoint._state()), f"<table><tr><th>hit</th><th>value</th></tr>{body}</table>"
    )


def _ended(call: RemoteCallInfo) -> str:
    if call.error is not None:
        return repr(call.error)
    if call.exception is not None:
        return f"raised {call.exception.repr}"
    return _text(call.return_value)
