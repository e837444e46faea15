"""The Rust extension ``jupdb._native`` used directly."""

import sys

import pytest

import jupdb
from jupdb import _native
from conftest import line_of


def f(x, y):
    z = x + y

    return 2 * z


def poke(**updates):
    """Writes ``updates`` into the locals of the caller's frame."""
    _native.write_locals(sys._getframe(1), updates)


def pokes_itself(x):
    y = x + 1
    poke(y=100)
    return y


def pokes_argument_and_cell(x):
    z = x
    get = lambda: z  # noqa: E731
    poke(x=10, z=20)
    return x, get()


def pokes_in_loop(n):
    out = []
    i = 0
    while i < n:
        out.append(i)
        if i == 1:
            poke(i=5)
        i += 1
    return out


class Thing:
    def first(self):
        return _native.first_argument(sys._getframe())


def no_arguments():
    return _native.first_argument(sys._getframe())


def test_backend_name():
    name = _native.backend_name()
    if sys.version_info >= (3, 12):
        assert name == "sys.monitoring"
    else:
        # 3.10/3.11: the hook the engine installs there (not sys.monitoring)
        assert isinstance(name, str) and name
        assert name != "sys.monitoring"


def test_active_probes_counts_and_returns_to_zero():
    assert _native.active_probes() == 0
    with jupdb.capture_calls(f):
        one = _native.active_probes()
        with jupdb.breakpoint(f, line=line_of(f, "return 2 * z")):
            two = _native.active_probes()
        back = _native.active_probes()
    assert one > 0
    assert two > one
    assert back == one
    assert _native.active_probes() == 0


def test_active_probes_zero_after_disable():
    with jupdb.capture_calls(f) as calls:
        calls.disable()
        assert _native.active_probes() == 0
        calls.enable()
        assert _native.active_probes() > 0
    assert _native.active_probes() == 0


def test_active_probes_zero_after_nopdb_stop():
    dbg = jupdb.NoPdb()
    dbg.capture_calls(f)
    dbg.breakpoint(f).eval("x")
    dbg.start()
    try:
        assert _native.active_probes() > 0
    finally:
        dbg.stop()
    assert _native.active_probes() == 0


def test_active_probes_zero_after_errors():
    with pytest.raises(TypeError):
        jupdb.capture_call(len)
    with pytest.raises(ValueError):
        jupdb.breakpoint(f, line="no such line")
    assert _native.active_probes() == 0


def test_write_locals_from_a_helper():
    assert pokes_itself(1) == 100


def test_write_locals_argument_and_cell():
    assert pokes_argument_and_cell(1) == (10, 20)


def test_write_locals_loop_variable():
    assert pokes_in_loop(10) == [0, 1, 6, 7, 8, 9]


def test_write_locals_from_a_callback_breakpoint():
    with jupdb.breakpoint(f, line=line_of(f, "return 2 * z")) as bp:
        bp.callback(lambda frame: _native.write_locals(frame, {"z": 50}))
        assert f(1, 1) == 100
    assert f(1, 1) == 4


def test_write_locals_at_call_time():
    with jupdb.breakpoint(f) as bp:
        bp.callback(lambda frame: _native.write_locals(frame, {"x": 5}))
        assert f(1, 1) == 12


def test_write_locals_needs_a_frame():
    with pytest.raises(TypeError):
        _native.write_locals(object(), {"x": 1})


def test_first_argument():
    thing = Thing()
    assert thing.first() is thing
    assert no_arguments() is None


def test_code_lines():
    lines = _native.code_lines(f.__code__)
    assert isinstance(lines, frozenset)
    first = line_of(f, "z = x + y")
    assert first in lines
    assert line_of(f, "return 2 * z") in lines
    assert first + 1 not in lines  # the blank line
    assert all(isinstance(n, int) for n in lines)


def test_stubs_name_exactly_what_the_extension_has():
    import ast
    import pathlib

    stub = pathlib.Path(jupdb.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    in_stub = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            in_stub.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            in_stub.add(node.target.id)
    in_stub -= {"Handler", "Matcher"}  # typing helpers of the stub itself
    in_module = {name for name in dir(jupdb._native) if not name.startswith("_")}
    assert in_stub == in_module
