"""``jupdb.listen()``: a program serves clients from inside, without pausing and
without ``jupdb run``; it returns at once, is found by ``connect()``, and may be
called from any thread, any number of times. Real subprocesses, real sockets."""

import socket

import pytest

import jupdb
from remote_helpers import launch, runtime_dir, wait_until  # noqa: F401

#: Listens, says what listen() returned, then runs until a client sets ``stop``.
LISTENS = """
import os, time, jupdb

info = jupdb.listen()
print("listening", info.pid == os.getpid(), info.ip, info.port, info.connection_file, flush=True)
print("repr", repr(info), flush=True)
stop = False
rounds = 0
while not stop:
    rounds += 1
    if rounds == 1:
        print("running on", flush=True)
    time.sleep(0.001)
print("stopped", flush=True)
"""


def test_listen_returns_at_once_and_a_client_finds_the_program(launch):
    program = launch(LISTENS)
    program.wait_stdout("listening True 127.0.0.1 ")
    program.wait_stdout("running on")  # it did not wait for a client
    _, _, _, port, path = program.stdout_lines()[0].split(" ", 4)
    program.wait_stderr(f"jupdb: listening on 127.0.0.1:{port} (pid {program.pid}); connect with jupdb.connect(")
    program.wait_stdout(f"repr <jupdb listening on 127.0.0.1:{port} (pid {program.pid}); connect with jupdb.connect(")

    found = wait_until(lambda: [s for s in jupdb.sessions() if s.pid == program.pid], what="the session")
    assert (found[0].state, found[0].path) == ("running", path)
    session = jupdb.connect()  # the one program there is: no pid needed
    program.sessions.append(session)
    assert session.pid == program.pid and session.info["request_port"] == int(port)
    stop = session.pause()
    assert stop.file == program.path
    assert session.eval("rounds > 0").value is True
    session.exec("stop = True")
    session.cont()
    program.wait_stdout("stopped")
    program.assert_finishes_ok()


#: listen() from many threads at once, then again from the main thread, then set_trace().
FROM_THREADS = """
import threading, jupdb

results = []
start = threading.Barrier(8)

def call():
    start.wait()
    results.append(jupdb.listen())

threads = [threading.Thread(target=call) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
again = jupdb.listen()
print("same", len(results), all(r == again for r in results), flush=True)
for kwargs in ({"port": again.port + 1 if again.port < 65535 else 1}, {"ip": "0.0.0.0"}):
    try:
        jupdb.listen(**kwargs)
    except RuntimeError as exc:
        print("refused", exc, flush=True)
value = 1
breakpoint()
print("value", value, flush=True)
"""


def test_listen_is_idempotent_from_any_thread_and_breakpoint_pauses_after_it(launch):
    program = launch(FROM_THREADS)
    program.wait_stdout("same 8 True")
    program.wait_stdout("refused jupdb is already serving this process on port ")
    program.wait_stdout("refused jupdb is already serving this process on 127.0.0.1, not 0.0.0.0")
    program.wait_paused()  # breakpoint() pauses for clients, as under jupdb run
    assert program.stderr.count("jupdb: listening") == 1
    session = program.connect()
    session.exec("value = 2")
    session.cont()
    program.wait_stdout("value 2")
    program.assert_finishes_ok()


def test_a_port_that_is_taken_is_a_clear_error_to_the_caller(launch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        program = launch(
            f"""
            import jupdb
            try:
                jupdb.listen(port={port})
            except OSError as exc:
                print("failed:", type(exc).__name__, exc, flush=True)
            print("goes on", flush=True)
            """
        )
        program.wait_stdout("goes on")
        program.assert_finishes_ok()
    failed = [line for line in program.stdout_lines() if line.startswith("failed:")]
    assert failed and str(port) in failed[0], program.stdout
    assert jupdb.sessions() == []  # no connection file left behind


def test_listen_is_in_the_public_api():
    assert "listen" in jupdb.__all__ and "ListenInfo" in jupdb.__all__
    assert jupdb.ListenInfo.__module__ == "jupdb.remote.debuggee"
    with pytest.raises(TypeError):
        jupdb.listen("127.0.0.1", 0, True)  # ip and port only


@pytest.mark.parametrize("stderr", ["None", "closed"])
def test_listen_never_fails_for_the_programs_streams(launch, stderr):
    # Nowhere to say "listening": no error for that, and nothing on stdout instead.
    program = launch(
        f"""
        import os, sys, jupdb
        if {stderr!r} == "None":
            sys.stderr = None
        else:
            sys.stderr = open(os.devnull, "w")
            sys.stderr.close()
        info = jupdb.listen()
        print("served", info.port > 0, jupdb.listen() == info, flush=True)
        """
    )
    program.wait_stdout("served True True")
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["served True True"]


def test_a_forked_child_that_listens_gets_a_server_of_its_own(launch):
    program = launch(
        """
        import os, sys, jupdb
        parent = jupdb.listen()
        pid = os.fork()
        if pid == 0:
            child = jupdb.listen()
            mine = (child.pid, child.port != parent.port, child.connection_file != parent.connection_file)
            print("child", mine == (os.getpid(), True, True), flush=True)
            sys.exit(0)
        os.waitpid(pid, 0)
        print("parent", jupdb.listen() == parent, flush=True)
        """
    )
    program.wait_stdout("child True")
    program.wait_stdout("parent True")
    program.assert_finishes_ok()
    assert program.stderr.count("jupdb: listening") == 2  # the parent's, then the child's
