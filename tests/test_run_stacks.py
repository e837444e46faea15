"""Under ``jupdb run``, every stack a client sees is the program's own: no frame
of the launcher (``jupdb``'s cli.py, runpy, the ``jupdb`` console script) at
its bottom, whichever way it was started and however the thread stopped — a
breakpoint, a step, a pause, ``--wait``'s first line, a post-mortem in the main
thread or another, an exception raised while a module is imported, ``-m``.
Each program runs in a real subprocess, under ``python -m jupdb run`` and
under the ``jupdb`` script."""

import os
import re
import sys
import textwrap

import pytest

import jupdb
from remote_helpers import TIMEOUT, launch, line_in, runtime_dir  # noqa: F401

#: What pip writes as the ``jupdb`` console script (pip's own template), for an
#: interpreter that has jupdb on its path without an installed script.
CONSOLE_SCRIPT = """\
import re
import sys
from jupdb.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""

JUPDB_DIR = os.path.dirname(os.path.abspath(jupdb.__file__))


@pytest.fixture(params=["python -m jupdb", "jupdb script"])
def run(request, tmp_path):
    """The command line of ``jupdb run``, started one way or the other."""
    if request.param == "python -m jupdb":
        return [sys.executable, "-m", "jupdb", "run"]
    script = os.path.join(os.path.dirname(sys.executable), "jupdb")
    if not os.path.exists(script):
        script = str(tmp_path / "jupdb-script")
        with open(script, "w", encoding="utf-8") as f:
            f.write(CONSOLE_SCRIPT)
    return [sys.executable, script, "run"]


def launcher_frames(frames):
    """The frames of a client's Stack (or a traceback's file names) that are not the program's."""
    return [
        f
        for f in frames
        if f.file.startswith(JUPDB_DIR) or "runpy" in f.file or os.path.basename(f.file) in ("jupdb", "jupdb-script")
    ]


def assert_no_launcher_in(traceback_text):
    files = re.findall(r'File "([^"]+)"', traceback_text)
    assert files, traceback_text
    assert not [f for f in files if f.startswith(JUPDB_DIR) or "runpy" in f or f.endswith("jupdb-script")], (
        traceback_text
    )


NESTED = """
import threading

def f():
    breakpoint()
    x = 1                             # AFTER
    return x

f()                                   # CALL
print("done", flush=True)
"""


def test_a_breakpoint_and_its_steps_show_only_the_programs_frames(launch, run):
    program = launch(NESTED, command=run)
    program.wait_paused()
    session = program.connect()
    expected = [("f", program.path), ("<module>", program.path)]
    assert [(f.function, f.file) for f in session.where()] == expected
    with pytest.raises(jupdb.RemoteError, match="NoSuchFrame"):
        session.frame(2)
    assert session.step().line == line_in(program.source, "# AFTER")
    assert [(f.function, f.file) for f in session.where()] == expected
    session.add_breakpoint(program.path, line_in(program.source, "return x"))
    session.cont()
    assert session.wait(timeout=TIMEOUT).line == line_in(program.source, "return x")
    assert [(f.function, f.file) for f in session.where()] == expected
    session.cont()
    program.wait_stdout("done")
    program.assert_finishes_ok()


def test_the_first_line_of_wait_and_a_break_option(launch, run):
    source = "a = 1\ndef g():\n    return a\ng()\n"
    program = launch(source, command=[*run, "--wait", "--break", "prog.py:3"])
    program.wait_paused()
    session = program.connect()
    assert [(f.function, f.line) for f in session.where()] == [("<module>", 1)]
    session.cont()
    assert session.wait(timeout=TIMEOUT).function == "g"
    assert [(f.function, f.line) for f in session.where()] == [("g", 3), ("<module>", 4)]
    session.cont()
    program.assert_finishes_ok()


LOOPING = """
import time
stop = False
print("looping", flush=True)
while not stop:                       # LOOP
    time.sleep(0.001)
"""


def test_a_pause_of_the_running_program(launch, run):
    program = launch(LOOPING, command=run)
    program.wait_stdout("looping")  # past `stop = False`, which a pause before it would see undone
    session = program.connect(wait=False)
    session.pause()
    frames = session.where()
    assert frames[-1].function == "<module>" and frames[-1].file == program.path
    assert launcher_frames(frames) == []
    session.exec("stop = True")
    session.cont()
    program.assert_finishes_ok()


CRASHES = """
import threading

def worker():
    raise KeyError("in the thread")   # THREAD RAISES

def boom():
    raise ValueError("in main")       # MAIN RAISES

t = threading.Thread(target=worker, name="worker")
t.start()
t.join()
boom()                                # CALL BOOM
"""


def test_post_mortems_in_another_thread_and_in_the_main_thread(launch, run):
    program = launch(CRASHES, command=run)
    program.wait_stderr("post-mortem of KeyError")
    session = program.connect(wait=False)
    worker = next(t for t in session.threads() if t.paused)
    assert worker.name == "worker"
    session.select_thread(worker.id)
    frames = session.where()
    assert frames[0].function == "worker" and launcher_frames(frames) == []
    assert_no_launcher_in(worker.location.exception.remote_traceback)
    session.cont()

    program.wait_stderr("post-mortem of ValueError")
    main = next(t for t in session.threads() if t.paused)
    session.select_thread(main.id)
    assert [(f.function, f.line) for f in session.where()] == [
        ("boom", line_in(program.source, "# MAIN RAISES")),
        ("<module>", line_in(program.source, "# CALL BOOM")),
    ]
    assert_no_launcher_in(main.location.exception.remote_traceback)
    session.cont()
    assert program.finish() == 1
    # The traceback jupdb run prints is python's: the program's frames only.
    printed = program.stderr[program.stderr.index("Traceback", program.stderr.index("KeyError")) :]
    assert_no_launcher_in(printed.split("jupdb: post-mortem")[0])


def test_an_exception_raised_while_the_script_imports_a_module(launch, run, tmp_path):
    (tmp_path / "settings.py").write_text(
        textwrap.dedent(
            """
            def load():
                raise RuntimeError("no config")      # RAISES

            CONFIG = load()                          # LOAD
            """
        ),
        encoding="utf-8",
    )
    program = launch("import settings                # IMPORT\n", command=run)
    program.wait_stderr("post-mortem of RuntimeError")
    session = program.connect(wait=False)
    settings = str(tmp_path / "settings.py")
    assert [(f.function, f.file) for f in session.where()] == [
        ("load", settings),
        ("<module>", settings),
        ("<module>", program.path),
    ]
    stop = next(t for t in session.threads() if t.paused).location
    assert_no_launcher_in(stop.exception.remote_traceback)
    session.cont()
    assert program.finish() == 1


@pytest.mark.parametrize("broken", [False, True])
def test_a_module_run_with_m(launch, run, tmp_path, broken):
    package = tmp_path / "tool"
    package.mkdir()
    (package / "__init__.py").write_text("raise OSError('broken package')\n" if broken else "", encoding="utf-8")
    (package / "__main__.py").write_text("x = 1\nbreakpoint()\n", encoding="utf-8")
    # launch runs `command + [path] + args`: the program's own file is not run here.
    program = launch("", name="unused", command=[*run, "-m", "tool"])
    if broken:
        program.wait_stderr("post-mortem of OSError")
        session = program.connect(wait=False)
        expected = [("<module>", str(package / "__init__.py"))]
    else:
        program.wait_paused()
        session = program.connect()
        expected = [("<module>", str(package / "__main__.py"))]
    assert [(f.function, f.file) for f in session.where()] == expected
    session.cont()
    assert program.finish() == (1 if broken else 0)
