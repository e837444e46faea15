"""The notebook layer's speed: a %%jupdb cell on a real kernel, and jump_context.

    python bench/notebook.py      (needs ipykernel, jupyter_client and numpy: the test extra)

* Cell latency: the time from sending ``execute_request`` to a real ipykernel to
  its ``execute_reply``, p50 over many cells, for ``%%jupdb`` cells evaluating
  ``x + 1`` in a paused program's frame, against the same cell run in the kernel
  itself (``x + 1`` with a local ``x``), interleaved. Target: within 5 ms.
* jump_context of a 100 MB NumPy array: entering (every local fetched, buffers
  out of band) and leaving (the array compared with what was fetched) a block that
  leaves it alone, and one that changes it in place (also written back). Target
  for both: at least 1 GB/s over the array's size.

The panel's update after a step is measured by bench/panel.py.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from typing import Dict, List

from common import table, verdict

CELLS = 200
ARRAY_BYTES = 100_000_000
JUMPS = 5

PROGRAM = textwrap.dedent(
    """
    import numpy as np
    import jupdb

    def work():
        x = 41
        weights = np.zeros(%d // 8)
        jupdb.set_trace()

    work()
    """
    % ARRAY_BYTES
)


def p50_ms(times: List[float]) -> float:
    return statistics.median(times) * 1000


def cell_latency(pid: int) -> Dict[str, float]:
    from jupyter_client.manager import start_new_kernel

    manager, kernel = start_new_kernel(kernel_name="python3")
    try:

        def run(code: str) -> float:
            started = time.perf_counter()
            msg_id = kernel.execute(code)
            reply = kernel.get_shell_msg(timeout=30)
            elapsed = time.perf_counter() - started
            assert reply["parent_header"]["msg_id"] == msg_id
            assert reply["content"]["status"] == "ok", reply["content"]
            return elapsed

        run(f"%load_ext jupdb\n%jupdb connect {pid}\nx = 41")
        remote, local = [], []
        for _ in range(10):  # warm both paths up
            run("%%jupdb\nx + 1")
            run("x + 1")
        for _ in range(CELLS):
            remote.append(run("%%jupdb\nx + 1"))
            local.append(run("x + 1"))
        return {"remote_ms": p50_ms(remote), "local_ms": p50_ms(local)}
    finally:
        kernel.stop_channels()
        manager.shutdown_kernel(now=True)


def jump_throughput(pid: int) -> Dict[str, float]:
    import jupdb

    session = jupdb.connect(pid)
    # The blocks run in this function, where jump_context warns that assignments stay
    # local: the array is changed in place, which is written back all the same.
    warnings.simplefilter("ignore", RuntimeWarning)
    try:
        left, changed = [], []
        for _ in range(JUMPS):
            started = time.perf_counter()
            with jupdb.jump_context(session):
                pass
            left.append(time.perf_counter() - started)
            started = time.perf_counter()
            with jupdb.jump_context(session):
                globals()["weights"][0] += 1  # what the block sees as a notebook variable
            changed.append(time.perf_counter() - started)
        assert session.eval("float(weights[0])") == JUMPS, "the changes were not written back"
        return {"unchanged_gbps": ARRAY_BYTES / min(left) / 1e9, "changed_gbps": ARRAY_BYTES / min(changed) / 1e9}
    finally:
        session.cont()
        session.close()


def main() -> None:
    import jupdb

    workdir = tempfile.mkdtemp(prefix="jupdb-bench-")
    os.environ["JUPDB_RUNTIME_DIR"] = workdir  # the kernel inherits it
    path = os.path.join(workdir, "app.py")
    with open(path, "w") as f:
        f.write(PROGRAM)
    program = subprocess.Popen([sys.executable, path], stderr=subprocess.DEVNULL)
    try:
        jupdb.connect(program.pid, wait=60).close()
        cells = cell_latency(program.pid)
        jumps = jump_throughput(program.pid)
    finally:
        program.kill()
        program.wait()
    extra = cells["remote_ms"] - cells["local_ms"]
    print(f"jupdb {jupdb.__version__}, CPython {sys.version.split()[0]}")
    rows = [
        ["%%jupdb cell (x + 1), p50", f"{cells['remote_ms']:.2f} ms", ""],
        ["local cell (x + 1), p50", f"{cells['local_ms']:.2f} ms", ""],
        ["extra time of a %%jupdb cell", f"{extra:.2f} ms", f"<= 5 ms {verdict(extra, 5.0)}"],
        [
            "jump_context 100 MB, unchanged",
            f"{jumps['unchanged_gbps']:.2f} GB/s",
            f">= 1 GB/s {verdict(-jumps['unchanged_gbps'], -1.0)}",
        ],
        [
            "jump_context 100 MB, changed",
            f"{jumps['changed_gbps']:.2f} GB/s",
            f">= 1 GB/s {verdict(-jumps['changed_gbps'], -1.0)}",
        ],
    ]
    print(table(["case", "measured", "target"], rows))


if __name__ == "__main__":
    main()
