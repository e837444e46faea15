"""Probes a client installs in the running program: captures of calls and
breakpoints that evaluate, execute or pause, without stopping the program.

Each remote probe is an engine probe (a handler over :class:`jupdb._native.Probe`
for captures, a programmatic :class:`~jupdb.breakpoints.Breakpoint` with a
callback for breakpoints) owned by the client that installed it. Its hits go
to that client alone, as ``probe_hit`` events (``Server.publish_to``), and
never block the program: a probe sends at most :data:`UNACKED_HITS` hits
(:data:`UNACKED_BYTES` bytes) its client has not acknowledged
(``probe_ack_request``); beyond that it drops hits and counts them. A probe
goes when its client disconnects (or dies: its TCP connection closes), unless
it was installed with ``keep``; ``limit`` removes it after that many hits.

The debuggee keeps the objects of a capture's latest :data:`FETCHABLE` hits
(``fetchable`` per probe) so that a client can fetch one later
(``probe_fetch_request``); older hits keep only the summaries sent.
"""

from __future__ import annotations

import collections
import inspect
import itertools
import pathlib
import sys
import threading
import types
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple

from .. import _native
from ..frames import write_back
from ..scope import Scope, is_launcher_code
from .paused import RequestError, compile_client_code, location_of
from .source_files import find_source
from .summary import LOCALS_VALUE_LIMIT, safe_str, summarize

if TYPE_CHECKING:
    from ..breakpoints import Breakpoint
    from .debuggee import DebugServer

#: Hits a probe sends that its client has not acknowledged, at most; beyond
#: that (or :data:`UNACKED_BYTES`) it drops hits, and counts them.
UNACKED_HITS = 1000

#: Bytes of hits a probe sends that its client has not acknowledged, at most.
UNACKED_BYTES = 4 << 20

#: How many of its latest hits' objects a capture keeps for ``fetch`` (default).
FETCHABLE = 32

#: The repr length of the values a hit summarises (``fetch`` brings any back whole).
HIT_REPR_LIMIT = 200

_KINDS = ("calls", "call", "break")


