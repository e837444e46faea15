"""How soon the panel shows a step made elsewhere (target: p50 <= 100 ms).

    python bench/panel.py [--steps 200] [--json FILE]     (needs anywidget)

A program pauses in a loop; this process shows it with ``jupdb.widget()`` — the
panel's real Python model, its own session, its reader and worker threads — and
steps it with ``session.next()`` from another session, as a cell or a terminal
would. Each step is timed from the call of ``next()`` to the moment the panel's
traits show the new stop (its ``location`` and the highlighted line of its
``source``; the observer records the time in the panel's worker thread). No
browser: outside a kernel ipywidgets gives the widget a comm that sends nothing,
so what is measured is what the kernel side adds; a front end redraws on the
next animation frame.

Beside it, the anchor: the step itself (``next()`` returning in the stepping
session, which waits for the same ``paused`` event the panel waits for). The
panel's own share is the difference. Only figures from the same run compare.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from typing import Any, List, Tuple

from common import arg_parser, table, verdict, write_json

TARGET_S = 0.100

PROGRAM = textwrap.dedent(
    """
    import jupdb

    def loop():
        i = 0
        jupdb.set_trace()
        while True:
            i += 1
            i -= 1

    loop()
    """
)


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def measure(steps: int) -> Tuple[List[float], List[float]]:
    """(seconds from next() to the panel showing the stop, seconds next() took), per step."""
    import jupdb

    with tempfile.TemporaryDirectory() as workdir:
        os.environ["JUPDB_RUNTIME_DIR"] = os.path.join(workdir, "runtime")
        path = os.path.join(workdir, "loop.py")
        with open(path, "w") as f:
            f.write(PROGRAM)
        program = subprocess.Popen([sys.executable, path], stderr=subprocess.PIPE, text=True)
        try:
            assert program.stderr is not None
            program.stderr.readline()  # "jupdb: paused at ..."
            stepper = jupdb.connect(program.pid)
            panel = jupdb.widget(stepper)
            shown: List[Tuple[float, Any]] = []
            changed = threading.Condition()

            def record(change: Any) -> None:  # in the panel's worker thread
                with changed:
                    shown.append((time.perf_counter(), panel.location.get("stop")))
                    changed.notify_all()

            panel.observe(record, "source")

            def wait_shown(after: float, stop: Any) -> float:
                deadline = time.monotonic() + 10
                with changed:
                    while True:
                        hit = next((t for t, s in shown if t >= after and s == stop), None)
                        if hit is not None:
                            return hit
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise TimeoutError(f"the panel did not show stop {stop} within 10 s: {panel.message}")
                        changed.wait(left)

            with changed:
                changed.wait_for(lambda: shown, timeout=10)  # the first stop, shown as the panel opens
            panel_s, step_s = [], []
            for _ in range(steps + 5):  # the first few warm up
                start = time.perf_counter()
                stepper.next()
                stepped = time.perf_counter()
                stop = stepper._last_stop  # the stop number of the paused event next() waited for
                seen = wait_shown(start, stop)
                panel_s.append(seen - start)
                step_s.append(stepped - start)
                # The next step once the panel has shown all of this stop (stack,
                # variables, threads), as a person clicking would see it.
                assert panel.settle(10), panel.message
            panel.close()
            stepper.close()
            return panel_s[5:], step_s[5:]
        finally:
            program.kill()
            program.wait()


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--steps", type=int, default=200, help="steps to time (default 200)")
    args = parser.parse_args()
    panel_s, step_s = measure(args.steps)
    p50, p90 = percentile(panel_s, 0.5), percentile(panel_s, 0.9)
    rows = [
        (
            "panel shows the stop",
            f"{p50 * 1e3:.2f}",
            f"{p90 * 1e3:.2f}",
            f"{max(panel_s) * 1e3:.2f}",
            verdict(p50, TARGET_S),
        ),
        (
            "anchor: next() returns",
            f"{percentile(step_s, 0.5) * 1e3:.2f}",
            f"{percentile(step_s, 0.9) * 1e3:.2f}",
            f"{max(step_s) * 1e3:.2f}",
            "",
        ),
    ]
    print(f"CPython {sys.version.split()[0]}: {len(panel_s)} steps from another session, in ms (target p50 <= 100)")
    print(table(["from next()", "p50", "p90", "max", "p50 <= 100 ms"], rows))
    extra = statistics.median(p - s for p, s in zip(panel_s, step_s))
    print(f"the panel's own share (median of the differences): {extra * 1e3:.2f} ms")
    write_json(
        args.json,
        "panel",
        {"steps": len(panel_s), "panel_p50_s": p50, "panel_p90_s": p90, "step_p50_s": percentile(step_s, 0.5)},
    )


if __name__ == "__main__":
    main()
