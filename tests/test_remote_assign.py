"""Session.assign, end to end: a value pickled here (protocol 5, buffers out of
band) becomes a local of the paused frame of a real subprocess."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

import jupdb
from remote_helpers import launch, runtime_dir  # noqa: F401

PROGRAM = """
import jupdb
import numpy as np

def work():
    count = 1
    jupdb.set_trace()                          # PAUSE
    weights = locals()["weights"]
    weights += 1                               # in place: the array is the program's own, writable
    print("count", count, "sum", int(weights.sum()), "dtype", weights.dtype, flush=True)

work()
"""


def test_assign_an_int_and_a_big_array(launch):
    program = launch(PROGRAM)
    session = program.connect()
    session.assign("count", 41)
    assert session.eval("count + 1").repr == "42"
    weights = np.arange(10 * 1024 * 1024 // 8, dtype=np.int64)  # 10 MB
    session.assign("weights", weights)
    assert session.eval("weights.shape").repr == str(weights.shape)
    np.testing.assert_array_equal(session.fetch("weights"), weights)
    assert session.eval("weights.flags.writeable").repr == "True"
    session.cont()
    program.assert_finishes_ok()
    expected = int(weights.sum()) + weights.size
    assert program.stdout_lines() == [f"count 41 sum {expected} dtype int64"]


def test_assign_at_module_level_sets_a_global(launch):
    program = launch("""
        import jupdb
        jupdb.set_trace()                      # PAUSE
        print("fresh", fresh, flush=True)
    """)
    session = program.connect()
    session.assign("fresh", {"nested": [1, 2.5, "x"]})
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["fresh {'nested': [1, 2.5, 'x']}"]


class ExitsWhenLoaded:
    """Unpickles by calling sys.exit(3): the debuggee must not exit."""

    def __reduce__(self):
        return (sys.exit, (3,))


def test_bad_assignments_are_clear_errors_and_the_program_stays_paused(launch):
    program = launch(PROGRAM)
    session = program.connect()
    with pytest.raises(TypeError, match="cannot send function"):
        session.assign("count", lambda: 1)  # cannot be pickled: refused here
    for bad in ("1x", "a.b", "class", "", None):
        with pytest.raises(jupdb.RemoteError) as info:
            session.request("assign", {"name": bad}, buffers=[pickle.dumps(1)])
        assert info.value.ename == "InvalidRequest" and "not a variable name" in info.value.evalue
    with pytest.raises(jupdb.RemoteError) as info:
        session.request("assign", {"name": "count"})
    assert info.value.ename == "InvalidRequest"
    with pytest.raises(jupdb.RemoteError) as info:
        session.request("assign", {"name": "count"}, buffers=[b"not a pickle"])
    assert info.value.ename == "UnpicklingError" and "count" in info.value.evalue
    with pytest.raises(jupdb.RemoteError) as info:
        session.request("assign", {"name": "count"}, buffers=[pickle.dumps(ExitsWhenLoaded())])
    assert info.value.ename == "UnpicklingError" and "SystemExit" in info.value.evalue
    with pytest.raises(jupdb.RemoteError) as info:
        session.assign("count", 5, frame=7)
    assert info.value.ename == "NoSuchFrame"
    assert session.eval("count").repr == "1"  # nothing changed
    session.assign("weights", np.zeros(3, dtype=np.int64))
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["count 1 sum 3 dtype int64"]
