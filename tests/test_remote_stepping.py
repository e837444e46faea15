"""Moving a paused program on, end to end: step, next, finish, until, jump,
client breakpoints and watches. Every move is checked both by where the
program stops and by what it prints afterwards."""

import os

import pytest

import jupdb
from remote_helpers import TIMEOUT, launch, runtime_dir, wait_until  # noqa: F401

CALLS = """
import jupdb

def add(x, y):
    s = x + y                # ADD_BODY
    return s                 # ADD_RETURN

def main():
    a = 1
    jupdb.set_trace()        # TRACE
    b = add(a, 2)            # CALL
    c = b * 10               # AFTER_CALL
    print("c", c)            # PRINT
    return c                 # RETURN

main()
print("done")                # MODULE_AFTER
"""


def lines_of(program, *markers):
    from remote_helpers import line_in

    return {m: line_in(program.source, f"# {m}") for m in markers}


def test_step_into_a_call_then_finish(launch):
    program = launch(CALLS)
    session = program.connect()
    ln = lines_of(program, "TRACE", "CALL", "ADD_BODY", "AFTER_CALL", "PRINT")
    assert session.where()[0].line == ln["TRACE"]

    stop = session.step()
    assert (stop.function, stop.line, stop.file) == ("main", ln["CALL"], program.path)
    assert stop.code == "b = add(a, 2)            # CALL"
    stop = session.step()
    assert (stop.function, stop.line) == ("add", ln["ADD_BODY"])
    assert session.eval("(x, y)").repr == "(1, 2)"
    assert [f.function for f in session.where()] == ["add", "main", "<module>"]

    stop = session.finish()
    assert (stop.function, stop.line) == ("main", ln["AFTER_CALL"])
    assert stop.returned is not None and stop.returned.repr == "3"  # pdb's retval
    assert session.eval("b").repr == "3"
    assert session.status()["paused_threads"][0]["location"]["line"] == ln["AFTER_CALL"]

    stop = session.next()
    assert (stop.function, stop.line) == ("main", ln["PRINT"])
    assert stop.returned is None  # main has not returned
    assert session.eval("c").repr == "30"
    assert program.stdout == ""  # nothing ran past the stop
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["c 30", "done"]


def test_step_through_a_callee_line_by_line(launch):
    program = launch(CALLS)
    session = program.connect()
    ln = lines_of(program, "CALL", "ADD_BODY", "ADD_RETURN", "AFTER_CALL")
    session.step()
    assert session.step().line == ln["ADD_BODY"]
    assert session.step().line == ln["ADD_RETURN"]
    assert session.eval("s").repr == "3"
    session.exec("s = 100")  # the value add() returns
    stop = session.step()  # returns into main, at its next line
    assert (stop.function, stop.line) == ("main", ln["AFTER_CALL"])
    assert session.eval("b").repr == "100"
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["c 1000", "done"]


def test_next_steps_over_calls_and_out_of_the_frame(launch):
    program = launch(CALLS)
    session = program.connect()
    ln = lines_of(program, "CALL", "AFTER_CALL", "PRINT", "RETURN", "MODULE_AFTER")

    assert session.next().line == ln["CALL"]
    stop = session.next()
    assert (stop.function, stop.line) == ("main", ln["AFTER_CALL"])  # add() ran, without stopping in it
    assert session.eval("b").repr == "3"
    session.exec("b = 7")
    assert session.next().line == ln["PRINT"]
    assert session.next().line == ln["RETURN"]
    assert program.wait_stdout("c 70")
    stop = session.next()  # main returns: the caller's next line
    assert (stop.function, stop.line) == ("<module>", ln["MODULE_AFTER"])
    assert "done" not in program.stdout
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["c 70", "done"]


def test_stepping_off_the_end_of_the_program_lets_it_finish(launch):
    # As with pdb: once the main module's code returned, the main thread runs
    # only the interpreter's shutdown (threading._shutdown, atexit), where a
    # step does not stop.
    program = launch(CALLS)
    session = program.connect()
    ln = lines_of(program, "MODULE_AFTER")
    session.add_breakpoint(program.path, ln["MODULE_AFTER"])
    session.cont()
    assert session.wait(timeout=TIMEOUT).line == ln["MODULE_AFTER"]
    with pytest.raises(jupdb.SessionLost):
        session.step()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["c 30", "done"]


LOOP = """
import jupdb

def looper(tag):
    total = 0
    jupdb.set_trace()           # U_TRACE
    for k in range(3):          # U_FOR
        total += k              # U_BODY
    print(tag, total)           # U_AFTER
    return total

looper("first")
looper("second")
"""