class RemoteProbe:
    """What every remote probe has: an owner, counters, flow control."""

    kind = ""

    def __init__(self, server: "DebugServer", pid: int, spec: Dict[str, Any], owner: Dict[str, Any]) -> None:
        self.server = server
        self.id = pid
        self.target = _describe_target(spec)
        self.limit: Optional[int] = _positive_or_none(spec.get("limit"), "limit")
        self.every: int = _positive_or_none(spec.get("every"), "every") or 1
        self.keep = bool(spec.get("keep", False))
        self.peer: Optional[bytes] = owner["peer"]
        self.owner: Optional[str] = owner["session"]
        self.hits = 0  # times the target was reached (calls that returned, lines run)
        self.sent = 0  # hits recorded and published, numbered from 1
        self.dropped = 0  # recorded hits not sent: the client had not acknowledged enough
        self.active = True  # false once removed, or past its limit (then kept for fetch until removed)
        self.removed = False
        self._lock = threading.RLock()
        self._seen = itertools.count()  # reaches of the target, for `every`
        self._reserved = 0  # hits being recorded, not yet published
        self._unacked: Deque[int] = collections.deque()  # sizes of the hits published, not acknowledged
        self._unacked_bytes = 0
        self._acked = 0
        self.on_removed: Callable[["RemoteProbe", str], None] = lambda probe, why: None

    # -- the engine's side ---------------------------------------------------------
    def _skipped(self) -> bool:
        """Whether the probe passes over this reach of its target: it is gone,
        or the thread runs the debugger's own work (a client's eval, a repr)."""
        return not self.active or threading.get_ident() in self.server.debugging

    def _sampled(self) -> bool:
        """Whether this reach is one in ``every``."""
        return self.every == 1 or next(self._seen) % self.every == 0

    def _reserve(self) -> Optional[int]:
        """Counts a hit: None if it is none (the probe is gone or past its
        limit), 0 if it is not to be sent (dropped, or nobody to send to),
        else its number among the hits sent. Call :meth:`_done` after it."""
        with self._lock:
            if not self.active or (self.limit is not None and self.hits >= self.limit):
                return None
            self.hits += 1
            if self.peer is None:
                return 0  # kept by a client that left: the probe acts, nobody listens
            if self._reserved + len(self._unacked) >= UNACKED_HITS or self._unacked_bytes >= UNACKED_BYTES:
                self.dropped += 1
                return 0
            self.sent += 1
            self._reserved += 1
            return self.sent

    def _done(self) -> None:
        """After a hit: the probe goes once it has had ``limit`` of them."""
        if self.limit is not None and self.hits >= self.limit:
            self.finish()

    def _publish(self, hit: int, content: Dict[str, Any]) -> None:
        """Sends hit ``hit`` (reserved by :meth:`_reserve`: every reserved hit is published once)."""
        with self._lock:
            self._reserved -= 1
            if self.peer is None:
                return
            content.update(probe=self.id, hit=hit, hits=self.hits, dropped=self.dropped)
            # In the order the client receives them, which its acknowledgements count.
            size = self.server.native.publish_to(self.peer, "probe_hit", content)
            self._unacked.append(size)
            self._unacked_bytes += size

    def _tell_failure(self, hit: int, what: str, exc: BaseException) -> None:
        self._publish(hit, {"error": {"ename": type(exc).__name__, "evalue": f"{what}: {safe_str(exc)}"}})

    # -- the client's side ---------------------------------------------------------------
    def ack(self, received: int) -> None:
        """The client has received ``received`` hits of this probe in all."""
        with self._lock:
            while self._acked < received and self._unacked:
                self._unacked_bytes -= self._unacked.popleft()
                self._acked += 1

    def owner_left(self) -> None:
        """The owner disconnected and asked to keep the probe: it acts on, unheard."""
        with self._lock:
            self.peer = None
            self._acked += len(self._unacked)
            self._unacked.clear()
            self._unacked_bytes = 0

    def describe(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "hits": self.hits,
            "sent": self.sent,
            "dropped": self.dropped,
            "owner": self.owner,
            "keep": self.keep,
            "active": self.active,
            "limit": self.limit,
            "every": self.every,
        }

    def finish(self) -> None:
        """Past its limit: the probe stops firing, and its client is told; it
        stays (a capture's objects can still be fetched) until removed."""
        with self._lock:
            if not self.active:
                return
            self.active = False
            self._uninstall()
            peer = self.peer
        if peer is not None:
            content = {"probe": self.id, "reason": "limit", "hits": self.hits, "dropped": self.dropped}
            self.server.native.publish_to(peer, "probe_removed", content)

    def remove(self, why: str = "removed") -> None:
        with self._lock:
            if self.removed:
                return
            self.removed = True
            was_active, self.active = self.active, False
            if was_active:
                self._uninstall()
            peer = self.peer
        if peer is not None and why not in ("removed", "owner_left"):  # else its client knows, or is gone
            content = {"probe": self.id, "reason": why, "hits": self.hits, "dropped": self.dropped}
            self.server.native.publish_to(peer, "probe_removed", content)
        self.on_removed(self, why)

    def _uninstall(self) -> None:
        raise NotImplementedError

    def fetch(self, hit: int, path: List[Any]) -> Any:
        raise RequestError("NoSuchHit", f"probe {self.id} keeps no objects: fetch is for captures")


