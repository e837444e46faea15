"""%jupdb and %%jupdb in a real IPython kernel, driving real paused programs.

Each test starts a kernel (jupyter_client), loads the extension, and runs cells
there as a notebook would; the programs are subprocesses of the test.
"""

import os
import re
import subprocess
import sys

from notebook_helpers import PACKAGE_ROOT, kernel  # noqa: F401
from remote_helpers import TIMEOUT, line_in, launch, runtime_dir  # noqa: F401

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


CELLS = """
import jupdb
import pandas as pd

def main():
    a = 10
    df = pd.DataFrame({"x": [1, 2, 3], "y": [4.0, 5.0, 6.0]})
    jupdb.set_trace()                                           # PAUSE
    print("a", a, "b", locals().get("b"), "df", df.shape, flush=True)  # b: a name the cells add

main()
"""


def test_cell_runs_in_the_paused_frame(kernel, launch):
    program = launch(CELLS)
    program.wait_paused()
    kernel.ok("%jupdb connect")

    run = kernel.ok(
        "%%jupdb\na = a + 32\nb = 'new'\nprint('first', a)\ndisplay(df)\nprint('second')\ndf['z'] = df.x * 10\na * 2\n"
    )
    kinds = [t for t, _ in run.outputs]
    assert kinds == ["stream", "display_data", "stream", "execute_result"], run.outputs
    assert run.outputs[0][1]["text"] == "first 42\n" and run.outputs[2][1]["text"] == "second\n"
    table = run.outputs[1][1]["data"]["text/html"]
    assert "<table" in table and "<th>x</th>" in table.replace(' style="text-align: right;"', "")
    assert run.outputs[3][1]["data"]["text/plain"] == "84"
    assert run.outputs[3][1]["execution_count"] == run.reply["execution_count"]  # Out[n] of this cell

    # Written through to the frame: a following %jupdb p sees it, and so does the program.
    assert kernel.ok("%jupdb p a").data("text/plain") == ["42"]
    assert kernel.ok("%jupdb p b").data("text/plain") == ["'new'"]
    assert "a" not in kernel.ok("print(sorted(k for k in globals() if len(k) == 1))").stdout
    kernel.ok("%jupdb c --no-wait")
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["a 42 b new df (3, 3)"]


def test_cell_plot_comes_back_as_png(kernel, launch):
    program = launch(CELLS)
    program.wait_paused()
    run = kernel.ok(f"%%jupdb {program.pid}\nimport matplotlib.pyplot as plt\nplt.plot(df.x, df.y);\n")
    assert f"connected to pid {program.pid}" in run.stdout
    images = run.png()
    assert len(images) == 1 and images[0].startswith(b"\x89PNG\r\n\x1a\n"), run.outputs
    assert not run.data("text/plain")[1:]  # the figure, and no value: the cell ends with ';'


def test_cell_exception_shows_the_remote_traceback_only(kernel, launch):
    program = launch(CELLS)
    program.wait_paused()
    run = kernel.execute("%%jupdb\nx = 1\ny = a / (x - 1)   # DIVIDE\n")
    assert not run.ok and run.error["evalue"].startswith("ZeroDivisionError: division by zero")
    shown = "\n".join(run.error["traceback"])
    assert "DIVIDE" in shown and "division by zero" in shown  # the cell's line
    assert "jupdb/" not in shown and "IPython" not in shown, shown  # no frame of jupdb's or the kernel's
    assert kernel.ok("%jupdb p a").data("text/plain") == ["10"]  # still paused and serving
    kernel.ok("%jupdb c --no-wait")
    program.finish()


def test_interrupt_button_stops_a_cell_and_the_program_stays_paused(kernel, launch):
    program = launch(CELLS)
    program.wait_paused()
    kernel.ok("%jupdb where")  # connected

    cell = kernel.submit("%%jupdb\nprint('spinning', flush=True)\nwhile True:\n    a += 1\n")
    kernel.wait_for(cell, lambda run: "spinning" in run.stdout)
    kernel.interrupt()
    run = kernel.collect(cell)
    assert not run.ok
    shown = "\n".join(run.error["traceback"])
    assert "KeyboardInterrupt" in shown and "stays paused" in shown, shown
    assert "jupdb/" not in shown

    value = int(kernel.ok("%jupdb p a").data("text/plain")[0])  # serving, and the loop ran
    assert value > 10
    kernel.ok("%jupdb c --no-wait")
    program.assert_finishes_ok()


