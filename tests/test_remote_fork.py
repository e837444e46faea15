"""A debuggee or a client that forks (multiprocessing's default start method on
Linux, PyTorch's DataLoader workers): the child is a program of its own, and
neither process's sockets, threads or connection file get mixed up."""

import re

import jupdb
from remote_helpers import TIMEOUT, line_in, launch, runtime_dir, wait_until  # noqa: F401

#: Pauses, forks; the child pauses in child(), the parent pauses again once the child ended.
FORKING = """
import os, jupdb

def child():
    b = 20
    jupdb.set_trace()                                  # CHILD
    print("child resumed with b =", b, flush=True)

def main():
    a = 10
    jupdb.set_trace()
    pid = os.fork()
    if pid == 0:
        child()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    jupdb.set_trace()                                  # PARENT
    print("parent done; the child exited with", code, flush=True)

main()
"""


def states():
    return {found.pid: found.state for found in jupdb.sessions()}


def test_a_forked_child_pauses_in_a_session_of_its_own(launch):
    program = launch(FORKING)
    parent = program.connect()
    parent.cont()

    announced = program.wait_stderr(re.compile(r"in child\(\) \(pid (\d+), port (\d+)\)"))
    child_pid, child_port = int(announced.group(1)), int(announced.group(2))
    assert child_pid != program.pid and child_port != parent.info["request_port"]
    # The child wrote a file of its own, and left the parent's alone.
    assert states() == {program.pid: "running", child_pid: "paused"}

    child = jupdb.connect(child_pid, timeout=TIMEOUT)
    try:
        top = child.where()[0]
        assert (top.function, top.line) == ("child", line_in(program.source, "# CHILD"))
        assert child.eval("b").repr == "20"
        child.exec("b = 21")
        # The parent, blocked in waitpid, still answers on its own sockets.
        assert parent.threads()[0].paused is False
        child.cont()
    finally:
        child.close()
    program.wait_stdout("child resumed with b = 21")

    stop = parent.wait(timeout=TIMEOUT)
    assert stop.line == line_in(program.source, "# PARENT")
    assert parent.eval("a").repr == "10"
    assert parent.eval("code").repr == "0"
    assert states() == {program.pid: "paused"}  # the child's file went with it
    parent.cont()
    program.wait_stdout("parent done; the child exited with 0")
    program.assert_finishes_ok()


#: Forks from a command the client sends while it is paused.
PAUSED = """
import os, jupdb

def work():
    x = 1
    jupdb.set_trace()
    print("resumed in the", "parent" if os.getpid() == PARENT else "child", flush=True)

PARENT = os.getpid()
work()
"""


def test_a_child_forked_by_a_command_runs_on_and_the_parent_replies(launch):
    program = launch(PAUSED)
    session = program.connect()
    session.exec("import os\nchild = os.fork()")
    # Only the parent replied: in the child, `child` is 0.
    child_pid = int(session.eval("child").repr)
    assert child_pid > 0
    # The child does not stay paused on sockets that are the parent's: it runs on.
    program.wait_stdout("resumed in the child")
    assert session.eval("x + 1").repr == "2"
    assert states() == {program.pid: "paused"}
    session.cont()
    program.wait_stdout("resumed in the parent")
    program.assert_finishes_ok()


#: A client that forks: the child must not use the parent's connection. Both fetch a value large enough to be
#: hashed on several threads, the parent before the fork, so the child inherits a pool whose threads are gone.
FORKING_CLIENT = """
import os, sys, jupdb

session = jupdb.connect(int(sys.argv[1]))
assert len(session.fetch("big")) == 8 << 20
pid = os.fork()
if pid == 0:
    try:
        session.eval("a")
    except ConnectionError as exc:
        print("child:", exc, flush=True)
    again = jupdb.connect(int(sys.argv[1]))
    assert len(again.fetch("big")) == 8 << 20
    print("child, connected anew:", again.eval("a").repr, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent:", session.eval("a").repr, flush=True)
"""


def test_a_forked_client_gets_a_clear_error_and_can_connect_again(launch):
    debuggee = launch("import jupdb\na = 10\nbig = bytes(8 << 20)\njupdb.set_trace()\n", name="debuggee")
    debuggee.wait_paused()
    client = launch(FORKING_CLIENT, name="client", args=[str(debuggee.pid)])
    client.assert_finishes_ok()
    lines = client.stdout_lines()
    assert "child: this connection was opened before this process was forked" in lines[0]
    assert lines[1:] == ["child, connected anew: 10", "parent: 10"]
    session = debuggee.connect()
    assert session.eval("a").repr == "10"
    session.cont()
    debuggee.assert_finishes_ok()
