"""The service thread: requests about the whole process, answered even while
no thread is paused (threads, breakpoints, watches)."""

from __future__ import annotations

import ast
import os
import sys
import threading
import types
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .. import _native
from .probes import Probes
from .source_files import find_source
from .summary import safe_str, summarize

if TYPE_CHECKING:
    from ..breakpoints import Breakpoint
    from .debuggee import DebugServer


class Service:
    """Breakpoints and watches set by clients, and the thread that serves them."""

    def __init__(self, server: "DebugServer") -> None:
        from ..debugger import NoPdb

        self.server = server
        self.debugger = NoPdb()
        self.debugger._start()  # not the pausing thread's get_nopdb(): the user's probes stay theirs
        self.breakpoints: Dict[int, "Breakpoint"] = {}
        self.hits: Dict[int, int] = {}
        self.conditions: Dict[int, Tuple[Optional[str], Any]] = {}
        #: Hits still to pass over (pdb's ``ignore``), by breakpoint.
        self.ignores: Dict[int, int] = {}
        self.watches: Dict[int, str] = {}
        self._next_id = 1
        self.probes = Probes(server, self.debugger, self._new_id)
        #: The request being served (its ``peer`` owns the probes it installs).
        self.current: Optional[_native.Request] = None
        self._handle = server.native.serve_service()
        self._thread = threading.Thread(target=self._serve, name="jupdb-service", daemon=True)
        self._thread.start()

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _serve(self) -> None:
        from .paused import reply_error

        while True:
            request = self._handle.next_request()
            if request is None:
                return
            handler = getattr(self, "do_" + request.msg_type.removesuffix("_request"))
            self.current = request
            buffers: List[Any] = []
            try:
                content = handler(request.content or {})
                if isinstance(content, tuple):  # with raw buffers (a probe's fetch)
                    content, buffers = content
            except BaseException as exc:  # even SystemExit: this thread must survive any request
                reply_error(request, exc)
                continue
            finally:
                self.current = None
            try:
                request.reply({"status": "ok", **content}, buffers)
            except BaseException as exc:
                reply_error(request, exc)

    def stop(self) -> None:
        self.probes.remove_all()
        self._handle.close()
        self._thread.join(timeout=5)
        self.debugger.stop()

    # -- threads ------------------------------------------------------------------
    def do_threads(self, c: Dict[str, Any]) -> Dict[str, Any]:
        from .paused import location_of

        frames = sys._current_frames()
        threads = []
        for thread in threading.enumerate():
            if thread is self._thread:
                continue
            paused = self.server.paused.get(thread.ident)  # type: ignore[arg-type]
            info: Dict[str, Any] = {"id": thread.ident, "name": thread.name, "paused": paused is not None}
            if paused is not None:
                info.update(paused.stop_details())
                busy = self.server.native.busy(thread.ident)  # type: ignore[arg-type]
                if busy is not None:
                    info["busy"] = busy
            elif thread.ident in frames:
                info["location"] = location_of(frames[thread.ident])
            threads.append(info)
        return {"threads": threads}

    def do_pause(self, c: Dict[str, Any]) -> Dict[str, Any]:
        """Pause a running thread (default: the main thread) at the next line of
        the program it runs; the reply comes at once, the ``paused`` event when
        it stops."""
        from .paused import RequestError
        from .stepping import Pauser

        tid = c.get("thread") or threading.main_thread().ident
        thread = next((t for t in threading.enumerate() if t.ident == tid and t is not self._thread), None)
        if thread is None or tid is None:
            raise RequestError("NoSuchThread", f"there is no thread {tid}")
        stops = self.server.stops
        paused = self.server.paused.get(tid)
        if paused is not None:
            return {"thread": tid, "paused": True, "stop": stops, **paused.stop_details()}
        if tid not in self.server.pausers:
            pauser = self.server.pausers[tid] = Pauser(self.server, tid)
            pauser.start()
        return {"thread": tid, "paused": False, "stop": stops}

    def do_interrupt(self, c: Dict[str, Any]) -> Dict[str, Any]:
        """Raise KeyboardInterrupt in the client's code (a request's, a watch's,
        a breakpoint's condition) that a thread runs (``thread``, default: every
        one): code that runs too long. The thread stays paused (or goes on to
        pause); the request that ran the code gets an error reply."""
        # The server answered at once (which threads run a client's code, marked
        # to be interrupted) without the GIL, which such code may hold for long;
        # here, with the GIL, they are raised. This reply is dropped.
        return {"interrupted": _native.raise_interrupts()}

    # -- breakpoints --------------------------------------------------------------------
    def do_break(self, c: Dict[str, Any]) -> Dict[str, Any]:
        from .paused import RequestError

        if "id" in c:
            return self._change(c)
        file, line = c["file"], int(c["line"])
        try:
            path = find_source(file)
        except FileNotFoundError as exc:
            raise RequestError("FileNotFoundError", str(exc)) from None
        if line not in _lines_with_code(path.read_text(encoding="utf-8", errors="replace"), path):
            raise RequestError("ValueError", f"line {line} of {file} has no code to stop at")
        bid = self._new_id()
        try:
            condition = c.get("condition")
            compiled = None if condition is None else compile(condition, "<condition>", "eval")
            bp = self.debugger.breakpoint(file=path, line=line)
        except (TypeError, ValueError, SyntaxError) as exc:
            raise RequestError(type(exc).__name__, str(exc)) from None
        # The condition is the service's, not the breakpoint's: one that raises
        # stops the thread (as pdb does) and says why, instead of being skipped.
        self.conditions[bid] = (condition, compiled)
        bp.callback(lambda frame: self._hit(bid, frame))
        self.breakpoints[bid] = bp
        self.hits[bid] = 0
        self.ignores[bid] = 0
        bp.temporary = bool(c.get("temporary", False))  # type: ignore[attr-defined]
        return {"breakpoint": self._describe(bid)}

    def _change(self, c: Dict[str, Any]) -> Dict[str, Any]:
        """Change breakpoint ``id``: its condition (``condition``: an expression,
        None for none) and the hits it passes over (``ignore``), as pdb's
        ``condition`` and ``ignore`` do."""
        from .paused import RequestError

        bid = c["id"]
        if bid not in self.breakpoints:
            raise RequestError("NoSuchBreakpoint", f"there is no breakpoint {bid}")
        if "ignore" in c:
            count = c["ignore"]
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise RequestError("InvalidRequest", f"ignore must be an int of at least 0, not {count!r}")
        if "condition" in c:
            condition = c["condition"]
            if condition is not None and not isinstance(condition, str):
                raise RequestError("InvalidRequest", f"condition must be a string or null, not {condition!r}")
            try:
                compiled = None if not condition else compile(condition, "<condition>", "eval")
            except SyntaxError as exc:
                raise RequestError("SyntaxError", str(exc)) from None
            self.conditions[bid] = (condition or None, compiled)
        if "ignore" in c:
            self.ignores[bid] = c["ignore"]
        return {"breakpoint": self._describe(bid)}

    def _describe(self, bid: int) -> Dict[str, Any]:
        bp = self.breakpoints[bid]
        return {
            "id": bid,
            "file": str(bp.scope.file),
            "line": bp.line,
            "condition": self.conditions[bid][0],
            "temporary": bp.temporary,  # type: ignore[attr-defined]
            "enabled": bp.enabled,
            "hits": self.hits[bid],
            "ignore": self.ignores.get(bid, 0),
        }

    def _hit(self, bid: int, frame: types.FrameType) -> None:
        from .paused import PausedThread

        tid = threading.get_ident()
        if bid not in self.breakpoints or tid in self.server.debugging:
            return  # reached by the debugger's own work on this thread: not a hit (as in pdb)
        details: Dict[str, Any] = {}
        _, compiled = self.conditions[bid]
        if compiled is not None:
            self.server.debugging.add(tid)  # the condition's calls pass other breakpoints
            try:
                if not _native.run_interruptibly(eval, compiled, frame.f_globals, dict(frame.f_locals)):
                    return
            except BaseException as exc:
                details["condition_error"] = f"{type(exc).__name__}: {safe_str(exc)}"
            finally:
                self.server.debugging.discard(tid)
        self.hits[bid] += 1
        if self.ignores.get(bid, 0) > 0:  # as pdb: counted as a hit, then passed over
            self.ignores[bid] -= 1
            return
        if self.breakpoints[bid].temporary:  # type: ignore[attr-defined]
            self._clear(bid)
        PausedThread(self.server, frame, reason="breakpoint", breakpoint=bid, in_line_event=True, **details).serve()

    def pause_at_first_line(self, file: str) -> None:
        """Pause the thread that first runs the first line of ``file``'s module
        code (``jupdb run --wait``), with reason ``start``."""
        import pathlib

        from .paused import PausedThread

        path = pathlib.Path(file).resolve()
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except SyntaxError:
            return  # running it will say so, as python would
        if not tree.body:
            return  # nothing to stop at (3.10 and 3.11 would stop at the implicit return)
        first = min(n for n in _lines_with_code(tree, path) if n > 0)  # 3.12+ put RESUME at line 0
        bp = self.debugger.breakpoint(file=path, line=first)

        def start(frame: types.FrameType) -> None:
            bp.disable()
            PausedThread(self.server, frame, reason="start", in_line_event=True).serve()

        bp.callback(start)

    def do_breakpoints(self, c: Dict[str, Any]) -> Dict[str, Any]:
        return {"breakpoints": [self._describe(bid) for bid in self.breakpoints]}

    def _clear(self, bid: int) -> None:
        bp = self.breakpoints.pop(bid, None)
        self.conditions.pop(bid, None)
        self.ignores.pop(bid, None)
        if bp is not None:
            bp.disable()

    def do_clear(self, c: Dict[str, Any]) -> Dict[str, Any]:
        from .paused import RequestError

        if c.get("all"):
            chosen = list(self.breakpoints)
        elif "id" in c:
            if c["id"] not in self.breakpoints:
                raise RequestError("NoSuchBreakpoint", f"there is no breakpoint {c['id']}")
            chosen = [c["id"]]
        else:
            try:
                path = str(find_source(c["file"]))
            except FileNotFoundError:
                path = os.path.realpath(c["file"])  # a file gone since: its breakpoints still go
            chosen = [
                b for b, bp in self.breakpoints.items() if str(bp.scope.file) == path and bp.line == c.get("line")
            ]
        for bid in chosen:
            self._clear(bid)
        return {"cleared": chosen}

    # -- remote probes (see probes.py) -----------------------------------------------------
    def do_probe(self, c: Dict[str, Any]) -> Dict[str, Any]:
        assert self.current is not None
        return {"probe": self.probes.install(c, self.current.peer, self.current.client_session)}

    def do_probe_action(self, c: Dict[str, Any]) -> Dict[str, Any]:
        from .paused import RequestError
        from .probes import BreakProbe

        probe = self.probes.get(c.get("probe"))
        if not isinstance(probe, BreakProbe):
            raise RequestError("InvalidRequest", f"probe {probe.id} is a capture: eval and exec are a breakpoint's")
        return {"action": probe.add_action(c.get("action"), c.get("code")), "probe": probe.describe()}

    def do_probes(self, c: Dict[str, Any]) -> Dict[str, Any]:
        return {"probes": [probe.describe() for probe in self.probes.probes.values()]}

    def do_unprobe(self, c: Dict[str, Any]) -> Dict[str, Any]:
        probe = self.probes.get(c.get("probe"))
        probe.remove()
        return {"probe": probe.describe()}

    def do_probe_ack(self, c: Dict[str, Any]) -> Dict[str, Any]:
        from .paused import RequestError

        received = c.get("received")
        if not isinstance(received, int) or isinstance(received, bool):
            raise RequestError("InvalidRequest", "received must be an int")
        probe = self.probes.probes.get(c.get("probe", 0))  # gone meanwhile: nothing to do
        if probe is not None:
            probe.ack(received)
        return {}

    def do_probe_fetch(self, c: Dict[str, Any]) -> Tuple[Dict[str, Any], List[Any]]:
        from .paused import RequestError, pickled

        probe = self.probes.get(c.get("probe"))
        hit, path = c.get("hit"), c.get("path")
        if not isinstance(hit, int) or not isinstance(path, list):
            raise RequestError("InvalidRequest", "probe_fetch_request needs hit (an int) and path (a list)")
        value = probe.fetch(hit, path)
        return pickled(value, " ".join(map(str, path)))

    def do_peer_gone(self, c: Dict[str, Any]) -> Dict[str, Any]:
        """The server's notice that a client's connection closed: its probes go."""
        self.probes.peer_gone(c["peer"])
        return {}

    # -- watches -------------------------------------------------------------------------
    def do_watch(self, c: Dict[str, Any]) -> Dict[str, Any]:
        expression = c["expression"]
        compile(expression, "<watch>", "eval")  # a syntax error is an error reply now
        for wid, existing in self.watches.items():
            if existing == expression:
                return {"watch": {"id": wid, "expression": expression}}
        wid = self._new_id()
        self.watches[wid] = expression
        return {"watch": {"id": wid, "expression": expression}}

    def do_unwatch(self, c: Dict[str, Any]) -> Dict[str, Any]:
        from .paused import RequestError

        wid: Optional[int] = c.get("id")
        if wid is None:
            wid = next((w for w, e in self.watches.items() if e == c.get("expression")), None)
        if wid is None or wid not in self.watches:
            raise RequestError("NoSuchWatch", f"no watch {c.get('id', c.get('expression'))!r}")
        del self.watches[wid]
        return {}

    def evaluate_watches(self, frame: types.FrameType) -> List[Dict[str, Any]]:
        """Every watch's value in ``frame`` (or its error), for a ``paused`` event."""
        from .paused import compile_client_code

        results = []
        for wid, expression in list(self.watches.items()):
            entry: Dict[str, Any] = {"id": wid, "expression": expression}
            try:
                # Compiled first: eval() of a string that raises KeyboardInterrupt would
                # make CPython end the process with SIGINT when it exits.
                code = compile_client_code(expression, "eval")
                entry["value"] = summarize(_native.run_interruptibly(eval, code, frame.f_globals, dict(frame.f_locals)))
            except BaseException as exc:  # even SystemExit: a watch never ends the program
                entry["error"] = {"ename": type(exc).__name__, "evalue": safe_str(exc)}
            results.append(entry)
        return results


def _lines_with_code(source: Any, path: Any) -> set[int]:
    """Every line of ``source`` (text or an AST of the file at ``path``) that some
    code object of it runs."""
    code = compile(source, str(path), "exec")
    lines: set[int] = set()
    todo = [code]
    while todo:
        current = todo.pop()
        lines |= _native.code_lines(current)
        todo.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return lines
