"""Attaching to a running Python program that never imported jupdb.

:func:`attach` makes a plain ``python train.py`` that has run for hours start
jupdb's server, without gdb and without restarting it, and returns a
:class:`~jupdb.remote.session.Session` to it. The program is stopped only for
the microseconds of a few memory writes.

How (the Rust side, ``crates/jupdb-native/src/attach``): on CPython 3.10–3.13 a
*remote pending call* — the bootstrap below is written into the interpreter's
spare memory and ``PyRun_SimpleString`` of it queued in its pending calls, as
``Py_AddPendingCall`` would from inside; on 3.14+ PEP 768's own protocol runs
the same bootstrap from a file. The bootstrap, in the program, adds jupdb's
path for its import, raises the audit event ``jupdb.attach``, starts the server
(:func:`jupdb.remote.debuggee.attached`) and reports how it went in a file of the attaching user's
private directory; nothing it does can raise into the program.

Needs the permission to trace the program (the same user with ptrace_scope 0,
or root / CAP_SYS_PTRACE), and a jupdb built for the program's Python version.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.machinery
import json
import os
import pwd
import re
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, Optional

from .. import _native
from .debuggee import write_private
from .session import Session, connect

#: jupdb's import root (the directory that holds the ``jupdb`` package).
_IMPORT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class AttachError(RuntimeError):
    """jupdb could not attach; the program goes on as it was."""


def attach(pid: int, *, timeout: float = 10.0) -> Session:
    """Start jupdb's server in the running Python program ``pid`` and connect to it.

    The program need not have imported jupdb: it runs a small bootstrap at its
    next Python instruction (CPython 3.12 and 3.13: in any thread running Python
    code; 3.10 and 3.11, and 3.14 with PEP 768: in its main thread) and goes on. Raises
    :class:`AttachError` saying why where it cannot (the program opted out with
    ``PYTHON_DISABLE_REMOTE_DEBUG`` or ``-X disable-remote-debug``, no jupdb for
    its Python version, no thread of it ran Python code within ``timeout`` —
    naming what its main thread is doing —, the bootstrap failed in it, with the
    program's own error), :class:`PermissionError` saying what to do where
    tracing it is not allowed, and :class:`ProcessLookupError` for no such process.
    """
    if not sys.platform.startswith("linux"):
        raise AttachError("attaching to a running program works on Linux only: use set_trace() or `jupdb run`")
    timeout = min(timeout, _FOREVER)  # NaN and negative ones: attach_probe's ValueError
    pid = _process_of(pid)
    _check_same_user(pid)
    deadline = time.monotonic() + timeout
    try:
        target = _native.attach_probe(pid, timeout=timeout)
    except RuntimeError as exc:
        raise AttachError(f"cannot attach to process {pid}: {exc}") from None
    _check_jupdb_importable(pid, target)
    directory = str(_native.prepare_connection_dir()[0])
    with _one_at_a_time(os.path.join(directory, f"attach-{pid}.lock"), pid, deadline):
        report = _bootstrap_in(pid, target, directory, deadline, timeout)
    if not report.startswith("ok\n"):
        raise AttachError(_failed(pid, report))
    return connect(report[3:])


#: Seconds of a timeout that is as good as none (a deadline that stays finite).
_FOREVER = 1e6


def _bootstrap_in(pid: int, target: Dict[str, Any], directory: str, deadline: float, timeout: float) -> str:
    """Has the program run the bootstrap; what it reported."""
    status = os.path.join(directory, f"attach-{pid}")
    _remove(status)  # a report from an earlier attach is not this one's
    code = bootstrap(_IMPORT_ROOT, directory)
    script = os.path.join(directory, "attach-bootstrap.py")  # what PEP 768 (3.14+) runs
    if target["method"] == "PEP 768":
        write_private(script, code)
    try:
        outcome = _inject(pid, code, script, max(0.0, deadline - time.monotonic()))
    except RuntimeError as exc:  # refused (TimeoutError, PermissionError… are OSErrors and go as they are)
        raise AttachError(f"cannot attach to process {pid}: {exc}") from None
    if not outcome["taken"]:
        raise AttachError(_not_run(pid, target, timeout))
    report = _wait_for(status, deadline)
    _remove(status)
    if report is None:
        raise AttachError(
            f"process {pid} took jupdb's bootstrap but did not report within {timeout:g} s "
            f"(still importing, or an audit hook stopped it): see its stderr"
        )
    return report


@contextlib.contextmanager
def _one_at_a_time(path: str, pid: int, deadline: float) -> Iterator[None]:
    """Holds this user's lock on attaching to ``pid`` (the file at ``path``): two
    attaches at once would share the program's one report file. The file goes
    with the lock; a waiter that then holds a lock on a file no longer there
    tries again."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise AttachError(f"another attach to process {pid} by this user is still going on") from None
                    time.sleep(0.005)
            try:
                current = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                continue  # its holder removed it as we took the lock: take a lock on the new one
            if not os.path.samestat(os.fstat(fd), current):
                continue
            try:
                yield
            finally:
                _remove(path)
            return
        finally:
            os.close(fd)


def _check_same_user(pid: int) -> None:
    """Refuses another user's program, where tracing it would be allowed (root,
    CAP_SYS_PTRACE): a client trusts the program it talks to (it unpickles what
    the program sends), so that program's owner could take over this account.
    Without that privilege, attach_probe's PermissionError says what to do."""
    owner, me = _status_field(pid, "Uid", 1), os.geteuid()
    if owner is None or owner == me or not (me == 0 or (_status_field("self", "CapEff", 0, 16) or 0) >> 19 & 1):
        return
    raise AttachError(
        f"process {pid} runs as {_user_name(owner)}, not as you ({_user_name(me)}): jupdb attaches only to "
        f"your own programs, since a session trusts the program it talks to (it unpickles what the program "
        f"sends) and another user's program could take over your account that way. Attach as that user "
        f"(sudo -u {_user_name(owner)} jupdb attach {pid}; tracing needs ptrace_scope 0 there), or start the "
        f"program with `jupdb run` or jupdb.listen()"
    )


def _status_field(pid: "int | str", name: str, index: int, base: int = 10) -> Optional[int]:
    """Word ``index`` of the line ``name:`` of /proc/PID/status, as a number."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1 + index], base)
    except (OSError, ValueError, IndexError):
        pass  # no such process, or not one /proc shows: attach_probe says which
    return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _process_of(pid: int) -> int:
    """The process whose id, or whose thread's id (``top -H``, py-spy), ``pid`` is."""
    process = _status_field(int(pid), "Tgid", 0)
    return pid if process is None else process


def _inject(pid: int, code: str, script: str, timeout: float) -> Dict[str, Any]:
    if _parent_of(pid) != os.getpid():
        return _native.attach_inject(pid, code, script, timeout)
    # The program is this process's child (a notebook attaching to the job it
    # started): its ptrace stops would also reach this process's own waits for it —
    # subprocess.Popen would take one for its exit —, so a helper process does it.
    helper = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _HELPER, _native.__file__, str(pid), code, script, repr(timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )
    try:
        kind, result = json.loads(helper.stdout)
    except ValueError:
        raise AttachError(f"jupdb's attach helper failed: {helper.stderr.strip()[-2000:]}") from None
    if kind == "ok":
        return dict(result)
    raise _ERRORS.get(kind, OSError)(result)


#: The helper: attach_inject, its result or error as JSON on stdout. It loads the
#: extension alone (not the jupdb package, nor importlib.util), in an isolated
#: interpreter without site, to start fast.
_HELPER = """import json, sys
from importlib.machinery import ExtensionFileLoader, ModuleSpec
loader = ExtensionFileLoader("jupdb._native", sys.argv[1])
native = loader.create_module(ModuleSpec("jupdb._native", loader, origin=sys.argv[1]))
loader.exec_module(native)
try:
    result = ["ok", native.attach_inject(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]))]
except Exception as exc:
    result = [type(exc).__name__, str(exc)]
print(json.dumps(result))
"""
_ERRORS = {e.__name__: e for e in (PermissionError, ProcessLookupError, TimeoutError, RuntimeError, OSError)}


def _parent_of(pid: int) -> Optional[int]:
    return _status_field(pid, "PPid", 0)


def bootstrap(import_root: str, directory: str) -> str:
    """The code the program runs: one statement whose errors all stay in it (it runs in
    ``__main__``'s namespace, so its work is done in a namespace of its own). jupdb's
    path goes last on ``sys.path``, and only for the import: the program's own
    modules, the standard library first, stay what it imports (and a jupdb of the
    program's own is the one used). A failure reports the error, and on a line of
    its own (``jupdb=``) the file the program's ``jupdb`` came from, if any."""
    inner = f"""import sys,os
d,r={directory!r},{import_root!r}
try:
 sys.audit('jupdb.attach')
 if 'jupdb.remote.debuggee' not in sys.modules:
  sys.path.append(r)
  try:import jupdb.remote.debuggee
  finally:
   if sys.path[-1:]==[r]:sys.path.pop()
 sys.modules['jupdb.remote.debuggee'].attached(d)
except BaseException as e:
 f=os.path.join(d,'attach-%d'%os.getpid())
 j=getattr(sys.modules.get('jupdb'),'__file__','')
 with open(f+'.new','w') as o:o.write('%s: %s\\njupdb=%s'%(type(e).__name__,e,j))
 os.replace(f+'.new',f)
"""
    return f"try:exec({inner!r},{{'__name__':'__jupdb_attach__'}})\nexcept BaseException:pass\n"


def _failed(pid: int, report: str) -> str:
    """What the bootstrap's failure ``report`` means."""
    error, _, last = report.rpartition("\njupdb=")
    error, package = (error, last) if error else (report, "")
    why = f"jupdb's bootstrap failed in process {pid}, which goes on: {error}"
    if package and not os.path.abspath(package).startswith(os.path.join(_IMPORT_ROOT, "")):
        why += f" (the program has a jupdb of its own, {package}: attach from that jupdb, or with it uninstalled)"
    return why


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _wait_for(path: str, deadline: float) -> Optional[str]:
    """The report at ``path`` once the program wrote it; None at the deadline."""
    while True:
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.002)