class CallsProbe(RemoteProbe):
    """``capture_calls`` / ``capture_call``: each call's arguments (as they were
    at the call), locals, return value or exception, as calls end."""

    def __init__(self, server: "DebugServer", pid: int, spec: Dict[str, Any], owner: Dict[str, Any]) -> None:
        super().__init__(server, pid, spec, owner)
        self.kind = spec["kind"]
        self.scope = _scope(spec, with_line=False)
        fetchable = spec.get("fetchable", FETCHABLE if self.kind == "calls" else 1)
        self.fetchable = _positive_or_none(fetchable, "fetchable", zero=True) or 0
        self._kept: "collections.OrderedDict[int, Dict[str, Any]]" = collections.OrderedDict()
        self._open: Dict[types.FrameType, Dict[str, Any]] = {}  # a call's arguments, by its frame
        scope = self.scope
        self._native = _native.Probe(
            self,
            events=_native.CALL | _native.RETURN,
            code=scope.code,
            matcher=None if scope.is_code_target else self._match,
            instance=scope.instance,
        )
        _native.install(self._native)

    def _match(self, code: types.CodeType) -> bool:
        return self.scope.matches_code(code) and not is_launcher_code(code)

    def _uninstall(self) -> None:
        _native.uninstall(self._native)
        self._open.clear()

    def on_call(self, frame: types.FrameType) -> None:
        if not self._skipped() and self._sampled():
            self._open[frame] = _arguments(frame)

    def on_return(self, frame: types.FrameType, value: Any) -> None:
        self._end(frame, value, None)

    def on_raise(self, frame: types.FrameType, exc: Optional[BaseException]) -> None:
        self._end(frame, None, exc)

    def _end(self, frame: types.FrameType, value: Any, exc: Optional[BaseException]) -> None:
        opened = self._open.pop(frame, None)
        if opened is None:
            return
        hit = self._reserve()
        if hit is None:
            return
        try:
            if hit:
                self._record(hit, frame, opened, value, exc)
        finally:
            self._done()

    def _record(self, hit: int, frame: types.FrameType, args: Dict[str, Any], value: Any, exc: Any) -> None:
        tid = threading.get_ident()
        self.server.debugging.add(tid)  # a repr that calls the target is not a hit
        try:
            local_values = dict(frame.f_locals)
            objects = {"args": args, "locals": local_values, "return_value": value, "exception": exc}
            content = {
                "name": getattr(frame.f_code, "co_qualname", frame.f_code.co_name),
                "thread_name": threading.current_thread().name,
                "location": location_of(frame),
                "args": _summaries(args),
                "locals": _summaries(local_values),
                "return_value": _summary(value),
                "exception": None if exc is None else _summary(exc),
            }
        except BaseException as failure:  # whatever the program's objects do, it goes on
            self._tell_failure(hit, "summarising the call", failure)
            return
        finally:
            self.server.debugging.discard(tid)
        with self._lock:
            if self.fetchable:
                self._kept[hit] = objects
                while len(self._kept) > self.fetchable:
                    self._kept.popitem(last=False)
        self._publish(hit, content)

    def fetch(self, hit: int, path: List[Any]) -> Any:
        with self._lock:
            kept = list(self._kept)
            if hit == -1 and kept:  # the latest it holds
                hit = kept[-1]
            objects = self._kept.get(hit)
        if objects is None:
            held = f"hits {kept[0]}-{kept[-1]}" if kept else "no hit"
            raise RequestError(
                "NoSuchHit",
                f"probe {self.id} no longer holds the objects of hit {hit}: it keeps its latest "
                f"{self.fetchable} ({held} now)",
            )
        if not path or path[0] not in objects:
            raise RequestError("InvalidRequest", f"fetch one of {', '.join(objects)}, not {path[:1]!r}")
        value: Any = objects[path[0]]
        for part in path[1:]:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                raise RequestError("KeyError", f"{path[0]} of hit {hit} has no {part!r}") from None
        return value


