"""A session that ``connect()`` returns serves at once: the connection file is
written only once every request can be answered (issue 15, item 8)."""

import sys

import jupdb
from remote_helpers import TIMEOUT, line_in, launch, runtime_dir, wait_until  # noqa: F401

RUN = [sys.executable, "-m", "jupdb", "run"]

LOOP = """
import time
stop = False
while not stop:
    time.sleep(0.001)                 # LOOP
"""


def test_a_new_session_answers_its_first_request(launch):
    # Connect the moment the file appears, then ask at once, 20 programs in a row;
    # each of threads, pause and break must be served the first time.
    for i in range(20):
        program = launch(LOOP, name=f"loop{i}", command=RUN)
        wait_until(
            lambda: any(s.pid == program.pid for s in jupdb.sessions()), interval=0.001, what="the connection file"
        )
        session = jupdb.connect(program.pid, timeout=TIMEOUT)
        program.sessions.append(session)
        what = i % 3
        if what == 0:
            assert any(t.name == "MainThread" for t in session.threads())
        elif what == 1:
            stop = session.pause()
            assert stop.file == program.path
            session.cont()
        else:
            bid = session.add_breakpoint(program.path, line_in(program.source, "# LOOP"))
            assert session.clear_breakpoint(bid) == [bid]
        program.cleanup()
