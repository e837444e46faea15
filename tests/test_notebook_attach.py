"""``%jupdb attach PID`` in a real kernel: a running program that never imported
jupdb, one the kernel itself started, one that serves jupdb already, and the
errors. The targets run the kernel's Python without jupdb on their path (the
attach's bootstrap adds it); each checks its own result when the test lets it end.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from typing import Optional

import pytest

from notebook_helpers import kernel  # noqa: F401
from remote_helpers import TIMEOUT, launch, line_in, runtime_dir, wait_until  # noqa: F401

from jupdb.remote.attach import _parent_of


def _cannot_trace() -> Optional[str]:
    """Why the kernel may not trace a program the test started (its sibling), if it may not."""
    if not sys.platform.startswith("linux"):
        return "attaching is Linux-only"
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read())
    except (OSError, ValueError):
        return None  # no Yama: the same user may trace its own processes
    with open("/proc/self/status") as f:
        caps = next((int(line.split()[1], 16) for line in f if line.startswith("CapEff:")), 0)
    if scope == 0 or (scope < 3 and caps & (1 << 19)):  # CAP_SYS_PTRACE
        return None
    return f"ptrace is not allowed here (/proc/sys/kernel/yama/ptrace_scope is {scope}, no CAP_SYS_PTRACE)"


_REFUSED = _cannot_trace()
pytestmark = pytest.mark.skipif(_REFUSED is not None, reason=str(_REFUSED))

#: A busy program: its loop calls only C functions, so a pause stops in the
#: loop's own frame, where ``i`` and ``total`` are. The file at STOP ends it.
BUSY = """
import os, sys
i = total = 0
print("started", "jupdb" in sys.modules, flush=True)
while True:
    total += i                                           # LOOP
    i += 1
    if i % 10000 == 0 and os.access(STOP, os.F_OK):
        break
