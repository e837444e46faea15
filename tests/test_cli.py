"""The ``jupdb`` command: ``jupdb run`` (a program served from its first line,
``--break``), ``jupdb sessions`` and ``--version``, through ``python -m jupdb``
and the ``jupdb`` script alike, run as a user runs them, in real subprocesses."""

import os
import re
import subprocess
import sys

import pytest

import jupdb
from remote_helpers import TIMEOUT, line_in, launch, runtime_dir, wait_until  # noqa: F401

RUN = [sys.executable, "-m", "jupdb", "run"]

#: Runs until a client sets ``stop``; no set_trace anywhere.
LOOPING = """
import sys, time

stop = False
rounds = 0
# Printed once `stop = False` has run: a client that pauses the program after this line sets `stop` for good.
print("argv", sys.argv[1:], __name__, __file__ == __import__("os").path.abspath(__file__), flush=True)
while not stop:                       # LOOP
    rounds += 1
    time.sleep(0.001)
print("stopped after", rounds > 0, flush=True)
"""


def test_run_serves_a_program_that_never_pauses_by_itself(launch):
    program = launch(LOOPING, command=RUN, args=["one", "--two"])
    program.wait_stderr(f"jupdb: running {program.path} (pid {program.pid}, port ")
    program.wait_stdout("argv ['one', '--two'] __main__ True")
    found = wait_until(lambda: [s for s in jupdb.sessions() if s.pid == program.pid], what="the session")
    assert found[0].state == "running"
    assert found[0].program == [program.path, "one", "--two"]

    session = program.connect(wait=False)
    stop = session.pause()
    assert stop.file == program.path and stop.function == "<module>"
    session.exec("stop = True")
    session.cont()
    program.wait_stdout("stopped after True")
    program.assert_finishes_ok()


#: Two statements and a function: --wait stops before the first one runs.
SHORT = '''
"""A docstring: the module's first line of code."""
import sys
first = 1

def later(x):
    return x * 2                      # LATER

print("result", later(first), flush=True)
sys.exit(3)
'''


def test_run_wait_stops_at_the_first_line_before_anything_runs(launch):
    program = launch(SHORT, command=[*RUN, "--wait"])
    program.wait_paused()
    session = program.connect()
    top = session.where()[0]
    assert (top.file, top.line, top.function) == (program.path, 1, "<module>")
    assert session.eval("'first' in globals()").repr == "False"
    assert session.eval("__name__").repr == "'__main__'"
    session.add_breakpoint(program.path, line_in(program.source, "# LATER"))
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line) == ("later", line_in(program.source, "# LATER"))
    session.exec("x = 21")
    session.cont()
    program.wait_stdout("result 42")
    # The program's exit code is jupdb run's.
    assert program.finish() == 3


