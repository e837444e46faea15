"""Session.run_cell, end to end: a notebook cell run in a paused frame of a real
subprocess, its events (stream, display_data, execute_result) streamed back to
the client while it runs, figures as PNG, errors, interrupts, input()."""

from __future__ import annotations

import base64
import os
import signal
import sys
import threading
from typing import Any, Dict, List, Tuple

import pytest

import jupdb
from remote_helpers import TIMEOUT, launch, runtime_dir  # noqa: F401

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PROGRAM = """
import jupdb

limit = 2

def work():
    a = 10
    data = [1, 2, 3]
    jupdb.set_trace()                          # PAUSE
    print("a", a, "b", locals().get("b"), "data", data, flush=True)

work()
"""


class Events:
    """Collects a cell's events in order; ``when`` maps a stream's text to an action."""

    def __init__(self) -> None:
        self.got: List[Tuple[str, Dict[str, Any]]] = []
        self.when: Dict[str, Any] = {}

    def __call__(self, msg_type: str, content: Dict[str, Any]) -> None:
        self.got.append((msg_type, content))
        if msg_type == "stream" and content["text"] in self.when:
            self.when[content["text"]]()

    def kinds(self) -> List[Tuple[str, Any]]:
        """Each event as (type, what it says): the text of a stream, the text/plain of the rest.
        Adjacent writes to one stream are one, as a notebook shows them: how the program's
        writes are cut into events depends on when its sender thread runs."""
        shown: List[Tuple[str, Any]] = []
        for i, (kind, c) in enumerate(self.got):
            previous = self.got[i - 1][1] if i else None
            if kind == "stream" and shown and shown[-1][0] == "stream" and previous["name"] == c["name"]:
                shown[-1] = ("stream", shown[-1][1] + c["text"])
            else:
                shown.append((kind, c["text"] if kind == "stream" else c["data"].get("text/plain")))
        return shown

    def text(self) -> str:
        return "".join(c["text"] for kind, c in self.got if kind == "stream")


def run(session: jupdb.Session, code: str, **options: Any) -> Events:
    events = Events()
    session.run_cell(code, on_event=events, timeout=TIMEOUT, **options)
    return events


def test_statements_write_through_and_the_last_value_is_the_result(launch):
    program = launch(PROGRAM)
    session = program.connect()
    events = run(session, "a = a + 32\nb = [x * a for x in data if x <= limit]\nlen(b) + 100")
    assert events.kinds() == [("execute_result", "102")]
    assert events.got[0][1]["metadata"] == {}
    # A generator expression and a lambda see the frame's locals (with separate
    # locals, as exec(code, globals, locals) has them, they would not).
    events = run(session, "total = sum(x for x in data if x > a - 42)\nf = lambda: total * a\nf()")
    assert events.kinds() == [("execute_result", str(6 * 42))]
    assert run(session, "None").kinds() == []  # None is no result, as in IPython
    assert run(session, "a;").kinds() == []  # nor a value the cell hides with ';'
    assert run(session, "a;  # hidden").kinds() == []
    assert run(session, "a  # shown").kinds() == [("execute_result", "42")]
    assert "display" not in session.locals()  # the cell's display() is not left in the frame
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["a 42 b [42, 84] data [1, 2, 3]"]


def test_display_and_prints_come_in_the_order_the_cell_made_them(launch):
    program = launch(PROGRAM)
    session = program.connect()
    events = run(
        session,
        """
import sys
print("one")
display(a, {"k": 1})
print("to stderr", file=sys.stderr)
print("two", end="")
print(" still two")
display(data)
[a, a]
""",
    )
    assert events.kinds() == [
        ("stream", "one\n"),
        ("display_data", "10"),
        ("display_data", "{'k': 1}"),
        ("stream", "to stderr\n"),
        ("stream", "two still two\n"),
        ("display_data", "[1, 2, 3]"),
        ("execute_result", "[10, 10]"),
    ]
    assert [c.get("name") for _, c in events.got] == ["stdout", None, None, "stderr", "stdout", None, None]
    assert all(c["cell"] == events.got[0][1]["cell"] for _, c in events.got)
    # Rich output: the object's own MIME types, and raw bundles.
    events = run(
        session,
        """
class Shown:
    def _repr_html_(self):
        return "<b>shown</b>"
    def _repr_json_(self):
        return {"shown": [1, 2]}
    def __repr__(self):
        return "Shown()"
display({"text/markdown": "**md**", "text/plain": "md"}, raw=True)
display({"image/png": b"png", "text/plain": "odd", "text/html": b"<b>", "image/gif": 5, 7: "x"}, raw=True)
Shown()
""",
    )
    assert [c["data"] for _, c in events.got] == [
        {"text/markdown": "**md**", "text/plain": "md"},
        {"image/png": b"png", "text/plain": "odd"},  # bytes only for binary types; no number, no non-str key
        {"text/html": "<b>shown</b>", "application/json": {"shown": [1, 2]}, "text/plain": "Shown()"},
    ]
    session.cont()
    program.assert_finishes_ok()
    # The cell's output went to the client, not to the program's stdout.
    assert program.stdout_lines() == ["a 10 b None data [1, 2, 3]"]


