"""jupdb.connect(pid, wait=...): a program just started is connected to once it
pauses; a pid that ends without pausing ends the wait at once."""

import time

import pytest

import jupdb
from remote_helpers import TIMEOUT, launch, runtime_dir  # noqa: F401

PAUSES_LATER = """
import sys
import jupdb
import time
print("started", flush=True)
while not __import__("os").path.exists(sys.argv[1]):
    time.sleep(0.01)
x = 7
jupdb.set_trace()
"""

ENDS = """
import sys
print("started", flush=True)
"""


def test_connect_waits_for_the_program_to_pause(launch, tmp_path):
    go = tmp_path / "go"
    program = launch(PAUSES_LATER, args=[str(go)])
    program.wait_stdout("started")
    with pytest.raises(LookupError):
        jupdb.connect(program.pid)  # not paused yet, and no wait
    go.touch()  # only now may it pause: the wait below is what finds it
    session = jupdb.connect(program.pid, wait=TIMEOUT)
    try:
        assert session.eval("x").repr == "7"
        session.cont()
    finally:
        session.close()
    program.assert_finishes_ok()


def test_a_program_that_ends_ends_the_wait(launch):
    program = launch(ENDS)
    program.assert_finishes_ok()
    started = time.monotonic()
    with pytest.raises(LookupError, match=f"no jupdb session matches {program.pid}"):
        jupdb.connect(program.pid, wait=10 * TIMEOUT)
    assert time.monotonic() - started < TIMEOUT  # not the whole wait
