"""A breakpoint's file is found in the program, as pdb finds it (its
``lookupmodule``), not in the client's directory (issue 15, item 11)."""

import os
import sys

import pytest

import jupdb
from remote_helpers import TIMEOUT, launch, line_in, runtime_dir, wait_until  # noqa: F401

RUN = [sys.executable, "-m", "jupdb", "run"]

PROGRAM = """
import sys, time
sys.path.append(sys.argv[1])
import helper_mod
print("ready", flush=True)
stop = False
while not stop:
    time.sleep(0.001)
    helper_mod.tick()                 # CALL
print("done", flush=True)
"""

HELPER = """
def tick():
    return 1                          # TICK
"""


@pytest.fixture
def program(launch, tmp_path, monkeypatch):
    """``train.py`` run by ``jupdb run`` in ``tmp_path``, importing ``helper_mod``
    from ``tmp_path/lib`` (on its sys.path only); the client's cwd is elsewhere."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "helper_mod.py").write_text(HELPER, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    prog = launch(PROGRAM, name="train", command=RUN, args=[str(lib)])
    prog.helper = str(lib / "helper_mod.py")  # type: ignore[attr-defined]
    # Served from before its first line (jupdb run): wait until it has imported helper_mod,
    # which a breakpoint given by module name is looked up as.
    prog.wait_stdout("ready")
    wait_until(lambda: any(s.pid == prog.pid for s in jupdb.sessions()), what="the program to serve")
    return prog


@pytest.mark.parametrize("name", ["train.py", "train", "helper_mod", "helper_mod.py", "lib/helper_mod.py"])
def test_relative_files_are_found_where_the_program_runs(program, name):
    session = program.connect(wait=False)
    in_main = name.startswith("train")
    target = program.path if in_main else program.helper
    line = line_in(program.source, "# CALL") if in_main else line_in(HELPER, "# TICK")
    bid = session.add_breakpoint(name, line)
    assert os.path.samefile(session.breakpoints()[0]["file"], target)
    stop = session.wait(timeout=TIMEOUT)
    assert os.path.samefile(stop.file, target) and stop.line == line
    session.clear_breakpoint(bid)
    session.exec("import __main__; __main__.stop = True")
    session.cont()
    program.wait_stdout("done")
    program.assert_finishes_ok()


def test_a_file_the_program_cannot_find_is_a_clear_error(program):
    session = program.connect(wait=False)
    with pytest.raises(jupdb.RemoteError) as err:
        session.add_breakpoint("nowhere.py", 3)
    assert err.value.ename == "FileNotFoundError"
    assert "nowhere.py" in err.value.evalue and "sys.path" in err.value.evalue
    assert os.getcwd() not in err.value.evalue  # the client's directory is not where it looked
    # The program goes on serving.
    session.pause()
    assert session.eval("stop").repr == "False"
    session.exec("stop = True")
    session.cont()
    program.wait_stdout("done")
    program.assert_finishes_ok()