def test_until(launch):
    program = launch(LOOP)
    session = program.connect()
    ln = lines_of(program, "U_TRACE", "U_FOR", "U_BODY", "U_AFTER")

    assert session.next().line == ln["U_FOR"]
    assert session.next().line == ln["U_BODY"]
    assert session.next().line == ln["U_FOR"]
    assert session.next().line == ln["U_BODY"]
    assert session.eval("k").repr == "1"
    stop = session.until()  # a line after the loop's last: runs the rest of the loop
    assert (stop.function, stop.line) == ("looper", ln["U_AFTER"])
    assert session.eval("total").repr == "3"
    session.cont()

    stop = session.wait(timeout=TIMEOUT)  # the second call pauses at set_trace again
    assert stop.line == ln["U_TRACE"]
    for earlier in (ln["U_TRACE"], ln["U_TRACE"] - 1, -5):  # refused, as pdb refuses it; still paused here
        with pytest.raises(jupdb.RemoteError, match=f"until: line {earlier} is not after the current line"):
            session.until(earlier)
    assert session.where()[0].line == ln["U_TRACE"]
    stop = session.until(ln["U_AFTER"])
    assert (stop.function, stop.line) == ("looper", ln["U_AFTER"])
    assert session.eval("(k, total)").repr == "(2, 3)"
    session.exec("total = -5")
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["first 3", "second -5"]


JUMPS = """
import jupdb

def jumper():
    n = 0
    jupdb.set_trace()       # J_TRACE
    n += 1                  # J_INC
    print("n is", n)        # J_PRINT
    print("skipped")        # J_SKIP
    print("end", n)         # J_END

def leaper():
    jupdb.set_trace()       # L_TRACE
    print("leaper skipped") # L_SKIP
    print("leaper end")     # L_END

jumper()
leaper()
"""


def test_jump_backward_and_forward(launch):
    program = launch(JUMPS)
    session = program.connect()
    ln = lines_of(program, "J_INC", "J_PRINT", "J_SKIP", "J_END")

    assert session.next().line == ln["J_INC"]
    assert session.next().line == ln["J_PRINT"]
    assert session.eval("n").repr == "1"
    stop = session.jump(ln["J_INC"])  # backward: n += 1 runs again
    assert (stop.function, stop.line) == ("jumper", ln["J_INC"])
    assert session.where()[0].line == ln["J_INC"]
    assert session.next().line == ln["J_PRINT"]
    assert session.eval("n").repr == "2"
    assert session.next().line == ln["J_SKIP"]
    stop = session.jump(ln["J_END"])  # forward: print("skipped") never runs
    assert stop.line == ln["J_END"]
    session.cont()

    program.wait_stdout("end 2")
    assert session.wait(timeout=TIMEOUT).function == "leaper"  # leaper's set_trace
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["n is 2", "end 2", "leaper skipped", "leaper end"]


def test_jump_from_a_set_trace_pause(launch):
    program = launch(JUMPS)
    session = program.connect()
    ln = lines_of(program, "L_TRACE", "L_END")
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line) == ("leaper", ln["L_TRACE"])

    stop = session.jump(ln["L_END"])  # not inside a line event: jumps at the next one
    assert (stop.function, stop.line) == ("leaper", ln["L_END"])
    assert session.where()[0].line == ln["L_END"]
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["n is 1", "skipped", "end 1", "leaper end"]


def test_jump_refused(launch):
    program = launch(JUMPS)
    session = program.connect()
    ln = lines_of(program, "J_INC", "J_PRINT", "L_END")
    assert session.next().line == ln["J_INC"]
    for bad in (ln["L_END"], 10_000, 0):  # another function's line, past the end, no line
        with pytest.raises(jupdb.RemoteError) as info:
            session.jump(bad)
        assert info.value.ename == "ValueError", bad
    assert session.where()[0].line == ln["J_INC"]  # still paused where it was
    assert session.next().line == ln["J_PRINT"]
    session.cont()
    assert session.wait(timeout=TIMEOUT).function == "leaper"
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["n is 1", "skipped", "end 1", "leaper skipped", "leaper end"]


WORK = """
import os, time, jupdb

def work(i):
    v = i * i               # BP_LINE
    return v

def main():
    jupdb.set_trace()       # START
    flag = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go")
    if os.environ.get("WAIT_FOR_FLAG"):
        while not os.path.exists(flag):
            time.sleep(0.01)
    total = 0
    for i in range(6):
        total += work(i)    # LOOP

    # a comment line        # COMMENT
    print("total", total)

main()
"""