def test_output_is_streamed_while_the_cell_runs(launch, tmp_path):
    """The cell prints, then waits for a file that the client makes only once it
    has seen that print: it ends only if the print arrived while it ran."""
    program = launch(PROGRAM)
    session = program.connect()
    go = tmp_path / "go"
    events = Events()
    events.when["waiting\n"] = go.touch
    code = f"""
import os, time
print("waiting")
deadline = time.monotonic() + {TIMEOUT}
while not os.path.exists({str(go)!r}):
    if time.monotonic() > deadline:
        raise TimeoutError("the client never saw the print")
    time.sleep(0.01)
print("released")
"""
    session.run_cell(code, on_event=events, timeout=TIMEOUT * 2)
    assert events.text() == "waiting\nreleased\n"
    session.cont()
    program.assert_finishes_ok()


def test_a_print_loop_is_sent_in_a_few_batches(launch):
    program = launch(PROGRAM)
    session = program.connect()
    events = run(session, "for i in range(20000):\n    print(i)")
    assert events.text() == "".join(f"{i}\n" for i in range(20000))
    assert len(events.got) < 200
    session.cont()
    program.assert_finishes_ok()


def test_a_huge_write_arrives_whole_up_to_the_cells_limit(launch):
    from jupdb.remote.cell import CELL_OUTPUT_LIMIT

    program = launch(PROGRAM)
    session = program.connect()
    events = run(session, f"import sys\nsys.stdout.write('y' * {CELL_OUTPUT_LIMIT + 1000});")
    streams = [c for kind, c in events.got if kind == "stream"]
    assert "".join(c["text"] for c in streams if c["name"] == "stdout") == "y" * CELL_OUTPUT_LIMIT
    assert streams[-1] == {
        "cell": streams[0]["cell"],
        "name": "stderr",
        "text": "\n[jupdb: output cut: 1000 more characters]\n",
    }
    assert run(session, "a").kinds() == [("execute_result", "10")]
    session.cont()
    program.assert_finishes_ok()


def test_an_exception_is_a_remote_error_with_the_cells_lines(launch):
    program = launch(PROGRAM)
    session = program.connect()
    events = Events()
    with pytest.raises(jupdb.RemoteError) as info:
        session.run_cell("print('before')\nc = 5\nfirst = 1 / (a - 10)  # boom\nnever = 1", on_event=events)
    assert (info.value.ename, info.value.evalue) == ("ZeroDivisionError", "division by zero")
    tb = info.value.remote_traceback
    assert "line 3, in <module>\n    first = 1 / (a - 10)  # boom" in tb
    assert "jupdb" not in tb.replace("<jupdb-cell-", "")  # no frame of the debugger's
    assert events.text() == "before\n"
    # Still paused and serving; what ran before the error stays done, as in IPython.
    assert session.eval("a + c").repr == "15"
    assert "never" not in session.locals()
    # A function of the cell that fails later shows the cell's line too.
    run(session, "def g():\n    return missing_name")
    with pytest.raises(jupdb.RemoteError) as info:
        session.run_cell("g()", on_event=Events())
    assert info.value.ename == "NameError" and "return missing_name" in info.value.remote_traceback
    with pytest.raises(jupdb.RemoteError) as info:
        session.run_cell("x = (1,\nprint(x)", on_event=Events())
    assert info.value.ename == "SyntaxError" and "<jupdb-cell-" in info.value.remote_traceback
    for ending in ("raise SystemExit(3)", "raise KeyboardInterrupt", "import sys; sys.exit()"):
        with pytest.raises(jupdb.RemoteError) as info:
            session.run_cell(ending, on_event=Events())
        assert info.value.ename in ("SystemExit", "KeyboardInterrupt")
    assert run(session, "a").kinds() == [("execute_result", "10")]
    session.cont()
    program.assert_finishes_ok()


