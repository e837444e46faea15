"""Errors raised at set-up time, before anything is installed."""

import math
import pathlib

import pytest

import jupdb
from conftest import line_of

try:
    from jupdb import _native
except ImportError:  # pragma: no cover - only with the nopdb shim
    _native = None

PURE_PYTHON = r"^jupdb can only target pure-Python code"


def before_f():  # MARK:before
    return None


def f(x, y):
    z = x + y

    return 2 * z  # the blank line above is used by a test


def g(x):
    return f(x, x)


def after_f_marker():  # MARK:outside
    return None


BUILTINS = {
    "len": len,
    "print": print,
    "math.sqrt": math.sqrt,
    "list.append (bound)": [].append,
    "str.upper (descriptor)": str.upper,
    "dict (type)": dict,
}


def assert_nothing_installed():
    if _native is not None:
        assert _native.active_probes() == 0


# ------------------------------------------------------- C code targets


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_capture_call_of_c_code(name):
    with pytest.raises(TypeError, match=PURE_PYTHON):
        jupdb.capture_call(BUILTINS[name])
    assert_nothing_installed()


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_capture_calls_of_c_code(name):
    with pytest.raises(TypeError, match=PURE_PYTHON):
        jupdb.capture_calls(BUILTINS[name])
    assert_nothing_installed()


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_breakpoint_on_c_code(name):
    with pytest.raises(TypeError, match=PURE_PYTHON):
        jupdb.breakpoint(BUILTINS[name])
    assert_nothing_installed()


def test_breakpoint_on_c_code_with_line():
    with pytest.raises(TypeError, match=PURE_PYTHON):
        jupdb.breakpoint(math.sqrt, line=1)


def test_nopdb_methods_reject_c_code():
    with jupdb.NoPdb() as dbg:
        with pytest.raises(TypeError, match=PURE_PYTHON):
            dbg.capture_call(len)
        with pytest.raises(TypeError, match=PURE_PYTHON):
            dbg.capture_calls(len)
        with pytest.raises(TypeError, match=PURE_PYTHON):
            dbg.breakpoint(math.sqrt)
        # the debugger is still usable afterwards
        call = dbg.capture_call(f)
        g(2)
    assert call.return_value == 8


def test_error_leaves_existing_probes_alone():
    with jupdb.capture_calls(f) as calls:
        with pytest.raises(TypeError, match=PURE_PYTHON):
            jupdb.capture_call(len)
        g(1)
    assert len(calls) == 1


# ------------------------------------------------------- missing targets


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"line": 3}, {"line": "return 2 * z"}, {"cond": "True"}, {"line": 3, "cond": "x"}],
    ids=["nothing", "line-int", "line-text", "cond", "line-and-cond"],
)
def test_breakpoint_without_function_module_or_file(kwargs):
    with pytest.raises(TypeError):
        jupdb.breakpoint(**kwargs)
    assert_nothing_installed()


def test_breakpoint_module_without_line():
    import textwrap as some_module

    with pytest.raises(TypeError):
        jupdb.breakpoint(module=some_module)


@pytest.mark.parametrize("file", ["*.py", pathlib.Path(__file__)], ids=["glob", "path"])
def test_breakpoint_file_without_line(file):
    with pytest.raises(TypeError):
        jupdb.breakpoint(file=file)
    assert_nothing_installed()


def test_breakpoint_file_without_line_but_cond():
    with pytest.raises(TypeError):
        jupdb.breakpoint(file="*.py", cond="True")


# ------------------------------------------------------- bad lines


def test_line_number_before_the_function():
    with pytest.raises(ValueError):
        jupdb.breakpoint(f, line=line_of(before_f, "MARK:before") + 1)
    assert_nothing_installed()


def test_line_number_after_the_function():
    with pytest.raises(ValueError):
        jupdb.breakpoint(f, line=line_of(after_f_marker, "MARK:outside") + 1)


def test_line_number_far_away():
    with pytest.raises(ValueError):
        jupdb.breakpoint(f, line=10**6)


def test_line_number_of_blank_line_inside_function():
    blank = line_of(f, "z = x + y") + 1
    with open(__file__, encoding="utf-8") as fh:
        assert fh.read().splitlines()[blank - 1].strip() == ""
    with pytest.raises(ValueError):
        jupdb.breakpoint(f, line=blank)


def test_line_text_that_is_not_in_the_function():
    with pytest.raises(ValueError):
        jupdb.breakpoint(f, line="this text appears nowhere in f")


def test_line_text_of_another_function():
    # present in the file, but in g, not in f
    with pytest.raises(ValueError):
        jupdb.breakpoint(f, line="return f(x, x)")


def test_empty_line_text():
    with pytest.raises(ValueError):
        jupdb.breakpoint(f, line="   ")


def test_line_error_on_a_method():
    class K:
        def m(self):
            return 1

    with pytest.raises(ValueError):
        jupdb.breakpoint(K().m, line="return 2")


def test_valid_lines_are_accepted():
    # the same function, with lines that do exist: no error
    with jupdb.NoPdb() as dbg:
        a = dbg.breakpoint(f, line=line_of(f, "z = x + y")).eval("x")
        b = dbg.breakpoint(f, line="return 2 * z  # the blank line above is used by a test").eval("z")
        g(3)
    assert a == [3]
    assert b == [6]


# ------------------------------------------------------- jump


def test_jump_needs_a_line():
    with jupdb.breakpoint(f) as bp:
        with pytest.raises(ValueError):
            bp.jump(line_of(f, "return 2 * z"))
