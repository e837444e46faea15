"""A paused thread busy in a long call into C that holds the GIL (issue 15, item 12).

While a client's eval runs a C call that never releases the GIL, no Python
runs in the debuggee: ``status()``, ``threads()``, ``where()`` and
``interrupt()`` are answered from Rust (what the thread recorded when it took
the request), say the thread is busy with that request and since when, and
the interrupt lands when Python resumes. Ctrl-C in the client returns at once.

``ctypes.PyDLL`` calls hold the GIL (``CDLL`` ones release it), so
``PyDLL(None).usleep`` is such a call of a known length. It is the first
thing the request does, so while ``status()`` says the thread has been busy
for less than that, the call still runs.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from remote_helpers import PAUSED_AT_A, TIMEOUT, launch, runtime_dir, wait_until  # noqa: F401

import jupdb


#: How long the C call holds the GIL (s): longer than the few answers the
#: test waits for, on a busy machine.
HOLD = 8

#: A C call that holds the GIL, then a Python loop that only an interrupt ends.
STUCK = f"__import__('ctypes').PyDLL(None).usleep({HOLD * 1_000_000})\nwhile True:\n    pass\n"


def still_in_the_c_call(session, tid) -> bool:
    busy = busy_of(session, tid)
    return busy is not None and busy["seconds"] < HOLD


def busy_of(session, tid):
    [entry] = [t for t in session.status()["paused_threads"] if t["id"] == tid]
    return entry.get("busy")


def test_status_threads_where_and_interrupt_answer_while_a_c_call_holds_the_gil(launch):
    program = launch(PAUSED_AT_A)
    session = program.connect(timeout=TIMEOUT)
    other = program.connect(timeout=TIMEOUT)
    [main] = [t for t in session.threads() if t.name == "MainThread"]
    before = session.where()
    outcome = []

    def run():
        try:
            session.exec(STUCK)
        except jupdb.RemoteError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    busy = wait_until(lambda: busy_of(other, main.id), what="status to say the thread is busy")
    assert busy["request"] == "exec_request" and busy["since"].endswith("Z") and busy["seconds"] >= 0

    [thread] = [t for t in other.threads() if t.id == main.id]
    assert thread.paused and thread.busy["request"] == "exec_request"
    stack = other.where()
    assert [(f.function, f.line) for f in stack] == [(f.function, f.line) for f in before]
    assert stack.busy["request"] == "exec_request"
    assert other.interrupt() == [main.id]
    assert still_in_the_c_call(other, main.id), "the answers came after the C call returned"

    worker.join(TIMEOUT)  # the interrupt lands when Python resumes, before the endless loop
    assert not worker.is_alive()
    assert [exc.ename for exc in outcome] == ["KeyboardInterrupt"]
    assert busy_of(other, main.id) is None
    assert session.eval("a").repr == "10"
    assert other.where().busy is None
    session.cont()
    program.assert_finishes_ok()


def test_ctrl_c_in_the_client_returns_at_once_and_the_interrupt_lands_later(launch):
    program = launch(PAUSED_AT_A)
    session = program.connect(timeout=TIMEOUT)
    [main] = [t for t in session.threads() if t.name == "MainThread"]
    ctrl_c = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            session.exec(STUCK)
    finally:
        ctrl_c.cancel()
    assert still_in_the_c_call(session, main.id), "Ctrl-C returned only after the C call"
    assert "busy" in str(info.value) and "exec_request" in str(info.value)
    # The exec ends when Python resumes (the interrupt lands before the endless
    # loop); the thread then serves the next request.
    assert session.eval("a").repr == "10"
    session.cont()
    program.assert_finishes_ok()