def _check_jupdb_importable(pid: int, target: Dict[str, Any]) -> None:
    """The program must be able to import this jupdb: its extension built for the
    program's Python version and ABI, at the same path in the program's mount namespace."""
    major, minor, _ = target["version"]
    ours = importlib.machinery.EXTENSION_SUFFIXES[0]  # .cpython-312-x86_64-linux-gnu.so
    suffix = re.sub(r"cpython-\d+", f"cpython-{major}{minor}", ours)
    native = os.path.join(_IMPORT_ROOT, "jupdb", "_native" + suffix)
    if not os.path.exists(f"/proc/{pid}/root{native}"):
        raise AttachError(
            f"process {pid} runs Python {major}.{minor}, and the program cannot import this jupdb: "
            f"{native} is missing (there, in its mount namespace). Install jupdb for Python "
            f"{major}.{minor} (the same Python the program runs), and attach from it"
        )


#: x86-64 system calls a blocked thread is most often in, and what they mean.
_SYSCALLS = {
    0: "read (reading a file, pipe, socket or the terminal)",
    7: "poll (waiting for I/O)",
    23: "select (waiting for I/O)",
    34: "pause",
    35: "nanosleep (time.sleep)",
    43: "accept (waiting for a connection)",
    45: "recvfrom (waiting on a socket)",
    47: "recvmsg (waiting on a socket)",
    61: "wait4 (waiting for a child process)",
    202: "futex (waiting on a lock: Event.wait(), Thread.join(), queue.get(), a lock…)",
    230: "clock_nanosleep (time.sleep)",
    232: "epoll_wait (an event loop waiting for I/O)",
    270: "pselect6 (waiting for I/O)",
    271: "ppoll (waiting for I/O)",
    281: "epoll_pwait (an event loop waiting for I/O)",
    288: "accept4 (waiting for a connection)",
}


