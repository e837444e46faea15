"""``jupdb.attach(pid)`` against programs that resist or trick it, and bad arguments.

Every target is a real program started by an interpreter of this machine, as in
tests/test_attach.py (whose helpers these tests use). Whatever could hang the
attaching side runs in a subprocess with a hard timeout, so that a regression
fails the test instead of hanging the suite.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from typing import List

import pytest
from remote_helpers import TIMEOUT, launch, runtime_dir, wait_until  # noqa: F401
from test_attach import (  # noqa: F401
    BUSY_LOOP,
    IMPORT_ROOT,
    _busy_loop,
    _finish,
    _run_as,
    _runs_jupdb_as,
    _start,
    _user_without_privileges,
    _version,
    python,
)

import jupdb
from jupdb import _native

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="attaching is Linux-only")

#: An attacher in a process of its own: ``jupdb.attach(pid, timeout)``, and what came of it.
ATTACHER = """import sys, jupdb
try:
    session = jupdb.attach(int(sys.argv[1]), timeout=float(sys.argv[2]))
    session.pause()
    print("attached", session.eval("1 + 1").value)
    session.cont()
    session.close()
except BaseException as exc:
    print(f"{type(exc).__name__}: {exc}")
"""


#: In a process of its own: ``_native.attach_inject`` of a print into the program, and
#: whether the program took it, or "interrupted" (Ctrl-C).
INJECTOR = """import sys
from jupdb import _native
try:
    outcome = _native.attach_inject(int(sys.argv[1]), "print('ran', flush=True)", "", float(sys.argv[2]))
    print("taken" if outcome["taken"] else "withdrawn")
except KeyboardInterrupt:
    print("interrupted")
