"""Probes fire in every thread, including threads that were already running
when the probe was created, and leave every thread's hooks as they were."""

import sys
import threading

import pytest

import jupdb
from conftest import line_of

TIMEOUT = 30  # only a safety net against a hang, never asserted on


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


RETURN_LINE = line_of(f, "return 2 * z")


class Worker(threading.Thread):
    """A thread that is running (blocked on an Event) before the probe exists,
    then runs ``job`` once ``go`` is set."""

    def __init__(self, job, name):
        super().__init__(name=name, daemon=True)
        self.job = job
        self.ready = threading.Event()
        self.go = threading.Event()
        self.result = None
        self.error = None
        self.hooks_before = None
        self.hooks_after = None

    def run(self):
        self.hooks_before = (sys.gettrace(), sys.getprofile())
        self.ready.set()
        self.go.wait(TIMEOUT)
        try:
            self.result = self.job()
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def start_and_wait(self):
        self.start()
        assert self.ready.wait(TIMEOUT)
        return self

    def finish(self):
        self.go.set()
        self.join(TIMEOUT)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error
        return self.result


def test_capture_in_thread_started_before_probe():
    worker = Worker(lambda: g(3), name="early-worker").start_and_wait()
    with jupdb.capture_calls(f) as calls:
        assert worker.finish() == 12
    assert len(calls) == 1
    call = calls[0]
    assert call.args == {"x": 3, "y": 3}
    assert call.return_value == 12
    assert call.locals == {"x": 3, "y": 3, "z": 6}
    assert call.thread_name == "early-worker"
    assert call.thread_id in (worker.ident, worker.native_id)
    assert call.stack[-1].name == "f"
    assert call.stack[-2].name == "g"


def test_capture_call_in_thread_started_before_probe():
    worker = Worker(lambda: f(10, 20), name="early-single").start_and_wait()
    with jupdb.capture_call(f) as call:
        worker.finish()
    assert repr(call) == "CallCapture(name='f', args=OrderedDict(x=10, y=20), return_value=60)"
    assert call.thread_name == "early-single"


def test_breakpoint_exec_in_thread_started_before_probe():
    worker = Worker(lambda: f(1, 1), name="early-bp").start_and_wait()
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        zs = bp.eval("z")
        bp.exec("z = 10")
        assert worker.finish() == 20
    assert zs == [2]


def test_breakpoint_at_call_in_thread_started_before_probe():
    worker = Worker(lambda: f(1, 1), name="early-bp-call").start_and_wait()
    with jupdb.breakpoint(f) as bp:
        bp.exec("x = 5")
        assert worker.finish() == 12


def test_exception_in_thread_started_before_probe():
    def job():
        try:
            f(1, None)
        except TypeError as exc:
            return exc

    worker = Worker(job, name="early-raise").start_and_wait()
    with jupdb.capture_call(f) as call:
        exc = worker.finish()
    assert isinstance(exc, TypeError)
    assert call.exception is exc
    assert call.thread_name == "early-raise"


def test_thread_started_after_probe():
    out = {}
    with jupdb.capture_calls(f) as calls:
        t = threading.Thread(target=lambda: out.setdefault("r", g(4)), name="late-worker")
        t.start()
        t.join(TIMEOUT)
    assert out["r"] == 16
    assert [(c.thread_name, c.return_value) for c in calls] == [("late-worker", 16)]


def test_many_threads_at_once():
    n_threads, n_calls = 8, 25
    barrier = threading.Barrier(n_threads)
    results = {}

    def job(i):
        barrier.wait(TIMEOUT)
        results[i] = [f(i, k) for k in range(n_calls)]

    threads = [threading.Thread(target=job, args=(i,), name=f"many-{i}") for i in range(n_threads)]
    with jupdb.capture_calls(f) as calls:
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
    for i in range(n_threads):
        assert results[i] == [2 * (i + k) for k in range(n_calls)]
    assert len(calls) == n_threads * n_calls
    got = sorted((c.args["x"], c.args["y"], c.return_value) for c in calls)
    assert got == sorted((i, k, 2 * (i + k)) for i in range(n_threads) for k in range(n_calls))
    for c in calls:
        assert c.thread_name == f"many-{c.args['x']}"
    # every call's CallInfo is internally consistent
    assert all(c.locals["z"] == c.args["x"] + c.args["y"] for c in calls)


def test_many_threads_with_breakpoint_exec():
    n_threads = 6
    barrier = threading.Barrier(n_threads)
    results = {}

    def job(i):
        barrier.wait(TIMEOUT)
        results[i] = [f(i, k) for k in range(10)]

    threads = [threading.Thread(target=job, args=(i,)) for i in range(n_threads)]
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.exec("z = z + 1000")
        seen = bp.eval("z")
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
    for i in range(n_threads):
        assert results[i] == [2 * (i + k + 1000) for k in range(10)]
    assert sorted(seen) == sorted(i + k + 1000 for i in range(n_threads) for k in range(10))


