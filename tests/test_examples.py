"""The examples do what they say: run the numpy attention pattern for real, run the demo.

The ViT example needs torch and timm; without them only its static checks run.
"""

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import jupdb

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def na():
    pytest.importorskip("numpy")
    return load("numpy_attention")


@pytest.fixture
def model_and_input(na):
    return na.Model(), na.example_input()


def reference_attention(model, patches, block):
    """Attention weights of `block`, computed without the example's Attention.forward."""
    import numpy as np

    x = model.tokens(patches)
    for blk in model.blocks[:block]:
        x = blk(x)
    h = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)
    a = model.blocks[block].attn
    q, k, _ = np.split(h @ a.qkv, 3, axis=-1)
    heads = lambda t: t.reshape(len(t), a.num_heads, a.head_dim).transpose(1, 0, 2)
    scores = np.einsum("hqd,hkd->hqk", heads(q), heads(k)) / np.sqrt(a.head_dim)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_capture_reads_attention_of_that_block_only(na, model_and_input):
    import numpy as np

    model, patches = model_and_input
    with jupdb.capture_call(model.blocks[1].attn.forward) as call:
        model(patches)
    assert call.args["self"] is model.blocks[1].attn
    attn = call.locals["attn"]
    assert attn.shape == (4, 17, 17)
    np.testing.assert_allclose(attn, reference_attention(model, patches, 1), rtol=1e-10, atol=1e-12)
    assert not np.allclose(attn, reference_attention(model, patches, 2))


def test_bound_method_ignores_other_instances(na, model_and_input):
    model, patches = model_and_input
    with jupdb.capture_calls(model.blocks[1].attn.forward) as one, jupdb.capture_calls(na.Attention.forward) as every:
        model(patches)
        model(patches)
    assert len(one) == 2
    assert all(c.args["self"] is model.blocks[1].attn for c in one)
    assert [c.args["self"] for c in every] == [b.attn for b in model.blocks] * 2


def test_breakpoint_exec_changes_output(na, model_and_input, monkeypatch):
    import numpy as np

    model, patches = model_and_input
    baseline = model(patches)
    with jupdb.breakpoint(na.Attention.forward, line="attn = softmax(attn)") as bp:
        bp.exec("attn = attn * 3")
        changed = model(patches)
    assert not np.allclose(changed, baseline)
    assert np.array_equal(model(patches), baseline)  # gone after the with block

    softmax = na.softmax
    monkeypatch.setattr(na, "softmax", lambda a, axis=-1: softmax(a * 3, axis))
    np.testing.assert_allclose(changed, model(patches), rtol=1e-12)


def test_breakpoint_without_exec_leaves_output(na, model_and_input):
    import numpy as np

    model, patches = model_and_input
    baseline = model(patches)
    with jupdb.breakpoint(na.Attention.forward, line="attn = softmax(attn)") as bp:
        scores = bp.eval("attn")
        out = model(patches)
    assert np.array_equal(out, baseline)
    assert len(scores) == len(model.blocks)
    assert scores[1].shape == (4, 17, 17) and not np.allclose(scores[1].sum(-1), 1)  # before the softmax


def test_numpy_example_main(na, capsys):
    na.main()
    out = capsys.readouterr().out
    assert "block 1 attention: shape (4, 17, 17)" in out
    assert "after the with block: unchanged" in out


def test_demo_runs():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "demo.py")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for expected in [
        "[1] capture_call",
        "mean returned 1.5",
        "call 0: total=40 n=8 -> 5.0",
        "call 1: total=12.0 n=8 -> 1.5",
        "eval('total') at the breakpoint saw [40]",
        "breakpoint exec changed the result: True",
        "and after the with block it is back to 5.0",
        "captured mean([10, 20, 60]) = 30.0 in thread 'worker-1'",
        "demo finished OK",
    ]:
        assert expected in out, out
    assert "Warning" not in proc.stderr, proc.stderr


def test_remote_demo_runs():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "remote_demo.py")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    for expected in [
        "changed lr to 0.01",
        "interrupted -> KeyboardInterrupt | still paused at",
        "epoch 0: lr=0.01 loss=0.0581",  # the program's output, through the session
        "breakpoint -> ",
        "post-mortem -> ",
        "| ZeroDivisionError | runs there: 0",
        "program exited with 1",
    ]:
        assert expected in proc.stdout, proc.stdout
    assert "ZeroDivisionError: float division by zero" in proc.stderr  # the program's traceback, forwarded


def vit_softmax_line():
    tree = ast.parse((EXAMPLES / "vit_attention.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SOFTMAX_LINE":
            return node.value.value
    raise AssertionError("SOFTMAX_LINE not found")


def test_vit_notebook_is_valid_and_clean():
    nb = json.loads((EXAMPLES / "vit_attention.ipynb").read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    source = "".join("".join(c["source"]) for c in code)
    assert vit_softmax_line() in source
    for cell in code:  # every cell is valid Python (no magics used)
        ast.parse("".join(cell["source"]))


def test_vit_notebook_validates():
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.read(str(EXAMPLES / "vit_attention.ipynb"), as_version=4))


def test_vit_softmax_line_is_in_timm():
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    import inspect

    from timm.models.vision_transformer import Attention

    lines = [line.strip() for line in inspect.getsource(Attention.forward).splitlines()]
    assert vit_softmax_line() in lines


def test_vit_example_runs(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    png = tmp_path / "attn.png"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "vit_attention.py"), "--out", str(png), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "block 4 attention: (2, 12, 197, 197)" in proc.stdout
    assert "predictions changed: True" in proc.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert png.stat().st_size > 0
