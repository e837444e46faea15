"""Several threads of one program paused at once, each driven on its own."""

import jupdb
from remote_helpers import TIMEOUT, line_in, launch, runtime_dir, wait_until  # noqa: F401

TWO_WORKERS = """
import threading, jupdb

def worker(who):
    mine = who * 2
    jupdb.set_trace()                          # W_TRACE
    print("done", who, mine, flush=True)       # W_PRINT
    return mine

threads = [threading.Thread(target=worker, args=(who,), name=f"worker-{who}") for who in "ab"]
for t in threads:
    t.start()
for t in threads:
    t.join()                                   # JOIN
print("all done", flush=True)
"""


def both_paused(session):
    paused = session.status()["paused_threads"]
    return paused if len(paused) == 2 else None


def test_two_threads_paused_at_once(launch):
    program = launch(TWO_WORKERS)
    session = program.connect()
    wait_until(lambda: both_paused(session), what="both workers to pause")
    trace_line = line_in(program.source, "# W_TRACE")

    threads = {t.name: t for t in session.threads()}
    assert {"MainThread", "worker-a", "worker-b"} <= set(threads)
    assert not any(name.startswith("jupdb") for name in threads)
    for name in ("worker-a", "worker-b"):
        info = threads[name]
        assert info.paused
        assert (info.location.file, info.location.line, info.location.function) == (program.path, trace_line, "worker")
    assert threads["MainThread"].paused is False
    assert threads["MainThread"].location is not None  # where it runs (inside Thread.join)
    a, b = threads["worker-a"].id, threads["worker-b"].id
    assert a != b

    # each request goes to the selected thread, in its own frame
    session.select_thread(a)
    assert session.eval("who").repr == "'a'"
    assert session.where()[0].thread == a
    session.exec("mine = 'A!'")
    session.select_thread(b)
    assert session.eval("who").repr == "'b'"
    assert session.eval("mine").repr == "'bb'"
    session.select_thread(a)
    assert session.eval("mine").repr == "'A!'"

    # a steps on its own; b stays where it is
    stop = session.next()
    assert (stop.thread, stop.line) == (a, line_in(program.source, "# W_PRINT"))
    assert {t.name: t.paused for t in session.threads()}["worker-b"] is True
    session.cont()
    program.wait_stdout("done a A!")
    wait_until(
        lambda: [t["name"] for t in session.status()["paused_threads"]] == ["worker-b"],
        what="only worker-b to stay paused",
    )
    assert "done b" not in program.stdout
    threads = {t.name: t for t in session.threads()}
    assert threads["worker-b"].paused
    assert "worker-a" not in threads or not threads["worker-a"].paused  # (it may be still ending)

    # requests for a thread that is no longer paused are refused, not misrouted
    try:
        session.eval("who")
    except jupdb.RemoteError as exc:
        assert exc.ename in ("NotPaused", "NoSuchThread")
    else:
        raise AssertionError("a request for a resumed thread was answered")

    session.select_thread(b)
    assert session.eval("who").repr == "'b'"
    session.exec("mine = 'B!'")
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["done a A!", "done b B!", "all done"]


def test_default_thread_is_the_latest_paused(launch):
    program = launch(TWO_WORKERS)
    session = program.connect()
    wait_until(lambda: both_paused(session), what="both workers to pause")
    latest = session.status()["paused_threads"][-1]
    assert session.eval("who").repr == repr(latest["name"][-1])
    session.cont()  # the latest resumes; the other is now the default
    wait_until(lambda: len(session.status()["paused_threads"]) == 1, what="one worker to resume")
    other = session.status()["paused_threads"][0]
    assert other["id"] != latest["id"]
    assert session.eval("who").repr == repr(other["name"][-1])
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines()[-1] == "all done"


def test_other_threads_keep_running_while_one_is_paused(launch, tmp_path):
    program = launch("""
        import os, threading, time, jupdb

        stop = threading.Event()

        def ticker():
            n = 0
            while not stop.is_set():
                n += 1
                print("tick", n, flush=True)
                time.sleep(0.01)

        t = threading.Thread(target=ticker, name="ticker")
        t.start()
        value = 1
        jupdb.set_trace()                      # MAIN
        stop.set()
        t.join()
        print("value", value, flush=True)
    """)
    session = program.connect()
    program.wait_stdout("tick 50")  # ticking while the main thread is paused
    assert session.status()["state"] == "paused"
    threads = {t.name: t for t in session.threads()}
    assert threads["MainThread"].paused and not threads["ticker"].paused
    session.exec("value = 2\nprint('captured, not ticked')")
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines()[-1] == "value 2"
    assert "captured, not ticked" not in program.stdout