def test_breakpoint_added_while_paused(launch):
    program = launch(WORK)
    session = program.connect()
    line = lines_of(program, "BP_LINE")["BP_LINE"]

    bid = session.add_breakpoint(program.path, line)
    [bp] = session.breakpoints()
    assert bp == {
        "id": bid,
        "file": program.path,
        "line": line,
        "condition": None,
        "temporary": False,
        "enabled": True,
        "hits": 0,
        "ignore": 0,
    }

    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line, stop.file) == ("work", line, program.path)
    assert (stop.reason, stop.breakpoint) == ("breakpoint", bid)
    assert session.eval("i").repr == "0"
    session.exec("i = 10")  # work() returns 100 this time
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert stop.line == line and session.eval("i").repr == "1"
    assert session.breakpoints()[0]["hits"] == 2

    assert session.clear_breakpoint(bid) == [bid]
    assert session.breakpoints() == []
    with pytest.raises(jupdb.RemoteError) as info:
        session.clear_breakpoint(bid)
    assert info.value.ename == "NoSuchBreakpoint"
    others = [session.add_breakpoint(program.path, line), session.add_breakpoint(program.path, line, cond="i > 3")]
    assert sorted(session.clear_breakpoint()) == sorted(others)  # no id: all of them, as pdb's clear
    assert session.breakpoints() == []
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == [f"total {100 + 1 + 4 + 9 + 16 + 25}"]


def test_conditional_breakpoint(launch):
    program = launch(WORK)
    session = program.connect()
    line = lines_of(program, "BP_LINE")["BP_LINE"]
    session.add_breakpoint(program.path, line, cond="i % 2 == 1")
    seen = []
    session.cont()
    for _ in range(3):
        stop = session.wait(timeout=TIMEOUT)
        assert stop.line == line
        seen.append(int(session.eval("i").repr))
        session.cont()
    program.assert_finishes_ok()
    assert seen == [1, 3, 5]
    assert program.stdout_lines() == ["total 55"]


def test_a_breakpoint_whose_condition_raises_stops_and_says_why(launch):
    """As in pdb: a condition that cannot be evaluated stops the thread."""
    program = launch(WORK)
    session = program.connect()
    line = lines_of(program, "BP_LINE")["BP_LINE"]
    session.add_breakpoint(program.path, line, cond="1 / (i - 2) > 0")  # raises at i == 2 only
    session.cont()
    stops = []
    for _ in range(4):  # i = 3, 4, 5 are true; i = 2 raises; i = 0, 1 are false
        stop = session.wait(timeout=TIMEOUT)
        assert stop.line == line
        stops.append(int(session.eval("i").repr))
        session.cont()
    program.assert_finishes_ok()
    assert stops == [2, 3, 4, 5]
    assert program.stdout_lines() == ["total 55"]


def test_temporary_breakpoint(launch):
    program = launch(WORK)
    session = program.connect()
    line = lines_of(program, "BP_LINE")["BP_LINE"]
    bid = session.add_breakpoint(program.path, line, cond="i >= 2", temporary=True)
    assert session.breakpoints()[0]["temporary"] is True
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert stop.line == line and session.eval("i").repr == "2"
    assert bid not in [b["id"] for b in session.breakpoints()]
    session.cont()
    program.assert_finishes_ok()  # no second stop
    assert program.stdout_lines() == ["total 55"]


def test_breakpoint_added_while_nothing_is_paused(launch):
    program = launch(WORK, env={"WAIT_FOR_FLAG": "1"})
    session = program.connect()
    line = lines_of(program, "BP_LINE")["BP_LINE"]
    session.cont()
    wait_until(lambda: session.status()["state"] == "running", what="the program to run")

    # served by the service thread: no thread is paused
    bid = session.add_breakpoint(program.path, line, cond="i == 4")
    assert [b["id"] for b in session.breakpoints()] == [bid]
    assert session.threads()[0].paused is False
    assert session.status()["state"] == "running"

    open(os.path.join(os.path.dirname(program.path), "go"), "w").close()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line) == ("work", line)
    assert session.eval("i").repr == "4"
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["total 55"]


def test_breakpoint_in_the_paused_frame_itself(launch):
    # main() is running (paused at set_trace) when the breakpoint in its loop is set.
    program = launch(WORK)
    session = program.connect()
    line = lines_of(program, "LOOP")["LOOP"]
    bid = session.add_breakpoint(program.path, line, cond="i == 3")
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line) == ("main", line)
    assert session.eval("(i, total)").repr == f"(3, {0 + 1 + 4})"
    session.clear_breakpoint(bid)
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["total 55"]


#: The main thread runs a loop that calls no Python function; a worker thread
#: runs one that does.
RUNNING_LOOPS = """
import threading, time, jupdb

def tick(n):
    return n + 1

def spin():
    n = 0
    while n >= 0:
        n = tick(n)             # SPIN
    print("spun", flush=True)

def crunch():
    stop = False
    rounds = 0
    while not stop:
        rounds += 1             # CRUNCH
    print("crunched", flush=True)

threading.Thread(target=spin, name="spinner").start()
jupdb.set_trace()
crunch()
"""


