"""How the client's objects read, against real debuggees: the reprs and the
notebook HTML of FrameInfo, Stack, ThreadInfo, SessionInfo, Session, Source
and RemoteError (escaped, the selected frame and the current line marked); a
remote traceback that holds the user's frames only; IPython showing it instead
of the client's frames; ``dir(jupdb)`` and ``help(jupdb)`` listing the remote API."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from html.parser import HTMLParser
from typing import List, Tuple

import pytest
from IPython.lib.pretty import pretty
from remote_helpers import TIMEOUT, launch, line_in, runtime_dir, wait_until  # noqa: F401

import jupdb

PROGRAM = """
import os
import threading
import time
import jupdb


def wait_for(path):
    '''Returns once ``path`` exists (the test creates it), or after a minute.'''
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "released"


def divide(x):
    return 1 / x                                             # DIVIDE


def inner(flag):
    label = "<b>bold</b>"
    jupdb.set_trace()  # PAUSE <script>alert('x')</script>
    size = len(label)                                        # NEXT
    return size


def outer():
    return inner(True)                                       # OUTER


worker = threading.Thread(target=wait_for, args=("worker.flag",), name="worker <w>", daemon=True)
worker.start()
print("result", outer(), flush=True)
wait_for("done.flag")                                        # RUNNING
"""

#: The jupdb package's folder: no remote traceback may show a frame of it.
JUPDB_DIR = os.path.dirname(jupdb.__file__) + os.sep


class Rows(HTMLParser):
    """The table rows of an HTML fragment: each row's style and its cells' text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: List[Tuple[str, List[str]]] = []
        self._cell: List[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append((dict(attrs).get("style") or "", []))
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def highlighted(rows: List[Tuple[str, List[str]]]) -> List[List[str]]:
    return [cells for style, cells in rows if "background" in style]


def assert_escaped(page: str) -> None:
    assert "<script>" not in page and "<b>bold" not in page, page
    assert "&lt;script&gt;" in page or "&lt;b&gt;bold" in page, page


def test_frames_and_stacks_read_well(launch):
    program = launch(PROGRAM)
    session = program.connect()
    path, lines = program.path, {m: line_in(program.source, f"# {m}") for m in ("PAUSE", "NEXT", "OUTER")}

    frame = session.where()[0]
    assert repr(frame) == f"<FrameInfo #0 {path}:{lines['PAUSE']} in inner(): {frame.code}>"
    assert frame.code == "jupdb.set_trace()  # PAUSE <script>alert('x')</script>" and frame.reason is None
    session.watch("label")
    stop = session.next()
    assert repr(stop) == f"<FrameInfo #0 {path}:{lines['NEXT']} in inner(): {stop.code}; paused after a step>"
    assert stop.code.startswith("size = len(label)") and stop.code.endswith("# NEXT")
    assert str(stop).splitlines() == [f"{path}:{lines['NEXT']} in inner()", "-> " + stop.code]  # pdb's, as before
    page = stop._repr_html_()
    assert f"{os.path.basename(path)}:{lines['NEXT']} in <b>inner()</b>" in page and "paused after a step" in page
    assert "-&gt; size = len(label)" in page
    assert highlighted(Rows(page).rows) == []  # the watches' table marks nothing
    assert Rows(page).rows[1][1] == ["label", "'<b>bold</b>'"]
    assert_escaped(page)
    session.unwatch("label")

    up = session.up()
    assert repr(up).startswith(f"<FrameInfo #1 {path}:{lines['OUTER']} in outer(): return inner(True)")
    stack = session.where()
    shown = repr(stack).splitlines()
    assert (
        shown[0] == f"  #0 {path}:{lines['NEXT']} in inner()" and shown[2] == f"> #1 {path}:{lines['OUTER']} in outer()"
    )
    page = stack._repr_html_()
    rows = Rows(page).rows
    assert rows[0][1] == ["", "#", "where", "code"]
    assert [cells[1] for _, cells in rows[1:]] == ["0", "1", "2"]
    assert highlighted(rows) == [["▶", "1", f"{path}:{lines['OUTER']} in outer()", stack[1].code]]
    assert [cells[0] for _, cells in rows[1:]] == ["", "▶", ""]
    assert "&lt;b&gt;" not in page and "<script>" not in page
    assert pretty(stack) == repr(stack)  # IPython's plain text

    session.cont()
    open(os.path.join(os.path.dirname(path), "done.flag"), "w").close()
    program.assert_finishes_ok()


def test_a_breakpoints_stop_and_a_post_mortem_say_why(launch):
    program = launch("""
        import jupdb

        def divide(x):
            return 1 / x                     # DIVIDE

        jupdb.set_trace()
        divide(2)
        try:
            divide(0)
        except ZeroDivisionError as exc:
            jupdb.post_mortem(exc)
    """)
    session = program.connect()
    number = session.add_breakpoint(program.path, line_in(program.source, "# DIVIDE"))
    session.cont()
    stop = session.wait()
    assert repr(stop).endswith(f"return 1 / x                     # DIVIDE; paused by a breakpoint ({number})>")
    assert f"paused by a breakpoint ({number})" in stop._repr_html_()
    session.clear_breakpoint(number)
    session.cont()
    stop = session.wait()
    assert repr(stop).endswith("; post-mortem of ZeroDivisionError: division by zero>")
    session.cont()
    program.assert_finishes_ok()


def test_source_is_a_str_that_shows_the_current_line_in_a_notebook(launch):
    program = launch(PROGRAM)
    session = program.connect()
    pause = line_in(program.source, "# PAUSE")

    source = session.source(2)
    assert isinstance(source, str) and isinstance(source, jupdb.Source)
    assert source.splitlines()[2] == f"{pause:4d} ->     jupdb.set_trace()  # PAUSE <script>alert('x')</script>"
    assert source.splitlines()[1].startswith(f"{pause - 1:4d}    ")  # the same text as before
    assert (source.file, source.first_line, source.current_line) == (program.path, pause - 2, pause)
    assert source.lines == program.source.splitlines()[pause - 3 : pause + 2]
    page = source._repr_html_()
    rows = Rows(page).rows
    assert [cells[0] for _, cells in rows] == [str(n) for n in range(pause - 2, pause + 3)]
    assert highlighted(rows) == [[str(pause), "→", "    jupdb.set_trace()  # PAUSE <script>alert('x')</script>"]]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page and "<script>" not in page
    assert pretty(source) == str(source)  # a listing in IPython's terminal, not a quoted str
    assert pickle.loads(pickle.dumps(source)).current_line == pause

    whole = session.source(whole=True)
    assert isinstance(whole, jupdb.Source) and whole.first_line == line_in(program.source, "def inner(flag):")
    session.cont()
    open(os.path.join(os.path.dirname(program.path), "done.flag"), "w").close()
    program.assert_finishes_ok()


def test_threads_sessions_and_the_session_say_where_the_program_is(launch):
    program = launch(PROGRAM, args=("<script>",))
    session = program.connect()
    other = jupdb.connect(program.pid, timeout=TIMEOUT)
    folder, name = os.path.dirname(program.path), os.path.basename(program.path)
    where = f"{name}:{line_in(program.source, '# PAUSE')} in inner()"
    command = "python prog.py '<script>'"
    try:
        threads = {t.name: t for t in session.threads()}
        main, worker = threads["MainThread"], threads["worker <w>"]
        assert repr(main) == f"<ThreadInfo {main.id} 'MainThread': paused at {where}>"
        assert repr(worker) == f"<ThreadInfo {worker.id} 'worker <w>': running>"
        assert "worker &lt;w&gt;" in worker._repr_html_() and "-&gt; jupdb.set_trace()" in main._repr_html_()

        [found] = jupdb.sessions()
        assert repr(found) == f"<SessionInfo pid {program.pid} {command!r}: paused at {where}>"
        assert "&lt;script&gt;" in found._repr_html_() and "<script>" not in found._repr_html_()

        reads(session, f"<jupdb.Session pid {program.pid} {command!r}: paused at {where}>")
        page = wait_until(lambda: f"paused at {where}" in session._repr_html_() and session._repr_html_())
        assert f"paused at {where}" in page and "-&gt; jupdb.set_trace()  # PAUSE &lt;script&gt;" in page
        assert "<script>" not in page
        bundle = session._repr_mimebundle_()
        assert set(bundle) == {"text/plain", "text/html"} and bundle["text/plain"].startswith("<jupdb.Session pid")

        # busy with another client's request
        released = []
        waiting = threading.Thread(target=lambda: released.append(session.eval("wait_for('eval.flag')")))
        waiting.start()
        busy = f"<jupdb.Session pid {program.pid} {command!r}: paused at {where}, busy with eval_request for "
        wait_until(lambda: repr(other).startswith(busy), what="the session to say it is busy")
        open(os.path.join(folder, "eval.flag"), "w").close()
        waiting.join(TIMEOUT)
        assert released == ["released"]
        reads(other, f"<jupdb.Session pid {program.pid} {command!r}: paused at {where}>")

        # a program that does not answer (stopped): the repr says so, and soon
        os.kill(program.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert repr(other).endswith(": not answering (busy, or stopped)>")
            assert time.monotonic() - started < TIMEOUT / 3  # not the session's 30 s timeout
        finally:
            os.kill(program.pid, signal.SIGCONT)
        reads(other, f"<jupdb.Session pid {program.pid} {command!r}: paused at {where}>")

        session.cont()
        reads(other, f"<jupdb.Session pid {program.pid} {command!r}: running>")
        assert [t for t in other.threads() if t.name == "MainThread"][0].paused is False
        open(os.path.join(folder, "done.flag"), "w").close()
        program.assert_finishes_ok()
        assert repr(other) == f"<jupdb.Session pid {program.pid} {command!r}: ended>"
        other.close()
        assert repr(other) == f"<jupdb.Session pid {program.pid} {command!r}: closed>"
    finally:
        other.close()


def reads(session: jupdb.Session, expected: str) -> None:
    """Wait until the session's repr is ``expected``: on a busy machine one repr may
    say "not answering", as a repr waits a second at most."""
    wait_until(lambda: repr(session) == expected, what=f"the session's repr to be {expected!r}")


def test_a_remote_error_reads_well_and_shows_the_users_frames_only(launch):
    program = launch(PROGRAM)
    session = program.connect()
    path = program.path

    with pytest.raises(jupdb.RemoteError) as info:
        session.eval("divide(0)")
    err = info.value
    assert repr(err) == "RemoteError('ZeroDivisionError: division by zero')"
    assert str(err).startswith("ZeroDivisionError: division by zero\n\nRemote traceback:\nTraceback")
    shown = err._render_traceback_()
    assert shown == err.remote_traceback.rstrip("\n").split("\n")
    assert shown[:3] == [
        "Traceback (most recent call last):",
        '  File "<remote>", line 1, in <module>',
        f'  File "{path}", line {line_in(program.source, "# DIVIDE")}, in divide',
    ]
    assert shown[-1] == "ZeroDivisionError: division by zero"
    assert JUPDB_DIR not in err.remote_traceback
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.ename, copy.evalue, copy.remote_traceback) == (err.ename, err.evalue, err.remote_traceback)

    # chained exceptions: each traceback without jupdb's frames
    with pytest.raises(jupdb.RemoteError) as info:
        session.exec("try:\n    divide(0)\nexcept ZeroDivisionError as e:\n    raise ValueError('<b>bad</b>') from e")
    chained = info.value.remote_traceback
    assert "in divide" in chained and "direct cause" in chained and chained.rstrip().endswith("ValueError: <b>bad</b>")
    assert JUPDB_DIR not in chained and chained.count('File "<remote>"') == 2
    page = info.value._repr_html_()
    assert "ValueError: &lt;b&gt;bad&lt;/b&gt;" in page and "<b>bad" not in page

    # the client's code calls into jupdb, which raises: jupdb's frames are left out there too
    with pytest.raises(jupdb.RemoteError) as info:
        session.eval("__import__('jupdb.remote.summary').remote.summary.summarize(1, repr_limit=-1)")
    lines = info.value._render_traceback_()
    assert lines == [
        "Traceback (most recent call last):",
        '  File "<remote>", line 1, in <module>',
        "TypeError: repr_limit must be a non-negative int, not -1",
    ]
    # one without a remote traceback (a request the debuggee refused) shows its message
    assert jupdb.RemoteError("KeyError", "'k'")._render_traceback_() == ["KeyError: 'k'"]

    assert session.eval("len(label)") == 11  # still paused and serving
    session.cont()
    open(os.path.join(os.path.dirname(path), "done.flag"), "w").close()
    program.assert_finishes_ok()


def test_ipython_shows_the_remote_traceback_instead_of_the_clients(launch):
    program = launch(PROGRAM)
    program.wait_paused()
    code = f"import jupdb\nsession = jupdb.connect({program.pid})\nsession.eval('divide(0)')\n"
    shown = run_ipython(code)
    output = shown.stdout + shown.stderr
    assert "ZeroDivisionError: division by zero" in output, output
    assert f'File "{program.path}", line {line_in(program.source, "# DIVIDE")}, in divide' in output, output
    assert "session.py" not in output and "RemoteError" not in output, output  # no frame of the client
    with jupdb.connect(program.pid, timeout=TIMEOUT) as session:
        assert session.eval("len(label)") == 11
        session.cont()
    open(os.path.join(os.path.dirname(program.path), "done.flag"), "w").close()
    program.assert_finishes_ok()


def run_ipython(code: str) -> subprocess.CompletedProcess:
    """``code`` run by IPython (a fresh process, this test's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "IPython", "--colors=NoColor", "--no-banner", "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_dir_and_help_of_jupdb_list_the_remote_api():
    code = textwrap.dedent("""
        import pydoc, sys
        import jupdb
        names = dir(jupdb)
        assert "jupdb.remote" not in sys.modules, "dir() imported the remote debugger"
        print(sorted(n for n in ("connect", "sessions", "Session", "RemoteValue", "JuPDb", "Source") if n in names))
        page = pydoc.render_doc(jupdb, renderer=pydoc.plaintext)
        print("connect(" in page, "class Session(" in page, "class RemoteError(" in page)
        from IPython.core.completer import provisionalcompleter
        with provisionalcompleter():
            print([c.text for c in get_ipython().Completer.completions("jupdb.con", 9)])
    """)
    shown = run_ipython(code)
    assert shown.returncode == 0, shown
    assert shown.stdout.splitlines() == [
        "['JuPDb', 'RemoteValue', 'Session', 'Source', 'connect', 'sessions']",
        "True True True",
        "['connect']",
    ], shown
