"""What does ``import jupdb`` cost, and does it start anything?

Target: ``python -c "import jupdb"`` costs < 30 ms more than ``python -c "pass"``
(best of 20 subprocess runs each, interleaved), and importing creates no
threads (Python or native) and opens no sockets.  Also prints the top
``-X importtime`` entries and any heavyweight stdlib modules the import pulls in.

Run:  bench/run.sh                           # every CPython 3.10+, own venvs
      python bench/import_time.py [--json F] # this interpreter only
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from common import PY, arg_parser, interpreter, table, verdict, write_json

LIMIT_MS = 30.0
RUNS = 20
# Modules whose presence after `import jupdb` hints at eager work (servers, threads, frameworks).
HEAVY = (
    "socket",
    "ssl",
    "asyncio",
    "selectors",
    "threading",
    "multiprocessing",
    "concurrent",
    "zmq",
    "IPython",
    "ipykernel",
    "numpy",
    "json",
    "pdb",
    "inspect",
    "ast",
    "typing",
)

PROBE = r"""
import os, sys, json, threading
before = set(sys.modules)
import jupdb
socks = []
for fd in os.listdir('/proc/self/fd'):
    try:
        if os.readlink('/proc/self/fd/' + fd).startswith('socket:'):
            socks.append(int(fd))
    except OSError:
        pass
print(json.dumps({
    "threads": threading.active_count(),
    "os_threads": len(os.listdir('/proc/self/task')),
    "sockets": socks,
    "new_modules": sorted(set(sys.modules) - before),
}))
"""


def run_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", *args], capture_output=True, text=True, check=True)


def startup_ms(code: str) -> float:
    t0 = time.perf_counter()
    run_py("-c", code)
    return (time.perf_counter() - t0) * 1e3


def import_cost():
    """Best-of-RUNS wall time of `pass` and `import jupdb`, interleaved."""
    bare, imp = [], []
    startup_ms("import jupdb")  # warm the page cache / pyc files
    for _ in range(RUNS):
        bare.append(startup_ms("pass"))
        imp.append(startup_ms("import jupdb"))
    return min(bare), min(imp)


def importtime_top(n: int = 10):
    """Top -X importtime entries (cumulative us) for modules `import jupdb` adds."""
    base = {line.split("|")[-1].strip() for line in run_py("-X", "importtime", "-c", "pass").stderr.splitlines()}
    rows = []
    for line in run_py("-X", "importtime", "-c", "import jupdb").stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if name.strip() not in base:
            rows.append((int(parts[1]), int(parts[0].split(":")[-1]), name))
    rows.sort(reverse=True)
    return rows[:n]


def main():
    args = arg_parser(__doc__).parse_args()
    print("bench/import_time.py on %s" % interpreter())
    bare_ms, import_ms = import_cost()
    diff = import_ms - bare_ms
    state = json.loads(run_py("-c", PROBE).stdout)
    heavy = [m for m in state["new_modules"] if m in HEAVY]

    print("\n-X importtime, top entries added by `import jupdb` (us):")
    print(table(["cumulative", "self", "module"], [[c, s, m] for c, s, m in importtime_top()]))
    print()
    checks = [
        ["import cost (ms over bare)", "%.1f" % diff, "< %g" % LIMIT_MS, "PASS" if diff < LIMIT_MS else "MISS"],
        ["threading.active_count()", state["threads"], "1", verdict(state["threads"], 1)],
        ["OS threads (/proc/self/task)", state["os_threads"], "1", verdict(state["os_threads"], 1)],
        ["open sockets", len(state["sockets"]), "0", verdict(len(state["sockets"]), 0)],
    ]
    print(table(["check", "value", "target", ""], checks))
    print(
        "bare start %.1f ms, with import jupdb %.1f ms (best of %d); %d modules imported, heavy: %s"
        % (bare_ms, import_ms, RUNS, len(state["new_modules"]), ", ".join(heavy) or "none")
    )
    ok = all(c[3] == "PASS" for c in checks)
    print("python %s: %s" % (PY, "import targets met" if ok else "import targets MISSED"))
    write_json(
        args.json,
        "import",
        {
            "bare_ms": bare_ms,
            "import_ms": import_ms,
            "diff_ms": diff,
            "limit_ms": LIMIT_MS,
            "threads": state["threads"],
            "os_threads": state["os_threads"],
            "sockets": len(state["sockets"]),
            "new_modules": len(state["new_modules"]),
            "heavy_modules": heavy,
            "verdict": "PASS" if ok else "MISS",
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