def thread_activity(pid: int, tid: int) -> str:
    """What thread ``tid`` of ``pid`` is doing, in words, from /proc."""

    def read(name: str) -> str:
        try:
            with open(f"/proc/{pid}/task/{tid}/{name}") as f:
                return f.read().strip()
        except OSError:
            return ""

    state = read("stat").rpartition(")")[2].split()[:1]
    if state in (["T"], ["t"]):
        return "stopped (by SIGSTOP, Ctrl-Z or a debugger)"
    if state == ["R"]:
        return "running C code (not Python's: a long computation in an extension, or a call that holds the GIL)"
    syscall = read("syscall").split()[:1]
    wchan = read("wchan")
    where = f", kernel function {wchan}" if wchan and wchan != "0" else ""
    number = int(syscall[0]) if syscall and syscall[0].isdigit() else -1
    if number == 219 and "futex" in wchan:  # restart_syscall: a futex wait resumed after a stop
        number = 202
    if number >= 0:
        return f"blocked in C, in the {_SYSCALLS.get(number, f'#{number}')} system call{where}"
    return f"blocked in C{where}" if where else "blocked in C"


def _not_run(pid: int, target: Dict[str, Any], timeout: float) -> str:
    major, minor, _ = target["version"]
    doing = thread_activity(pid, pid)  # the main thread's id is the process's
    if target["main_thread_only"]:
        return (
            f"Python {major}.{minor} runs the bootstrap only in the main thread, and process {pid}'s main thread "
            f"ran no Python code for {timeout:g} s: it is {doing}. jupdb can attach once it is back in Python "
            f"code; nothing was left pending in the program"
        )
    return (
        f"no thread of process {pid} ran Python code for {timeout:g} s (its main thread is {doing}); "
        f"nothing was left pending in the program"
    )


def connect_or_attach(pid: int, *, timeout: float = 10.0, attach_timeout: float = 10.0) -> Session:
    """A session with the running program ``pid``: through the jupdb server it
    serves already (as :func:`~jupdb.remote.session.connect` finds it, paused or
    not), else through the one :func:`attach` starts in it (given
    ``attach_timeout``). ``timeout``: the seconds each request may take. Raises
    as :func:`attach` does (``jupdb attach PID``, and the ``attach`` command)."""
    try:
        return connect(pid, timeout=timeout)
    except LookupError:
        pass  # no session of that pid: a program that never imported jupdb
    session = attach(pid, timeout=attach_timeout)
    session.timeout = timeout
    return session