def test_recursion_in_threads_gives_one_call_per_frame():
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    workers = [Worker(lambda n=n: fact(n), name=f"fact-{n}").start_and_wait() for n in (3, 5)]
    with jupdb.capture_calls(fact) as calls:
        assert [w.finish() for w in workers] == [6, 120]
    per_thread = {}
    for c in calls:
        per_thread.setdefault(c.thread_name, []).append(c.args["n"])
    assert per_thread == {"fact-3": [1, 2, 3], "fact-5": [1, 2, 3, 4, 5]}


def test_probe_removed_in_pre_existing_thread():
    """After the probe is gone, a thread that existed before it is not
    captured any more and sees its own hooks as they were."""
    stage = threading.Event()
    resume = threading.Event()
    out = {}

    def job():
        out["during"] = f(1, 2)
        stage.set()
        resume.wait(TIMEOUT)
        out["after"] = f(3, 4)
        out["hooks_after"] = (sys.gettrace(), sys.getprofile())

    worker = Worker(job, name="before-and-after").start_and_wait()
    with jupdb.capture_calls(f) as calls:
        worker.go.set()
        assert stage.wait(TIMEOUT)
    resume.set()
    worker.join(TIMEOUT)
    assert worker.error is None
    assert out["during"] == 6 and out["after"] == 14
    assert [c.args["x"] for c in calls] == [1]
    assert out["hooks_after"] == worker.hooks_before


def test_calls_in_other_threads_during_debugging_are_not_lost():
    """Two probes on different functions, used by different threads."""
    worker_f = Worker(lambda: [f(i, i) for i in range(5)], name="uses-f").start_and_wait()
    worker_g = Worker(lambda: [g(i) for i in range(5)], name="uses-g").start_and_wait()
    with jupdb.NoPdb() as dbg:
        f_calls = dbg.capture_calls(f)
        g_calls = dbg.capture_calls(g)
        worker_f.go.set()
        worker_g.go.set()
        assert worker_f.finish() == [4 * i for i in range(5)]
        assert worker_g.finish() == [4 * i for i in range(5)]
    assert len(g_calls) == 5
    assert len(f_calls) == 10  # 5 direct + 5 through g
    assert {c.thread_name for c in g_calls} == {"uses-g"}
    assert {c.thread_name for c in f_calls} == {"uses-f", "uses-g"}


@pytest.mark.parametrize("kind", ["capture", "breakpoint"])
def test_main_thread_calls_of_other_functions_are_ignored(kind):
    worker = Worker(lambda: g(2), name="other").start_and_wait()
    with jupdb.NoPdb() as dbg:
        if kind == "capture":
            calls = dbg.capture_calls(g)
        else:
            seen = dbg.breakpoint(g).eval("(x, __import__('threading').current_thread().name)")
        assert f(1, 1) == 4
        assert worker.finish() == 8
    if kind == "capture":
        assert [(c.thread_name, c.args["x"]) for c in calls] == [("other", 2)]
    else:
        assert seen == [(2, "other")]


def waits_inside(entered, go):
    entered.set()
    go.wait(TIMEOUT)
    result = "done"
    return result  # MARK:waits-return


@pytest.mark.parametrize("kind", ["capture", "breakpoint"])
def test_probe_removed_while_a_thread_is_inside_the_target(kind):
    entered, go = threading.Event(), threading.Event()
    out = {}

    def job():
        out["before"] = (sys.gettrace(), sys.getprofile())
        out["result"] = waits_inside(entered, go)
        out["after"] = (sys.gettrace(), sys.getprofile())
        out["later"] = f(1, 1)

    t = threading.Thread(target=job)
    if kind == "capture":
        probe = jupdb.capture_calls(waits_inside)
    else:
        probe = jupdb.breakpoint(waits_inside, line=line_of(waits_inside, "MARK:waits-return"))
    with probe:
        t.start()
        assert entered.wait(TIMEOUT)
    go.set()
    t.join(TIMEOUT)
    assert not t.is_alive()
    assert out["result"] == "done"
    assert out["later"] == 4
    assert out["after"] == out["before"]


@pytest.mark.parametrize("kind", ["capture", "breakpoint"])
def test_probe_created_while_a_thread_is_inside_the_target(kind):
    entered, go = threading.Event(), threading.Event()
    out = {}

    def job():
        out["before"] = (sys.gettrace(), sys.getprofile())
        out["result"] = waits_inside(entered, go)
        out["after"] = (sys.gettrace(), sys.getprofile())

    t = threading.Thread(target=job)
    t.start()
    assert entered.wait(TIMEOUT)
    if kind == "capture":
        probe = jupdb.capture_calls(waits_inside)
    else:
        probe = jupdb.breakpoint(waits_inside, line=line_of(waits_inside, "MARK:waits-return"))
    with probe:
        go.set()
        t.join(TIMEOUT)
        assert not t.is_alive()
        # a fresh call in this thread is seen as usual
        go2 = threading.Event()
        go2.set()
        assert waits_inside(threading.Event(), go2) == "done"
    assert out["result"] == "done"
    assert out["after"] == out["before"]
    if kind == "capture":
        assert [c.thread_name for c in probe][-1] == threading.current_thread().name
