"""``jupdb.attach(pid)``: attaching to a running program that never imported jupdb.

Every target is a real program started by an interpreter of this machine —
pyenv's newest CPython 3.10, 3.11, 3.12 and 3.13, and Debian's ``/usr/bin/python3``
— without jupdb on its path (the bootstrap adds it). A target's Python must be able
to import this jupdb (an extension built for its version and ABI): where none is
built, the test is skipped and says so. The attaching side is the test process.
"""

from __future__ import annotations

import glob
import os
import pathlib
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from typing import Dict, List, Tuple

import pytest
from remote_helpers import TIMEOUT, launch, runtime_dir, wait_until  # noqa: F401

import jupdb
from jupdb import _native
from jupdb.remote.attach import _parent_of

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="attaching is Linux-only")

IMPORT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(jupdb.__file__)))
_VERSIONS: Dict[str, Tuple[int, int, int]] = {}


def _pyenv_root() -> str:
    if os.environ.get("PYENV_ROOT"):
        return os.environ["PYENV_ROOT"]
    try:
        return subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.path.expanduser("~/.pyenv")


def _interpreters() -> List[str]:
    """The newest pyenv CPython of each of 3.10–3.13, then Debian's python3."""
    found = []
    for minor in (10, 11, 12, 13):
        paths = glob.glob(os.path.join(_pyenv_root(), "versions", f"3.{minor}.*", "bin", f"python3.{minor}"))
        paths = [p for p in paths if re.search(rf"/3\.{minor}\.\d+/", p)]  # not 3.13.0t and the like
        if paths:
            found.append(max(paths, key=lambda p: int(p.split("/versions/")[1].split("/")[0].split(".")[2])))
    if os.path.exists("/usr/bin/python3"):
        found.append("/usr/bin/python3")
    return found


def _version(python: str) -> Tuple[int, int, int]:
    if python not in _VERSIONS:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True, text=True)
        _VERSIONS[python] = tuple(int(x) for x in out.stdout.split())  # type: ignore[assignment]
    return _VERSIONS[python]


@pytest.fixture(params=_interpreters())
def python(request) -> str:
    """A target interpreter with a jupdb it can import; skipped (saying why) without one."""
    path = request.param
    major, minor, _ = _version(path)
    suffix = re.sub(r"cpython-\d+", f"cpython-{major}{minor}", _native.__file__.rsplit("_native", 1)[1])
    if not os.path.exists(os.path.join(IMPORT_ROOT, "jupdb", "_native" + suffix)):
        pytest.skip(f"no jupdb built for Python {major}.{minor} ({path}) in {IMPORT_ROOT}")
    return path


def _start(launch, python: str, source: str, **kwargs):  # noqa: F811
    """A target that cannot import jupdb by itself (no PYTHONPATH)."""
    env = {"PYTHONPATH": "", **kwargs.pop("env", {})}
    return launch(source, env=env, command=[python, *kwargs.pop("options", [])], **kwargs)


BUSY_LOOP = """
    import os, sys
    stop = os path
    i = total = 0
    print("started", "jupdb" in sys.modules, flush=True)
    while True:
        total += i
        i += 1
        if i % 10000 == 0 and os.path.exists(stop):
            break
    print("done", total == i * (i - 1) // 2, flush=True)
"""


def _busy_loop(launch, python: str, tmp_path, **kwargs):  # noqa: F811
    stop = str(tmp_path / "stop")
    program = _start(launch, python, BUSY_LOOP.replace("os path", repr(stop)), **kwargs)
    program.wait_stdout("started False")
    return program, stop


def _finish(program, stop: str, last: str = "done True") -> None:
    """Ends the program's loop, and checks that it ran to its end as it would have."""
    with open(stop, "w"):
        pass
    program.wait_stdout(last)
    program.assert_finishes_ok()


def test_attach_to_a_busy_loop_eval_a_local_and_detach(python, launch, tmp_path):  # noqa: F811
    program, stop = _busy_loop(launch, python, tmp_path)
    session = jupdb.attach(program.pid, timeout=TIMEOUT)
    program.sessions.append(session)
    session.pause()  # at the loop's next line (or in os.path.exists, which it calls)
    loop = [f for f in session.where() if f.file == program.path]
    assert loop and loop[0].function == "<module>", session.where()
    first = session.eval("i", frame=loop[0].index).value
    assert isinstance(first, int) and first > 0
    assert session.eval("total == i * (i - 1) // 2", frame=loop[0].index).value is True
    assert session.eval("i", frame=loop[0].index).value == first  # paused: the loop does not move
    # The program imported the server's side only: not the client's (attach.py, session.py).
    clients = "[m for m in ('jupdb.remote.attach', 'jupdb.remote.session') if m in sys.modules]"
    assert session.eval(f"len({clients})", frame=loop[0].index).value == 0, session.eval(clients).repr
    session.cont()
    session.close()
    _finish(program, stop)
    assert "jupdb: listening on" in program.stderr


