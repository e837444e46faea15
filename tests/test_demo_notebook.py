"""examples/demo.ipynb, the README's showcase, executed headless by nbclient on a
real ipykernel against the real example programs it starts, with assertions on
what each cell shows: the values it reads, the table, the plot, what is written
back into the program, and what the programs print at the end."""

import base64
import copy
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from remote_helpers import TIMEOUT, runtime_dir  # noqa: F401

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def text_of(cell) -> str:
    """Everything a cell showed as text: streams and text/plain outputs."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
    return "".join(parts)


def cell_with(nb, source_start: str, after: int = 0):
    """The first code cell at or after index ``after`` whose source starts with ``source_start``; its index."""
    for index, cell in enumerate(nb.cells[after:], after):
        if cell.cell_type == "code" and cell.source.startswith(source_start):
            return index, cell
    raise AssertionError(f"no cell starts with {source_start!r}")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The demo notebook, run from examples/ with its own runtime dir (module-wide: it runs once)."""
    runtime = tmp_path_factory.mktemp("runtime")
    runtime.chmod(0o700)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPDB_RUNTIME_DIR", str(runtime))  # the kernel and the programs inherit it
        nb = nbformat.read(EXAMPLES / "demo.ipynb", as_version=4)
        original = copy.deepcopy(nb)
        client = NotebookClient(
            nb, timeout=4 * TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
        )
        client.execute()
    return original, nb


def test_every_cell_runs_without_error(executed):
    _, nb = executed
    for cell in nb.cells:
        if cell.cell_type == "code":
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert not errors, f"{cell.source!r} failed:\n" + "\n".join(errors[0].traceback)


def test_the_original_flow_changes_a_and_prints_62(executed):
    _, nb = executed
    i, where = cell_with(nb, "%jupdb where")
    html = "".join(o.data.get("text/html", "") for o in where.outputs if "data" in o)
    assert "paused_sum.py" in (html or text_of(where)) and "main" in (html or text_of(where))
    i, read = cell_with(nb, "%%jupdb\na", i)
    assert text_of(read).strip() == "10"
    i, cont = cell_with(nb, "%jupdb continue", i)
    assert "a + b = 62" in text_of(cont)


def test_the_pipeline_shows_a_table_and_a_plot_and_takes_the_fix(executed):
    _, nb = executed
    i, _ = cell_with(nb, 'program = subprocess.Popen([sys.executable, "pipeline.py"]')
    i, table = cell_with(nb, "%%jupdb\ndf.head(8)", i)
    html = "".join(o.data.get("text/html", "") for o in table.outputs if "data" in o)
    assert "<table" in html and "sales" in html and "north" in html
    i, plot = cell_with(nb, "%%jupdb\nimport matplotlib", i)
    pngs = [o.data["image/png"] for o in plot.outputs if "data" in o and "image/png" in o.data]
    assert len(pngs) == 1 and base64.b64decode(pngs[0]).startswith(b"\x89PNG\r\n\x1a\n")
    i, fix = cell_with(nb, "with jupdb.jump_context():", i)
    assert "missing before: 3" in text_of(fix)
    i, check = cell_with(nb, "%jupdb p int(df['sales'].isna().sum())", i)
    assert text_of(check).strip() == "0"  # written back into the paused program
    i, cont = cell_with(nb, "%jupdb continue", i)
    assert "rows with missing sales: 0" in text_of(cont)
    assert "north" in text_of(cont) and "south" in text_of(cont)


def test_the_panel_is_shown_and_the_program_ends(executed):
    _, nb = executed
    i, panel = cell_with(nb, "jupdb.widget()")
    views = [o for o in panel.outputs if "data" in o and "application/vnd.jupyter.widget-view+json" in o.data]
    assert len(views) == 1
    i, last = cell_with(nb, "%jupdb continue", i)
    assert "north:" in text_of(last) and "%" in text_of(last)


def test_the_committed_notebook_has_no_outputs(executed):
    original, _ = executed
    assert all(not c.get("outputs") for c in original.cells if c.cell_type == "code")
