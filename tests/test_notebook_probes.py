"""A remote probe's live list in a notebook: a table that grows as hits
arrive (a display with a display id, updated in place), in a real kernel."""

import queue
import re
import time

from notebook_helpers import kernel  # noqa: F401
from remote_helpers import TIMEOUT, launch, runtime_dir  # noqa: F401
from test_remote_probes import start


def hits_shown(html: str) -> int:
    return int(re.search(r"(\d+) hits", html).group(1))


def test_a_live_list_is_a_table_that_grows(kernel, launch):
    prog = start(launch)
    shown = kernel.ok(f"import jupdb\ns = jupdb.connect({prog.pid})\ncalls = s.capture_calls('step')\ncalls")
    [first] = [c for t, c in shown.outputs if t == "display_data"]
    display_id = first["transient"]["display_id"]
    assert "<table>" in first["data"]["text/html"]
    # The table is updated in place while the kernel does something else (a cell
    # that waits here), as a user looks at it: updates come from the kernel's
    # reader thread, whatever cell runs.
    kernel.client.execute("calls.wait(2000, timeout=30)")
    updates = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            msg = kernel.client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["header"]["msg_type"] == "update_display_data":
            assert msg["content"]["transient"]["display_id"] == display_id
            updates.append(hits_shown(msg["content"]["data"]["text/html"]))
            if updates[-1] >= 1000:
                break
    assert len(updates) >= 2 and updates == sorted(updates) and updates[-1] >= 1000
    assert updates[-1] > hits_shown(first["data"]["text/html"])
    kernel.ok("calls.remove()")
