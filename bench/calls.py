"""How much does an active jupdb probe slow down call-heavy code?

Workload: 1,000,000 calls of ``tiny(x)`` in a loop, then one call of ``target``.
Each case runs the workload with one probe active (set up and torn down inside
the timed region), best of N runs with the rounds interleaved, and is printed
as a ratio to the bare workload.  Every case also checks that its probe really
fired (the captured return value / evaluated local is right), so a broken
probe cannot look fast.  nopdb and hunter cases are skipped if not installed.

Run:  bench/run.sh                     # every CPython 3.10+, own venvs
      python bench/calls.py [--json F] # this interpreter only
"""

from __future__ import annotations

import sys

from common import PY, arg_parser, available, best_of, interpreter, table, verdict, write_json

N_CALLS = 1_000_000
REPEAT = 5
BP_LINE = "return doubled + 1"


def tiny(x):
    return x + 1


def target(n):
    doubled = n * 2
    return doubled + 1


def workload():
    for i in range(N_CALLS):
        tiny(i)
    return target(20)  # 41


# --- cases: each runs the workload under one probe and returns what it saw --------


def bare():
    return workload()


def jupdb_capture_call():
    import jupdb

    with jupdb.capture_call(target) as call:
        workload()
    return call.return_value


def jupdb_capture_calls():
    import jupdb

    with jupdb.capture_calls(target) as calls:
        workload()
    return [c.return_value for c in calls]


def jupdb_breakpoint():
    import jupdb

    with jupdb.breakpoint(function=target, line=BP_LINE) as bp:
        seen = bp.eval("doubled")
        workload()
    return seen


def jupdb_capture_call_by_name():
    import jupdb

    with jupdb.capture_call("target") as call:
        workload()
    return call.return_value


def nopdb_capture_call():
    import nopdb

    with nopdb.capture_call(target) as call:
        workload()
    return call.return_value


def _hunter(**options):
    import hunter

    seen = []
    tracer = hunter.trace(
        function="target", kind="return", action=lambda e: seen.append(e.arg), threading_support=False, **options
    )
    try:
        workload()
    finally:
        tracer.stop()
    return seen


def hunter_trace():
    return _hunter()


def hunter_profile():
    return _hunter(profile=True)


def settrace_noop():
    def tracer(frame, event, arg):
        return None

    sys.settrace(tracer)
    try:
        result = workload()
        active = sys.gettrace() is tracer
    finally:
        sys.settrace(None)
    return result if active else "tracer not installed"


# name -> (function, expected value, module it needs or None)
CASES = {
    "bare": (bare, 41, None),
    "jupdb capture_call(f)": (jupdb_capture_call, 41, "jupdb"),
    "jupdb capture_calls(f)": (jupdb_capture_calls, [41], "jupdb"),
    "jupdb breakpoint(f, line).eval": (jupdb_breakpoint, [40], "jupdb"),
    "jupdb capture_call('name')": (jupdb_capture_call_by_name, 41, "jupdb"),
    "bare (right after jupdb cases)": (bare, 41, None),  # canary: jupdb left a hook behind?
    "nopdb 0.2 capture_call(f)": (nopdb_capture_call, 41, "nopdb"),
    "hunter trace(function=)": (hunter_trace, [41], "hunter"),
    "hunter trace(profile=True)": (hunter_profile, [41], "hunter"),
    "sys.settrace(no-op)": (settrace_noop, 41, None),
}

_FAST = (1.05, 3.0)  # (3.12+, 3.10/3.11)
TARGETS = {
    "jupdb capture_call(f)": _FAST,
    "jupdb capture_calls(f)": _FAST,
    "jupdb breakpoint(f, line).eval": _FAST,
    "jupdb capture_call('name')": (1.15, None),
}


def target_for(case: str):
    limits = TARGETS.get(case)
    if limits is None:
        return None
    return limits[0] if sys.version_info >= (3, 12) else limits[1]


def leftover_hooks():
    """Describe any tracing/monitoring hook still installed (should be none)."""
    left = []
    if sys.gettrace() is not None:
        left.append("sys.gettrace() = %r" % sys.gettrace())
    if sys.getprofile() is not None:
        left.append("sys.getprofile() = %r" % sys.getprofile())
    mon = getattr(sys, "monitoring", None)
    if mon is not None:
        for tool in range(6):
            if mon.get_events(tool):
                left.append("sys.monitoring tool %d (%s) events=%#x" % (tool, mon.get_tool(tool), mon.get_events(tool)))
    return left


def main():
    args = arg_parser(__doc__).parse_args()
    cases = {name: fn for name, (fn, _, mod) in CASES.items() if available(mod)}
    skipped = [name for name in CASES if name not in cases]
    print(
        "bench/calls.py on %s: %d calls of tiny() + 1 call of target(), best of %d" % (interpreter(), N_CALLS, REPEAT)
    )
    if available("jupdb"):
        print("jupdb from %s" % sys.modules["jupdb"].__file__)

    results = best_of(cases, repeat=REPEAT)
    after = best_of({"bare (after all probes)": bare}, repeat=REPEAT)
    bare_s = results["bare"]["best_s"]

    rows, records = [], []
    for name, rec in list(results.items()) + list(after.items()):
        expected = CASES.get(name, (None, 41))[1]
        fired = rec["value"] == expected
        ratio = rec["best_s"] / bare_s
        limit = target_for(name)
        v = verdict(ratio if fired else None, limit)
        rows.append(
            [
                name,
                "%.3f" % (rec["best_s"] * 1e3),
                "%.2fx" % ratio,
                rec["runs"],
                "yes" if fired else "NO: got %r" % (rec["value"],),
                "<= %gx" % limit if limit else "",
                v,
            ]
        )
        records.append(
            {
                "case": name,
                "best_s": rec["best_s"],
                "ratio": ratio,
                "runs": rec["runs"],
                "fired": fired,
                "target": limit,
                "verdict": v,
            }
        )
    for name in skipped:
        rows.append([name, "-", "-", 0, "skipped (%s not installed)" % CASES[name][2], "", ""])
    print(table(["case", "best ms", "ratio", "runs", "probe fired", "target", ""], rows))

    left = leftover_hooks()
    if left:
        print("WARNING: hooks left installed after all cases: " + "; ".join(left))
    misses = [r["case"] for r in records if r["verdict"] == "MISS" or not r["fired"]]
    print("python %s: %s" % (PY, "all targets met" if not misses else "MISS: " + ", ".join(misses)))
    write_json(args.json, "calls", {"results": records, "skipped": skipped, "leftover_hooks": left})
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