def test_input_fails_at_once_with_a_clear_error(launch):
    program = launch(PROGRAM)
    session = program.connect()
    for code in ("input('name? ')", "import sys; sys.stdin.readline()", "import sys; sys.stdin.read()"):
        with pytest.raises(jupdb.RemoteError) as info:
            session.run_cell(code, on_event=Events())
        assert info.value.ename == "StdinNotAvailable"
        assert "input() is not available in a jupdb cell" in info.value.evalue
        assert 'File "<jupdb-cell-' in info.value.remote_traceback
    # The cell's streams and stdin are put back afterwards.
    assert session.eval("type(__import__('sys').stdin).__name__").repr != "'_CellStdin'"
    session.cont()
    program.assert_finishes_ok()


def test_other_threads_print_and_read_stdin_as_before(launch):
    program = launch("""
        import sys, threading
        import jupdb

        go, done = threading.Event(), threading.Event()
        read = []

        def chatter():
            go.wait()
            print("from the other thread", flush=True)
            read.append(sys.stdin.read())      # the program's stdin (empty): no StdinNotAvailable here
            done.set()

        threading.Thread(target=chatter, daemon=True).start()

        def work():
            jupdb.set_trace()                  # PAUSE

        work()
    """)
    session = program.connect()
    events = run(session, f"go.set()\ndone.wait({TIMEOUT})\nprint('cell')\nread")
    assert events.kinds() == [("stream", "cell\n"), ("execute_result", "['']")]
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["from the other thread"]


def test_ctrl_c_interrupts_the_cell_and_the_program_stays_paused(launch, capsys):
    """A kernel's interrupt is SIGINT to the kernel process: here, this one."""
    program = launch(PROGRAM)
    session = program.connect()
    events = Events()
    events.when["spinning\n"] = lambda: os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        session.run_cell("print('spinning')\ni = 0\nwhile True:\n    i += 1", on_event=events)
    assert capsys.readouterr().err == ""  # the event where Ctrl-C came was counted: none missing
    assert int(session.eval("i").repr) > 0  # it ran, and was written back when interrupted
    assert session.status()["state"] == "paused"
    assert run(session, "a").kinds() == [("execute_result", "10")]
    session.cont()
    program.assert_finishes_ok()


def test_an_interrupt_from_another_client_is_a_remote_error(launch):
    program = launch(PROGRAM)
    session = program.connect()
    other = program.connect()
    events = Events()
    events.when["spinning\n"] = lambda: threading.Thread(target=other.interrupt).start()
    with pytest.raises(jupdb.RemoteError) as info:
        session.run_cell("print('spinning')\nwhile True:\n    pass", on_event=events)
    assert info.value.ename == "KeyboardInterrupt"
    assert "while True" in info.value.remote_traceback
    session.cont()
    program.assert_finishes_ok()


def test_events_that_are_not_the_cells_are_kept_for_wait(launch):
    """A thread the cell starts pauses while the cell runs: its ``paused`` event,
    read by run_cell, is still there for wait()."""
    program = launch(PROGRAM)
    session = program.connect()
    code = f"""
import threading, time
from jupdb.remote.debuggee import DebugServer
threading.Thread(target=jupdb.set_trace, name="second").start()
deadline = time.monotonic() + {TIMEOUT}
while len(DebugServer.running().paused) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
print("second paused")
"""
    assert run(session, f"import jupdb\n{code}").text() == "second paused\n"
    stop = session.wait(timeout=TIMEOUT)  # a TimeoutError had run_cell lost the event
    [second] = [t for t in session.threads() if t.name == "second"]
    assert second.paused and stop.thread == second.id
    session.select_thread(stop.thread)
    session.cont()
    session.select_thread(None)
    session.cont()
    program.assert_finishes_ok()


def test_a_cell_at_module_level_runs_in_the_modules_globals(launch):
    program = launch("""
        import jupdb
        counter = 1
        jupdb.set_trace()                      # PAUSE
        print("counter", counter, "twice", twice(21), flush=True)
    """)
    session = program.connect()
    run(session, "factor = 2\ndef twice(x):\n    return x * factor\ncounter += 1")
    assert "display" not in session.eval("list(globals())").repr
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["counter 2 twice 42"]


def test_a_stream_the_cell_keeps_writes_to_the_program_once_the_cell_ended(launch):
    program = launch("""
        import sys
        import jupdb
        jupdb.set_trace()                      # PAUSE
        kept.write("written later\\n")
        kept.flush()
        sys.stdout.write("stdout is the program's again\\n")
    """)
    session = program.connect()
    run(session, "import sys\nkept = sys.stdout")
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["written later", "stdout is the program's again"]


