"""``jupdb attach``, end to end: the real command in a real pseudo-terminal
(pexpect), against real programs. Every step waits for the prompt or a
pattern; what the program does is checked in its own output."""

import os
import re
import stat
import sys

import pytest

from remote_helpers import TIMEOUT, launch, line_in, runtime_dir, wait_until  # noqa: F401

pexpect = pytest.importorskip("pexpect")

# pexpect forks the terminal's process from this multi-threaded one (the programs'
# output readers), then execs at once: nothing the warning is about.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")

PROMPT = "(jupdb) "

PROGRAM = """
import jupdb

class Box:
    def __init__(self):
        self.payload_size = 3

def add(x, y):
    s = x + y                # ADD_BODY
    return s                 # ADD_RETURN

def main():
    box = Box()
    total = 0
    jupdb.set_trace()        # TRACE
    for i in range(5):       # FOR
        total = add(total, i)  # LOOP
    print("total", total)    # PRINT
    return total

main()                       # CALL_MAIN
print("done")
"""

RUNNING = """
import jupdb, sys, threading, time
jupdb.set_trace()            # TRACE
count = 0
while True:
    count += 1               # SPIN
    if count % 2000000 == 0:
        print("spinning", flush=True)
"""


class Terminal:
    """``jupdb attach`` in a pseudo-terminal."""

    def __init__(self, target, tmp_path, extra_args=()):
        env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), TERM="xterm", PYTHONUNBUFFERED="1")
        args = ["-m", "jupdb", "attach", *([str(target)] if target is not None else []), *extra_args]
        self.child = pexpect.spawn(
            sys.executable, args, env=env, encoding="utf-8", timeout=TIMEOUT, dimensions=(40, 250)
        )

    def expect(self, pattern):
        """Wait for ``pattern`` (text, or a compiled regex); the output up to it."""
        if isinstance(pattern, str):
            self.child.expect_exact(pattern)
        else:
            self.child.expect(pattern)
        return _plain(self.child.before)

    def prompt(self):
        return self.expect(PROMPT)

    def do(self, line, until=PROMPT):
        """Type ``line`` and wait for the next prompt; what it printed (the echoed line taken off)."""
        self.child.sendline(line)
        out = self.expect(until)
        return out.split("\n", 1)[1] if "\n" in out else ""

    def ends(self):
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus

    def close(self):
        if self.child.isalive():
            self.child.terminate(force=True)


def _plain(text):
    """Terminal output without escape sequences and carriage returns."""
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", text)
    return text.replace("\r\n", "\n").replace("\r", "")


@pytest.fixture
def attach(tmp_path):
    opened = []

    def start(target=None, extra_args=()):
        terminal = Terminal(target, tmp_path, extra_args)
        opened.append(terminal)
        return terminal

    yield start
    for terminal in opened:
        terminal.close()


def lines(program, *markers):
    return {m: line_in(program.source, f"# {m}") for m in markers}


def test_attach_shows_the_stop_and_runs_pdb_commands(launch, attach):
    program = launch(PROGRAM)
    program.wait_paused()
    ln = lines(program, "TRACE", "FOR", "LOOP", "ADD_BODY", "PRINT")
    term = attach()  # no target: the most recently paused program
    shown = term.prompt()
    assert f"attached to pid {program.pid}" in shown
    assert f"> {program.path}({ln['TRACE']})main()\n-> jupdb.set_trace()" in shown

    where = term.do("w")
    assert f"  {program.path}({line_in(program.source, '# CALL_MAIN')})<module>()\n-> main()" in where
    assert where.index("<module>()") < where.index(f"> {program.path}({ln['TRACE']})main()")  # oldest first

    assert term.do("p total + 41") == "41\n"
    assert term.do("p box.payload_size * 2") == "6\n"
    assert f"({ln['FOR']})main()" in term.do("n")
    assert f"({ln['LOOP']})main()" in term.do("n")
    stepped = term.do("s")
    assert f"> {program.path}({ln['ADD_BODY']})add()\n-> s = x + y" in stepped
    assert term.do("a") == "x = 0\ny = 0\n"
    assert "Function add" in term.do("whatis add")
    assert "int" in term.do("whatis x")

    listed = term.do("ll")
    assert re.search(rf"{ln['ADD_BODY']}\s+->\s+s = x \+ y", listed)
    assert "def add(x, y):" in listed

    assert f"({ln['FOR']})main()" in term.do("r")  # the caller's next line
    assert term.do("retval") == "0\n"  # what add(0, 0) returned
    # A breakpoint by line, hit by continue; the program's output comes as it runs.
    said = term.do(f"b {ln['PRINT']}")
    assert f"Breakpoint 1 at {program.path}:{ln['PRINT']}" in said
    assert f"1   breakpoint   keep yes   at {program.path}:{ln['PRINT']}" in term.do("b")
    assert f"> {program.path}({ln['PRINT']})main()" in term.do("c")
    assert term.do("p total") == "10\n"
    listed = term.do("l .")
    assert re.search(rf"{ln['PRINT']}\s+B->\s+print", listed)

    # An assignment changes the program; a multi-line statement runs as a block.
    assert term.do("total = 1000") == ""
    term.child.sendline("for k in range(3):")
    term.expect("... ")
    term.child.sendline("    print('k is', k * 10)")
    term.expect("... ")
    out = term.do("")
    assert "k is 0\nk is 10\nk is 20" in out
    term.do("cl")
    term.child.sendeof()  # Ctrl-D: detach, and the program runs on to its end
    assert "the program runs on" in _plain(term.child.read())
    program.assert_finishes_ok()
    assert "total 1000" in program.stdout and "done" in program.stdout


