"""What does one hit of a probe cost: a captured call, a breakpoint's eval or false cond?

Workload: N calls of ``small(a, b, c)`` (three small locals) in a loop.  Each case
runs it with one probe active (set up and torn down inside the timed region), best
of 5 interleaved rounds with GC off, and is printed as microseconds per call over
the bare loop, next to what a bare ``sys.monitoring`` callback written in Python
costs for the same work (3.12+), hunter and nopdb.  Every case checks what its
probe recorded, so a broken probe cannot look fast.  Slow cases (nopdb) run fewer
calls.  Memory: 100,000 captured calls in a fresh process, as the growth of its
resident set (RSS, which counts the extension's own allocations too) and, for
reference, tracemalloc's count of Python's allocations.

Run:  bench/run.sh                    # every CPython 3.10+, own venvs
      python bench/hits.py [--json F] # this interpreter only
"""

from __future__ import annotations

import os
import subprocess
import sys

from common import PY, arg_parser, available, best_of, interpreter, table, write_json

N = 200_000
N_SLOW = 2_000  # nopdb: about 1 ms per call (it copies the stack of every frame)
N_MEMORY = 100_000
REPEAT = 5
BP_LINE = "return a + b + c"
EXPRESSION = "a + b"
MONITORING = sys.version_info >= (3, 12)


def small(a, b, c):
    return a + b + c


def loop(n):
    for i in range(n):
        small(i, 2, 3)


def last(n):
    return small(n - 1, 2, 3)  # what the last call returned, the value every case checks


# --- cases: each runs the loop under one probe and returns what it saw of the last call ----


def bare(n):
    loop(n)
    return last(n)


def jupdb_capture_calls(n):
    import jupdb

    with jupdb.capture_calls(small) as calls:
        loop(n)
    assert len(calls) == n and calls[-1].args == {"a": n - 1, "b": 2, "c": 3}
    return calls[-1].return_value


def jupdb_capture_call(n):
    import jupdb

    with jupdb.capture_call(small) as call:
        loop(n)
    assert call.locals == {"a": n - 1, "b": 2, "c": 3}
    return call.return_value


def nopdb_capture_calls(n):
    import nopdb

    with nopdb.capture_calls(small) as calls:
        loop(n)
    assert len(calls) == n
    return calls[-1].return_value


def hunter_calls(n):
    """hunter's cheapest way to record the same: profile events of small(),
    arguments at the call, locals and the value at the return."""
    import hunter

    seen = []
    tracer = hunter.trace(
        function="small",
        kind_in=("call", "return"),
        action=lambda event: seen.append((dict(event.locals), event.arg)),
        profile=True,
        threading_support=False,
    )
    try:
        loop(n)
    finally:
        tracer.stop()
    assert len(seen) == 2 * n
    return seen[-1][1]


def _monitoring(events, callbacks, code=small.__code__):
    """Run the loop with Python callbacks registered on a free sys.monitoring tool."""
    mon = sys.monitoring
    tool = next(t for t in range(6) if mon.get_tool(t) is None)
    mon.use_tool_id(tool, "bench")
    try:
        for event, callback in callbacks.items():
            mon.register_callback(tool, event, callback)
        mon.set_local_events(tool, code, events)
        return tool
    except BaseException:
        mon.free_tool_id(tool)
        raise


def _release(tool, code=small.__code__):
    mon = sys.monitoring
    mon.set_local_events(tool, code, 0)
    for event in (mon.events.PY_START, mon.events.PY_RETURN, mon.events.LINE):
        mon.register_callback(tool, event, None)
    mon.free_tool_id(tool)


def monitoring_calls(n):
    """A bare sys.monitoring callback in Python that copies the locals at the
    start and at the return (what a capture needs at least)."""
    ev = sys.monitoring.events
    getframe = sys._getframe
    started, ended = [], []

    def on_start(code, offset):
        started.append(dict(getframe(1).f_locals))

    def on_return(code, offset, value):
        ended.append((dict(getframe(1).f_locals), value))

    tool = _monitoring(ev.PY_START | ev.PY_RETURN, {ev.PY_START: on_start, ev.PY_RETURN: on_return})
    try:
        loop(n)
    finally:
        _release(tool)
    assert len(started) == len(ended) == n
    return ended[-1][1]