def test_global_declared_in_a_cell_sets_the_global(launch):
    program = launch(PROGRAM)
    session = program.connect()
    run(session, "global limit\nlimit = 7\nb = limit")
    assert session.eval("limit").repr == "7"
    assert "limit" not in session.locals()
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["a 10 b 7 data [1, 2, 3]"]


def test_a_dataframe_comes_back_as_an_html_table(launch):
    program = launch("""
        import jupdb
        import pandas as pd

        def work():
            df = pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "c"]})
            jupdb.set_trace()                  # PAUSE

        work()
    """)
    session = program.connect()
    events = run(session, "df")
    [(kind, content)] = events.got
    assert kind == "execute_result"
    assert "<table" in content["data"]["text/html"] and "label" in content["data"]["text/html"]
    assert "label" in content["data"]["text/plain"]
    session.cont()
    program.assert_finishes_ok()


FIGURES = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import jupdb

def work():
    own = plt.figure()
    plt.plot([1, 2, 3])
    own.canvas.draw()                          # drawn: not stale any more
    jupdb.set_trace()                          # PAUSE
    print("figures", plt.get_fignums(), "backend", plt.get_backend(), "lines", len(own.axes[0].lines), flush=True)

work()
"""


def pngs(events: Events) -> List[bytes]:
    return [c["data"]["image/png"] for kind, c in events.got if "image/png" in c.get("data", {})]


def test_figures_come_back_as_png_and_the_programs_own_are_untouched(launch):
    program = launch(FIGURES)
    session = program.connect()
    events = run(
        session,
        """
