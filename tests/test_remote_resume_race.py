"""A request that reaches a paused thread just as another client resumes it is
answered (NotPaused), never left waiting for its timeout."""

import threading

import jupdb
from remote_helpers import TIMEOUT, launch, runtime_dir  # noqa: F401

LOOP = """
import jupdb

def work():
    total = 0
    jupdb.set_trace()
    for i in range(100_000):
        total += i
    return total

work()
"""

STEPS = 300


def test_requests_racing_a_resume_are_answered(launch):
    program = launch(LOOP)
    stepper = program.connect()
    asker = program.connect()
    answered = {"ok": 0, "NotPaused": 0}
    failures = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                asker.where()
                answered["ok"] += 1
            except jupdb.RemoteError as exc:
                answered[exc.ename] = answered.get(exc.ename, 0) + 1
            except Exception as exc:  # a TimeoutError: the request was lost
                failures.append(exc)
                return

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        for _ in range(STEPS):
            stepper.next()
            if failures:
                break
    finally:
        done.set()
        thread.join(2 * TIMEOUT)
    assert not failures, f"a request was never answered: {failures[0]!r} (answers so far: {answered})"
    assert answered["ok"] > 0
    stepper.cont()
    program.assert_finishes_ok()