class BreakProbe(RemoteProbe):
    """``breakpoint``: a place in the code (a function's start, or a line), a
    condition, and actions at each hit: expressions evaluated (their values
    sent), code executed (locals written back), a pause."""

    kind = "break"

    def __init__(
        self, server: "DebugServer", pid: int, spec: Dict[str, Any], owner: Dict[str, Any], debugger: Any
    ) -> None:
        super().__init__(server, pid, spec, owner)
        scope = _scope(spec, with_line=True)
        line = spec.get("line")
        if line is not None and (not isinstance(line, int) or isinstance(line, bool)):
            raise RequestError("InvalidRequest", f"line must be an int, not {line!r}")
        self.pause = bool(spec.get("pause", False))
        if line is None and self.pause and scope.code is not None:
            # Paused at the call, the thread would not yet have run the first
            # line (a `next` would stop on it again): pause there, as pdb does.
            line = _first_line(scope.code)
        elif line is not None and scope.code is None and isinstance(scope.file, pathlib.Path):
            _check_line(scope.file, line)
        self.line: Optional[int] = line
        condition = spec.get("cond")
        self.condition: Optional[str] = condition
        self._condition = None if condition is None else _compiled(condition, "eval", "cond")
        self.actions: Dict[int, Tuple[str, str, types.CodeType]] = {}
        self._next_action = itertools.count(1)
        try:
            self.bp: "Breakpoint" = debugger.breakpoint(
                scope.function, module=scope.module, file=scope.file, line=line, unwrap=scope.unwrap
            )
        except (TypeError, ValueError) as exc:
            raise RequestError(type(exc).__name__, str(exc)) from None
        self.bp.callback(self._hit)

    def add_action(self, action: Any, code: Any) -> int:
        if action not in ("eval", "exec"):
            raise RequestError("InvalidRequest", f"action must be eval or exec, not {action!r}")
        compiled = _compiled(code, action, action)
        aid = next(self._next_action)
        with self._lock:
            self.actions = {**self.actions, aid: (action, code, compiled)}  # a hit in progress keeps its own
        return aid

    def _uninstall(self) -> None:
        self.bp.disable()

    def _hit(self, frame: types.FrameType) -> None:
        tid = threading.get_ident()
        if self._skipped():
            return
        results: List[Dict[str, Any]] = []
        self.server.debugging.add(tid)  # the probe's own code passes other breakpoints (as in pdb)
        try:
            if self._condition is not None:
                try:
                    if not _native.run_interruptibly(eval, self._condition, frame.f_globals, dict(frame.f_locals)):
                        return
                except BaseException as exc:  # reported with the hit, which it is (as in pdb)
                    results.append({"action": 0, "error": _error(exc, "condition")})
            if not self._sampled():
                return
            hit = self._reserve()
            if hit is None:
                return
            if not results:
                results = self._act(frame, send=bool(hit))
        finally:
            self.server.debugging.discard(tid)
        if hit:
            content = {"thread_name": threading.current_thread().name, "location": location_of(frame)}
            self._publish(hit, {**content, "results": results})
        self._done()
        if self.pause:
            from .paused import PausedThread

            PausedThread(
                self.server, frame, reason="breakpoint", breakpoint=self.id, in_line_event=self.line is not None
            ).serve()

    def _act(self, frame: types.FrameType, send: bool) -> List[Dict[str, Any]]:
        results: List[Dict[str, Any]] = []
        for aid, (action, _, code) in self.actions.items():
            try:
                if action == "exec":
                    before = dict(frame.f_locals)
                    namespace = dict(before)
                    _native.run_interruptibly(exec, code, frame.f_globals, namespace)
                    write_back(frame, before, namespace)
                elif send:
                    value = _native.run_interruptibly(eval, code, frame.f_globals, dict(frame.f_locals))
                    results.append({"action": aid, "value": _summary(value)})
            except BaseException as exc:  # even SystemExit: a probe never ends the program
                results.append({"action": aid, "error": _error(exc, action)})
        return results

    def describe(self) -> Dict[str, Any]:
        description = super().describe()
        description.update(
            line=self.line,
            cond=self.condition,
            pause=self.pause,
            actions=[{"id": aid, "action": a, "code": c} for aid, (a, c, _) in self.actions.items()],
        )
        return description


