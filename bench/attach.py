"""Time to a usable session when attaching to a busy program (issue 18).

For each CPython found (pyenv's newest 3.10–3.13, Debian's python3) with a jupdb
built for it, starts fresh busy programs that never imported jupdb and times
``jupdb.attach(pid)`` until it returns a connected Session (the program has run
the bootstrap, started the server and written its connection file; the client
is subscribed) — a first attach, the case that matters — and then a second
attach to the same program (its server already running). Targets that are not this
process's children (the usual case) and children (attached from a helper
process). jupdb's bytecode is compiled for each interpreter first, as an
installed package has it (scripts/venv.sh does it too): the target imports jupdb
from this checkout. Prints the p50 and p90, and the p50 against the target of
100 ms::

    PYTHONPATH=python .venv-3.12/bin/python bench/attach.py [ROUNDS]
"""

from __future__ import annotations

import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

import jupdb
from jupdb import _native

TARGET_MS = 100.0
PACKAGE = os.path.dirname(os.path.abspath(jupdb.__file__))
BUSY = "print('ready', flush=True)\ni = 0\nwhile True:\n    i += 1\n"


def interpreters() -> List[str]:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for minor in (10, 11, 12, 13):
        paths = [
            p for p in glob.glob(f"{root}/versions/3.{minor}.*/bin/python3.{minor}") if re.search(r"/3\.\d+\.\d+/", p)
        ]
        if paths:
            found.append(sorted(paths, key=lambda p: int(p.split("/versions/")[1].split(".")[2].split("/")[0]))[-1])
    if os.path.exists("/usr/bin/python3"):
        found.append("/usr/bin/python3")
    return found


def has_jupdb_for(python: str) -> Tuple[bool, str]:
    version = subprocess.run(
        [python, "-c", "import sys; print('%d%d' % sys.version_info[:2])"], capture_output=True, text=True
    )
    tag = version.stdout.strip()
    suffix = re.sub(r"cpython-\d+", f"cpython-{tag}", _native.__file__.rsplit("_native", 1)[1])
    return os.path.exists(os.path.join(PACKAGE, "_native" + suffix)), f"3.{tag[1:]}"


def start(python: str, script: str, out: str, child: bool) -> Tuple[int, "subprocess.Popen[bytes] | None"]:
    """A busy program, once it is busy: this process's child, or (the usual case,
    ``jupdb attach PID`` from another terminal) started by a shell that ends."""
    env = dict(os.environ, PYTHONPATH="")
    if child:
        program = subprocess.Popen([python, script], env=env, stdout=open(out, "w"), stderr=subprocess.DEVNULL)
        pid = program.pid
    else:
        program = None
        shell = f'"{python}" "{script}" > "{out}" 2>/dev/null & echo $!'
        pid = int(subprocess.run(["sh", "-c", shell], env=env, capture_output=True, text=True).stdout)
    while "ready" not in open(out).read():
        time.sleep(0.001)
    return pid, program


def measure(python: str, rounds: int, script: str, child: bool) -> Tuple[List[float], List[float]]:
    first, again = [], []
    out = script + ".out"
    for _ in range(rounds):
        pid, program = start(python, script, out, child)
        try:
            began = time.perf_counter()
            session = jupdb.attach(pid, timeout=30)
            first.append((time.perf_counter() - began) * 1000)
            session.close()
            began = time.perf_counter()
            session = jupdb.attach(pid, timeout=30)
            again.append((time.perf_counter() - began) * 1000)
            session.close()
        finally:
            os.kill(pid, 9)
            if program is not None:
                program.wait()
    return first, again


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "busy.py")
        with open(script, "w") as f:
            f.write(BUSY)
        print(f"{'python':<36} {'target':<6} {'first p50':>10} {'p90':>8} {'vs 100 ms':>10} {'again p50':>10}")
        for python in interpreters():
            ok, version = has_jupdb_for(python)
            if not ok:
                print(f"{python:<36} skipped: no jupdb built for Python {version}")
                continue
            subprocess.run([python, "-m", "compileall", "-q", PACKAGE], check=True, stdout=subprocess.DEVNULL)
            for child in (False, True):
                first, again = measure(python, rounds, script, child)
                p50, p90 = statistics.median(first), statistics.quantiles(first, n=10)[-1]
                print(
                    f"{python:<36} {'child' if child else 'other':<6} {p50:>8.1f}ms {p90:>6.1f}ms "
                    f"{p50 / TARGET_MS:>9.2f}x {statistics.median(again):>8.1f}ms"
                )


if __name__ == "__main__":
    main()