def test_main_thread_blocked_with_a_busy_worker(python, launch, tmp_path):  # noqa: F811
    stop = str(tmp_path / "stop")
    program = _start(
        launch,
        python,
        f"""
        import os, threading, time
        done = threading.Event()
        main = threading.main_thread()
        def main_sleeps():
            with open(f"/proc/self/task/{{main.native_id}}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "S"
        def work():
            # "started" only once the main thread is inside done.wait()'s lock (seen
            # asleep 3 times while this thread leaves the GIL free), not on its way there,
            # where it would still run Python code and so the bootstrap.
            settled = 0
            while settled < 3:
                time.sleep(0.01)
                settled = settled + 1 if done._cond._waiters and main_sleeps() else 0
            print("started", flush=True)
            n = 0
            while not os.path.exists({stop!r}):
                for _ in range(10000):
                    n += 1
            done.set()
        threading.Thread(target=work).start()
        done.wait()
        print("done", flush=True)
        """,
    )
    program.wait_stdout("started")
    major, minor, _ = _version(python)
    if minor >= 12:
        session = jupdb.attach(program.pid, timeout=TIMEOUT)
        program.sessions.append(session)
        names = [t.name for t in session.threads()]
        assert "MainThread" in names and len(names) >= 2, names
        session.close()
    else:
        with pytest.raises(jupdb.AttachError) as failure:
            jupdb.attach(program.pid, timeout=1.0)
        message = str(failure.value)
        assert f"Python {major}.{minor} runs the bootstrap only in the main thread" in message
        assert "futex" in message and "nothing was left pending" in message
    _finish(program, stop, "done")
    # Nothing ran later either, once the main thread was back in Python code.
    assert ("jupdb: listening on" in program.stderr) == (minor >= 12)


def test_a_failing_bootstrap_leaves_the_program_as_it_was(python, launch, tmp_path):  # noqa: F811
    # The program's audit hook refuses jupdb's attach event: the bootstrap fails in it.
    stop = str(tmp_path / "stop")
    source = BUSY_LOOP.replace("os path", repr(stop)).replace(
        "import os, sys",
        "import os, sys\n"
        "    def hook(event, args):\n"
        "        if event == 'jupdb.attach':\n"
        "            raise RuntimeError('no debuggers here')\n"
        "    sys.addaudithook(hook)",
    )
    program = _start(launch, python, source)
    program.wait_stdout("started False")
    with pytest.raises(jupdb.AttachError, match=r"bootstrap failed .* RuntimeError: no debuggers here"):
        jupdb.attach(program.pid, timeout=TIMEOUT)
    _finish(program, stop)
    assert "Traceback" not in program.stderr and "jupdb" not in program.stderr


@pytest.mark.parametrize("how", ["environment", "option"])
def test_a_program_that_opted_out_is_refused(python, launch, tmp_path, how):  # noqa: F811
    if how == "environment":
        program, stop = _busy_loop(launch, python, tmp_path, env={"PYTHON_DISABLE_REMOTE_DEBUG": "1"})
        words = "PYTHON_DISABLE_REMOTE_DEBUG"
    else:
        program, stop = _busy_loop(launch, python, tmp_path, options=["-X", "disable-remote-debug"])
        words = "-X disable-remote-debug"
    with pytest.raises(jupdb.AttachError, match=f"opted out of remote debugging: .*{re.escape(words)}"):
        jupdb.attach(program.pid, timeout=TIMEOUT)
    _finish(program, stop)
    assert "jupdb" not in program.stderr