fig, ax = plt.subplots()
ax.plot([3, 1, 2])
print("before show")
plt.show()
print("after show")
plt.figure()
plt.plot([0, 1])
print("end")
""",
    )
    kinds = events.kinds()
    assert kinds == [
        ("stream", "before show\n"),
        ("display_data", "<Figure size 640x480 with 1 Axes>"),
        ("stream", "after show\nend\n"),
        ("display_data", "<Figure size 640x480 with 1 Axes>"),
    ]
    assert all(png.startswith(PNG_SIGNATURE) for png in pngs(events)) and len(pngs(events)) == 2
    assert isinstance(pngs(events)[0], bytes)
    # The cell's figures were closed; the program's own is there, unchanged.
    assert session.eval("plt.get_fignums()").repr == "[1]"
    # A figure as the cell's value is its PNG (once, not again at the end).
    events = run(session, "f = plt.figure(figsize=(2, 2))\nf.add_subplot().plot([1])\nf")
    assert [k for k, _ in events.got] == ["execute_result"] and pngs(events)[0].startswith(PNG_SIGNATURE)
    # Drawing on the program's figure shows it, and leaves it open.
    events = run(session, "own.axes[0].set_title('seen')\nNone")
    assert len(pngs(events)) == 1
    assert run(session, "len(plt.get_fignums())").kinds() == [("execute_result", "1")]
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["figures [1] backend Agg lines 1"]


def test_figures_of_a_cell_that_imports_pyplot_itself(launch):
    program = launch(PROGRAM)
    session = program.connect()
    assert session.eval("'matplotlib' in __import__('sys').modules").repr == "False"
    events = run(
        session,
        "import matplotlib.pyplot as plt\nplt.plot(data)\nplt.show()\nprint('after')\nplt.plot([1])\nNone",
    )
    assert [k for k, _ in events.got] == ["display_data", "stream", "display_data"]
    assert all(png.startswith(PNG_SIGNATURE) for png in pngs(events))
    assert session.eval("plt.get_fignums()").repr == "[]"
    assert session.eval("plt.show.__module__").repr == "'matplotlib.pyplot'"  # show() put back
    session.cont()
    program.assert_finishes_ok()


def test_bad_run_cell_requests_get_errors(launch):
    program = launch(PROGRAM)
    session = program.connect()
    for content in ({}, {"code": 1, "cell": "x"}, {"code": "a", "cell": None}, {"code": "a", "cell": "x", "frame": 9}):
        with pytest.raises(jupdb.RemoteError) as info:
            session.request("run_cell", content)
        assert info.value.ename in ("InvalidRequest", "NoSuchFrame"), content
    assert run(session, "a").kinds() == [("execute_result", "10")]
    session.cont()
    program.assert_finishes_ok()


def test_without_on_event_the_output_is_printed_or_shown_by_ipython(launch, capsys):
    program = launch(FIGURES)
    session = program.connect()
    session.run_cell("print('hi')\n6 * 7")
    assert capsys.readouterr().out == "hi\n42\n"

    # In an IPython shell (a kernel's, say), rich output goes through its display publisher,
    # binary data base64-encoded as Jupyter carries it.
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    published = []

    class Recording(DisplayPublisher):
        def publish(self, data, metadata=None, **kwargs):
            published.append((data, metadata))

    shell = InteractiveShell.instance()
    try:
        shell.display_pub = Recording(shell=shell)
        session.run_cell("print('text')\nf = plt.figure(figsize=(1, 1))\nf")
    finally:
        InteractiveShell.clear_instance()
    assert capsys.readouterr().out == "text\n"
    [(data, metadata)] = published
    assert base64.b64decode(data["image/png"]).startswith(PNG_SIGNATURE)
    assert data["text/plain"] == "<Figure size 100x100 with 0 Axes>" and metadata == {}
    session.cont()
    program.assert_finishes_ok()


def test_in_a_real_kernel_the_cells_output_is_the_kernel_cells_and_interrupt_stops_it(launch):
    """Session.run_cell in an ipykernel: the outputs are the executing cell's
    (stream, PNG, the value), and the kernel's interrupt stops the remote cell."""
    from jupyter_client.manager import KernelManager

    program = launch(FIGURES)
    program.wait_paused()
    python_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python")
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=dict(os.environ, PYTHONPATH=python_dir))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=TIMEOUT)
        outputs: List[Dict[str, Any]] = []
        code = (
            f"import jupdb\ns = jupdb.connect({program.pid})\n"
            "s.run_cell('print(1)\\nf = plt.figure(figsize=(1, 1))\\n6 * 7')"
        )
        reply = client.execute_interactive(code, timeout=TIMEOUT, output_hook=outputs.append)
        assert reply["content"]["status"] == "ok", reply["content"]
        shown = [(m["msg_type"], m["content"]) for m in outputs if m["msg_type"] in ("stream", "display_data")]
        assert [kind for kind, _ in shown] == ["stream", "display_data", "display_data"]
        assert shown[0][1]["text"] == "1\n"
        assert shown[1][1]["data"]["text/plain"] == "42"
        assert base64.b64decode(shown[2][1]["data"]["image/png"]).startswith(PNG_SIGNATURE)

        # It fails (interrupted): stop_on_error=False, or the kernel aborts the cell sent next.
        msg_id = client.execute("s.run_cell('print(\"spinning\")\\nwhile True:\\n    pass')", stop_on_error=False)
        while True:
            message = client.get_iopub_msg(timeout=TIMEOUT)
            if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "stream":
                assert message["content"]["text"] == "spinning\n"
                break
        manager.interrupt_kernel()
        while True:
            reply = client.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert (reply["content"]["status"], reply["content"]["ename"]) == ("error", "KeyboardInterrupt")
        reply = client.execute_interactive("assert s.eval('6 * 7').repr == '42'\ns.cont()", timeout=TIMEOUT)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    program.assert_finishes_ok()


def test_del_of_a_functions_local_keeps_it_and_says_so(launch):
    """``del`` in a cell: a name the cells added goes (but on 3.13, whose proxy
    removes none); a local of the running function cannot be unbound (CPython
    3.11+ has no way to), so it keeps its value and the cell says so; 3.10
    unbinds it. Before, on 3.11 and 3.12 CPython set it to
    None behind the program's back (a RuntimeWarning on its stderr only),
    while the protocol said the deletion was written through."""
    program = launch(PROGRAM)
    session = program.connect()
    run(session, "b = 5")
    events = run(session, "del b\ndel data")
    if sys.version_info >= (3, 13):  # its proxy removes no name of a running function, an added one neither
        assert session.eval("b").repr == "5"
    else:
        assert "b" not in session.locals()
    if sys.version_info >= (3, 11):
        assert "data" in events.text() and "cannot unbind" in events.text()
        assert session.eval("data").repr == "[1, 2, 3]"
    else:  # 3.10 can unbind it: the deletion is written through
        assert "data" not in session.locals() and "cannot unbind" not in events.text()
        run(session, "data = 'again'")  # the program reads it next
    session.cont()
    program.assert_finishes_ok()
    assert "assigning None" not in program.stderr
    shown = "[1, 2, 3]" if sys.version_info >= (3, 11) else "again"
    b = 5 if sys.version_info >= (3, 13) else None
    assert program.stdout_lines() == [f"a 10 b {b} data {shown}"]
