"""What the debuggee prints reaches the client as ``output`` events, end to end:
printed by ``Session.wait()`` and the stepping calls, in order, before the pause
that followed it, in few events, bounded on both sides, and still printed by the
program itself."""

import os
import re
import threading

import jupdb
from remote_helpers import TIMEOUT, in_process, launch, line_in, runtime_dir, wait_paused_in_process  # noqa: F401

PRINTER = """
import sys
import jupdb

jupdb.set_trace()
for i in range(3):
    print("out", i)
    print("err", i, file=sys.stderr)
sys.stdout.write("no newline yet")
jupdb.set_trace()                       # SECOND
print("after")
"""


def test_wait_prints_what_the_program_prints_before_the_next_pause(launch, capsys):
    program = launch(PRINTER)
    session = program.connect()
    capsys.readouterr()

    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert stop.line == line_in(program.source, "# SECOND")
    # Written right before the pause, without a newline or a flush: here all the same.
    captured = capsys.readouterr()
    assert captured.out == "out 0\nout 1\nout 2\nno newline yet"
    assert captured.err == "err 0\nerr 1\nerr 2\n"

    session.cont()
    program.assert_finishes_ok()
    assert program.stdout == "out 0\nout 1\nout 2\nno newline yetafter\n"  # the program's own output is untouched
    assert "err 2\n" in program.stderr


def test_next_prints_the_output_of_the_line_it_ran(launch, capsys):
    program = launch("""
        import jupdb

        def f():
            jupdb.set_trace()
            print("stepped over")      # PRINT
            return 1

        f()
    """)
    session = program.connect()
    assert session.next(timeout=TIMEOUT).line == line_in(program.source, "# PRINT")
    capsys.readouterr()
    session.next(timeout=TIMEOUT)
    assert capsys.readouterr().out == "stepped over\n"
    session.cont()
    program.assert_finishes_ok()


def test_a_requests_own_output_comes_once_and_other_threads_output_is_forwarded(launch, capsys):
    program = launch("""
        import threading
        import jupdb

        go, printed = threading.Event(), threading.Event()

        def worker():
            go.wait()
            for i in range(5):
                print("tick", i)
            printed.set()
            jupdb.set_trace()              # WORKER

        threading.Thread(target=worker, name="worker").start()
        jupdb.set_trace()
    """)
    session = program.connect()
    capsys.readouterr()
    # While this request's print is captured for its reply, the worker prints
    # to the program's stdout: that is forwarded, not mixed into the reply.
    session.exec("print('mine')\ngo.set()\nprinted.wait(30)")
    assert capsys.readouterr().out == "mine\n"

    stop = session.wait(timeout=TIMEOUT)
    assert stop.line == line_in(program.source, "# WORKER")
    assert capsys.readouterr().out == "".join(f"tick {i}\n" for i in range(5))
    assert "mine" not in program.stdout

    for thread in session.threads():
        if thread.paused:
            session.select_thread(thread.id)
            session.cont()
    program.assert_finishes_ok()


def test_a_program_that_prints_a_lot_is_forwarded_whole_in_few_events(launch):
    program = launch("""
        import jupdb

        jupdb.set_trace()
        for i in range(20000):
            print(i)
        jupdb.set_trace()
    """)
    session = program.connect()
    session.cont()
    texts = []
    while True:
        event = session._client.next_event(TIMEOUT)
        assert event is not None, "no pause after the prints"
        msg_type, content, _, _ = event
        if msg_type == "output":
            assert content["name"] == "stdout" and "dropped" not in content
            texts.append(content["text"])
        elif msg_type == "paused":
            break
    assert "".join(texts) == "".join(f"{i}\n" for i in range(20000))
    # 40,000 writes (print writes the newline apart): batched, not an event each.
    assert len(texts) < 400
    session.cont()
    program.assert_finishes_ok()


DROPPED = re.compile(r"\[jupdb: (\d+) bytes of the program's output were dropped (here|in the program)")


