"""Tab completion from the paused frame, through a real kernel: a
``complete_request`` sent with jupyter_client, as a notebook sends it."""

from jupdb.notebook.completer import remote_code
from notebook_helpers import kernel  # noqa: F401
from remote_helpers import launch, runtime_dir  # noqa: F401

PROGRAM = """
import jupdb
import pandas as pd

def main():
    text = "hello"
    frame_only_value = 1
    df = pd.DataFrame({"price": [1.0, 2.0], "quantity": [3, 4]})
    settings = {"learning_rate": 0.1}
    jupdb.set_trace()                                           # PAUSE

main()
"""


def test_a_cell_completes_from_the_paused_frame(kernel, launch):
    program = launch(PROGRAM)
    program.wait_paused()
    kernel.ok("frame_of_the_notebook = 2")
    assert kernel.complete("x = frame_o")["matches"] == ["frame_of_the_notebook"]  # a cell that runs here

    # The program's names replace the notebook's (which would be wrong there).
    reply = kernel.complete("%%jupdb\nx = frame_o")
    assert reply["matches"] == ["frame_only_value"], reply
    assert (reply["cursor_start"], reply["cursor_end"]) == (len("%%jupdb\nx = "), len("%%jupdb\nx = frame_o"))
    names = kernel.complete("%%jupdb\nprint(\n  [te")["matches"]
    assert "text" in names

    columns = kernel.complete('%%jupdb\ndf["')
    assert {"price", "quantity"} <= {m.strip("\"'[]") for m in columns["matches"]}, columns
    attributes = kernel.complete("%%jupdb\ndf.qua")["matches"]
    assert "quantity" in attributes
    keys = kernel.complete("%%jupdb\nsettings['le")["matches"]
    assert any("learning_rate" in m for m in keys), keys

    # The cursor in the middle of a cell: the code after it is the program's too.
    code = "%%jupdb\ny = te\nprint(y)\n"
    assert "text" in kernel.complete(code, code.index("te") + 2)["matches"]

    kernel.ok("%jupdb c --no-wait")
    program.assert_finishes_ok()


def test_p_and_on_mode_complete_from_the_frame(kernel, launch):
    program = launch(PROGRAM)
    program.wait_paused()

    assert "frame_only_value" in kernel.complete("%jupdb p frame_")["matches"]
    assert "quantity" in kernel.complete("%jupdb pp df.quan")["matches"]
    # Elsewhere, IPython completes the notebook's names as usual.
    assert "frame_only_value" not in kernel.complete("frame_")["matches"]

    kernel.ok("%jupdb on")
    assert kernel.complete("frame_")["matches"] == ["frame_only_value"]
    kernel.ok("%jupdb off")
    assert "frame_only_value" not in kernel.complete("frame_")["matches"]

    kernel.ok("%jupdb c --no-wait")
    program.assert_finishes_ok()


def test_which_code_goes_to_the_program():
    cell = "%%jupdb\nx = df.co"
    assert remote_code(cell, len(cell), on=False) == ("x = df.co", len("x = df.co"))
    assert remote_code(cell, 3, on=False) is None  # on the magic's own line
    indented = "\n  %%jupdb 1234\nab"
    assert remote_code(indented, len(indented), on=False) == ("ab", 2)
    line = "x = 1\n%jupdb p df.co"
    assert remote_code(line, len(line), on=False) == ("df.co", 5)
    assert remote_code("%jupdb where", 12, on=True) is None  # a magic runs here
    assert remote_code("%jupdb b 12", 11, on=False) is None
    assert remote_code("df.co", 5, on=True) == ("df.co", 5)
    assert remote_code("df.co", 5, on=False) is None