"""


def _in_a_subprocess(code: str, *args: str) -> str:
    """Runs ``code`` in a process of its own, with this Python and this jupdb (so that
    the program, this process's child, is not the attacher's); its stdout. A hang
    fails the test instead of hanging it."""
    env = dict(os.environ, PYTHONPATH=IMPORT_ROOT)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT + 30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _xoptions_loop(stop: str) -> str:
    """BUSY_LOOP, saying first which -X options CPython recorded."""
    said = "\n    import sys\n    print('xoptions', sorted(sys._xoptions), flush=True)"
    return said + BUSY_LOOP.replace("os path", repr(stop))


# Each form CPython reads as `-X disable-remote-debug` (sys._xoptions has it).
OPT_OUTS = [
    ["-W", "ignore", "-X", "disable-remote-debug"],
    ["-uX", "disable-remote-debug"],
    ["-uXdisable-remote-debug"],
    ["--check-hash-based-pycs", "default", "-X", "disable-remote-debug"],
    ["-X", "dev", "-Xdisable-remote-debug=0"],
]


@pytest.mark.parametrize("options", OPT_OUTS, ids=" ".join)
def test_every_form_of_the_opt_out_is_refused(python, launch, tmp_path, options):  # noqa: F811
    stop = str(tmp_path / "stop")
    program = _start(launch, python, _xoptions_loop(stop), options=options)
    program.wait_stdout("started False")
    assert "'disable-remote-debug'" in program.stdout, program.stdout  # CPython's own view
    with pytest.raises(jupdb.AttachError, match="opted out of remote debugging: it was started with -X disable"):
        jupdb.attach(program.pid, timeout=TIMEOUT)
    with pytest.raises(RuntimeError, match="opted out"):
        _native.attach_probe(program.pid)
    _finish(program, stop)
    assert "jupdb" not in program.stderr


@pytest.mark.parametrize(
    "how",
    ["-X disable-remote-debugger", "the script's own -X disable-remote-debug", "-E and PYTHON_DISABLE_REMOTE_DEBUG"],
)
def test_what_only_looks_like_the_opt_out_attaches(python, launch, tmp_path, how):  # noqa: F811
    stop = str(tmp_path / "stop")
    options: List[str] = []
    args: List[str] = []
    env = {}
    if how.startswith("-X"):
        options = ["-X", "disable-remote-debugger"]
    elif how.startswith("the script"):
        args = ["-X", "disable-remote-debug"]
    else:  # CPython 3.14 ignores the variable too under -E (Py_GETENV)
        options, env = ["-E"], {"PYTHON_DISABLE_REMOTE_DEBUG": "1"}
    program = _start(launch, python, _xoptions_loop(stop), options=options, args=args, env=env)
    program.wait_stdout("started False")
    session = jupdb.attach(program.pid, timeout=TIMEOUT)
    program.sessions.append(session)
    session.pause()
    assert session.eval("' '.join(__import__('sys').argv[1:])").value == " ".join(args)
    session.cont()
    session.close()
    _finish(program, stop)


def test_a_fifo_where_a_deleted_mapping_was_does_not_hang(python, launch, tmp_path):  # noqa: F811
    # The program maps a file named like a libpython, deletes it, and puts a FIFO where
    # /proc/PID/maps then says it is: "<path> (deleted)". Opening that FIFO for reading
    # would wait for a writer for ever. Mapped low (an address hint, below the
    # libraries), it is the first libpython in the maps, and so the first file read.
    stop = str(tmp_path / "stop")
    trap = str(tmp_path / "libpython3.9.so.1.0")
    setup = f"""
        import ctypes, mmap, os
        with open({trap!r}, "wb") as f:
            f.write(b"\\x7fELF" + bytes(8188))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        with open({trap!r}, "rb") as f:
            mapped = libc.mmap(1 << 33, 4096, mmap.PROT_READ, mmap.MAP_PRIVATE, f.fileno(), 0)
        assert mapped not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
        os.unlink({trap!r})
        os.mkfifo({trap!r} + " (deleted)")
    """
    busy = BUSY_LOOP.replace("os path", repr(stop))
    program = _start(launch, python, textwrap.dedent(setup) + textwrap.dedent(busy))
    program.wait_stdout("started False")
    with open(f"/proc/{program.pid}/maps") as f:
        libraries = [line.split(maxsplit=5)[-1] for line in f if "/libpython3" in line]
    assert libraries[0] == f"{trap} (deleted)\n", libraries
    said = _in_a_subprocess(ATTACHER, str(program.pid), str(TIMEOUT))
    assert said == "attached 2\n", said
    _finish(program, stop)


def _libpython_of(python: str) -> str:
    major, minor, _ = _version(python)
    found = glob.glob(os.path.join(os.path.dirname(os.path.dirname(python)), "lib", f"libpython{major}.{minor}.so.1.0"))
    if not found:
        pytest.skip(f"{python} links no libpython of its own")
    return found[0]


def _mapping_of(pid: int, path: str) -> str:
    """The ``start-end`` of the first mapping of ``path`` (deleted) in process ``pid``."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            if line.rstrip("\n").endswith(f"{path} (deleted)"):
                start, end = line.split()[0].split("-")
                return f"{int(start, 16):x}-{int(end, 16):x}"
    raise AssertionError(f"{path} (deleted) is not mapped in process {pid}")


def test_a_program_whose_libpython_was_deleted_is_attached_as_root(python, launch, tmp_path):  # noqa: F811
    # As an upgrade (apt, conda) does to a long job: the file the program runs is gone.
    original = _libpython_of(python)
    copy = tmp_path / "lib" / os.path.basename(original)
    copy.parent.mkdir()
    shutil.copy(original, copy)
    stop = str(tmp_path / "stop")
    program = _start(
        launch, python, BUSY_LOOP.replace("os path", repr(stop)), env={"LD_LIBRARY_PATH": str(copy.parent)}
    )
    program.wait_stdout("started False")
    os.unlink(copy)
    try:
        os.close(os.open(f"/proc/{program.pid}/map_files/{_mapping_of(program.pid, str(copy))}", os.O_PATH))
    except PermissionError:
        pytest.skip("/proc/PID/map_files is not readable here (it needs root: CAP_SYS_ADMIN)")
    assert _native.attach_probe(program.pid)["object"] == f"{copy} (deleted)"
    session = jupdb.attach(program.pid, timeout=TIMEOUT)
    program.sessions.append(session)
    session.pause()
    assert session.eval("2 + 2").value == 4
    session.cont()
    session.close()
    _finish(program, stop)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run a program and its attacher as another user")
