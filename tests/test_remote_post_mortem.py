"""Post-mortem: a thread that raised pauses where the exception was raised
(``jupdb.post_mortem``, ``jupdb.pm``, and ``jupdb run`` at an uncaught
exception), its traceback's frames open to clients but not to stepping."""

import re
import signal
import sys

import pytest

import jupdb
from remote_helpers import TIMEOUT, launch, line_in, runtime_dir  # noqa: F401

JUPDB_RUN = [sys.executable, "-m", "jupdb", "run"]

CRASHES = """
def divide(a, b):
    ratio = a / b                                  # RAISES
    return ratio

def main():
    values = [3, 0]
    return divide(*values)                         # CALLS

main()                                             # MAIN
"""


def post_mortem_line(program):
    return program.wait_stderr(re.compile(r"jupdb: post-mortem of (\w+) at (.+):(\d+) in (.+)\(\)"))


def paused_thread(session):
    return next(t for t in session.threads() if t.paused)


def test_jupdb_run_pauses_at_an_uncaught_exception(launch):
    program = launch(CRASHES, command=JUPDB_RUN)
    announced = post_mortem_line(program)
    assert announced.group(1, 3, 4) == ("ZeroDivisionError", str(line_in(program.path, "# RAISES")), "divide")
    # The traceback is printed first, as python prints it.
    assert program.stderr.index("ZeroDivisionError: division by zero") < program.stderr.index("post-mortem of")
    session = program.connect(wait=False)

    stop = paused_thread(session).location
    assert (stop.function, stop.line, stop.reason) == ("divide", line_in(program.path, "# RAISES"), "exception")
    assert (stop.exception.ename, stop.exception.evalue) == ("ZeroDivisionError", "division by zero")
    assert "ratio = a / b" in stop.exception.remote_traceback
    assert "runpy" not in stop.exception.remote_traceback  # the program's traceback, not the launcher's
    assert str(stop).endswith(
        "-> ratio = a / b                                  # RAISES\n!! ZeroDivisionError: division by zero"
    )  # as pdb names what it examines

    frames = session.where()
    assert [(f.function, f.line) for f in frames] == [
        ("divide", line_in(program.path, "# RAISES")),
        ("main", line_in(program.path, "# CALLS")),
        ("<module>", line_in(program.path, "# MAIN")),
    ]
    assert session.eval("(a, b)").repr == "(3, 0)"
    assert session.up().function == "main"
    assert session.eval("values").repr == "[3, 0]"
    assert "->     return divide(*values)" in session.source(1)

    for move in (session.step, session.next, session.finish, session.until, lambda: session.jump(4)):
        with pytest.raises(jupdb.RemoteError) as refused:
            move()
        assert refused.value.ename == "PostMortem"
        assert "ZeroDivisionError" in refused.value.evalue
    assert session.status()["state"] == "paused"  # refused, and still serving
    with pytest.raises(jupdb.RemoteError) as failed:
        session.eval("b")  # in main, the selected frame
    assert failed.value.ename == "NameError"
    assert "ZeroDivisionError" not in failed.value.remote_traceback  # the client's error alone
    assert session.eval("b", frame=0).repr == "0"

    session.cont()
    assert program.finish() == 1  # what python returns for an uncaught exception


def test_an_uncaught_exception_in_a_thread_pauses_that_thread(launch):
    source = """
        import threading

        def work(items):
            total = 0
            for item in items:
                total += item                          # RAISES
            return total

        worker = threading.Thread(target=work, args=([1, "x"],), name="worker")
        worker.start()
        worker.join()
        print("main goes on", flush=True)
    """
    program = launch(source, command=JUPDB_RUN)
    post_mortem_line(program)
    assert "Exception in thread worker" in program.stderr  # printed by threading's own hook first
    session = program.connect(wait=False)
    worker = paused_thread(session)
    stop = worker.location
    assert (worker.name, stop.reason, stop.exception.ename) == ("worker", "exception", "TypeError")
    session.select_thread(worker.id)
    assert session.eval("(total, item)").repr == "(1, 'x')"
    session.exec("total = 99")  # the frame has finished: changing it is allowed and harmless
    assert session.eval("total").repr == "99"
    session.cont()
    program.wait_stdout("main goes on")
    program.assert_finishes_ok()  # as with python: a thread's exception does not change the exit code


def test_no_post_mortem_lets_the_program_end(launch):
    program = launch(CRASHES, command=[*JUPDB_RUN, "--no-post-mortem"])
    assert program.finish() == 1
    assert "ZeroDivisionError: division by zero" in program.stderr
    assert "post-mortem" not in program.stderr