def test_condition_ignore_and_tbreak(launch, attach):
    program = launch(PROGRAM)
    program.wait_paused()
    ln = lines(program, "ADD_BODY", "PRINT")
    term = attach(program.pid)
    term.prompt()
    assert "Breakpoint 1" in term.do(f"b {ln['ADD_BODY']}")
    assert "New condition set for breakpoint 1." in term.do("condition 1 x >= 1")
    assert "Will ignore next 1 crossing of breakpoint 1." in term.do("ignore 1 1")
    listed = term.do("b")
    assert "stop only if x >= 1" in listed and "will ignore next 1 hits" in listed
    term.do("c")  # add(0, 0), add(0, 1): x < 1; add(1, 2) ignored; add(3, 3) stops
    assert term.do("p (x, y)") == "(3, 3)\n"
    assert "Breakpoint 1 is now unconditional." in term.do("condition 1")
    term.do("c")
    assert term.do("p (x, y)") == "(6, 4)\n"
    assert "Deleted breakpoint 1" in term.do(f"cl {program.path}:{ln['ADD_BODY']}")  # pdb's FILE:LINE
    assert "No breakpoints" in term.do("b")
    assert "Temporary breakpoint 2" in term.do(f"tbreak {ln['PRINT']}")
    assert f"({ln['PRINT']})main()" in term.do("c")
    assert "No breakpoints" in term.do("b")
    assert "*** there is no breakpoint 7" in term.do("condition 7 x")
    assert "*** " in term.do("ignore 1 many")
    term.child.sendline("c")
    assert "has exited" in _plain(term.child.read())
    program.assert_finishes_ok()


def test_display_and_commands(launch, attach):
    program = launch(PROGRAM)
    program.wait_paused()
    ln = lines(program, "ADD_BODY")
    term = attach(program.pid)
    term.prompt()
    # display: shown at a stop in its frame when the value changed, as pdb does.
    assert term.do("display total") == "display total: 0\n"
    for _ in range(4):  # FOR, LOOP (add(0, 0)), FOR, LOOP (add(0, 1)): total stays 0
        assert "display total" not in term.do("n")
    assert "display total: 1  [old: 0]" in term.do("n")
    assert term.do("display") == "Currently displaying:\ntotal: 1\n"
    term.do("undisplay")
    assert "display total" not in term.do("n") + term.do("n")  # total 3 now, not displayed
    # commands: run at the breakpoint's hits; silent hides the stop.
    term.do(f"b {ln['ADD_BODY']}")
    term.child.sendline("commands 1")
    for line in ["silent", "p ('seen', x)", "end"]:
        term.expect("(com) ")
        term.child.sendline(line)
    term.prompt()
    out = term.do("c")
    assert out == "('seen', 3)\n", out  # add(3, 3); silent: no location
    # A list ending in a command that moves on: it goes on at each hit, to the end.
    term.child.sendline("commands 1")
    for line in ["p ('again', x)", "c"]:
        term.expect("(com) ")
        term.child.sendline(line)
    term.prompt()
    listed = term.do("b")
    assert "\t\tp ('again', x)\n\t\tc" in listed
    term.child.sendline("c")
    out = _plain(term.child.read())  # the program's end ends the terminal
    assert "add()\n-> s = x + y" in out and "('again', 6)" in out and "total 10" in out, out
    assert "has exited" in out
    program.assert_finishes_ok()