def test_breakpoints_in_loops_that_are_running(launch):
    program = launch(RUNNING_LOOPS)
    session = program.connect()
    ln = lines_of(program, "SPIN", "CRUNCH")
    session.cont()
    wait_until(lambda: session.status()["state"] == "running", what="the program to run")

    # The main thread's loop: its frame started long before the breakpoint.
    bid = session.add_breakpoint(program.path, ln["CRUNCH"], cond="rounds > 1000")
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line) == ("crunch", ln["CRUNCH"])
    assert int(session.eval("rounds").repr) > 1000
    session.exec("stop = True")
    session.clear_breakpoint(bid)

    # The worker's loop, while the main thread stays paused.
    bid = session.add_breakpoint(program.path, ln["SPIN"], cond="n > 1000")
    stop = session.wait(timeout=TIMEOUT)
    spinner = next(t for t in session.threads() if t.name == "spinner")
    assert (stop.function, stop.line, stop.thread) == ("spin", ln["SPIN"], spinner.id)
    session.exec("n = -10")
    session.clear_breakpoint(bid)
    session.cont()
    program.wait_stdout("spun")
    session.select_thread(next(t.id for t in session.threads() if t.name == "MainThread"))
    session.cont()
    program.assert_finishes_ok()
    assert sorted(program.stdout_lines()) == ["crunched", "spun"]


def test_breakpoint_errors(launch):
    program = launch(WORK)
    session = program.connect()
    comment = lines_of(program, "COMMENT")["COMMENT"]
    with pytest.raises(jupdb.RemoteError) as info:
        session.add_breakpoint(program.path, comment)
    assert info.value.ename == "ValueError"
    with pytest.raises(jupdb.RemoteError) as info:
        session.add_breakpoint(program.path + ".missing", 3)
    assert info.value.ename == "FileNotFoundError"
    with pytest.raises(jupdb.RemoteError) as info:
        session.add_breakpoint(program.path, lines_of(program, "BP_LINE")["BP_LINE"], cond="i ==")
    assert info.value.ename == "SyntaxError"
    assert session.breakpoints() == []
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["total 55"]


def test_watches_are_reported_with_each_stop(launch):
    program = launch(WORK)
    session = program.connect()
    ln = lines_of(program, "BP_LINE")
    session.watch("i * 100")
    session.watch("i")
    session.watch("missing_name")
    with pytest.raises(jupdb.RemoteError) as info:
        session.watch("i +")
    assert info.value.ename == "SyntaxError"

    session.add_breakpoint(program.path, ln["BP_LINE"], cond="i in (1, 2)")
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert set(stop.watches) == {"i * 100", "i", "missing_name"}
    assert stop.watches["i * 100"].repr == "100" and stop.watches["i"].repr == "1"
    assert stop.watches["i"].type == "int"
    assert stop.watches["missing_name"] == "NameError: name 'missing_name' is not defined"

    session.unwatch("i")
    session.exec("i = 7")
    stop = session.next()  # steps report watches too
    assert set(stop.watches) == {"i * 100", "missing_name"}
    assert stop.watches["i * 100"].repr == "700"
    assert session.eval("v").repr == "49"

    session.unwatch("missing_name")
    with pytest.raises(jupdb.RemoteError) as info:
        session.unwatch("never watched")
    assert info.value.ename == "NoSuchWatch"
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert session.eval("i").repr == "2"
    assert set(stop.watches) == {"i * 100"} and stop.watches["i * 100"].repr == "200"
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == [f"total {0 + 49 + 4 + 9 + 16 + 25}"]


@pytest.mark.parametrize(
    "expression", ["exit()", "__import__('sys').exit(5)", "(_ for _ in ()).throw(KeyboardInterrupt)"]
)
def test_a_watch_that_raises_base_exceptions_still_stops(launch, expression):
    """A watch that raises SystemExit or KeyboardInterrupt is reported as that
    watch's error; the stop still happens and the program goes on normally."""
    program = launch(WORK)
    session = program.connect()
    line = lines_of(program, "BP_LINE")["BP_LINE"]
    session.watch(expression)
    session.watch("i")
    session.add_breakpoint(program.path, line, cond="i == 1", temporary=True)
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line) == ("work", line)
    assert stop.watches["i"].repr == "1"
    error = stop.watches[expression]
    assert isinstance(error, str) and error.split(":")[0] in ("SystemExit", "KeyboardInterrupt"), error
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["total 55"]