def test_run_m_runs_a_module_from_the_current_directory(launch, tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 7\n", encoding="utf-8")
    # launch runs `command + [path] + args`: here the path is the module's first argument.
    program = launch(
        "import helper_mod, sys\nprint('value', helper_mod.VALUE, sys.argv[1:], flush=True)\n",
        name="mod_main",
        command=[*RUN, "--wait", "-m", "mod_main"],
        args=["x"],
    )
    program.wait_paused()
    session = program.connect()
    top = session.where()[0]
    assert (top.file, top.line) == (program.path, 1)
    session.cont()
    program.wait_stdout(f"value 7 [{program.path!r}, 'x']")
    program.assert_finishes_ok()


def test_breakpoint_pauses_a_program_run_by_jupdb(launch):
    program = launch("x = 5\nbreakpoint()\nprint('after', x, flush=True)\n", command=RUN)
    location = program.wait_paused()
    assert (location["file"], location["line"]) == (program.path, "2")
    session = program.connect()
    session.exec("x = 6")
    session.cont()
    program.wait_stdout("after 6")
    program.assert_finishes_ok()


def test_jupdbs_own_lines_are_not_forwarded_as_the_programs_output(launch, capsys):
    # A client connected before the first pause receives what the program
    # prints, and not jupdb's "paused at ..." line to the program's terminal.
    program = launch(
        "import sys, time\ntime.sleep(0.5)\nprint('mine', file=sys.stderr, flush=True)\nbreakpoint()\n", command=RUN
    )
    program.wait_stderr("jupdb: running")
    session = program.connect(wait=False)
    capsys.readouterr()
    session.wait(timeout=TIMEOUT)
    program.wait_stderr("jupdb: paused at")  # it is on the program's own stderr
    session.cont()
    program.assert_finishes_ok()
    assert capsys.readouterr().err == "mine\n"


#: Paused in a function called by the module.
NESTED = """
def f():
    breakpoint()
    return 1                          # RETURN

f()
print("last", flush=True)             # LAST
"""


def test_the_stack_and_steps_stay_in_the_program_run_by_jupdb(launch):
    program = launch(NESTED, command=RUN)
    program.wait_paused()
    session = program.connect()
    # Neither `python -m jupdb run`'s frames nor runpy's are the program's.
    assert [(f.function, f.file) for f in session.where()] == [("f", program.path), ("<module>", program.path)]
    with pytest.raises(jupdb.RemoteError, match="NoSuchFrame"):
        session.frame(2)
    assert session.step().line == line_in(program.source, "# RETURN")
    assert session.step().line == line_in(program.source, "# LAST")
    # Stepping off the end of the module finishes the program: no stop in runpy or jupdb.
    with pytest.raises(jupdb.SessionLost):
        session.step()
    program.wait_stdout("last")
    program.assert_finishes_ok()


def test_run_prints_the_programs_traceback_without_jupdbs_frames(launch):
    program = launch("def boom():\n    raise ValueError('bad input')\n\nboom()\n", command=[*RUN, "--no-post-mortem"])
    assert program.finish() == 1
    traceback_text = program.stderr.split("\n", 1)[1]  # after the "jupdb: running" line
    assert traceback_text.startswith("Traceback (most recent call last):")
    assert "ValueError: bad input" in traceback_text and "boom()" in traceback_text
    assert "runpy" not in traceback_text and "cli.py" not in traceback_text


def test_run_wait_with_a_script_that_does_not_compile_or_is_empty(tmp_path, runtime_dir):
    (tmp_path / "broken.py").write_text("x = (\n", encoding="utf-8")
    (tmp_path / "empty.py").write_text("# nothing\n", encoding="utf-8")
    broken = subprocess.run(
        [*RUN, "--wait", "broken.py"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert broken.returncode == 1
    assert broken.stderr.splitlines()[-1].startswith("SyntaxError: ")
    assert "cli.py" not in broken.stderr and "service.py" not in broken.stderr
    empty = subprocess.run([*RUN, "--wait", "empty.py"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert empty.returncode == 0, empty.stderr


def test_run_refuses_what_it_cannot_run(tmp_path, runtime_dir):
    for args, message in [
        (["missing.py"], "jupdb run: no such file: missing.py"),
        (["-m", "no_such_module_here"], "jupdb run: no module named no_such_module_here"),
    ]:
        done = subprocess.run([*RUN, *args], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode != 0
        assert message in done.stderr
    assert not os.path.exists(runtime_dir) or os.listdir(runtime_dir) == []  # no server was started


def test_the_jupdb_command_lists_sessions(launch):
    program = launch(LOOPING, command=[os.path.join(os.path.dirname(sys.executable), "jupdb"), "run"])
    program.wait_stdout("argv")
    listing = wait_until(
        lambda: (
            subprocess.run(
                [sys.executable, "-m", "jupdb", "sessions"], capture_output=True, text=True, timeout=TIMEOUT
            ).stdout
        ),
        what="a listed session",
    )
    assert f"{program.pid}  running  {program.path}" in listing
    session = program.connect(wait=False)
    session.pause()
    session.exec("stop = True")
    session.cont()
    program.assert_finishes_ok()


def jupdb_commands():
    """``python -m jupdb`` and the installed ``jupdb`` script (where this interpreter has one)."""
    script = os.path.join(os.path.dirname(sys.executable), "jupdb")
    return [[sys.executable, "-m", "jupdb"], *([[script]] if os.path.exists(script) else [])]


def cargo_version():
    """The Cargo workspace's version: the one source of the package's."""
    with open(os.path.join(os.path.dirname(__file__), os.pardir, "Cargo.toml"), encoding="utf-8") as f:
        text = f.read()
    workspace = text[text.index("[workspace.package]") :]
    return re.search(r'^version\s*=\s*"([^"]+)"', workspace, re.M).group(1)


def test_version_is_the_packages_from_either_command():
    assert jupdb.__version__ == cargo_version()
    for command in jupdb_commands():
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"jupdb {cargo_version()}\n", ""), command


def test_python_m_jupdb_is_the_jupdb_command(tmp_path, runtime_dir):
    commands = jupdb_commands()
    if len(commands) < 2:
        pytest.skip("this interpreter has no jupdb script installed")
    (tmp_path / "fails.py").write_text("raise SystemExit(4)\n", encoding="utf-8")
    for args in (
        ["--help"],
        ["run", "--help"],
        ["sessions"],
        [],
        ["nonsense"],
        ["run", "missing.py"],
        ["run", "--break", "fails.py", "fails.py"],
        ["run", "--no-post-mortem", "fails.py"],
    ):
        outcomes = []
        for command in commands:
            done = subprocess.run([*command, *args], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
            # Only the pid and port of `jupdb: running` differ from one run to the next.
            stderr = re.sub(r"\(pid \d+, port \d+\)|connect\(\d+\)", "", done.stderr)
            outcomes.append((done.returncode, done.stdout, stderr))
        assert outcomes[0] == outcomes[1], args


def test_sessions_prints_a_header_and_aligned_columns(launch):
    first = launch(LOOPING, name="first", command=RUN, args=["--a-long-argument"])
    second = launch("x = 1\nbreakpoint()\n", name="second", command=RUN)
    second.wait_paused()
    first.wait_stdout("argv")

    def listing():
        done = subprocess.run([*RUN[:-1], "sessions"], capture_output=True, text=True, timeout=TIMEOUT)
        return done.stdout if done.stdout.count("\n") == 3 else None

    lines = wait_until(listing, what="both sessions listed").splitlines()
    assert lines[0].split() == ["PID", "STATE", "PROGRAM", "WHERE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows[str(second.pid)].split() == [str(second.pid), "paused", second.path, f"{second.path}:2"]
    assert rows[str(first.pid)].split() == [str(first.pid), "running", first.path, "--a-long-argument"]
    # Every column starts where its header does.
    for header in ("STATE", "PROGRAM", "WHERE"):
        start = lines[0].index(header)
        assert all(line[start - 2 : start] == "  " and line[start] != " " for line in lines[1:] if len(line) > start)
    for program in (first, second):
        session = program.connect(wait=False)
        if program is first:
            session.pause()
            session.exec("stop = True")
        session.cont()
        program.assert_finishes_ok()


#: A loop with a condition that holds once, and a line per function.
COUNTING = """
def tick(i):
    value = i * 2                     # TICK
    return value

def tock(i):
    return i                          # TOCK

for i in range(5):
    tick(i)
    tock(i)
print("counted", flush=True)
"""


def test_break_options_pause_the_program_where_they_say(launch):
    source = COUNTING.lstrip("\n")  # as launch writes it
    tick, tock = line_in(source, "# TICK"), line_in(source, "# TOCK")
    program = launch(
        COUNTING,
        # A condition with colons of its own, and pdb's comma form.
        command=[*RUN, "--break", f"prog.py:{tick}:[0, 2, 4, 6][i:i+1] == [6]", "--break", f"prog.py:{tock}, i == 4"],
    )
    location = program.wait_paused()
    assert (location["file"], location["line"], location["function"]) == (program.path, str(tick), "tick")
    session = program.connect()
    assert session.eval("i").value == 3
    breakpoints = session.breakpoints()
    assert [(b["line"], b["condition"]) for b in breakpoints] == [
        (tick, "[0, 2, 4, 6][i:i+1] == [6]"),
        (tock, "i == 4"),
    ]
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line, stop.reason) == ("tock", tock, "breakpoint")
    assert session.eval("i").value == 4
    session.cont()
    program.wait_stdout("counted")
    program.assert_finishes_ok()


def test_break_finds_a_module_by_name_or_path_before_it_is_imported(launch, tmp_path):
    (tmp_path / "helper.py").write_text("def work():\n    return 42\n", encoding="utf-8")
    program = launch("import helper\nprint('got', helper.work(), flush=True)\n", command=[*RUN, "--break", "helper:2"])
    location = program.wait_paused()
    assert (location["file"], location["line"]) == (str(tmp_path / "helper.py"), "2")
    session = program.connect()
    session.cont()
    program.wait_stdout("got 42")
    program.assert_finishes_ok()


def test_a_break_option_that_cannot_stop_ends_jupdb_run_before_the_program(tmp_path, runtime_dir):
    (tmp_path / "prog.py").write_text("# a comment\nprint('ran', flush=True)\n", encoding="utf-8")
    for option, message in [
        ("missing.py:3", "jupdb run: --break missing.py:3: no file 'missing.py'"),
        ("prog.py:1", "jupdb run: --break prog.py:1: line 1 of prog.py has no code to stop at"),
        ("prog.py:9", "jupdb run: --break prog.py:9: line 9 of prog.py has no code to stop at"),
        ("prog.py", "argument --break: 'prog.py' is not FILE:LINE or FILE:LINE:CONDITION"),
        ("prog.py:x", "argument --break: 'prog.py:x' is not FILE:LINE or FILE:LINE:CONDITION"),
        ("prog.py:2:x ==", "argument --break: 'prog.py:2:x ==': the condition is not an expression"),
    ]:
        done = subprocess.run(
            [*RUN, "--break", option, "prog.py"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
        )
        assert done.returncode != 0, option
        assert message in done.stderr, (option, done.stderr)
        assert "ran" not in done.stdout
        assert "Traceback" not in done.stderr
        assert jupdb.sessions() == []  # the server it started is gone, its connection file too
