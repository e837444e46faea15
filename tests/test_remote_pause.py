"""Pausing a running program from the client (``Session.pause``, pause_request)."""

import sys

import pytest

import jupdb
from remote_helpers import TIMEOUT, line_in, launch, runtime_dir, wait_until  # noqa: F401

#: Pauses once so that a client can connect, then runs until a client sets
#: ``stop`` in the loop's frame.
BUSY_MAIN = """
import jupdb

def crunch():
    stop = False
    rounds = 0
    while not stop:                    # LOOP
        rounds += 1                    # BODY
    print("stopped after", rounds > 0, flush=True)

jupdb.set_trace()
crunch()
"""

#: The main thread sleeps in long calls; a worker thread computes, calling a
#: function in its loop, and a spinner thread computes without calling any.
SLEEPER_AND_WORKER = """
import threading, time, jupdb

def bump(total):
    return total + 1                   # BUMP

def work():
    total = 0
    while True:
        total = bump(total)            # WORK

def spin():
    n = 0
    while True:
        n += 1                         # SPIN

def doze():
    while True:
        time.sleep(SLEEP)              # SLEEP
        awake = True                   # AWAKE

threading.Thread(target=work, name="worker", daemon=True).start()
threading.Thread(target=spin, name="spinner", daemon=True).start()
jupdb.set_trace()
doze()
"""


def run_until_main_thread_in(session, function):
    """Resume, and wait until the main thread runs in ``function`` (its innermost Python frame)."""
    session.cont()

    def there():
        main = next(t for t in session.threads() if t.name == "MainThread")
        return not main.paused and main.location is not None and main.location.function == function

    wait_until(there, what=f"the main thread to run {function}()")


def test_pause_stops_a_busy_main_thread_where_it_runs(launch):
    program = launch(BUSY_MAIN)
    session = program.connect()
    probes_before = session.eval("__import__('jupdb')._native.active_probes()").repr
    run_until_main_thread_in(session, "crunch")

    stop = session.pause()
    assert (stop.file, stop.function) == (program.path, "crunch")
    assert stop.line in (line_in(program.source, "# LOOP"), line_in(program.source, "# BODY"))
    assert session.status()["state"] == "paused"
    rounds = int(session.eval("rounds").repr)
    assert rounds > 0
    # a stop like any other: step, then change the frame and let it finish
    assert session.next().function == "crunch"
    assert int(session.eval("rounds").repr) >= rounds
    # nothing of the pause is left behind
    assert session.eval("__import__('jupdb')._native.active_probes()").repr == probes_before
    session.exec("stop = True")
    session.cont()
    program.wait_stdout("stopped after True")
    program.assert_finishes_ok()


def test_pause_twice_and_pause_of_a_paused_thread(launch):
    program = launch(BUSY_MAIN)
    session = program.connect()
    run_until_main_thread_in(session, "crunch")
    first = session.pause()
    assert first.function == "crunch"
    stops = session.status()["paused_threads"]
    # already paused: where it is, and no second pause
    again = session.pause()
    assert (again.file, again.line, again.function) == (first.file, first.line, first.function)
    assert session.status()["paused_threads"] == stops
    session.cont()
    second = session.pause()
    assert second.function == "crunch"
    session.exec("stop = True")
    session.cont()
    program.assert_finishes_ok()


def test_pause_of_a_thread_blocked_in_sleep_waits_for_the_call_to_return(launch):
    program = launch(SLEEPER_AND_WORKER.replace("SLEEP)", "2.0)"))
    session = program.connect()
    run_until_main_thread_in(session, "doze")

    def main_thread_sleeps():
        main = next(t for t in session.threads() if t.name == "MainThread")
        return main.location.line == line_in(program.source, "# SLEEP")

    wait_until(main_thread_sleeps, what="the main thread to sleep")  # its next line: AWAKE, 2 s later
    with pytest.raises(TimeoutError, match="ran no line of the program within 0.2 s"):
        session.pause(timeout=0.2)
    # the pause still comes, once the sleep returns
    stop = session.wait(timeout=TIMEOUT)
    assert (stop.function, stop.line) == ("doze", line_in(program.source, "# AWAKE"))
    assert stop.thread == next(t.id for t in session.threads() if t.name == "MainThread")
    session.cont()


def test_pause_of_another_thread(launch):
    program = launch(SLEEPER_AND_WORKER.replace("SLEEP)", "0.01)"))
    session = program.connect()
    run_until_main_thread_in(session, "doze")
    worker = next(t for t in session.threads() if t.name == "worker")
    stop = session.pause(worker.id)
    assert stop.thread == worker.id and stop.function in ("work", "bump")
    threads = {t.name: t for t in session.threads()}
    assert threads["worker"].paused and not threads["MainThread"].paused and not threads["spinner"].paused
    if stop.function == "bump":
        stop = session.finish()
    assert stop.function == "work"
    total = int(session.eval("total").repr)
    # paused inside a line event, as at a breakpoint: jump is allowed
    assert session.jump(line_in(program.source, "# WORK")).line == line_in(program.source, "# WORK")
    session.exec("total = -1")
    assert session.next().function in ("work", "bump")
    assert int(session.eval("total").repr) < total
    session.cont()

    # A thread whose loop calls no Python function: on 3.10 and 3.11 only the
    # thread itself can turn its tracing on, at a frame start.
    spinner = threads["spinner"].id
    if sys.version_info >= (3, 12):
        assert session.pause(spinner).function == "spin"
        session.cont()
    else:
        with pytest.raises(TimeoutError, match="other than the main one stops at its next call of a Python function"):
            session.pause(spinner, timeout=0.5)
    # either way the program runs on, and its main thread can still be paused
    assert session.status()["state"] == "running", session.status()
    assert session.pause().function == "doze"
    session.cont()


def test_pause_of_a_thread_that_does_not_exist(launch):
    program = launch(BUSY_MAIN)
    session = program.connect()
    run_until_main_thread_in(session, "crunch")
    with pytest.raises(jupdb.RemoteError, match="there is no thread 12345") as caught:
        session.pause(12345)
    assert caught.value.ename == "NoSuchThread"
    assert session.status()["state"] == "running"
    assert session.pause().function == "crunch"
    session.exec("stop = True")
    session.cont()
    program.assert_finishes_ok()