def jupdb_breakpoint_eval(n):
    import jupdb

    with jupdb.breakpoint(function=small, line=BP_LINE) as bp:
        seen = bp.eval(EXPRESSION)
        loop(n)
    assert len(seen) == n
    return seen[-1] + 3


def jupdb_breakpoint_cond(n):
    """A cond that is false at every hit but the last one."""
    import jupdb

    with jupdb.breakpoint(function=small, line=BP_LINE, cond=f"a == {n - 1}") as bp:
        seen = bp.eval(EXPRESSION)
        loop(n)
    assert len(seen) == 1
    return seen[-1] + 3


def jupdb_breakpoint_exec(n):
    import jupdb

    seen = []
    with jupdb.breakpoint(function=small, line=BP_LINE) as bp:
        bp.exec("seen.append(a + b)", variables={"seen": seen})
        loop(n)
    return seen[-1] + 3


def monitoring_line_eval(n):
    """A bare sys.monitoring LINE callback in Python that evaluates the expression
    at the breakpoint's line (the other lines are disabled)."""
    mon = sys.monitoring
    code = compile(EXPRESSION, "<bench>", "eval")
    line = small.__code__.co_firstlineno + 1
    getframe = sys._getframe
    seen = []

    def on_line(code_, lineno):
        if lineno != line:
            return mon.DISABLE
        frame = getframe(1)
        seen.append(eval(code, frame.f_globals, dict(frame.f_locals)))

    tool = _monitoring(mon.events.LINE, {mon.events.LINE: on_line})
    try:
        loop(n)
    finally:
        _release(tool)
    assert len(seen) == n
    return seen[-1] + 3


def expression_alone(n):
    """The expression's own cost: eval of it on a dict of the locals, n times."""
    code = compile(EXPRESSION, "<bench>", "eval")
    g = globals()
    value = None
    for i in range(n):
        value = eval(code, g, {"a": i, "b": 2, "c": 3})
    return value + 3


# name -> (function, calls, module it needs or None, only on 3.12+)
CASES = {
    "bare": (bare, N, None, False),
    "bare (N_SLOW calls)": (bare, N_SLOW, None, False),
    "jupdb capture_calls(f)": (jupdb_capture_calls, N, "jupdb", False),
    "jupdb capture_call(f)": (jupdb_capture_call, N, "jupdb", False),
    "nopdb 0.2 capture_calls(f)": (nopdb_capture_calls, N_SLOW, "nopdb", False),
    "hunter trace(profile, call+return)": (hunter_calls, N, "hunter", False),
    "sys.monitoring Python callback copying locals": (monitoring_calls, N, None, True),
    "jupdb breakpoint.eval": (jupdb_breakpoint_eval, N, "jupdb", False),
    "jupdb breakpoint, false cond": (jupdb_breakpoint_cond, N, "jupdb", False),
    "jupdb breakpoint.exec": (jupdb_breakpoint_exec, N, "jupdb", False),
    "sys.monitoring Python LINE callback eval": (monitoring_line_eval, N, None, True),
    "eval of the expression alone": (expression_alone, N, None, False),
}


def runnable(module, needs_monitoring):
    return (MONITORING or not needs_monitoring) and available(module)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(mode):
    """Capture N_MEMORY calls; print how much memory they took, in bytes: the
    growth of the resident set ("rss"), or tracemalloc's count ("tracemalloc",
    a separate run: tracing costs memory of its own)."""
    import gc
    import tracemalloc

    import jupdb

    loop(1000)  # warm up the loop and the interpreter's own caches
    gc.collect()
    before = rss_bytes()
    if mode == "tracemalloc":
        tracemalloc.start()
    with jupdb.capture_calls(small) as calls:
        loop(N_MEMORY)
    used = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else rss_bytes() - before
    assert len(calls) == N_MEMORY and calls[-1].locals == {"a": N_MEMORY - 1, "b": 2, "c": 3}
    print(used)


def memory(mode):
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--memory-child", mode],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path[1:])),
    )
    return int(out.stdout)