def test_tab_completes_a_remote_attribute_and_commands(launch, attach):
    program = launch(PROGRAM)
    program.wait_paused()
    term = attach(program.pid)
    term.prompt()
    term.child.send("p box.payl\t")
    term.expect("oad_size")
    assert term.do("") == "3\n"
    term.child.send("cond\t")
    term.expect("ition")
    term.do("\x15")  # Ctrl-U clears the line; an empty line does nothing
    term.child.send("tot\t")  # a name of the frame as the first word
    term.expect("al")
    term.child.sendline(" + box.payload_size + 1")
    assert "\n4\n" in term.prompt()
    term.child.sendline("detach")
    assert term.ends() == 0


def test_ctrl_c_pauses_a_running_program_and_interrupts_an_eval(launch, attach):
    program = launch(RUNNING)
    program.wait_paused()
    spin = line_in(program.source, "# SPIN")
    term = attach(program.pid)
    term.prompt()
    term.child.sendline("c")
    program.wait_stdout("spinning")
    term.expect("spinning")  # the program's output, shown while it runs
    term.child.sendintr()
    out = term.prompt()
    assert "interrupted" in out and re.search(r"prog\.py\((\d+)\)<module>\(\)", out), out
    assert term.do("p count > 0") == "True\n"
    # Ctrl-C during a long evaluation interrupts it there; the program stays paused.
    import jupdb

    watcher = jupdb.connect(program.pid)
    term.child.sendline("p sum(1 for _ in iter(int, 1))")  # endless, in constant memory
    wait_until(lambda: any(t.get("busy") for t in watcher.status().get("paused_threads", [])), what="the eval to run")
    watcher.close()
    term.child.sendintr()
    out = term.prompt()
    assert "KeyboardInterrupt" in out, out
    assert term.do("p 6 * 7") == "42\n"
    assert f"({spin})" in term.do("w") or "<module>()" in term.do("w")
    # Again: continue, its output shown again, Ctrl-C.
    term.child.sendline("c")
    term.expect("spinning")
    term.child.sendintr()
    assert re.search(r"prog\.py\(\d+\)<module>\(\)", term.prompt())
    term.child.sendline("detach")
    assert term.ends() == 0
    import jupdb

    with jupdb.connect(program.pid) as session:
        assert not session.status()["paused_threads"]  # detach let it run on


def test_detach_leaves_it_running_and_quit_asks_then_ends_it(launch, attach):
    program = launch(RUNNING)
    program.wait_paused()
    term = attach(program.pid)
    term.prompt()
    term.child.sendline("detach")
    assert "the program runs on" in _plain(term.child.read())
    program.wait_stdout("spinning")  # running, with no client
    term = attach(program.pid)
    assert "the program is running" in term.prompt()
    term.expect("spinning")  # its output, shown above the prompt while the user may type
    term.child.sendintr()  # at the prompt, while it runs: pauses it
    term.expect(re.compile(r"prog\.py\(\d+\)<module>\(\)"))
    term.prompt()
    term.child.sendline("q")
    term.expect("End the program")
    term.child.sendline("n")
    assert "the program goes on" in term.prompt()
    assert program.proc.poll() is None
    term.child.sendline("q")
    term.expect("End the program")
    term.child.sendline("y")
    assert "has ended" in _plain(term.child.read())
    assert program.finish() != 0


def test_history_is_kept_private_and_read_back(launch, attach, tmp_path):
    program = launch(PROGRAM)
    program.wait_paused()
    term = attach(program.pid)
    term.prompt()
    term.do("p 'remembered' + '!'")
    term.child.sendline("detach")
    assert term.ends() == 0
    path = tmp_path / "state" / "jupdb" / "history"
    assert "p 'remembered' + '!'" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    program.assert_finishes_ok()  # detach let it run to its end
    program = launch(PROGRAM)
    program.wait_paused()
    term = attach(program.pid)
    term.prompt()
    term.child.send("\x1b[A\x1b[A")  # Up, Up: the last session's line before its detach
    term.child.send("\r")
    assert "remembered!" in term.prompt()
    term.child.sendline("detach")
    assert term.ends() == 0


def test_two_clients_see_each_others_steps(launch, attach):
    program = launch(PROGRAM)
    program.wait_paused()
    ln = lines(program, "FOR", "LOOP", "PRINT")
    session = program.connect()
    term = attach(program.pid)
    term.prompt()
    # The other client steps: the terminal shows the new stop without being asked.
    session.next()
    term.expect(f"({ln['FOR']})main()")
    term.prompt()  # drawn again below what was shown
    # The terminal steps: the other client sees the pause.
    term.do("n")
    stop = session.wait(timeout=TIMEOUT)
    assert stop.line == ln["LOOP"]
    session.add_breakpoint(program.path, ln["PRINT"])
    session.cont()
    term.expect("runs on")
    term.expect(re.compile(rf"\({ln['PRINT']}\)main\(\)\r\n-> print\("))
    term.prompt()
    assert term.do("p total") == "10\n"
    term.child.sendline("c")
    assert "has exited" in _plain(term.child.read())
    program.assert_finishes_ok()