class Probes:
    """The program's remote probes, kept by the service thread."""

    def __init__(self, server: "DebugServer", debugger: Any, new_id: Callable[[], int]) -> None:
        self.server = server
        self.debugger = debugger
        self._new_id = new_id
        self.probes: Dict[int, RemoteProbe] = {}

    def install(self, spec: Dict[str, Any], peer: Optional[bytes], session: str) -> Dict[str, Any]:
        kind = spec.get("kind")
        if kind not in _KINDS:
            raise RequestError("InvalidRequest", f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
        owner = {"peer": peer, "session": session}
        pid = self._new_id()
        probe: RemoteProbe
        if kind == "break":
            actions = spec.get("actions") or []
            if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
                raise RequestError("InvalidRequest", "actions must be a list of {action, code} maps")
            probe = BreakProbe(self.server, pid, spec, owner, self.debugger)
            try:
                for action in actions:
                    probe.add_action(action.get("action"), action.get("code"))
            except BaseException:
                probe.remove()  # an action it cannot run: nothing stays installed
                raise
        else:
            probe = CallsProbe(self.server, pid, spec, owner)
        probe.on_removed = self._forget
        self.probes[pid] = probe
        return probe.describe()

    def _forget(self, probe: RemoteProbe, why: str) -> None:
        self.probes.pop(probe.id, None)

    def get(self, pid: Any) -> RemoteProbe:
        probe = self.probes.get(pid) if isinstance(pid, int) else None
        if probe is None:
            raise RequestError("NoSuchProbe", f"there is no probe {pid!r}")
        return probe

    def peer_gone(self, peer: bytes) -> None:
        for probe in list(self.probes.values()):
            if probe.peer == peer:
                if probe.keep:
                    probe.owner_left()
                else:
                    probe.remove("owner_left")

    def remove_all(self) -> None:
        for probe in list(self.probes.values()):
            probe.remove("exited")


def _positive_or_none(value: Any, name: str, zero: bool = False) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if zero else 1):
        least = "0" if zero else "1"
        raise RequestError("InvalidRequest", f"{name} must be an int of at least {least}, not {value!r}")
    return value


def _compiled(code: Any, mode: str, what: str) -> types.CodeType:
    if not isinstance(code, str):
        raise RequestError("InvalidRequest", f"{what} must be a string, not {type(code).__name__}")
    try:
        return compile_client_code(code, mode)
    except SyntaxError as exc:
        raise RequestError("SyntaxError", f"{what} {code!r}: {exc.msg} (line {exc.lineno})") from None


def _error(exc: BaseException, what: str) -> Dict[str, str]:
    return {"ename": type(exc).__name__, "evalue": safe_str(exc), "where": what}


def _summary(value: Any) -> Dict[str, Any]:
    return summarize(value, repr_limit=HIT_REPR_LIMIT, value_limit=LOCALS_VALUE_LIMIT)


