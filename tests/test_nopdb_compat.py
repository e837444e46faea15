"""The documented nopdb examples (README and getting-started guide), run with
``import jupdb as nopdb``: same values, same reprs."""

import collections
import io

import pytest

import jupdb as nopdb
from conftest import line_of


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


LINE_3 = line_of(f, "return 2 * z")  # "line 3" of the documentation's cell


def test_public_names():
    for name in [
        "capture_call",
        "capture_calls",
        "breakpoint",
        "get_nopdb",
        "NoPdb",
        "CallInfo",
        "CallCapture",
        "CallListCapture",
        "Breakpoint",
        "Scope",
    ]:
        assert hasattr(nopdb, name), name


def test_readme_capture_call():
    with nopdb.capture_call(f) as call:
        assert g(1) == 4
    assert repr(call) == "CallCapture(name='f', args=OrderedDict(x=1, y=1), return_value=4)"
    assert call.args["x"] == 1
    assert call.return_value == 4
    assert call.locals == {"x": 1, "y": 1, "z": 2}
    assert isinstance(call.args, collections.OrderedDict)


def test_readme_print_stack():
    with nopdb.capture_call(f) as call:
        g(1)
    buf = io.StringIO()
    call.print_stack(file=buf)
    lines = [line for line in buf.getvalue().splitlines() if line.startswith("  File ")]
    assert lines[-1].endswith(", in f")
    assert lines[-2].endswith(", in g")
    assert lines[-3].endswith(", in test_readme_print_stack")
    assert f'"{f.__code__.co_filename}"' in lines[-1]


def test_guide_capture_calls():
    with nopdb.capture_calls(f) as calls:
        assert g(1) == 4
        assert g(42) == 168
    assert repr(calls) == (
        "[CallInfo(name='f', args=OrderedDict(x=1, y=1), return_value=4), "
        "CallInfo(name='f', args=OrderedDict(x=42, y=42), return_value=168)]"
    )
    assert len(calls) == 2


def test_keyword_arguments():
    with nopdb.capture_call(function=f) as call, nopdb.capture_calls(function="g", unwrap=True) as calls:
        g(2)
    with nopdb.breakpoint(function=f, line=LINE_3, cond="x == 2") as bp:
        zs = bp.eval(expression="z", variables=None)
        bp.exec(code="z = 1", variables={})
        assert [g(1), g(2)] == [4, 2]
    assert call.return_value == 8
    assert [c.name for c in calls] == ["g"]
    assert zs == [4]


def test_guide_capture_calls_by_name():
    with nopdb.capture_calls("f") as calls:
        g(1)
    assert [c.return_value for c in calls] == [4]


def test_guide_breakpoint_eval():
    with nopdb.breakpoint(f, line=LINE_3) as bp:
        z_values = bp.eval("z")
        assert g(1) == 4
        assert g(42) == 168
    assert z_values == [2, 84]


def test_guide_breakpoint_exec_modifies():
    with nopdb.breakpoint(f, line=LINE_3) as bp:
        z_before = bp.eval("z")
        bp.exec("z += 1")
        z_after = bp.eval("z")
        assert g(1) == 6  # This would normally return 4
    assert z_before == [2]
    assert z_after == [3]


def test_exec_sets_z_to_ten():
    with nopdb.breakpoint(function=f, line=LINE_3) as bp:
        bp.exec("z = 10")
        assert g(1) == 20


def test_readme_breakpoint_eval_exec_print(capsys):
    with nopdb.breakpoint(function=f, line=LINE_3) as bp:
        x = bp.eval("x")
        type_y = bp.eval("type(y)")
        bp.exec("print(y)")
        g(7)
    assert x == [7]
    assert type_y == [int]
    assert capsys.readouterr().out == "7\n"


def test_guide_nopdb_as_context_manager():
    with nopdb.NoPdb():
        f_call = nopdb.capture_call(f)
        g_call = nopdb.capture_call(g)
        z_val = nopdb.breakpoint(f, line=LINE_3).eval("z")
        g(1)
    assert repr(f_call) == "CallCapture(name='f', args=OrderedDict(x=1, y=1), return_value=4)"
    assert repr(g_call) == "CallCapture(name='g', args=OrderedDict(x=1), return_value=4)"
    assert z_val == [2]


def test_guide_nopdb_start_stop():
    dbg = nopdb.NoPdb()
    f_call = dbg.capture_call(f)
    g_call = dbg.capture_call(g)
    z_val = dbg.breakpoint(f, line=LINE_3).eval("z")
    dbg.start()
    try:
        g(1)
    finally:
        dbg.stop()
    assert repr(f_call) == "CallCapture(name='f', args=OrderedDict(x=1, y=1), return_value=4)"
    assert repr(g_call) == "CallCapture(name='g', args=OrderedDict(x=1), return_value=4)"
    assert z_val == [2]


def test_exec_variables_conflicting_with_locals():
    # nopdb raises RuntimeError from the action; in jupdb an action's error
    # never reaches the program: it becomes a RuntimeWarning carrying it.
    with pytest.warns(RuntimeWarning) as record:
        with nopdb.breakpoint(f, line=LINE_3) as bp:
            bp.exec("z = 1000", variables={"z": 1})
            assert f(1, 1) == 4
    messages = [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]
    assert any("RuntimeError" in m for m in messages), messages