def test_post_mortem_of_a_handled_exception_reaches_a_waiting_client(launch):
    source = """
        import sys, jupdb

        def parse(text):
            return int(text)                           # RAISES

        def main():
            jupdb.set_trace()
            try:
                parse("x")                             # CALLS
            except ValueError:
                jupdb.post_mortem()
            try:
                parse("y")
            except ValueError:
                jupdb.post_mortem(sys.exc_info()[2])   # pdb's form: a traceback
            print("handled", flush=True)

        main()                                         # MAIN
    """
    program = launch(source)
    session = program.connect()
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line, stop.reason) == ("parse", line_in(program.path, "# RAISES"), "exception")
    assert stop.exception.ename == "ValueError" and "'x'" in stop.exception.evalue
    assert "return int(text)" in stop.exception.remote_traceback
    # The traceback's frames at the lines it passed (main's is not where main is
    # now), then the callers of its outermost frame (running still).
    assert [(f.function, f.line) for f in session.where()] == [
        ("parse", line_in(program.path, "# RAISES")),
        ("main", line_in(program.path, "# CALLS")),
        ("<module>", line_in(program.path, "# MAIN")),
    ]
    assert session.eval("text").repr == "'x'"
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.reason, stop.exception.ename) == ("exception", "ValueError")  # found from the traceback
    assert session.eval("text").repr == "'y'"
    session.cont()
    program.wait_stdout("handled")
    program.assert_finishes_ok()


def test_pm_examines_the_last_uncaught_exception(launch):
    source = """
        import sys, jupdb

        def fail():
            raise KeyError("missing")                  # RAISES

        try:
            fail()
        except KeyError as exc:
            sys.last_value = exc                       # what the interactive interpreter and IPython set
        jupdb.pm()
    """
    program = launch(source)
    announced = post_mortem_line(program)
    assert announced.group(1, 3) == ("KeyError", str(line_in(program.path, "# RAISES")))
    session = program.connect(wait=False)
    assert [f.function for f in session.where()] == ["fail", "<module>"]
    session.cont()
    program.assert_finishes_ok()


def test_post_mortem_without_an_exception_is_a_clear_error(runtime_dir):
    with pytest.raises(ValueError, match="no exception is being handled|none is being handled"):
        jupdb.post_mortem()
    with pytest.raises(ValueError, match="never raised"):
        jupdb.post_mortem(KeyError("never raised here"))
    for name in ("last_exc", "last_value"):
        if hasattr(sys, name):
            delattr(sys, name)
    with pytest.raises(ValueError, match="no uncaught exception"):
        jupdb.pm()
    assert not jupdb.sessions()  # no server was started for these


def test_ctrl_c_ends_a_post_mortem_without_another_traceback(launch):
    program = launch(CRASHES, command=JUPDB_RUN)
    post_mortem_line(program)
    program.proc.send_signal(signal.SIGINT)
    assert program.finish() == 130  # what jupdb run returns for KeyboardInterrupt
    assert program.stderr.count("Traceback") == 1  # the program's, printed before the pause


CHAINED = """
def load(config):
    try:
        return config["path"]                      # KEY_ERROR
    except KeyError:
        raise RuntimeError("no path configured")   # RUNTIME_ERROR

def main():
    return load({})                                # MAIN_CALL

main()
"""


def test_chained_exceptions_can_each_be_examined(launch):
    program = launch(CHAINED, command=JUPDB_RUN)
    post_mortem_line(program)
    session = program.connect(wait=False)
    chain, examined = session.exceptions()
    assert [(e.ename, e.evalue) for e in chain] == [("KeyError", "'path'"), ("RuntimeError", "no path configured")]
    assert examined == 1
    assert session.where()[0].line == line_in(program.path, "# RUNTIME_ERROR")

    stop = session.examine_exception(0)  # the stack becomes the KeyError's traceback
    assert (stop.line, stop.function) == (line_in(program.path, "# KEY_ERROR"), "load")
    assert stop.exception is not None and stop.exception.ename == "KeyError"
    assert [f.function for f in session.where()] == ["load", "main", "<module>"]
    assert session.eval("config").repr == "{}"
    assert session.exceptions()[1] == 0

    with pytest.raises(jupdb.RemoteError, match="NoSuchException"):
        session.examine_exception(2)
    with pytest.raises(jupdb.RemoteError, match="NoSuchException"):
        session.examine_exception(True)  # type: ignore[arg-type]
    assert session.examine_exception(1).line == line_in(program.path, "# RUNTIME_ERROR")
    session.cont()
    assert program.finish() == 1


def test_exceptions_outside_a_post_mortem_is_an_error(launch):
    program = launch("import jupdb\njupdb.set_trace()\nprint('on')\n")
    session = program.connect()
    with pytest.raises(jupdb.RemoteError, match="NotPostMortem"):
        session.exceptions()
    session.cont()
    program.assert_finishes_ok()