def _summaries(values: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {name: _summary(value) for name, value in values.items()}


def _arguments(frame: types.FrameType) -> Dict[str, Any]:
    """The frame's arguments as they are now (at its call): name → object."""
    code = frame.f_code
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    values = frame.f_locals
    return {name: values[name] for name in code.co_varnames[:count] if name in values}


def _first_line(code: types.CodeType) -> int:
    """The first line of a function's body (its only line, for a one-liner)."""
    lines = sorted(_native.code_lines(code))
    return next((n for n in lines if n > code.co_firstlineno), lines[0] if lines else code.co_firstlineno)


def _check_line(path: pathlib.Path, line: int) -> None:
    """RequestError unless some code of the file at ``path`` runs ``line``."""
    try:
        todo = [compile(path.read_bytes(), str(path), "exec")]
    except (OSError, SyntaxError, ValueError) as exc:
        raise RequestError(type(exc).__name__, f"cannot read {path}: {exc}") from None
    while todo:
        code = todo.pop()
        if line in _native.code_lines(code):
            return
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    raise RequestError("ValueError", f"line {line} of {path} has no code to stop at")


def _describe_target(spec: Dict[str, Any]) -> str:
    parts = [str(spec["target"])] if spec.get("target") is not None else []
    parts += [f"{key}={spec[key]}" for key in ("module", "file", "line") if spec.get(key) is not None]
    return " ".join(parts) or "everything"


# -- targets, resolved in the program ------------------------------------------------------
def _scope(spec: Dict[str, Any], with_line: bool) -> Scope:
    """What ``spec`` names (``target``, ``module``, ``file``), found in the
    program: a RequestError that says what is missing otherwise."""
    target, module_name, file = spec.get("target"), spec.get("module"), spec.get("file")
    for name, value in (("target", target), ("module", module_name), ("file", file)):
        if value is not None and not isinstance(value, str):
            raise RequestError("InvalidRequest", f"{name} must be a string, not {type(value).__name__}")
    module = None
    if module_name is not None:
        module = sys.modules.get(module_name)
        if module is None:
            raise RequestError("LookupError", f"the program has not imported a module {module_name!r}")
    where: Any = file
    if file is not None and (with_line and spec.get("line") is not None or pathlib.Path(file).is_absolute()):
        try:
            where = find_source(file)
        except FileNotFoundError as exc:
            raise RequestError("FileNotFoundError", str(exc)) from None
    function = None if target is None else resolve(target)
    if function is None and module is None and where is None:
        raise RequestError("InvalidRequest", "a probe needs a target, a module or a file")
    try:
        return Scope(function, module, where)
    except (TypeError, ValueError) as exc:
        raise RequestError(type(exc).__name__, str(exc)) from None


def resolve(target: str) -> Any:
    """The function (or method, or callable) ``target`` names in the program:
    ``"module:qualified.name"``, a dotted path from ``__main__``'s globals or
    from a module the program imported (integer parts index:
    ``"model.blocks.4.attn.forward"``), or a bare name that names nothing
    there, which then matches every function of that name."""
    if ":" in target:
        module_name, _, path = target.partition(":")
        module = sys.modules.get(module_name)
        if module is None:
            raise RequestError("LookupError", f"the program has not imported a module {module_name!r}")
        return _walk(module, module_name, path.split(".") if path else [], target)
    parts = target.split(".")
    if not all(p.isidentifier() or _is_index(p) for p in parts) or not parts[0].isidentifier():
        raise RequestError("InvalidRequest", f"{target!r} is not a dotted name")
    main = sys.modules.get("__main__")
    if main is not None and parts[0] in vars(main):
        return _walk(vars(main)[parts[0]], parts[0], parts[1:], target)
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            return _walk(module, ".".join(parts[:cut]), parts[cut:], target)
    if len(parts) == 1:
        return target  # a name: every function called so
    raise RequestError("LookupError", f"{parts[0]!r} is neither a global of __main__ nor an imported module")


def _is_index(part: str) -> bool:
    return part.lstrip("-").isdecimal()


def _walk(obj: Any, reached: str, parts: List[str], target: str) -> Any:
    for part in parts:
        try:
            if _is_index(part):
                try:
                    obj = obj[int(part)]
                except (TypeError, KeyError, IndexError):
                    obj = getattr(obj, part)
            else:
                obj = getattr(obj, part)
        except BaseException as exc:  # a property of the program's may raise anything
            raise RequestError(
                "LookupError", f"{target!r}: {reached} has no {part!r} ({type(exc).__name__}: {safe_str(exc)})"
            ) from None
        reached = f"{reached}.{part}"
    if isinstance(obj, types.ModuleType):
        raise RequestError("TypeError", f"{target!r} is a module: pass it as module=, or name a function in it")
    return obj