def test_on_mode_runs_every_cell_in_the_frame(kernel, launch):
    program = launch(CELLS)
    program.wait_paused()
    pause = line_in(program.path, "# PAUSE")

    run = kernel.ok("%jupdb on")
    banner = run.text
    assert f"pid {program.pid}" in banner and "MainThread" in banner and f"prog.py:{pause}" in banner, banner

    run = kernel.ok("a = 99\nb = 'from on mode'\nprint(a + 1)")
    assert run.stdout == "100\n"
    assert kernel.ok("a").data("text/plain") == ["99"]  # the program's a
    assert kernel.ok("%jupdb p b").data("text/plain") == ["'from on mode'"]  # a magic cell runs here

    run = kernel.ok("%jupdb off")
    assert "run here again" in run.stdout
    assert kernel.ok("print('a' in globals())").stdout == "False\n"  # the notebook's own namespace

    kernel.ok("%jupdb on")
    run = kernel.ok("%jupdb c")  # the program ends: the mode with it
    assert "a 99 b from on mode df (3, 2)" in run.stdout and "has exited" in run.text
    assert "run here again" in run.text
    assert kernel.ok("1 + 1").data("text/plain") == ["2"]
    program.assert_finishes_ok()

    run = kernel.execute("%jupdb on")  # no program: it says so and stays off
    assert "no jupdb session is running" in run.error["evalue"]
    assert kernel.ok("1 + 2").data("text/plain") == ["3"]
    kernel.ok("%unload_ext jupdb")
    run = kernel.execute("%jupdb where")
    assert not run.ok and "not found" in run.reply["evalue"]
    assert kernel.ok("x = 5\nx").data("text/plain") == ["5"]  # cells run here
    assert "frame_" not in str(kernel.complete("%%jupdb\nx"))


LOOP = """
import jupdb

def spin():
    stop = False
    i = 0
    jupdb.set_trace()                                           # PAUSE
    print("looping", flush=True)
    while not stop:
        i += 1                                                  # LOOP
    print("stopped after", i > 0, flush=True)

spin()
"""


def test_interrupt_button_during_continue_pauses_the_program(kernel, launch):
    program = launch(LOOP)
    program.wait_paused()
    kernel.ok("%jupdb connect")

    cell = kernel.submit("%jupdb continue")
    kernel.wait_for(cell, lambda run: "looping" in run.stdout)  # streamed while it waits
    kernel.interrupt()
    run = kernel.collect(cell)
    assert run.ok, run.text
    assert "interrupted" in run.text and "paused here" in run.text
    loop = line_in(program.path, "# LOOP")
    assert f"prog.py:{loop}" in run.text or f"prog.py:{loop - 1}" in run.text, run.text

    assert int(kernel.ok("%jupdb p i").data("text/plain")[0]) > 0
    kernel.ok("%%jupdb\nstop = True")
    run = kernel.ok("%jupdb c")
    assert "stopped after True" in run.stdout and "has exited" in run.text
    program.assert_finishes_ok()


TOUR = """
import threading
import jupdb

def inner(x):
    y = x * 2                                                   # INNER
    return y + 1                                                # RETURNS

def outer():
    values = {"k": list(range(30))}
    n = 3
    r = inner(n)                                                # CALL
    r += 1                                                      # AFTER_CALL
    for i in range(3):                                          # FOR
        r += i
    print("r", r, flush=True)                                   # END

def main():
    jupdb.set_trace()                                           # PAUSE
    outer()                                                     # OUTER

main()
"""


