"""``with jupdb.jump_context():`` — a paused frame's locals as ordinary variables.

On entering the block, every local of the selected frame is fetched (a real
copy: pickle protocol 5, large arrays as out-of-band buffers) into the
namespace of the code that runs the ``with`` (in a notebook, the notebook's
own; in a script, the module's globals). On leaving it — an exception in the
block included — every variable changed or added in the block is written back
to the frame (``Session.assign``), the variables they shadowed are restored,
and the names the block introduced are removed.

A variable counts as changed when it was rebound, or when its pickle differs
from the one it had when fetched: a DataFrame or an array changed in place is
written back too. Telling costs no copy of the buffers: a BLAKE3 digest of
them is kept on entering and compared on leaving.

Limits: the ``with`` belongs at the top level of a cell or a module (in a
function, what the block assigns is the function's, out of reach: a
RuntimeWarning says so); each local is fetched on its own, so two locals that were one object
in the program are two copies here; a name deleted in the block stays in the
frame; modules are left out (they are not values to copy).
"""

from __future__ import annotations

import pickle
import sys
import types
import warnings
from typing import Any, Dict, List, Optional, Set

from .. import _native
from ..remote.session import RemoteError, Session, connect
from . import current

_ABSENT = object()


class WriteBackError(RuntimeError):
    """Some variables could not be written back to the paused frame (the rest were).

    Attributes:
        failures: Each such name, with why.
        values: Their values as the block left them (nothing is lost).
    """

    def __init__(self, failures: Dict[str, str], values: Dict[str, Any]) -> None:
        listed = "; ".join(f"{name}: {why}" for name, why in failures.items())
        super().__init__(f"could not write back {', '.join(failures)} to the paused frame ({listed})")
        self.failures = failures
        self.values = values


class _Snapshot:
    """A digest of a value's pickle as it was fetched, out-of-band buffers
    included, to tell later whether the value changed in place (hashing a
    100 MB array is faster than copying it, and keeps no second copy)."""

    def __init__(self, value: Any) -> None:
        self.digest = _digest(value)

    def matches(self, value: Any) -> bool:
        """Whether ``value`` pickles as it did (False when it no longer pickles)."""
        try:
            return _digest(value) == self.digest
        except Exception:
            return False


def _digest(value: Any) -> bytes:
    buffers: List[pickle.PickleBuffer] = []
    data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    try:
        return _native.digest([data, *(_contiguous(b) for b in buffers)])
    finally:
        for b in buffers:
            b.release()


def _contiguous(buffer: pickle.PickleBuffer) -> Any:
    try:
        return buffer.raw()
    except BufferError:  # not contiguous: a copy to hash
        return memoryview(buffer).tobytes()