def test_more_output_than_the_client_keeps_drops_the_oldest_and_says_so(launch, capsys):
    # 12 MiB printed while nobody waits; the client keeps the newest 8 MiB.
    program = launch("""
        import sys, time
        import jupdb

        jupdb.set_trace()
        for block in range(48):
            sys.stdout.write("".join(f"{block * 4096 + i:063d}\\n" for i in range(4096)))
            time.sleep(0.02)
        print("printed all", file=sys.stderr)
        jupdb.set_trace()
    """)
    session = program.connect()
    session.cont()
    program.wait_stderr("printed all")
    capsys.readouterr()
    session.wait(timeout=TIMEOUT)
    captured = capsys.readouterr()

    dropped = {"here": 0, "in the program": 0}
    for count, where in DROPPED.findall(captured.err):
        dropped[where] += int(count)
    assert dropped["here"] > 0
    assert len(captured.out) + sum(dropped.values()) == 48 * 4096 * 64  # every byte accounted for
    assert len(captured.out) <= 8 << 20
    numbers = [int(line) for line in captured.out.splitlines()]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    session.cont()
    program.assert_finishes_ok()


def test_a_client_in_the_debugged_process_does_not_print_its_output_again(in_process, capsys):
    from jupdb.remote.debuggee import DebugServer

    assert DebugServer.running() is None

    def paused_twice():
        jupdb.set_trace()
        print("from the thread")
        jupdb.set_trace()

    thread = threading.Thread(target=paused_twice)
    in_process.append(thread)
    thread.start()
    wait_paused_in_process()
    session = jupdb.connect(os.getpid(), timeout=TIMEOUT)
    session.cont()
    session.wait(timeout=TIMEOUT)
    session.cont()
    thread.join(TIMEOUT)
    session.close()
    assert capsys.readouterr().out.count("from the thread") == 1


def test_the_stand_ins_behave_as_the_streams_and_go_with_the_server(launch):
    program = launch("""
        import sys
        import jupdb
        from jupdb.remote.debuggee import DebugServer

        out, err = sys.stdout, sys.stderr
        jupdb.set_trace()
        print("wrapped:", sys.stdout is not out, sys.stdout.original is out, sys.stderr.original is err)
        print("delegated:", sys.stdout.encoding == out.encoding, sys.stdout.fileno() == out.fileno(),
              sys.stdout.isatty() == out.isatty())
        print("returns:", sys.stdout.write("abc\\n"))
        try:
            sys.stdout.write(b"bytes")
        except TypeError as exc:
            print("bytes refused as before:", type(exc).__name__)
        DebugServer.running().close()
        print("restored:", sys.stdout is out, sys.stderr is err)
    """)
    session = program.connect()
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == [
        "wrapped: True True True",
        "delegated: True True True",
        "abc",
        "returns: 4",
        "bytes refused as before: TypeError",
        "restored: True True",
    ]


def test_a_forked_child_prints_straight_to_its_streams(launch, capsys):
    program = launch("""
        import os, sys
        import jupdb
        from jupdb.remote.debuggee import OutputStandIn

        jupdb.set_trace()
        print("parent forwarded:", isinstance(sys.stdout, OutputStandIn))
        pid = os.fork()
        if pid == 0:
            print("child forwarded:", isinstance(sys.stdout, OutputStandIn))
            sys.stdout.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        jupdb.set_trace()
    """)
    session = program.connect()
    capsys.readouterr()
    session.cont()
    session.wait(timeout=TIMEOUT)
    assert capsys.readouterr().out == "parent forwarded: True\n"
    session.cont()
    program.assert_finishes_ok()
    assert "child forwarded: False" in program.stdout


def test_forwarding_goes_on_after_a_redirect_that_was_active_at_the_first_pause(launch, capsys):
    program = launch("""
        import contextlib, io, jupdb

        with contextlib.redirect_stdout(io.StringIO()):
            jupdb.set_trace()              # the stand-in is put in place here, over the redirect's stream
        print("after the redirect")        # the redirect put the real stdout back, without a stand-in
        jupdb.set_trace()                  # SECOND: here it is put back
        print("forwarded again")
        jupdb.set_trace()                  # THIRD
    """)
    session = program.connect()
    session.cont()
    assert session.wait(timeout=TIMEOUT).code.endswith("# SECOND: here it is put back")
    capsys.readouterr()
    session.cont()
    assert session.wait(timeout=TIMEOUT).code.endswith("# THIRD")
    assert capsys.readouterr().out == "forwarded again\n"
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout == "after the redirect\nforwarded again\n"