def test_a_tour_of_the_commands(kernel, launch):
    program = launch(TOUR)
    program.wait_paused()
    line = lambda marker: line_in(program.path, marker)  # noqa: E731

    run = kernel.ok("%jupdb sessions")
    assert str(program.pid) in run.html and "paused" in run.html
    assert kernel.ok("%jupdb").text == kernel.ok("%jupdb help").text
    run = kernel.ok("%jupdb help")
    assert "where" in run.text and "continue [--no-wait]" in run.text and "on" in run.text
    assert "run to the next line" in kernel.ok("%jupdb help n").stdout

    assert f"prog.py:{line('# OUTER')}" in kernel.ok("%jupdb next").text
    assert f"prog.py:{line('def outer') + 1}" in kernel.ok("%jupdb step").text
    kernel.ok("%jupdb next")
    run = kernel.ok("%jupdb until")
    assert f"prog.py:{line('# CALL')}" in run.text
    assert f"prog.py:{line('# INNER')}" in kernel.ok("%jupdb s").text

    run = kernel.ok("%jupdb watch x + 100")
    assert "x + 100 = 103" in run.stdout
    run = kernel.ok("%jupdb n")
    assert f"prog.py:{line('# RETURNS')}" in run.text and "103" in run.text  # the watch, with the stop
    kernel.ok("%jupdb unwatch x + 100")
    assert "103" not in kernel.ok("%jupdb jump " + str(line("# INNER"))).text
    assert kernel.ok("%jupdb p y").data("text/plain") == ["6"]

    run = kernel.ok("%jupdb where")
    assert "inner" in run.text and "outer" in run.text and "main" in run.text
    assert f"prog.py:{line('# CALL')}" in kernel.ok("%jupdb up").text
    assert kernel.ok("%jupdb p n").data("text/plain") == ["3"]
    run = kernel.ok("%jupdb locals")
    assert "values" in run.html and "len 1" in run.html and "n" in run.text
    assert "'k': [0," in kernel.ok("%jupdb pp values").text  # pretty-printed, over several lines
    assert "\n" in kernel.ok("%jupdb pp values").data("text/plain")[0]
    run = kernel.ok("%jupdb down")
    assert f"prog.py:{line('# INNER')}" in run.text
    assert f"prog.py:{line('# OUTER')}" in kernel.ok("%jupdb frame 2").text
    assert "outer()" in kernel.ok("%jupdb list").text
    assert "def main" in kernel.ok("%jupdb ll").text
    kernel.ok("%jupdb frame 0")

    run = kernel.ok("%jupdb return")
    assert f"prog.py:{line('# AFTER_CALL')}" in run.text
    run = kernel.ok(f"%jupdb until {line('# END')}")
    assert f"prog.py:{line('# END')}" in run.text
    assert kernel.ok("%jupdb p r").data("text/plain") == ["11"]

    run = kernel.ok("%jupdb threads")
    assert "MainThread" in run.html and "paused" in run.html
    assert "no client code was running" in kernel.ok("%jupdb interrupt").stdout
    assert "detached" in kernel.ok("%jupdb detach").stdout
    run = kernel.ok("%jupdb c")  # connects again by itself
    assert "connected to pid" in run.stdout and "r 11" in run.stdout
    program.assert_finishes_ok()


def test_terminal_ipython_prompt_says_where_cells_run(launch, tmp_path):
    program = launch(CELLS)
    program.wait_paused()
    pause = line_in(program.path, "# PAUSE")
    typed = "%load_ext jupdb\n%jupdb on\na = a + 1\nprint(a)\n%jupdb n\n%jupdb off\nprint('a' in dir())\n"
    pythonpath = os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=pythonpath, IPYTHONDIR=str(tmp_path / "ipython"))
    shell = subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=NoColor"],
        input=typed,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
    )
    out = shell.stdout
    # Each input line is one cell: the mode's cells need no blank line to end them.
    assert f"jupdb[prog.py:{pause}]> \njupdb[prog.py:{pause}]> 11\n" in out, out
    assert f"jupdb[prog.py:{pause + 1}]> jupdb: cells run here again" in out, out
    assert "False" in out.split("cells run here again")[1]
    session = program.connect()
    assert session.eval("a").repr == "11"
    session.cont()
    program.assert_finishes_ok()


def test_pp_takes_an_expression_with_a_comment(launch):
    """``pp EXPR  # note``: the expression is checked as written, and must run as
    written (before, the comment swallowed the closing parentheses of the
    pformat call it was wrapped in: SyntaxError)."""
    from jupdb.notebook import current
    from jupdb.notebook.commands import Commands

    program = launch(PROGRAM)
    shown = []
    commands = Commands(show=shown.append, say=print)
    current.use(program.connect())
    try:
        commands.run("pp {'a': a, 'text': text}  # the two of them")
        commands.run("p a  # the same for p")
    finally:
        current.use(None)
    assert [str(view) for view in shown] == ["{'a': 10, 'text': 'hello'}", "10"]