class JumpContext:
    """The context manager :func:`jump_context` returns."""

    def __init__(self, session: Optional[Session] = None, *, frame: Optional[int] = None) -> None:
        self._given = session
        self._frame = frame
        self.session: Optional[Session] = None
        #: The frame's locals brought into the namespace, as fetched.
        self.fetched: Dict[str, Any] = {}
        self._snapshots: Dict[str, Optional[_Snapshot]] = {}
        self._shadowed: Dict[str, Any] = {}
        self._names_before: Set[str] = set()
        self._namespace: Dict[str, Any] = {}
        self._own_session = False

    def __enter__(self) -> "JumpContext":
        caller = sys._getframe(1)
        if caller.f_locals is not caller.f_globals:
            # A function's (or a class body's) assignments are its own locals: none can be written back.
            warnings.warn(
                f"jump_context brings the frame's locals into the module's globals, and in "
                f"{caller.f_code.co_name}() what the block assigns is that function's own: it will not reach "
                "the paused frame (changes in place will); use the with at the top level of a cell or module",
                RuntimeWarning,
                stacklevel=2,
            )
        self._namespace = caller.f_globals
        session = self._given or current.get()
        if session is None:
            session = connect()
            self._own_session = True
        self.session = session
        try:
            if self._frame is None:
                self._frame = session.where().selected  # writes go where reads came from
            self._fetch_all(session)
        except BaseException:
            self._restore(keep=set())
            self._close()
            raise
        self._names_before = set(self._namespace)
        return self

    def _fetch_all(self, session: Session) -> None:
        for name, summary in session.locals(frame=self._frame).items():
            if name.startswith("__") and name.endswith("__") or summary.type == "module":
                continue
            try:
                value = session.fetch(name, frame=self._frame)
            except RemoteError as exc:
                _warn(f"left out {name} ({summary.type}): {exc.evalue}")
                continue
            except (ConnectionError, TimeoutError):
                raise
            except Exception as exc:  # unpickling here: a class only the program has, say
                _warn(f"left out {name} ({summary.type}): it cannot be unpickled here ({type(exc).__name__}: {exc})")
                continue
            try:
                snapshot: Optional[_Snapshot] = _Snapshot(value)
            except Exception:  # does not pickle here: only rebinding it counts as a change
                snapshot = None
            self._shadowed[name] = self._namespace.get(name, _ABSENT)
            self._namespace[name] = value
            self.fetched[name] = value
            self._snapshots[name] = snapshot

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        session = self.session
        assert session is not None, "__exit__ without __enter__"
        failures: Dict[str, str] = {}
        for name in self._to_write_back():
            try:
                session.assign(name, self._namespace[name], frame=self._frame)
            except RemoteError as failed:
                failures[name] = f"{failed.ename}: {failed.evalue}"
            except Exception as failed:
                failures[name] = f"{type(failed).__name__}: {failed}"
        values = {name: self._namespace[name] for name in failures}
        self._restore(keep={name for name in failures if self._shadowed.get(name, _ABSENT) is _ABSENT})
        self._close()
        if failures:
            problem = WriteBackError(failures, values)
            if exc_type is None:
                raise problem
            _warn(str(problem))  # the block's own exception goes on

    def _to_write_back(self) -> List[str]:
        """The names changed or added in the block."""
        names = []
        for name, fetched in self.fetched.items():
            if name not in self._namespace:
                _warn(f"{name} was deleted in the block; the paused frame keeps it")
                continue
            value = self._namespace[name]
            snapshot = self._snapshots[name]
            if value is not fetched or (snapshot is not None and not snapshot.matches(value)):
                names.append(name)
        for name in sorted(set(self._namespace) - self._names_before):
            value = self._namespace[name]
            if not (name.startswith("__") and name.endswith("__")) and value is not self:
                if not isinstance(value, types.ModuleType):
                    names.append(name)
        return names

    def _restore(self, keep: Set[str]) -> None:
        """Put back what the fetched names shadowed; remove the names the block
        introduced (but those in ``keep``)."""
        for name, before in self._shadowed.items():
            if before is not _ABSENT:
                self._namespace[name] = before
            elif name not in keep:
                self._namespace.pop(name, None)
        if self._names_before:
            for name in set(self._namespace) - self._names_before - keep:
                if self._namespace[name] is not self:  # ``with ... as ctx`` keeps its name
                    del self._namespace[name]

    def _close(self) -> None:
        if self._own_session and self.session is not None:
            self.session.close()


def jump_context(session: Optional[Session] = None, *, frame: Optional[int] = None) -> JumpContext:
    """The paused frame's locals as variables of the caller's namespace for the
    length of a ``with`` block; changed and new ones written back on leaving it.

    Args:
        session: The program to use; None: the notebook's current one
            (``%jupdb``'s), else the most recently paused program.
        frame: The frame (0: where the thread stopped); None: the selected one.

    Raises:
        WriteBackError: on leaving the block normally, when some variables
            could not be written back (the others were); when the block raised,
            a warning says so instead.
    """
    return JumpContext(session, frame=frame)


def _warn(text: str) -> None:
    """One line on stderr: what the block could not have or give back."""
    sys.stderr.write(f"jupdb.jump_context: {text}\n")
    sys.stderr.flush()
