"""What forwarding the debuggee's output costs a program that prints a lot.

    python bench/output.py

One program prints ``LINES`` short lines (``print("line", i)``: two writes each) to
a stream on /dev/null, so that the stream itself costs little and what jupdb adds
shows. It runs four ways, each in its own process, in one run:

* plain: no jupdb;
* anchor, a minimal Python tee: a class whose ``write`` writes to the original
  stream and appends the text to a list — the least any redirect written in Python
  costs (ipykernel's and debugpy's do much more per write);
* forwarding, no client: jupdb's server started (its stand-ins on sys.stdout and
  sys.stderr), nobody subscribed — a program that paused once and was resumed;
* forwarding to a client: a client in another process receives every output event
  and counts its bytes (checked against what was printed).

Printed: time per line and the ratio to plain; for the client, the events and bytes
received. Only ratios from the same run compare (this machine's speed varies).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time

LINES = 300_000
ROUNDS = 3

PROGRAM = textwrap.dedent(
    """
    import os, sys, time

    mode, lines = sys.argv[1], int(sys.argv[2])
    report = sys.stderr
    sys.stdout = open(os.devnull, "w")
    if mode == "python-tee":
        class Tee:
            def __init__(self, original):
                self.original, self.texts = original, []
            def write(self, text):
                written = self.original.write(text)
                self.texts.append(text)
                return written
            def __getattr__(self, name):
                return getattr(self.original, name)
        sys.stdout = Tee(sys.stdout)
    elif mode != "plain":
        import jupdb
        from jupdb.remote.debuggee import DebugServer

        DebugServer.get()  # the stand-ins go on sys.stdout / sys.stderr
        if mode == "client":
            print("ready", file=report, flush=True)
            sys.stdin.readline()  # the client has subscribed
    start = time.perf_counter()
    for i in range(lines):
        print("line", i)
    elapsed = time.perf_counter() - start
    print(elapsed, file=report, flush=True)
    if mode == "client":
        jupdb.set_trace()  # its paused event follows all the output: the client stops counting
    """
)


def run(path: str, mode: str) -> tuple[float, int, int]:
    """Seconds the loop took; events and bytes a client received (0 without one)."""
    proc = subprocess.Popen(
        [sys.executable, path, mode, str(LINES)], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stderr is not None
    events = received = 0
    if mode == "client":
        import jupdb

        assert proc.stderr.readline().strip() == "ready"
        session = jupdb.connect(proc.pid, timeout=60)
        time.sleep(0.5)  # let the SUB subscription reach the PUB before anything is published
        proc.stdin.write("go\n")
        proc.stdin.flush()
        while True:
            event = session._client.next_event(60)
            assert event is not None, "the program never paused"
            if event[0] == "output" and event[1]["name"] == "stdout":
                events += 1
                received += len(event[1]["text"].encode())
            elif event[0] == "paused":
                break
        session.cont()
        session.close()
    elapsed = float(proc.stderr.readline())
    proc.communicate(timeout=60)
    return elapsed, events, received


def main() -> None:
    printed = sum(len(f"line {i}\n") for i in range(LINES))
    with tempfile.TemporaryDirectory() as workdir:
        os.environ["JUPDB_RUNTIME_DIR"] = os.path.join(workdir, "runtime")
        path = os.path.join(workdir, "printer.py")
        with open(path, "w") as f:
            f.write(PROGRAM)
        best = {}
        client = (0, 0)
        for _ in range(ROUNDS):  # interleaved, so that a slow minute hits all of them
            for mode in ("plain", "python-tee", "forwarding", "client"):
                elapsed, events, received = run(path, mode)
                best[mode] = min(best.get(mode, elapsed), elapsed)
                if mode == "client":
                    client = (events, received)
    plain = best["plain"]
    print(f"CPython {sys.version.split()[0]}: {LINES} prints to /dev/null, best of {ROUNDS}")
    print(f"  {'plain':28s} {plain / LINES * 1e9:7.0f} ns/line")
    ns = best["python-tee"] / LINES * 1e9
    print(f"  {'anchor: minimal Python tee':28s} {ns:7.0f} ns/line  {best['python-tee'] / plain:5.2f}x plain")
    ns = best["forwarding"] / LINES * 1e9
    print(f"  {'forwarding, no client':28s} {ns:7.0f} ns/line  {best['forwarding'] / plain:5.2f}x plain")
    ns = best["client"] / LINES * 1e9
    print(f"  {'forwarding to a client':28s} {ns:7.0f} ns/line  {best['client'] / plain:5.2f}x plain")
    events, received = client
    print(
        f"  the client received {received} of {printed} bytes in {events} events "
        f"({'all' if received == printed else 'SOME LOST'})"
    )


if __name__ == "__main__":
    main()