def test_hundred_attaches_while_c_threads_add_pending_calls(python, launch, tmp_path):  # noqa: F811
    stop = str(tmp_path / "stop")
    program = _start(
        launch,
        python,
        f"""
        import ctypes, os, sys, threading, time
        attaches = 0
        def hook(event, args):
            global attaches
            if event == "jupdb.attach":
                attaches += 1
        sys.addaudithook(hook)

        ran = 0
        def on_call(arg):
            global ran
            ran += 1
            return 0
        CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
        callback = CALLBACK(on_call)
        add = ctypes.CDLL(None).Py_AddPendingCall  # called without the GIL, as a C thread would
        add.argtypes, add.restype = [CALLBACK, ctypes.c_void_p], ctypes.c_int
        added = [0] * 4
        done = threading.Event()
        def adder(k):
            while not done.is_set():
                for _ in range(5):
                    if add(callback, None) == 0:
                        added[k] += 1
                time.sleep(0.001)
        threads = [threading.Thread(target=adder, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        print("started", flush=True)
        n = 0
        while not os.path.exists({stop!r}):
            for _ in range(1000):
                n += 1
        done.set()
        for t in threads:
            t.join()
        while ran < sum(added):  # the last ones run at the next checks of the eval breaker
            n += 1
        print("added", sum(added), "ran", ran, "attaches", attaches, flush=True)
        """,
    )
    program.wait_stdout("started")
    for _ in range(100):
        session = jupdb.attach(program.pid, timeout=TIMEOUT)
        session.close()
    with open(stop, "w"):
        pass
    match = program.wait_stdout(re.compile(r"added (\d+) ran (\d+) attaches (\d+)"))
    program.assert_finishes_ok()
    added, ran, attaches = (int(g) for g in match.groups())
    assert added > 100 and ran == added, (added, ran)
    assert attaches == 100  # none lost, none run twice


def test_not_a_python_program_and_no_program(tmp_path):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with pytest.raises(jupdb.AttachError, match="not running a CPython"):
            jupdb.attach(sleeper.pid, timeout=5)
    finally:
        sleeper.kill()
        sleeper.wait()
    with pytest.raises(ProcessLookupError):
        jupdb.attach(sleeper.pid, timeout=5)
    with pytest.raises(jupdb.AttachError, match="this process"):
        jupdb.attach(os.getpid(), timeout=5)


def _user_without_privileges() -> pwd.struct_passwd:
    """``nobody``, else a user made for the test (as root only)."""
    for name in ("nobody", "jupdb-attach-test"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "jupdb-attach-test"], check=True)
    return pwd.getpwnam("jupdb-attach-test")