def main():
    if sys.argv[1:2] == ["--memory-child"]:
        memory_child(sys.argv[2])
        return 0
    args = arg_parser(__doc__).parse_args()
    cases = {name: (lambda fn=fn, n=n: fn(n)) for name, (fn, n, mod, mon) in CASES.items() if runnable(mod, mon)}
    skipped = [name for name in CASES if name not in cases]
    print("bench/hits.py on %s: %d calls of small(a, b, c), best of %d" % (interpreter(), N, REPEAT))
    if available("jupdb"):
        print("jupdb from %s" % sys.modules["jupdb"].__file__)

    results = best_of(cases, repeat=REPEAT, budget_s=20.0)
    bare_s = {N: results["bare"]["best_s"], N_SLOW: results["bare (N_SLOW calls)"]["best_s"]}
    per_call = {}
    for name, rec in results.items():
        n = CASES[name][1]
        per_call[name] = (rec["best_s"] - bare_s[n]) / n * 1e6
    expression_us = max(per_call.pop("eval of the expression alone") + bare_s[N] / N * 1e6, 0.0)
    hunter_us = per_call.get("hunter trace(profile, call+return)")
    monitoring_us = per_call.get("sys.monitoring Python callback copying locals")
    line_us = per_call.get("sys.monitoring Python LINE callback eval")

    def capture_target():
        if MONITORING:
            return 2.0, "<= 2 us"
        if hunter_us is not None:
            return hunter_us, "<= hunter"
        return None, ""

    targets = {
        "jupdb capture_calls(f)": capture_target(),
        "jupdb capture_call(f)": capture_target(),
        "jupdb breakpoint.eval": (1.0 + expression_us, "<= 1 us + expr"),
        "jupdb breakpoint, false cond": (1.0, "<= 1 us"),
    }
    references = {
        "jupdb capture_calls(f)": monitoring_us,
        "jupdb capture_call(f)": monitoring_us,
        "jupdb breakpoint.eval": line_us,
        "jupdb breakpoint, false cond": line_us,
    }

    rows, records = [], []
    for name, rec in results.items():
        if name.startswith("bare") or name == "eval of the expression alone":
            continue
        expected = last(CASES[name][1])
        fired = rec["value"] == expected
        us = per_call[name]
        limit, label = targets.get(name, (None, ""))
        verdict = "" if limit is None else ("PASS" if fired and us <= limit else "MISS")
        ref = references.get(name)
        vs_hunter = "%.2fx" % (us / hunter_us) if hunter_us and name.startswith("jupdb capture") else ""
        rows.append(
            [
                name,
                "%.2f" % us,
                vs_hunter,
                "%.2fx" % (us / ref) if ref and ref > 0 else "",
                CASES[name][1],
                rec["runs"],
                "yes" if fired else "NO: got %r" % (rec["value"],),
                label,
                verdict,
            ]
        )
        records.append(
            {
                "case": name,
                "us_per_call": us,
                "calls": CASES[name][1],
                "runs": rec["runs"],
                "fired": fired,
                "target_us": limit,
                "verdict": verdict,
            }
        )
    for name in skipped:
        why = (
            "needs sys.monitoring (3.12+)" if CASES[name][3] and not MONITORING else "%s not installed" % CASES[name][2]
        )
        rows.append([name, "-", "", "", 0, 0, "skipped (%s)" % why, "", ""])
    print(
        table(
            [
                "case",
                "us/call over bare",
                "vs hunter",
                "vs bare Python callback",
                "calls",
                "runs",
                "probe fired",
                "target",
                "",
            ],
            rows,
        )
    )
    print("bare loop: %.3f us/call; the expression alone: %.3f us" % (bare_s[N] / N * 1e6, expression_us))

    if available("jupdb"):
        rss, traced = memory("rss"), memory("tracemalloc")
        limit_mb = 100.0
        verdict = "PASS" if rss / 1e6 <= limit_mb else "MISS"
        print(
            "memory of %d captured calls: RSS +%.1f MB (target <= %g MB: %s); tracemalloc (Python objects only) %.1f MB"
            % (N_MEMORY, rss / 1e6, limit_mb, verdict, traced / 1e6)
        )
        records.append({"case": "memory", "rss_mb": rss / 1e6, "tracemalloc_mb": traced / 1e6, "verdict": verdict})

    misses = [r["case"] for r in records if r.get("verdict") == "MISS" or r.get("fired") is False]
    print("python %s: %s" % (PY, "all targets met" if not misses else "MISS: " + ", ".join(misses)))
    write_json(args.json, "hits", {"results": records, "skipped": skipped})
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
