"""Signals and interrupts: a paused program and a waiting client run Python's
signal handlers, so that Ctrl-C works on both as it does on any blocking call;
a client's code that runs too long in the program can be interrupted."""

import signal
import threading

import pytest

import jupdb
from remote_helpers import TIMEOUT, launch, line_in, runtime_dir, wait_until  # noqa: F401


def test_ctrl_c_while_paused_raises_keyboard_interrupt_where_it_paused(launch):
    program = launch("""
        import jupdb

        try:
            jupdb.set_trace()
        except KeyboardInterrupt:
            print("interrupted at the pause", flush=True)
        went_on = True
        jupdb.set_trace()                         # SECOND
    """)
    session = program.connect()
    program.proc.send_signal(signal.SIGINT)
    program.wait_stdout("interrupted at the pause")
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.code) == ("<module>", "jupdb.set_trace()                         # SECOND")
    assert session.eval("went_on").repr == "True"  # the debugger still serves the program
    session.cont()
    program.assert_finishes_ok()


def test_uncaught_ctrl_c_while_paused_ends_the_program_as_python_does(launch):
    program = launch("""
        import jupdb
        jupdb.set_trace()
    """)
    program.wait_paused()
    program.proc.send_signal(signal.SIGINT)
    assert program.finish() == -signal.SIGINT  # KeyboardInterrupt's exit, as python's own
    assert "KeyboardInterrupt" in program.stderr


def test_signal_handlers_run_while_paused_and_the_pause_goes_on(launch):
    program = launch("""
        import signal, jupdb

        received = []

        def handler(signum, frame):
            received.append(signum)
            print("handled", flush=True)

        signal.signal(signal.SIGUSR1, handler)
        a = 10
        jupdb.set_trace()
    """)
    session = program.connect()
    program.proc.send_signal(signal.SIGUSR1)
    program.wait_stdout("handled")
    assert session.eval("(a, received)").repr == f"(10, [{int(signal.SIGUSR1)}])"
    assert session.status()["state"] == "paused"
    session.cont()
    program.assert_finishes_ok()


class Interrupted(Exception):
    pass


def test_a_signal_interrupts_a_waiting_client_and_its_late_reply_is_dropped(launch, tmp_path):
    program = launch("""
        import time, jupdb
        a = 10
        jupdb.set_trace()
    """)
    session = program.connect()
    finished = tmp_path / "finished"

    def interrupt(signum, frame):
        raise Interrupted(finished.exists())  # as Ctrl-C's handler raises KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted) as caught:
            session.eval(f"time.sleep(3) or open({str(finished)!r}, 'w').close() or 'late'")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert caught.value.args == (False,), "the handler ran only once the reply had come"
    # The program finishes the interrupted request, then answers this one with its own reply.
    assert session.eval("a").repr == "10"
    assert finished.exists()
    session.cont()
    program.assert_finishes_ok()


# -- interrupting a client's code ---------------------------------------------------------------

LONG_RUNNING = """
    import jupdb

    def spin():
        n = 0
        while True:
            n += 1

    def report(n):
        return f"n is {n}"                     # REPORT

    n = 0
    jupdb.set_trace()
    print(report(n), flush=True)
"""


def test_ctrl_c_in_the_client_also_stops_the_remote_code(launch):
    program = launch(LONG_RUNNING)
    session = program.connect()

    def ctrl_c(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ctrl_c)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            session.exec("while True: n += 1")  # never ends by itself
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # Stopped there too: the thread answers again, and the interrupted exec wrote nothing back.
    assert session.eval("n").repr == "0"
    session.cont()
    program.wait_stdout("n is 0")
    program.assert_finishes_ok()


def test_interrupt_stops_a_long_eval_and_the_thread_stays_paused(launch):
    program = launch(LONG_RUNNING)
    session, other = program.connect(), program.connect()
    tid = session.threads()[0].id
    assert other.interrupt() == []  # no client code runs: nothing is raised anywhere
    failed = []

    def evaluate():
        with pytest.raises(jupdb.RemoteError) as caught:
            session.eval("spin()")
        failed.append(caught.value)

    evaluating = threading.Thread(target=evaluate)
    evaluating.start()
    assert wait_until(lambda: other.interrupt(), what="the eval to be interrupted") == [tid]
    evaluating.join(TIMEOUT)
    assert failed and (failed[0].ename, failed[0].evalue) == ("KeyboardInterrupt", "interrupted")
    assert "in spin" in failed[0].remote_traceback  # raised in the code the client ran
    assert session.status()["state"] == "paused"
    session.exec("n = 7")
    # The interpreter is left as it was: a breakpoint set now is reached (on 3.11 it was
    # not, while withdrawing a consumed interrupt left CPython's pending flag set).
    bid = session.add_breakpoint(program.path, line_in(program.path, "# REPORT"))
    session.cont()
    assert session.wait(timeout=TIMEOUT).breakpoint == bid
    session.cont()
    program.wait_stdout("n is 7")
    program.assert_finishes_ok()  # no interrupt ever reached the program itself


def test_interrupt_stops_a_watch_that_never_ends(launch):
    program = launch("""
        import jupdb

        def forever():
            while True:
                pass

        jupdb.set_trace()
        x = 1
        jupdb.set_trace()                         # SECOND
    """)
    session, other = program.connect(), program.connect()
    session.watch("forever()")
    session.cont()
    wait_until(lambda: other.interrupt(), what="the watch to be interrupted")
    stop = session.wait(timeout=TIMEOUT)
    assert stop.code.endswith("# SECOND")
    assert stop.watches["forever()"].startswith("KeyboardInterrupt")
    assert session.eval("x").repr == "1"
    session.unwatch("forever()")
    session.cont()
    program.assert_finishes_ok()