def test_a_deleted_interpreter_is_a_clear_error_without_root(launch):  # noqa: F811
    # Debian's python3 has its interpreter in the executable: a copy of it is deleted
    # while it runs, all as an unprivileged user, for whom /proc/PID/map_files is closed.
    user = _user_without_privileges()
    if not os.path.exists("/usr/bin/python3") or not _runs_jupdb_as(user, "/usr/bin/python3"):
        pytest.skip(f"no /usr/bin/python3 that user {user.pw_name} can run with this jupdb")
    directory = tempfile.mkdtemp(prefix="jupdb-deleted-")
    try:
        os.chmod(directory, 0o755)
        executable = os.path.join(directory, os.path.basename(os.path.realpath("/usr/bin/python3")))
        shutil.copy("/usr/bin/python3", executable)
        program = subprocess.Popen(
            [executable, "-c", "import sys\nprint('started', flush=True)\nsys.stdin.read()"],
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            env={"PATH": os.environ.get("PATH", "")},
            cwd="/",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert program.stdout is not None and program.stdout.readline() == "started\n"
            os.unlink(executable)
            said = _run_as(user, "/usr/bin/python3", ATTACHER, str(program.pid), "5").stdout
            assert said.startswith("AttachError: "), said
            assert f"its interpreter's file {executable} was deleted or replaced since the program started" in said
            assert "attach as root" in said
            assert program.poll() is None  # untouched: it waits on
        finally:
            program.kill()
            program.wait()
    finally:
        shutil.rmtree(directory)


@pytest.mark.parametrize("timeout", [math.inf, 1e308, 86400.5], ids=str)
def test_a_timeout_beyond_a_day_is_no_limit(python, launch, tmp_path, timeout):  # noqa: F811
    program, stop = _busy_loop(launch, python, tmp_path)
    assert _in_a_subprocess(INJECTOR, str(program.pid), repr(timeout)) == "taken\n"
    program.wait_stdout("ran")
    _finish(program, stop)


@pytest.mark.parametrize("timeout", [-1.0, -math.inf, math.nan])
def test_a_negative_or_nan_timeout_is_a_value_error(timeout):
    with pytest.raises(ValueError, match="timeout must be a number of seconds, at least 0"):
        _native.attach_inject(os.getpid(), "", "", timeout)
    with pytest.raises(ValueError, match="timeout must be"):
        _native.attach_probe(os.getpid(), timeout=timeout)


@pytest.mark.parametrize("pid", [2**31, 2**32 + 1, 2**63, 2**100, 0, -1, -(2**31) - 1])
def test_a_pid_no_process_can_have_is_no_such_process(pid):
    with pytest.raises(ProcessLookupError, match=f"^no process {pid}$"):
        _native.attach_probe(pid)
    with pytest.raises(ProcessLookupError, match=f"^no process {pid}$"):
        _native.attach_inject(pid, "", "", 1.0)
    with pytest.raises(ProcessLookupError):
        jupdb.attach(pid, timeout=1.0)
    with pytest.raises(TypeError):
        _native.attach_probe("1")  # type: ignore[arg-type]


def _thread_named(pid: int, name: str) -> bool:
    for comm in glob.glob(f"/proc/{pid}/task/*/comm"):
        try:
            with open(comm) as f:
                if f.read().strip() == name:
                    return True
        except OSError:
            pass
    return False


def test_ctrl_c_stops_an_attach_without_limit_and_leaves_nothing_pending(python, launch, tmp_path):  # noqa: F811
    # The program's only thread waits in C (opening a FIFO) with no end: no thread takes
    # the call. Ctrl-C in the attacher ends its wait, and the program, once it runs
    # Python code again, runs nothing of the attacher's.
    gate = str(tmp_path / "gate")
    os.mkfifo(gate)
    program = _start(
        launch,
        python,
        f"""
        print("started", flush=True)
        with open({gate!r}) as f:
            f.read()
        for i in range(300000):
            pass
        print("done", flush=True)
        """,
    )
    program.wait_stdout("started")
    attacher = subprocess.Popen(
        [sys.executable, "-c", INJECTOR, str(program.pid), "inf"],
        env=dict(os.environ, PYTHONPATH=IMPORT_ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _thread_named(attacher.pid, "jupdb-attach"), what="the attacher to start attaching")
        attacher.send_signal(signal.SIGINT)
        out, err = attacher.communicate(timeout=TIMEOUT)
    finally:
        attacher.kill()
        attacher.wait()
    assert out == "interrupted\n", err
    with open(gate, "w") as f:
        f.write("go")
    program.wait_stdout("done")
    program.assert_finishes_ok()
    assert "ran" not in program.stdout
