"""call.print_stack() in a real IPython kernel: it starts at the cell, not in the kernel."""

from __future__ import annotations

import re

from notebook_helpers import kernel  # noqa: F401
from remote_helpers import runtime_dir  # noqa: F401

CELL = """\
import jupdb

def square(x):
    return x * x

def via_helper(x):
    return square(x)

with jupdb.capture_call(square) as call:
    via_helper(3)
"""


def frame_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  File ")]


def test_print_stack_starts_at_the_cell(kernel):
    kernel.ok(CELL)
    shown = frame_lines(kernel.ok("call.print_stack()").stdout)
    everything = frame_lines(kernel.ok("call.print_stack(all=True)").stdout)

    # The cell that made the call, its helper, the function: nothing of the kernel.
    assert [re.search(r"in (\S+)$", line).group(1) for line in shown] == ["<module>", "via_helper", "square"]
    cell_file = re.search(r'File "([^"]+)"', shown[0]).group(1)
    assert all(f'File "{cell_file}"' in line for line in shown)
    # all=True shows the kernel's frames that ran the cell as well, then the same frames.
    assert len(everything) > len(shown) + 5
    assert everything[-3:] == shown
    assert any("ipykernel" in line or "IPython" in line for line in everything[:-3])
    # stack itself keeps every frame.
    assert kernel.ok("print(len(call.stack))").stdout.strip() == str(len(everything))


def test_print_stack_in_a_thread_starts_at_the_cell_code_it_runs(kernel):
    kernel.ok(CELL)
    run = kernel.ok(
        "import threading\n"
        "with jupdb.capture_call(square) as call:\n"
        "    t = threading.Thread(target=square, args=(2,)); t.start(); t.join()\n"
        "call.print_stack()\n"
        "call.print_stack(all=True)\n"
    )
    lines = frame_lines(run.stdout)
    # The thread's own frames come before the cell code: cut; all=True has them.
    assert lines[0].endswith("in square")
    assert "threading.py" in lines[1]
    assert lines[-1] == lines[0]


def test_print_stack_without_cell_code_shows_everything(kernel):
    # A thread running library code: no frame of that stack comes from a cell.
    run = kernel.ok(
        "import jupdb, textwrap, threading\n"
        "with jupdb.capture_call(textwrap.dedent) as call:\n"
        "    t = threading.Thread(target=textwrap.dedent, args=('  x',)); t.start(); t.join()\n"
        "call.print_stack()\n"
    )
    lines = frame_lines(run.stdout)
    assert "threading.py" in lines[0]
    assert lines[-1].endswith("in dedent")
