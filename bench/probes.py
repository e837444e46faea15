"""Remote probes: what a probe installed from a client costs the running program.

    python bench/probes.py

A program (under ``jupdb run``) calls a small function in a loop and prints how
long each batch of calls took. Measured, per call, in the same run:

* no probe (the floor);
* the local ``jupdb.capture_calls`` of the same function, in a second program
  (the anchor: what capturing costs without any client);
* a remote ``Session.capture_calls`` whose client reads hits as fast as it can
  (in this hot loop, slower than the program makes them: the rest are dropped);
* the same once the client stops reading (its reader ended, so it acknowledges
  nothing): the probe drops hits and counts them, and must cost no more than
  when it sends them.

Printed as microseconds per call and as ratios to the local capture. Figures
from one run compare; a VM's speed varies from minute to minute.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import List

BATCH = 20_000

PROGRAM = textwrap.dedent(
    """
    import sys, time
    import jupdb

    def step(n):
        total = n * n
        return total

    if sys.argv[1] == "local":
        capture = jupdb.capture_calls(step)
        capture.__enter__()
    n = 0
    while True:
        started = time.perf_counter()
        for _ in range(%d):
            n += 1
            step(n)
        print(time.time(), (time.perf_counter() - started) / %d * 1e6, flush=True)
        if sys.argv[1] == "local":
            capture.clear()
    """
    % (BATCH, BATCH)
)


def batches(proc: "subprocess.Popen[str]", count: int) -> List[float]:
    """The timings (µs per call) of ``count`` batches the program runs from now
    on (those it printed before, still in the pipe, are passed over)."""
    assert proc.stdout is not None
    now, timings = time.time(), []
    while len(timings) < count:
        printed, timing = proc.stdout.readline().split()
        if float(printed) > now:
            timings.append(float(timing))
    return timings


def main() -> None:
    import jupdb

    directory = tempfile.mkdtemp(prefix="jupdb-bench-probes-")
    env = dict(os.environ, JUPDB_RUNTIME_DIR=os.path.join(directory, "runtime"))
    path = os.path.join(directory, "loop.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(PROGRAM)
    run = [sys.executable, "-m", "jupdb", "run", path]
    os.environ["JUPDB_RUNTIME_DIR"] = env["JUPDB_RUNTIME_DIR"]
    local = subprocess.Popen([*run, "local"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        local_capture = statistics.median(batches(local, 5))
    finally:
        local.kill()
    remote = subprocess.Popen([*run, "remote"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        none = statistics.median(batches(remote, 5))
        session = jupdb.connect(remote.pid)
        calls = session.capture_calls("step")
        batches(remote, 2)
        sending = statistics.median(batches(remote, 5))
        received = len(calls)
        [reading] = session.probes()
        assert session._probes is not None
        session._probes.stop()  # this client reads (and acknowledges) nothing more
        batches(remote, 2)  # what it had not acknowledged fills up
        dropping = statistics.median(batches(remote, 5))
        [info] = session.probes()
        calls.remove()
        session.close()
    finally:
        remote.kill()
    print(f"CPython {sys.version.split()[0]}, {BATCH} calls of step(n) per batch, median of 5 batches")
    print(f"  no probe                         {none:7.2f} µs/call")
    print(f"  local jupdb.capture_calls        {local_capture:7.2f} µs/call   (anchor)")
    print(
        f"  remote capture_calls, read       {sending:7.2f} µs/call   {sending / local_capture:5.2f}x the local one"
        f"   ({received} calls received here, {reading.dropped} of {reading.hits} dropped: the client is slower)"
    )
    print(
        f"  remote, client not reading       {dropping:7.2f} µs/call   {dropping / local_capture:5.2f}x the local one"
        f"   ({info.dropped} of {info.hits} hits dropped)"
    )
    print(f"  dropping / sending               {dropping / sending:7.2f}x")


if __name__ == "__main__":
    main()