def test_interact_bang_function_breakpoints_and_help(launch, attach):
    program = launch(PROGRAM)
    program.wait_paused()
    ln = lines(program, "ADD_BODY", "PRINT")
    term = attach(program.pid)
    term.prompt()
    term.child.sendline("interact")
    term.expect(">>> ")
    term.child.sendline("box.payload_size * 7")
    assert "21" in term.expect(">>> ")
    term.child.sendline("extra = 'set in interact'")
    term.expect(">>> ")
    term.child.sendline("def twice(v):")
    term.expect("... ")
    term.child.sendline("    return 2 * v")
    term.expect("... ")
    term.child.sendline("")
    term.expect(">>> ")
    term.child.sendline("twice(4)")
    assert "8" in term.expect(">>> ")
    term.child.sendeof()  # Ctrl-D: back to the debugger's prompt, still attached
    term.prompt()
    assert term.do("p extra") == "'set in interact'\n"
    assert f"> {program.path}({line_in(program.source, '# CALL_MAIN')})<module>()" in term.do("u")
    assert "*** NoSuchFrame: up: frame 1 is the oldest frame" in term.do("u")
    assert "main()\n-> jupdb.set_trace()" in term.do("d")
    assert term.do("pp {'key': list(range(3))}") == "{'key': [0, 1, 2]}\n"
    assert re.search(r"MainThread\s+paused", term.do("threads"))
    # `!` runs Python even where a command has the name; so does an assignment to one.
    assert term.do("!n = 3") == "" and term.do("p n") == "3\n"
    assert term.do("c = n + 1") == "" and term.do("p c") == "4\n"
    # b FUNCTION: the function's first line.
    assert f"Breakpoint 1 at {program.path}:{ln['ADD_BODY']}" in term.do("b add")
    assert "*** " in term.do("b no_such_function")
    assert "def add(x, y):" in term.do("source add")
    assert "continue [--no-wait]  (c, cont)" in term.do("help")
    assert "condition ID [CONDITION]" in term.do("help condition")
    assert "*** unknown command 'frobnicate'" in term.do("help frobnicate")
    assert "not yet returned" in term.do("retval")
    assert "not stopped in a post-mortem" in term.do("exceptions")
    assert "*** NameError: name 'nowhere' is not defined" in term.do("p nowhere")
    term.do("cl")
    term.child.sendline("c")
    assert "has exited" in _plain(term.child.read())
    program.assert_finishes_ok()
    assert "total 10" in program.stdout


def test_exceptions_of_a_post_mortem(launch, attach):
    program = launch(
        """
        def fail():
            try:
                {}["key"]
            except KeyError as exc:
                raise ValueError("the key was missing") from exc

        fail()
        """,
        command=[sys.executable, "-m", "jupdb", "run"],
    )
    program.wait_stderr("jupdb: post-mortem of ValueError")
    term = attach(program.pid)
    shown = term.prompt()
    assert "!! ValueError: the key was missing" in shown
    # As pdb 3.13: the chain oldest first, the examined one marked; a number examines one.
    assert term.do("exceptions") == "  0 KeyError: 'key'\n> 1 ValueError: the key was missing\n"
    assert re.search(r"\(\d+\)fail\(\)\n-> \{\}\[\"key\"\]", term.do("exceptions 0"))
    assert term.do("exceptions") == "> 0 KeyError: 'key'\n  1 ValueError: the key was missing\n"
    assert "*** " in term.do("exceptions 5")
    assert "*** " in term.do("n")  # a post-mortem cannot step: said, not raised
    term.child.sendline("c")
    assert "has exited" in _plain(term.child.read())
    assert program.finish() == 1


