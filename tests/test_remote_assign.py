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


def test_a_buffer_bigger_than_a_frame_goes_in_parts(launch):
    program = launch(PROGRAM)
    session = program.connect()
    weights = np.arange(100_000_000 // 8, dtype=np.int64)  # 100 MB: more than a frame's 64 MiB
    session.assign("weights", weights)
    assert session.eval("int(weights[-1])").repr == str(weights[-1])
    np.testing.assert_array_equal(session.fetch("weights"), weights)
    # A frame too big for the debuggee is refused here, and the connection serves on.
    with pytest.raises(ValueError, match="more than the .* a frame may hold"):
        session.request("assign", {"name": "count"}, buffers=[pickle.dumps(1), bytes(jupdb._native.MAX_FRAME_LEN + 1)])
    with pytest.raises(jupdb.RemoteError, match="parts must be"):
        session.request("assign", {"name": "count", "parts": [1, 2]}, buffers=[pickle.dumps(1)])
    assert session.eval("count").repr == "1"
    session.cont()
    program.assert_finishes_ok()
