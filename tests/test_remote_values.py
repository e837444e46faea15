"""RemoteValue against real debuggees: a built-in scalar's value comes with its
summary, so it compares, hashes, converts and computes as the value does; any
other value refuses that with a TypeError that says to fetch it; summaries of
arrays, tensors, DataFrames and containers say their shape, dtype, device,
columns and length."""

from __future__ import annotations

import cmath
import math
import operator

import pytest
from remote_helpers import launch, line_in, runtime_dir  # noqa: F401

SCALARS = """
import jupdb

def main():
    a = 10
    fl = 2.5
    flag = True
    z = 1 + 2j
    nothing = None
    text = "h\\u00e9llo"
    data = b"\\x00\\xff"
    big = 2 ** 100
    negative_big = -(2 ** 70)
    u64_max = 2 ** 64 - 1
    just_over = 2 ** 64
    below_i64 = -(2 ** 63) - 1
    huge = 10 ** 5000                  # its repr fails (Python's 4300 digits), its value does not
    long_text = "x" * 100_000
    medium_text = "m" * 2000
    items = [1, 2, 3]
    jupdb.set_trace()

main()
"""


def test_an_int_compares_hashes_converts_and_computes_as_the_value_does(launch):
    program = launch(SCALARS)
    session = program.connect()
    a = session.eval("a")

    assert a.value == 10 and type(a.value) is int
    assert a == 10 and 10 == a and a != 11 and not a != 10
    assert a > 5 and a >= 10 and a < 11 and a <= 10 and 5 < a and not a < 10
    assert hash(a) == hash(10) and {a: "found"}[10] == "found" and a in {10}
    assert int(a) == 10 and float(a) == 10.0 and bool(a) and complex(a) == 10 + 0j
    assert operator.index(a) == 10 and [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10][a] == 10 and hex(a) == "0xa"
    assert (a + 1, 1 + a, a - 3, 3 - a, a * 2, 2 * a) == (11, 11, 7, -7, 20, 20)
    assert (a / 4, 25 / a, a // 3, 25 // a, a % 3, 25 % a) == (2.5, 2.5, 3, 2, 1, 5)
    assert (a**2, 2**a, pow(a, 2, 7), divmod(a, 3), divmod(25, a)) == (100, 1024, 2, (3, 1), (2, 5))
    assert (-a, +a, abs(session.eval("-a")), ~a) == (-10, 10, 10, -11)
    assert (a << 2, 1 << a, a >> 1, a & 3, a | 1, a ^ 15, 6 & a) == (40, 1024, 5, 2, 11, 5, 2)
    assert (round(a, -1), math.floor(a), math.ceil(a), math.trunc(a)) == (10, 10, 10, 10)
    assert f"{a:04d}" == "0010" and f"{a}" == "10"
    # two RemoteValues together
    assert a == session.eval("5 * 2") and a + session.eval("fl") == 12.5 and a > session.eval("fl")
    # repr and str stay the remote repr
    assert (repr(a), str(a), a.repr, a.type) == ("10", "10", "10", "int")
    with pytest.raises(ZeroDivisionError):
        a / 0  # as the value does
    with pytest.raises(TypeError, match="'<' not supported"):
        a < "text"  # noqa: B015 - as the value does
    session.cont()
    program.assert_finishes_ok()


def test_every_builtin_scalar_type_carries_its_value(launch):
    program = launch(SCALARS)
    session = program.connect()

    fl = session.eval("fl")
    assert fl.value == 2.5 and fl == 2.5 and fl * 2 == 5.0 and fl**2 == 6.25 and float(fl) == 2.5
    assert int(fl) == 2 and round(fl) == 2 and math.floor(fl) == 2 and f"{fl:.3f}" == "2.500"
    with pytest.raises(TypeError, match="integer"):
        operator.index(fl)  # as a float does

    flag = session.eval("flag")
    assert flag.value is True and flag and flag == 1 and flag + 1 == 2 and hash(flag) == hash(True)
    assert not session.eval("not flag")

    z = session.eval("z")
    assert z.value == 1 + 2j and complex(z) == 1 + 2j and z * 2 == 2 + 4j and abs(z) == abs(1 + 2j)
    assert cmath.isclose(z**2, (1 + 2j) ** 2) and z == 1 + 2j
    with pytest.raises(TypeError):
        z < 1  # noqa: B015 - complex numbers do not order

    nothing = session.eval("nothing")
    assert nothing.value is None and nothing == None and not nothing  # noqa: E711 - as None compares
    assert hash(nothing) == hash(None)

    text = session.eval("text")
    assert text.value == "h\u00e9llo" and text == "h\u00e9llo" and text != "hello" and text < "i"
    assert text + "!" == "h\u00e9llo!" and "<" + text == "<h\u00e9llo" and text * 2 == "h\u00e9lloh\u00e9llo"
    assert hash(text) == hash("h\u00e9llo") and text.len == 5
    assert str(text) == repr("h\u00e9llo") and f"{text}" == repr("h\u00e9llo")  # str stays the remote repr
    assert f"{text:>7}" == "  h\u00e9llo"

    data = session.eval("data")
    assert (
        data.value == b"\x00\xff" and data == b"\x00\xff" and bytes(data) == b"\x00\xff" and data + b"!" == b"\x00\xff!"
    )

    # ints beyond MessagePack's 64 bits travel in another form, and arrive whole
    for name, expected in [
        ("big", 2**100),
        ("negative_big", -(2**70)),
        ("u64_max", 2**64 - 1),
        ("just_over", 2**64),
        ("below_i64", -(2**63) - 1),
        ("huge", 10**5000),
    ]:
        value = session.eval(name)
        assert value.value == expected and value == expected and hash(value) == hash(expected), name
        assert value + 1 == expected + 1 and value - expected == 0 and value // 10 == expected // 10, name
    huge = session.eval("huge")
    assert "ValueError" in huge.repr  # its repr could not be made: the value is what it is
    assert huge > 10**4999 and huge % 7 == 10**5000 % 7
    session.cont()
    program.assert_finishes_ok()


def test_a_str_over_the_bound_says_why_it_has_no_value(launch):
    program = launch(SCALARS)
    session = program.connect()

    long_text = session.eval("long_text")
    assert long_text.len == 100_000 and long_text.type == "str"
    for attempt in (
        lambda: long_text == "x",
        lambda: long_text.value,
        lambda: hash(long_text),
        lambda: long_text + "!",
    ):
        with pytest.raises(TypeError) as info:
            attempt()
        message = str(info.value)
        assert "100000 characters" in message and "65536" in message, message
        assert "session.fetch('long_text')" in message, message
    assert session.fetch("long_text") == "x" * 100_000  # as the message says

    # locals() summarises every variable at once: its values are kept smaller
    local = session.locals()
    assert local["a"] == 10 and local["text"] == "h\u00e9llo" and local["big"] == 2**100
    with pytest.raises(TypeError) as info:
        local["medium_text"] == "m"  # noqa: B015
    assert "2000 characters" in str(info.value) and "1024" in str(info.value)
    assert "session.fetch('medium_text')" in str(info.value)
    assert session.eval("medium_text") == "m" * 2000  # eval carries it
    session.cont()
    program.assert_finishes_ok()


VALUES = """
import jupdb
import numpy as np

def main():
    items = [1, 2, 3]
    arr = np.arange(6).reshape(2, 3)
    x = 5
    jupdb.set_trace()

main()
"""


def test_any_other_value_refuses_with_a_type_error_that_says_to_fetch(launch):
    program = launch(VALUES)
    session = program.connect()

    for expression, type_name, shown in [("items", "list", "[1, 2, 3]"), ("arr", "numpy.ndarray", "array([[0, 1, 2],")]:
        value = session.eval(expression)
        uses = {
            "==": lambda: value == 5,
            "!=": lambda: value != 5,
            "hash()": lambda: hash(value),
            "bool()": lambda: bool(value),
            "int()": lambda: int(value),
            "float()": lambda: float(value),
            "<": lambda: value < 5,
            "+": lambda: value + 1,
            "reflected +": lambda: 1 + value,
            "value": lambda: value.value,
        }
        for use, attempt in uses.items():
            with pytest.raises(TypeError) as info:
                attempt()
            message = str(info.value)
            assert f"remote {type_name} ({shown}" in message, (use, message)
            assert f"session.fetch({expression!r})" in message, (use, message)
        # what a summary is for still works
        assert repr(value) == value.repr and str(value) == value.repr
        assert value._repr_mimebundle_()["text/plain"] == value.repr
    assert session.fetch("items") == [1, 2, 3]

    # a scalar RemoteValue next to one without a value: that one refuses
    with pytest.raises(TypeError, match=r"session\.fetch\('items'\)"):
        session.eval("x") == session.eval("items")  # noqa: B015
    session.cont()
    program.assert_finishes_ok()


SUMMARIES = """
import jupdb
import numpy as np
import pandas as pd


class Size(tuple):
    '''torch.Size is a tuple of ints.'''


class _Named:
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


class Tensor:
    '''Looks like a torch tensor to code that only reads what it offers.'''

    def __init__(self, shape, dtype, device):
        self._shape, self._dtype, self._device = Size(shape), _Named(dtype), _Named(device)

    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dtype)
    device = property(lambda self: self._device)

    def __len__(self):
        return self._shape[0]

    def __repr__(self):
        return f"tensor(..., device='{self._device}')"


Tensor.__module__ = "torch"          # as torch's own class says


class ArrayImpl:
    '''Looks like an older jax array: device() is a method there.'''

    shape = (4,)
    dtype = "float32"

    def device(self):
        return "TFRT_CPU_0"


ArrayImpl.__module__ = "jaxlib.xla_extension"


class AnythingGoes:
    '''Makes up every attribute, as a mock does: none of it is a shape or dtype.'''

    def __getattr__(self, name):
        return (1, 2)


def main():
    arr = np.zeros((2, 3), dtype=np.float32)
    frame = pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "c"], "dtype": [0.5, 1.5, 2.5]})
    wide = pd.DataFrame({f"c{i}": [i] for i in range(60)})
    series = frame["x"]
    tensor = Tensor((8, 3, 224, 224), "torch.float32", "cuda:0")
    jax_array = ArrayImpl()
    anything = AnythingGoes()
    mapping = {"a": 1, "b": 2}
    jupdb.set_trace()

main()
"""


def test_summaries_of_arrays_tensors_dataframes_and_containers(launch):
    program = launch(SUMMARIES)
    session = program.connect()

    arr = session.eval("arr")
    assert (arr.type, arr.shape, arr.dtype, arr.len) == ("numpy.ndarray", (2, 3), "float32", 2)

    frame = session.eval("frame")
    assert frame.shape == (3, 3) and frame.len == 3  # rows x columns
    assert frame.columns == [("x", "int64"), ("label", frame.columns[1][1]), ("dtype", "float64")]
    assert frame.columns[1][1] in ("object", "str", "string")  # pandas 3 names text columns str
    # a column named "dtype" is not the frame's dtype (a DataFrame has none)
    assert frame.dtype is None and frame.device is None
    assert "text/html" in frame._repr_mimebundle_()  # the table, as before

    wide = session.eval("wide")
    assert wide.shape == (1, 60) and len(wide.columns) == 50 and wide.columns[-1] == ("c49", "int64")

    series = session.eval("series")
    assert (series.len, series.dtype, series.shape, series.columns) == (3, "int64", (3,), None)

    # torch is not installed: a class of the program's own that offers what a tensor offers
    tensor = session.eval("tensor")
    assert tensor.type == "torch.Tensor"
    assert (tensor.shape, tensor.dtype, tensor.device, tensor.len) == ((8, 3, 224, 224), "torch.float32", "cuda:0", 8)
    assert tensor.repr == "tensor(..., device='cuda:0')"

    jax_array = session.eval("jax_array")
    assert (jax_array.shape, jax_array.dtype, jax_array.device) == ((4,), "float32", "TFRT_CPU_0")

    anything = session.eval("anything")
    assert (anything.shape, anything.dtype, anything.device) == (None, None, None)

    assert session.eval("mapping").len == 2 and session.eval("mapping").shape is None
    # locals carry the same descriptions
    summaries = session.locals()
    assert summaries["tensor"].device == "cuda:0" and summaries["frame"].columns == frame.columns
    session.cont()
    program.assert_finishes_ok()


def test_a_watch_value_is_a_scalar_too(launch):
    program = launch("""
        import jupdb

        def main():
            total = 0
            jupdb.set_trace()
            for i in range(3):               # LOOP
                total += i * 10
            print("total", total, flush=True)  # PRINT

        main()
    """)
    session = program.connect()
    session.watch("total * 2")
    stop = session.next()
    assert stop.line == line_in(program.source, "# LOOP") and stop.watches["total * 2"] == 0
    stop = session.until(line_in(program.source, "# PRINT"))
    assert stop.watches["total * 2"] == 60 and stop.watches["total * 2"] > session.eval("total")
    session.unwatch("total * 2")
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["total 30"]


HANGING_REPR = """
import jupdb

class Hangs:
    '''A repr that never returns: a lazy proxy whose backend is gone, say.'''
    def __repr__(self):
        while True:
            pass

def main():
    a = 1
    stuck = Hangs()
    jupdb.set_trace()
    print("a is", a, flush=True)

main()
"""


@pytest.mark.parametrize("ask", ["locals", "eval"])
def test_a_repr_that_never_returns_can_be_interrupted(launch, ask):
    """Summaries run the program's reprs: one that never returns is interrupted
    as a client's code is (``interrupt``, Ctrl-C on the request), and the
    paused thread serves again. Before, the thread stayed busy for good: the
    repr ran outside the interruptible call (``locals`` is what the panel and
    jump_context ask at every stop)."""
    program = launch(HANGING_REPR)
    session = program.connect(timeout=1.0)
    with pytest.raises(TimeoutError):
        session.locals() if ask == "locals" else session.eval("stuck")
    assert session.interrupt() != []  # the repr was running as client code: interrupted
    session.timeout = 30.0
    assert session.eval("a") == 1  # the thread serves again
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["a is 1"]