print("done", total == i * (i - 1) // 2, flush=True)
"""


def _busy(launch, tmp_path, **kwargs):  # noqa: F811
    stop = str(tmp_path / "stop")
    env = {"PYTHONPATH": "", **kwargs.pop("env", {})}  # it cannot import jupdb by itself
    program = launch(BUSY.replace("STOP", repr(stop)), env=env, **kwargs)
    program.wait_stdout("started False")
    return program, stop


def _let_finish(stop: str) -> None:
    with open(stop, "w"):
        pass


def _shown_error(run) -> str:
    """An error cell's traceback, which must be jupdb's one line (and usage), no frames."""
    assert not run.ok and run.error is not None, run
    shown = "\n".join(run.error["traceback"])
    assert "Traceback" not in shown and "jupdb/" not in shown and "File " not in shown, shown
    return shown


def test_attach_pause_look_and_continue_to_the_end(kernel, launch, tmp_path):  # noqa: F811
    program, stop = _busy(launch, tmp_path)

    run = kernel.ok(f"%jupdb attach {program.pid}")
    assert f"jupdb: attached to pid {program.pid} (" in run.stdout and "prog.py" in run.stdout, run.stdout
    assert "the program is running; %jupdb pause stops it" in run.stdout

    run = kernel.ok("%jupdb pause")
    _assert_in_the_loop(program, run.text)
    first = int(kernel.ok("%jupdb p i").data("text/plain")[0])
    assert first > 0
    assert kernel.ok("%jupdb p total == i * (i - 1) // 2").data("text/plain") == ["True"]
    assert int(kernel.ok("%jupdb p i").data("text/plain")[0]) == first  # paused: the loop does not move

    # The loop ends at its next check once it runs again: continue shows the rest of
    # its output as it waits for a next stop, and its end.
    _let_finish(stop)
    run = kernel.ok("%jupdb continue")
    assert "done True" in run.stdout and "has exited" in run.text, run.text
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["started False", "done True"]
    assert "jupdb: listening on" in program.stderr  # the server the attach started


def _assert_in_the_loop(program, text: str) -> None:
    """A stop shown (``prog.py:LINE in <module>()``) is in the busy loop's frame."""
    where = re.search(r"prog\.py:(\d+) in <module>\(\)", text)
    loop = line_in(program.path, "# LOOP")
    assert where is not None and loop - 1 <= int(where.group(1)) <= loop + 3, text


def test_bad_pids_and_refusals_are_one_line_and_the_program_goes_on(kernel, launch, tmp_path):  # noqa: F811
    for line, expected in [
        ("%jupdb attach", "jupdb: attach needs a process id\nusage: %jupdb attach PID"),
        ("%jupdb attach train.py", "jupdb: train.py is not a process id\nusage: %jupdb attach PID"),
        ("%jupdb attach 12 34", "jupdb: attach takes one process id"),
        ("%jupdb attach 999999999", "jupdb: no process 999999999 (it ended, or never was)"),  # above pid_max
        ("%jupdb attach ²", "jupdb: ² is not a process id"),  # a digit to str.isdigit, not to int()
    ]:
        shown = _shown_error(kernel.execute(line))
        assert shown.startswith(expected), shown

    # The kernel itself: a notebook debugs its own code with set_trace().
    kernel.ok("import os")
    shown = _shown_error(kernel.execute("%jupdb attach {os.getpid()}"))
    assert "that is this process: use jupdb.set_trace() or jupdb.listen() here" in shown, shown

    # A program that opted out of remote debugging: refused, and left as it was.
    program, stop = _busy(launch, tmp_path, env={"PYTHON_DISABLE_REMOTE_DEBUG": "1"})
    shown = _shown_error(kernel.execute(f"%jupdb attach {program.pid}"))
    assert shown.startswith(f"jupdb: cannot attach to process {program.pid}: ") and "opted out" in shown, shown
    assert "\n" not in shown, shown
    assert "not connected" in kernel.ok("%jupdb detach").stdout  # nothing became the current session
    _let_finish(stop)
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["started False", "done True"] and "jupdb" not in program.stderr


def test_attach_to_a_program_the_kernel_started(kernel, tmp_path):  # noqa: F811
    """The notebook's own job (``subprocess.Popen`` in a cell) is the kernel's child,
    which the kernel does not trace itself (its Popen waits for it): a helper does."""
    stop, out, script = str(tmp_path / "stop"), str(tmp_path / "job.out"), tmp_path / "job.py"
    script.write_text(BUSY.replace("STOP", repr(stop)))
    kernel.ok(
        "import os, subprocess, sys\n"
        f"log = open({out!r}, 'w')\n"
        f"job = subprocess.Popen([sys.executable, {str(script)!r}], stdout=log, stderr=subprocess.STDOUT,\n"
        "                       env=dict(os.environ, PYTHONPATH='', PYTHONUNBUFFERED='1'))\n"
    )
    wait_until(lambda: "started False" in open(out).read(), what="the job to start")
    pid = int(kernel.ok("print(job.pid)").stdout)
    finished = False
    try:
        kernel_pid = int(kernel.ok("print(os.getpid())").stdout)
        assert _parent_of(pid) == kernel_pid

        run = kernel.ok("%jupdb attach {job.pid}")  # IPython puts the value in
        assert f"jupdb: attached to pid {pid} (" in run.stdout and "the program is running" in run.stdout, run
        run = kernel.ok("%jupdb pause")
        assert re.search(r"job\.py:\d+ in <module>\(\)", run.text), run.text
        assert int(kernel.ok("%jupdb p i").data("text/plain")[0]) > 0
        assert kernel.ok("%jupdb p total == i * (i - 1) // 2").data("text/plain") == ["True"]
        run = kernel.ok("%jupdb continue --no-wait")
        assert f"jupdb: pid {pid} runs on" in run.stdout

        _let_finish(stop)
        # The kernel's own Popen still sees its job end, with its exit status.
        assert kernel.ok(f"print(job.wait(timeout={TIMEOUT}))").stdout == "0\n"
        finished = True
    finally:
        if not finished:  # the kernel's shutdown would leave its job spinning (or paused)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    lines = open(out).read().splitlines()
    assert lines[0] == "started False" and lines[-1] == "done True", lines
    assert "Traceback" not in "\n".join(lines)


SERVING = """
import os, sys
events = {}
sys.addaudithook(events.__setitem__)  # every audit event's name (a C hook: no Python frame runs)
import jupdb
jupdb.listen()
i = total = 0
print("serving", flush=True)
while True:
    total += i                                           # LOOP
    i += 1
    if i % 10000 == 0 and os.access(STOP, os.F_OK):
        break
print("done", total == i * (i - 1) // 2, "attached", "jupdb.attach" in events, flush=True)
"""


def test_attach_to_a_program_that_serves_jupdb_connects_to_it(kernel, launch, tmp_path):  # noqa: F811
    stop = str(tmp_path / "stop")
    program = launch(SERVING.replace("STOP", repr(stop)))
    program.wait_stdout("serving")

    run = kernel.ok(f"%jupdb attach {program.pid}")  # it runs: connect PID would wait for a pause
    assert f"jupdb: attached to pid {program.pid} (" in run.stdout and "the program is running" in run.stdout
    served = kernel.ok(f"import jupdb\nprint(len([s for s in jupdb.sessions() if s.pid == {program.pid}]))")
    assert served.stdout == "1\n"
    _assert_in_the_loop(program, kernel.ok("%jupdb pause").text)
    assert int(kernel.ok("%jupdb p i").data("text/plain")[0]) > 0
    run = kernel.ok(f"%jupdb attach {program.pid}")  # the current program already: stays as it is
    assert f"jupdb: attached to pid {program.pid} (" in run.stdout
    _assert_in_the_loop(program, run.text)  # paused: shown as connect shows it

    _let_finish(stop)
    kernel.ok("%jupdb continue")
    program.assert_finishes_ok()
    # No bootstrap ran in it (no attach event), and it has one server.
    assert program.stdout_lines() == ["serving", "done True attached False"]
    assert program.stderr.count("jupdb: listening on") == 1, program.stderr