def _run_as(user: pwd.struct_passwd, python: str, code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-c", code, *args],
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        env={"PYTHONPATH": IMPORT_ROOT, "PATH": os.environ.get("PATH", "")},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _runs_jupdb_as(user: pwd.struct_passwd, python: str) -> bool:
    try:
        return _run_as(user, python, "import jupdb._native").returncode == 0
    except PermissionError:  # pyenv's under /root
        return False


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run the attaching side as another user")
def test_attaching_as_another_user_is_a_clear_permission_error(launch, tmp_path):  # noqa: F811
    user = _user_without_privileges()
    # An interpreter that user may run, with a jupdb built for it.
    usable = [p for p in _interpreters() if _runs_jupdb_as(user, p)]
    if not usable:
        pytest.skip(f"no Python here that user {user.pw_name} can run with this jupdb")
    program, stop = _busy_loop(launch, sys.executable, tmp_path)
    code = (
        "import sys, jupdb\n"
        "try:\n"
        "    jupdb.attach(int(sys.argv[1]), timeout=5)\n"
        "    print('attached')\n"
        "except BaseException as exc:\n"
        "    print(f'{type(exc).__name__}: {exc}')\n"
    )
    said = _run_as(user, usable[0], code, str(program.pid)).stdout
    assert said.startswith("PermissionError: "), said
    assert f"it runs as root, and you are user {user.pw_uid}" in said
    assert f"attach as root: sudo jupdb attach {program.pid}" in said
    _finish(program, stop)
    assert "jupdb" not in program.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to start a program as another user")
def test_root_does_not_attach_to_another_user_s_program():
    # Its session would trust (unpickle) what that user's program sends.
    user = _user_without_privileges()
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 that another user may run")
    shared = tempfile.TemporaryDirectory()  # where that user can see the stop file (pytest's are root's alone)
    os.chmod(shared.name, 0o755)
    stop = pathlib.Path(shared.name) / "stop"
    program = subprocess.Popen(
        [python, "-c", textwrap.dedent(BUSY_LOOP.replace("os path", repr(str(stop))))],
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    try:
        assert program.stdout is not None and program.stdout.readline() == "started False\n"
        with pytest.raises(jupdb.AttachError, match=rf"runs as {user.pw_name}, not as you \(root\)") as refused:
            jupdb.attach(program.pid, timeout=TIMEOUT)
        assert f"sudo -u {user.pw_name} jupdb attach {program.pid}" in str(refused.value)
        stop.touch()
        out, err = program.communicate(timeout=TIMEOUT)
        assert out == "done True\n" and err == "", (out, err)  # never touched
    finally:
        program.kill()
        program.wait()
        shared.cleanup()


def test_attach_to_a_program_this_process_did_not_start(python, tmp_path, runtime_dir):  # noqa: F811
    """The usual case (``jupdb attach PID`` from another terminal): the program is not
    this process's child, so this process traces it itself, without a helper."""
    stop, out = str(tmp_path / "stop"), tmp_path / "out"
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(BUSY_LOOP.replace("os path", repr(stop))))
    shell = f'"{python}" "{script}" > "{out}" 2>&1 & echo $!'  # the shell ends: not our child
    pid = int(subprocess.run(["sh", "-c", shell], capture_output=True, text=True, env=_target_env()).stdout)
    try:
        wait_until(lambda: "started False" in out.read_text(), what="the program to start")
        assert _parent_of(pid) != os.getpid()
        session = jupdb.attach(pid, timeout=TIMEOUT)
        try:
            session.pause()
            loop = [f for f in session.where() if f.file == str(script)]
            assert session.eval("total == i * (i - 1) // 2", frame=loop[0].index).value is True
            session.cont()
        finally:
            session.close()
        with open(stop, "w"):
            pass
        wait_until(lambda: "done True" in out.read_text(), what="the program to finish")
        assert "jupdb: listening on" in out.read_text() and "Traceback" not in out.read_text()
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def test_a_thread_id_stands_for_its_process(launch, tmp_path):  # noqa: F811
    # What top -H, ps -L and py-spy show: a worker thread's id.
    program = _start(
        launch,
        sys.executable,
        """
        import threading, time
        def work():
            while True:
                time.sleep(0.01)
        threading.Thread(target=work, name="worker", daemon=True).start()
        print("started", flush=True)
        i = 0
        while True:
            i += 1
        """,
    )
    program.wait_stdout("started")
    worker = wait_until(lambda: [int(t) for t in os.listdir(f"/proc/{program.pid}/task") if int(t) != program.pid])[0]
    session = jupdb.attach(worker, timeout=TIMEOUT)
    program.sessions.append(session)
    assert session.pid == program.pid
    assert [t.name for t in session.threads()].count("worker") == 1


ATTACHER = """
import sys, jupdb
session = jupdb.attach(int(sys.argv[1]), timeout=float(sys.argv[2]))
print("attached", session.pid, session.session_id, flush=True)
"""


def test_attaches_at_the_same_time_all_get_the_one_server(python, launch, tmp_path):  # noqa: F811
    # Each would remove the other's report of the program's one report file, but for a lock.
    program, stop = _busy_loop(launch, python, tmp_path)
    env = dict(os.environ, PYTHONPATH=IMPORT_ROOT)
    attachers = [
        subprocess.Popen(
            [sys.executable, "-c", ATTACHER, str(program.pid), str(TIMEOUT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    results = [a.communicate(timeout=TIMEOUT * 2) for a in attachers]
    assert all(a.returncode == 0 for a in attachers), results
    assert len({out.split()[2] for out, _ in results}) == 1, results  # one session id
    _finish(program, stop)
    assert program.stderr.count("jupdb: listening on") == 1, program.stderr


def test_a_program_with_a_jupdb_of_its_own_is_told_apart(python, launch, tmp_path):  # noqa: F811
    # jupdb's path comes after the program's own: its module named jupdb is what it imports.
    (tmp_path / "jupdb.py").write_text("MINE = True\n")
    program, stop = _busy_loop(launch, python, tmp_path)
    with pytest.raises(jupdb.AttachError, match=r"bootstrap failed .* a jupdb of its own, .*jupdb\.py"):
        jupdb.attach(program.pid, timeout=TIMEOUT)
    _finish(program, stop)
    assert "Traceback" not in program.stderr


@pytest.mark.parametrize("timeout", [-1.0, float("nan")])
def test_a_timeout_that_is_no_number_of_seconds_is_refused(timeout):
    with pytest.raises(ValueError, match="timeout must be a number of seconds"):
        jupdb.attach(os.getppid(), timeout=timeout)


def test_an_infinite_timeout_waits_as_long_as_it_takes(launch, tmp_path):  # noqa: F811
    program, stop = _busy_loop(launch, sys.executable, tmp_path)
    session = jupdb.attach(program.pid, timeout=float("inf"))
    program.sessions.append(session)
    assert session.status()["state"] == "running"
    session.close()
    _finish(program, stop)


def _target_env() -> Dict[str, str]:
    env = dict(os.environ, PYTHONPATH="", PYTHONUNBUFFERED="1")
    env.pop("PYTHONBREAKPOINT", None)
    return env


# What each layout field is in the headers: `offsetof` and the constants, printed by C.
OFFSETS_C = r"""
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#if PY_VERSION_HEX >= 0x030D0000
#include "internal/pycore_ceval_state.h"
#include "internal/pycore_ceval.h"
#endif
#define P(name, v) printf("%s %ld\n", name, (long)(v))
int main(void) {
    P("runtime_interpreters_main", offsetof(_PyRuntimeState, interpreters.main));
    P("interp_runtime", offsetof(PyInterpreterState, runtime));
    P("interp_pending", offsetof(PyInterpreterState, ceval.pending));
#if PY_VERSION_HEX < 0x030D0000
    P("interp_eval_breaker", offsetof(PyInterpreterState, ceval.eval_breaker));
    P("pending_lock", offsetof(struct _pending_calls, lock));
    P("pending_calls_to_do", offsetof(struct _pending_calls, calls_to_do));
    P("pending_calls", offsetof(struct _pending_calls, calls));
    P("pending_call_size", sizeof(((struct _pending_calls*)0)->calls[0]));
    P("pending_capacity", NPENDINGCALLS);
    P("pending_first", offsetof(struct _pending_calls, first));
    P("pending_last", offsetof(struct _pending_calls, last));
#endif
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
    P("pending_busy", offsetof(struct _pending_calls, busy));
#endif
#if PY_VERSION_HEX >= 0x030D0000
    P("pending_handling_thread", offsetof(struct _pending_calls, handling_thread));
    P("pending_mutex", offsetof(struct _pending_calls, mutex));
    P("pending_npending", offsetof(struct _pending_calls, npending));
    P("pending_max", offsetof(struct _pending_calls, max));
    P("pending_calls", offsetof(struct _pending_calls, calls));
    P("pending_call_size", sizeof(struct _pending_call));
    P("pending_call_flags", offsetof(struct _pending_call, flags));
    P("pending_capacity", PENDINGCALLSARRAYSIZE);
    P("pending_first", offsetof(struct _pending_calls, first));
    P("pending_last", offsetof(struct _pending_calls, next));
    P("interp_threads_head", offsetof(PyInterpreterState, threads.head));
    P("tstate_next", offsetof(PyThreadState, next));
    P("tstate_interp", offsetof(PyThreadState, interp));
    P("tstate_eval_breaker", offsetof(PyThreadState, eval_breaker));
    P("calls_to_do_bit", _PY_CALLS_TO_DO_BIT);
#endif
    return 0;
}
"""


def _include_dirs(python: str) -> List[str]:
    code = "import sysconfig; print(sysconfig.get_path('include'))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.split()


@pytest.mark.parametrize("interpreter", _interpreters())
def test_layouts_match_the_headers(interpreter, tmp_path):
    """Each offset jupdb writes at, against ``offsetof`` in that Python's own internal headers."""
    major, minor, micro = _version(interpreter)
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    includes = [d for d in _include_dirs(interpreter) if os.path.exists(os.path.join(d, "internal", "pycore_interp.h"))]
    if not includes:
        pytest.skip(f"no internal headers for {interpreter} (Debian: apt-get install python3-dev)")
    source = tmp_path / "offsets.c"
    source.write_text(OFFSETS_C)
    exe = tmp_path / "offsets"
    flags = [f"-I{d}" for d in includes]
    plat = f"/usr/include/{sys.implementation._multiarch}/python{major}.{minor}"  # Debian's pyconfig.h
    if os.path.isdir(plat):
        flags.append(f"-I{plat}")
    subprocess.run(["cc", *flags, "-o", str(exe), str(source)], check=True)
    printed = dict(
        line.split() for line in subprocess.run([str(exe)], capture_output=True, text=True).stdout.splitlines()
    )
    expected = {name: int(value) for name, value in printed.items()}
    assert _native.attach_layout(minor) == expected, f"{major}.{minor}.{micro}"


def test_a_layout_for_each_supported_version_only():
    assert [m for m in range(8, 16) if _native.attach_layout(m) is not None] == [10, 11, 12, 13]


def test_the_bootstrap_fits_in_the_smallest_spare_room():
    # 920 bytes after .bss were the fewest of the builds tried (pyenv's 3.12.1).
    from jupdb.remote.attach import bootstrap

    code = bootstrap(IMPORT_ROOT, "/run/user/1000/jupdb")
    assert len(code) + len("#jupdb-attach\n") < 920 - 120
    # Its errors stay in it: the code it runs inside compiles (a SyntaxError there would be swallowed).
    inner = re.fullmatch(r"try:exec\((.*),\{'__name__':'__jupdb_attach__'\}\)\nexcept BaseException:pass\n", code, re.S)
    assert inner is not None, code
    compile(eval(inner.group(1)), "<bootstrap>", "exec")