def test_changing_a_breakpoint_refuses_bad_input(launch):
    """``break_request`` with an ``id`` changes a breakpoint (``condition``,
    ``ignore``); what is wrong is an error reply, and the program stays paused."""
    import jupdb

    program = launch(PROGRAM)
    session = program.connect()
    ln = lines(program, "ADD_BODY")
    bid = session.add_breakpoint(program.path, ln["ADD_BODY"])
    for content, expected in [
        ({"id": 99, "ignore": 1}, "NoSuchBreakpoint"),
        ({"id": bid, "ignore": -1}, "InvalidRequest"),
        ({"id": bid, "ignore": "2"}, "InvalidRequest"),
        ({"id": bid, "condition": "x >"}, "SyntaxError"),
        ({"id": bid, "condition": 5}, "InvalidRequest"),
    ]:
        with pytest.raises(jupdb.RemoteError) as caught:
            session.request("break", content)
        assert caught.value.ename == expected, content
    (listed,) = session.breakpoints()
    assert (listed["condition"], listed["ignore"]) == (None, 0)
    assert session.set_condition(bid, "y == 4")["condition"] == "y == 4"
    assert session.ignore_breakpoint(bid, 0)["ignore"] == 0
    session.cont()
    stop = session.wait(timeout=TIMEOUT)
    assert stop.breakpoint == bid and session.eval("(x, y)").repr == "(6, 4)"
    session.clear_breakpoint()
    session.cont()
    program.assert_finishes_ok()


def test_attach_to_nothing_says_so(attach, runtime_dir):
    term = attach(999_999_999)
    out = _plain(term.child.read())
    assert "jupdb attach: no process 999999999 (it ended, or never was)" in out
    assert term.ends() == 1


def test_until_leaves_a_loop_and_jump_skips_a_line(launch, attach):
    program = launch(
        """
        import jupdb

        def main():
            total, skipped = 0, "yes"
            jupdb.set_trace()        # TRACE
            for i in range(3):       # FOR
                total += i           # BODY
            skipped = "no"           # SKIP
            print("total", total, "skipped", skipped)  # PRINT

        main()
        """
    )
    program.wait_paused()
    ln = lines(program, "FOR", "BODY", "SKIP", "PRINT")
    term = attach(program.pid)
    term.prompt()
    assert f"({ln['FOR']})main()" in term.do("n")
    assert f"({ln['BODY']})main()" in term.do("n")
    assert f"({ln['SKIP']})main()" in term.do("unt")  # past the loop's last line: out of it, as pdb's until
    assert term.do("p total") == "3\n"
    assert f"({ln['PRINT']})main()" in term.do(f"j {ln['PRINT']}")
    assert "*** " in term.do("j 1")  # not a line of main()
    term.child.sendline("c")
    assert "has exited" in _plain(term.child.read())
    program.assert_finishes_ok()
    assert "total 3 skipped yes" in program.stdout


PLAIN = """
import sys, time
count = 0
print("started", flush=True)
while count >= 0:            # LOOP
    count += 1
    time.sleep(0.001)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="attaching to a plain program is Linux only")
def test_attach_to_a_program_that_never_imported_jupdb(launch, attach):
    program = launch(PLAIN)
    program.wait_stdout("started")
    term = attach(program.pid)  # no session for this pid: jupdb.attach starts one in it
    assert "the program is running" in term.prompt()
    term.child.sendintr()  # Ctrl-C pauses it
    term.expect(re.compile(r"prog\.py\(\d+\)<module>\(\)"))
    term.prompt()
    assert int(term.do("p count")) > 0
    assert term.do("count = -10") == ""  # ends its loop once it runs on
    term.child.sendline("detach")
    assert term.ends() == 0
    assert program.finish() == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="attaching to a plain program is Linux only")
def test_attach_pid_at_the_prompt_leaves_one_program_for_another(launch, attach):
    first = launch(PROGRAM)
    first.wait_paused()
    plain = launch(PLAIN, name="plain", env={"PYTHONPATH": ""})  # it cannot import jupdb by itself
    plain.wait_stdout("started")
    term = attach(first.pid)
    term.prompt()
    assert "usage: attach PID" in term.do("attach plain.py")
    assert "*** no process 999999999" in term.do("attach 999999999")
    assert "debug the running program PID" in term.do("help attach")

    term.child.send("atta\t")  # Tab completes the word, as any command's
    term.expect("ch")
    said = term.do(f" {plain.pid}")
    assert f"jupdb: detached from pid {first.pid}; the program runs on" in said  # as detach leaves it
    assert f"jupdb: attached to pid {plain.pid} (" in said and "the program is running" in said
    first.assert_finishes_ok()
    assert first.stdout_lines() == ["total 10", "done"]

    assert re.search(r"plain\.py\(\d+\)<module>\(\)", term.do("pause"))
    assert int(term.do("p count")) > 0
    assert term.do("count = -10") == ""  # ends its loop once it runs on
    term.child.sendline("detach")
    assert term.ends() == 0
    assert plain.finish() == 0
