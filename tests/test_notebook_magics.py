"""%jupdb and %%jupdb in a real IPython kernel, driving real paused programs.

Each test starts a kernel (jupyter_client), loads the extension, and runs cells
there as a notebook would; the programs are subprocesses of the test.
"""

import re

from notebook_helpers import kernel  # noqa: F401
from remote_helpers import line_in, launch, runtime_dir  # noqa: F401

PROGRAM = """
import jupdb

def work(n):
    total = 0
    for i in range(n):
        total += i                      # LOOP
    print("total", total, flush=True)   # TOTAL
    return total

def main():
    a = 10
    text = "hello"
    jupdb.set_trace()                   # PAUSE
    b = a + 1                           # AFTER
    print("a is", a, flush=True)        # PRINT_A
    work(3)                             # CALL
    print("done", b, flush=True)        # DONE

main()
"""


def test_where_next_and_p(kernel, launch):
    program = launch(PROGRAM)
    program.wait_paused()

    run = kernel.ok("%jupdb where")
    assert "connected to pid" in run.stdout and str(program.pid) in run.stdout  # said so
    assert "prog.py" in run.html and "main" in run.html
    assert f":{line_in(program.path, '# PAUSE')}" in run.data("text/plain")[0]

    run = kernel.ok("%jupdb next")
    after = line_in(program.path, "# AFTER")
    assert f"prog.py:{after}" in run.text, run.text
    assert "b = a + 1" in run.text

    run = kernel.ok("%jupdb n")
    assert f"prog.py:{after + 1}" in run.text

    run = kernel.ok("%jupdb p a + b")
    assert run.data("text/plain") == ["21"]

    kernel.ok("%jupdb continue --no-wait")
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["a is 10", "total 3", "done 11"]


def test_break_and_continue_shows_the_programs_output(kernel, launch):
    program = launch(PROGRAM)
    program.wait_paused()
    total = line_in(program.path, "# TOTAL")

    run = kernel.ok(f"%jupdb break prog.py:{total}, n == 3")
    assert re.search(rf"Breakpoint \d+ at .*prog.py:{total}, if n == 3", run.stdout), run.stdout
    listed = kernel.ok("%jupdb b")
    assert f"prog.py:{total}" in listed.html and "n == 3" in listed.html

    run = kernel.ok("%jupdb c")
    assert "a is 10\n" in run.stdout  # the program's output, in the cell
    assert f"prog.py:{total}" in run.text and "work" in run.text
    assert kernel.ok("%jupdb p total").data("text/plain") == ["3"]

    kernel.ok("%jupdb clear")
    run = kernel.ok("%jupdb c")
    assert "total 3" in run.stdout and "done 11" in run.stdout
    assert "has exited" in run.text or "has ended" in run.text
    program.assert_finishes_ok()


def test_bad_commands_are_short_usage_errors(kernel, launch):
    program = launch(PROGRAM)
    program.wait_paused()

    for line, expected in [
        ("%jupdb frobnicate", "unknown command 'frobnicate'"),
        ("%jupdb up two", "two is not a number"),
        ("%jupdb p", "p needs an expression"),
        ("%jupdb p 1 +", "is not an expression"),
        ("%jupdb continue now", "continue takes only --no-wait"),
    ]:
        run = kernel.execute(line)
        assert not run.ok and run.error is not None
        shown = "\n".join(run.error["traceback"])
        assert expected in shown, shown
        assert "Traceback" not in shown and "jupdb/notebook" not in shown, shown

    # An exception in the program: its message, no client frames; the program stays paused.
    run = kernel.execute("%jupdb p undefined_name")
    shown = "\n".join(run.error["traceback"])
    assert "NameError" in shown and "undefined_name" in shown
    assert "jupdb/remote" not in shown and "jupdb/notebook" not in shown, shown
    assert kernel.ok("%jupdb p a").data("text/plain") == ["10"]
    kernel.ok("%jupdb c --no-wait")
    program.assert_finishes_ok()
