"""No stops while the debugger evaluates (issue 15, item 9).

As in pdb, code that a client runs in a paused thread (eval, exec, fetch,
watches, and the program's code they call) never stops that thread: client
breakpoints, ``set_trace()`` and ``post_mortem()`` calls inside it are passed
over, from every kind of stop (set_trace, breakpoint, step, post-mortem,
pause), and the program's own later stops and output are untouched. The
program's own probes (actions, not stops) still fire.
"""

from __future__ import annotations

from remote_helpers import launch, line_in, runtime_dir  # noqa: F401

PROGRAM = """
import time
import jupdb

def double(x):
    return x * 2

def helper(x):
    y = double(x)                              # BREAK
    return y

def fail():
    raise ValueError("boom")

def main():
    a = 10
    jupdb.set_trace()                          # PAUSE
    print("helper", helper(1), flush=True)
    b = 20
    try:
        fail()
    except ValueError:
        jupdb.post_mortem()
    while spinning:                            # SPIN
        time.sleep(0.01)
    print("done", a, b, flush=True)

spinning = True
probes = jupdb.NoPdb()
probes.start()
probed = probes.breakpoint(double).eval("x")  # the program's own probe: an action, not a stop
main()
"""


def evaluates_without_stopping(session, x: int) -> None:
    before = [(f.file, f.line, f.function) for f in session.where()]
    assert session.eval(f"helper({x})").repr == str(2 * x)  # passes the breakpoint in helper
    assert session.eval("jupdb.set_trace()").repr == "None"  # a pause inside: passed over
    session.exec("try:\n    fail()\nexcept ValueError:\n    jupdb.post_mortem()")
    assert session.fetch(f"[helper({x})]") == [2 * x]
    assert [(f.file, f.line, f.function) for f in session.where()] == before  # no jupdb frames, same stop
    assert session.status()["state"] == "paused"


def test_client_code_never_stops_the_thread_it_runs_in(launch):
    program = launch(PROGRAM)
    session = program.connect(timeout=10)
    break_line = line_in(program.path, "# BREAK")
    bid = session.add_breakpoint(program.path, break_line)
    session.watch("helper(3)")

    # 1. set_trace
    evaluates_without_stopping(session, 5)
    session.cont()
    # 2. the breakpoint, reached by the program itself (once: the evaluations did not count)
    stop = session.wait(timeout=30)
    assert (stop.reason, stop.line, stop.breakpoint) == ("breakpoint", break_line, bid)
    assert stop.watches["helper(3)"].repr == "6"
    evaluates_without_stopping(session, 6)
    # 3. a step
    stop = session.next(timeout=30)
    assert (stop.reason, stop.function) == ("step", "helper")
    evaluates_without_stopping(session, 7)
    session.cont()
    # 4. post-mortem
    stop = session.wait(timeout=30)
    assert stop.reason == "exception"
    evaluates_without_stopping(session, 8)
    session.cont()
    # 5. a client's pause
    program.wait_stdout("helper 2")
    stop = session.pause(timeout=30)
    assert stop.reason == "pause"
    evaluates_without_stopping(session, 9)
    assert [b["hits"] for b in session.breakpoints()] == [1]
    # The program's own probe fired for the program's call and for the evaluations
    # from set_trace() and post_mortem(). (From a stop inside a line event —
    # breakpoint, step, pause — the interpreter shows no tool any event while the
    # debugger runs.)
    assert {1, 5, 8} <= set(session.fetch("probed"))
    session.exec("globals()['spinning'] = False")
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["helper 2", "done 10 20"]
