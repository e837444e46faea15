"""jupdb.connect() and Session, end to end: values, write-back, fetch, the stack,
errors, breakpoint(), the stderr line, sessions() and connection files."""

import io
import json
import os
import stat
import threading

import numpy as np
import pytest

import jupdb
from remote_helpers import TIMEOUT, line_in, launch, runtime_dir, wait_until  # noqa: F401

VALUES = """
import threading
import numpy
import jupdb

class Shown:
    def _repr_html_(self):
        return "<b>shown</b>"
    def __repr__(self):
        return "Shown()"

def explode(depth):
    if depth == 0:
        raise KeyError("deep inside")      # EXPLODE
    return explode(depth - 1)

def work():
    a = 10
    text = "hello"
    arr = numpy.arange(12.0).reshape(3, 4)
    lock = threading.Lock()
    shown = Shown()
    jupdb.set_trace()                      # PAUSE
    print("a =", a, flush=True)
    print("text =", text, flush=True)
    print("arr sum =", arr.sum(), flush=True)
    print("lock is a lock:", hasattr(lock, "acquire"), flush=True)
    print("after", flush=True)

work()
print("module fresh =", globals().get("fresh"), flush=True)
"""


def test_eval_values_and_summaries(launch):
    program = launch(VALUES)
    session = program.connect()

    a = session.eval("a")
    assert (a.repr, a.type, a.truncated, str(a)) == ("10", "int", False, "10")
    text = session.eval("text")
    assert (text.repr, text.type, text.len) == ("'hello'", "str", 5)
    arr = session.eval("arr")
    assert arr.type == "numpy.ndarray"
    assert arr.shape == (3, 4) and arr.dtype == "float64" and arr.len == 3
    assert arr.repr.startswith("array([[ 0.,  1.,  2.,  3.],")
    assert session.eval("a * 2 + len(text)").repr == "25"

    long = session.eval("'x' * 5000")
    assert long.truncated and long.repr == "'" + "x" * 999 and long.len == 5000
    short = session.eval("'y' * 50", repr_limit=10)
    assert short.truncated and short.repr == "'yyyyyyyyy"

    shown = session.eval("shown")
    bundle = shown._repr_mimebundle_()
    assert bundle["text/html"] == "<b>shown</b>" and bundle["text/plain"] == "Shown()"
    assert "text/html" not in session.eval("a")._repr_mimebundle_()

    session.cont()
    program.assert_finishes_ok()


def test_exec_writes_back_and_prints_here(launch, capsys):
    program = launch(VALUES)
    session = program.connect()

    session.exec("a = 42\ntext = text.upper() + '!'\nprint('remote says', a)")
    assert capsys.readouterr().out == "remote says 42\n"
    assert session.eval("a").repr == "42"
    # arrays changed in place, and new names
    session.exec("arr[:] = 1.0\nnew_name = [a, text]")
    assert session.eval("new_name").repr == "[42, 'HELLO!']"
    assert session.eval("a").repr == "42"  # the exec of new names did not undo the earlier one

    session.cont()
    program.assert_finishes_ok()
    out = program.stdout_lines()
    assert out[:4] == ["a = 42", "text = HELLO!", "arr sum = 12.0", "lock is a lock: True"]
    assert "remote says 42" not in program.stdout  # captured for the client, not printed there


def test_exec_at_module_level_defines_globals(launch):
    program = launch("""
        import jupdb
        counter = 1
        jupdb.set_trace()                      # PAUSE
        print("counter =", counter, "fresh =", fresh, flush=True)
    """)
    session = program.connect()
    assert session.eval("counter").repr == "1"
    session.exec("counter += 1\nfresh = 'new global'")
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["counter = 2 fresh = new global"]


def test_fetch_numpy_arrays(launch):
    program = launch(VALUES)
    session = program.connect()

    arr = session.fetch("arr")
    assert isinstance(arr, np.ndarray)
    assert arr.dtype == np.float64 and arr.shape == (3, 4)
    np.testing.assert_array_equal(arr, np.arange(12.0).reshape(3, 4))
    view = session.fetch("arr[:, ::2]")  # not contiguous
    np.testing.assert_array_equal(view, np.arange(12.0).reshape(3, 4)[:, ::2])
    big = session.fetch("numpy.arange(1_000_000, dtype=numpy.int32)")
    np.testing.assert_array_equal(big, np.arange(1_000_000, dtype=np.int32))
    assert session.fetch("{'a': a, 't': (text, None)}") == {"a": 10, "t": ("hello", None)}

    session.cont()
    program.assert_finishes_ok()
    assert "arr sum = 66.0" in program.stdout_lines()


def test_fetch_of_several_large_buffers_in_one_reply(launch):
    """Large frames are read into memory of their own (vendor/zeromq patch 3); here they
    come between small ones and at the 1 MiB threshold, and the connection goes on."""
    program = launch(VALUES)
    session = program.connect(timeout=10)
    expr = (
        "{'w': numpy.arange(3_000_000, dtype=numpy.float32), 'b': numpy.arange(10),"
        " 'at': numpy.ones(1 << 20, numpy.uint8), 'below': numpy.ones((1 << 20) - 1, numpy.uint8),"
        " 'v': numpy.full(2_000_000, 7, numpy.int16)}"
    )
    for _ in range(2):
        got = session.fetch(expr)
        np.testing.assert_array_equal(got["w"], np.arange(3_000_000, dtype=np.float32))
        np.testing.assert_array_equal(got["b"], np.arange(10))
        assert got["at"].size == 1 << 20 and got["at"].all()
        assert got["below"].size == (1 << 20) - 1 and got["below"].all()
        np.testing.assert_array_equal(got["v"], np.full(2_000_000, 7, np.int16))
        assert session.eval("a").repr == "10"
    session.cont()
    program.assert_finishes_ok()


def _transparent_huge_pages() -> str:
    """The kernel's THP mode: "always", "madvise" or "never" ("" where it has none)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        return ""


def _huge_page_bytes_at(address: int) -> int:
    """AnonHugePages of the mapping of this process that holds ``address``."""
    with open("/proc/self/smaps") as f:
        inside = False
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                start, end = (int(x, 16) for x in first.split("-"))
                inside = start <= address < end
            elif inside and first == "AnonHugePages:":
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(
    _transparent_huge_pages() not in ("always", "madvise"),
    reason="this kernel gives no transparent huge pages, even on request",
)
def test_a_large_fetched_array_lies_in_huge_pages(launch):
    """A large frame body is backed by huge pages (vendor/zeromq patch 4), as NumPy's
    own large arrays are: receiving 100 MB into 4 KiB pages took 24,000 page faults,
    which cost more than the copy itself."""
    program = launch(VALUES)
    session = program.connect(timeout=10)
    # Larger than glibc's largest mmap threshold (32 MiB), so that the body is fresh,
    # untouched memory from the OS whatever this process allocated before.
    fetched = session.fetch("numpy.ones(48 << 20, numpy.uint8)")
    assert fetched.all() and fetched.nbytes == 48 << 20
    # Most of the array: all but the partial huge pages at its two ends.
    assert _huge_page_bytes_at(fetched.ctypes.data + fetched.nbytes // 2) >= 44 << 20
    session.cont()
    program.assert_finishes_ok()


def test_fetched_arrays_are_ordinary_writable_copies(launch):
    """What fetch returns behaves like pickle.loads(pickle.dumps(x)): a copy of
    one's own, which can be changed (``weights *= 2``) without touching the program,
    with its data aligned as numpy (and the C code it hands arrays to) expects."""
    program = launch(VALUES)
    session = program.connect()

    for expr in ("arr", "arr[1:]", "numpy.arange(3, dtype=numpy.int64)"):
        fetched = session.fetch(expr)
        flags = {"writeable": fetched.flags.writeable, "aligned": fetched.flags.aligned}
        assert flags == {"writeable": True, "aligned": True}, f"fetch({expr!r}): {flags}"
    arr = session.fetch("arr")
    arr[:] = -1
    assert session.eval("float(arr.sum())").repr == "66.0"
    session.cont()
    program.assert_finishes_ok()
    assert "arr sum = 66.0" in program.stdout_lines()


def test_fetch_of_an_unpicklable_object(launch):
    program = launch(VALUES)
    session = program.connect()

    with pytest.raises(jupdb.RemoteError) as info:
        session.fetch("lock")
    assert info.value.ename == "PicklingError"
    with pytest.raises(jupdb.RemoteError) as info:
        session.fetch("(x for x in range(3))")
    assert info.value.ename == "PicklingError"

    # untouched, still paused and answering
    assert session.eval("lock.locked()").repr == "False"
    assert session.eval("a").repr == "10"
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines()[:5] == ["a = 10", "text = hello", "arr sum = 66.0", "lock is a lock: True", "after"]


STACK = """
import jupdb

def inner(i_arg):
    i_local = i_arg * 2
    jupdb.set_trace()                 # INNER
    return i_local

def middle(m_arg):
    m_local = m_arg + 1
    got = inner(m_local)              # MIDDLE
    return got + m_local

def outer():
    o_local = "outer!"
    return middle(5)                  # OUTER

print("result", outer())              # MODULE
"""


def test_where_up_down_frame_locals_source(launch):
    program = launch(STACK)
    session = program.connect()
    path = program.path
    lines = {m: line_in(program.source, f"# {m}") for m in ("INNER", "MIDDLE", "OUTER", "MODULE")}

    stack = session.where()
    assert [(f.function, f.line, f.index) for f in stack] == [
        ("inner", lines["INNER"], 0),
        ("middle", lines["MIDDLE"], 1),
        ("outer", lines["OUTER"], 2),
        ("<module>", lines["MODULE"], 3),
    ]
    assert all(f.file == path for f in stack)
    assert stack[0].code == "jupdb.set_trace()                 # INNER"
    assert stack[1].code == "got = inner(m_local)              # MIDDLE"
    shown = repr(stack).splitlines()  # as a notebook shows it: a frame a line, the selected one marked
    assert shown[:2] == [f"> #0 {path}:{lines['INNER']} in inner()", "      jupdb.set_trace()                 # INNER"]
    assert shown[2] == f"  #1 {path}:{lines['MIDDLE']} in middle()"

    assert session.eval("i_local").repr == "12"
    assert set(session.locals()) == {"i_arg", "i_local"}

    up = session.up()
    assert (up.function, up.index, up.line) == ("middle", 1, lines["MIDDLE"])
    assert session.eval("m_local").repr == "6"  # requests now run in the selected frame
    locals_ = session.locals()
    assert set(locals_) == {"m_arg", "m_local"} and locals_["m_arg"].repr == "5"
    assert session.source(context=0) == f"{lines['MIDDLE']:4d} ->     got = inner(m_local)              # MIDDLE"

    top = session.up(5)  # as far as there are frames, as pdb's up
    assert (top.function, top.index) == ("<module>", 3)
    with pytest.raises(jupdb.RemoteError, match="up: frame 3 is the oldest frame") as info:
        session.up()
    assert info.value.ename == "NoSuchFrame"
    assert session.where()[3].function == "<module>"
    assert session.where().selected == 3  # the failed move left the selection alone
    assert session.eval("outer.__name__").repr == "'outer'"

    down = session.down()
    assert (down.function, down.index) == ("outer", 2)
    assert session.eval("o_local").repr == "'outer!'"
    picked = session.frame(0)
    assert (picked.function, picked.index) == ("inner", 0)
    with pytest.raises(jupdb.RemoteError, match="down: frame 0 is the newest frame") as info:
        session.down()
    assert info.value.ename == "NoSuchFrame"
    with pytest.raises(jupdb.RemoteError) as info:
        session.frame(17)
    assert info.value.ename == "NoSuchFrame"
    for bad in ({"move": "sideways"}, {"move": "up", "count": 0}, {"move": "up", "count": "2"}):
        with pytest.raises(jupdb.RemoteError, match="move is 'up' or 'down', count a positive int"):
            session.request("frame", bad)
    assert session.where().selected == 0

    # eval and locals can name a frame without selecting it
    assert session.eval("m_arg", frame=1).repr == "5"
    assert set(session.locals(frame=2)) == {"o_local"}

    source = session.source(context=1).splitlines()
    assert len(source) == 3
    assert source[1].split()[:2] == [str(lines["INNER"]), "->"] and "jupdb.set_trace()" in source[1]
    assert "i_local = i_arg * 2" in source[0] and "return i_local" in source[2]
    whole = session.source(whole=True)
    assert "def inner(i_arg):" in whole and "def middle" not in whole

    # write-back into a caller's frame
    session.frame(1)
    session.exec("m_local = 100")
    session.frame(0)
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["result 112"]  # 12 + the m_local written into middle()


def test_remote_errors_carry_the_remote_traceback(launch):
    program = launch(VALUES)
    session = program.connect()

    with pytest.raises(jupdb.RemoteError) as info:
        session.eval("explode(3)")
    err = info.value
    assert err.ename == "KeyError" and err.evalue == "'deep inside'"
    tb = err.remote_traceback
    assert tb.startswith("Traceback (most recent call last):")
    assert 'File "<remote>", line 1' in tb
    assert f'File "{program.path}", line {line_in(program.source, "# EXPLODE")}, in explode' in tb
    assert tb.count("in explode") == 4
    assert tb.rstrip().endswith("KeyError: 'deep inside'")
    assert "paused.py" not in tb and "remote" + os.sep not in tb  # the debugger's own frames are not shown
    assert "deep inside" in str(err) and "Remote traceback" in str(err)

    with pytest.raises(jupdb.RemoteError) as info:
        session.exec("x = 1\nundefined_thing + 1")
    assert info.value.ename == "NameError" and "undefined_thing" in info.value.evalue

    for bad in ("1 +", "a = = 2", "def (:"):
        with pytest.raises(jupdb.RemoteError) as info:
            session.eval(bad)
        assert info.value.ename == "SyntaxError", bad
    with pytest.raises(jupdb.RemoteError) as info:
        session.exec("for x in:\n  pass")
    assert info.value.ename == "SyntaxError"

    assert session.eval("a").repr == "10"  # still paused, still serving
    session.cont()
    program.assert_finishes_ok()


def test_system_exit_and_keyboard_interrupt_in_requests_do_not_end_the_program(launch):
    program = launch(VALUES)
    session = program.connect()

    with pytest.raises(jupdb.RemoteError) as info:
        session.exec("raise SystemExit")
    assert info.value.ename == "SystemExit"
    with pytest.raises(jupdb.RemoteError) as info:
        session.exec("import sys; sys.exit(3)")
    assert info.value.ename == "SystemExit"
    with pytest.raises(jupdb.RemoteError) as info:
        session.eval("exit()")
    assert info.value.ename == "SystemExit"
    with pytest.raises(jupdb.RemoteError) as info:
        session.exec("raise KeyboardInterrupt")
    assert info.value.ename == "KeyboardInterrupt"

    assert session.eval("a + 1").repr == "11"
    assert session.status()["state"] == "paused"
    session.cont()
    program.assert_finishes_ok()
    assert "after" in program.stdout_lines()


def test_pythonbreakpoint_env(launch):
    program = launch(
        """
        def compute():
            value = 6 * 7
            breakpoint()                       # HERE
            print("value", value, flush=True)

        compute()
    """,
        env={"PYTHONBREAKPOINT": "jupdb.set_trace"},
    )
    match = program.wait_paused()
    assert (match["file"], int(match["line"]), match["function"]) == (
        program.path,
        line_in(program.source, "# HERE"),
        "compute",
    )
    session = program.connect()
    assert session.where()[0].function == "compute"
    assert session.eval("value").repr == "42"
    session.exec("value = -1")
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["value -1"]


def test_stderr_line_sessions_and_connection_file(launch, runtime_dir, tmp_path):
    program = launch(STACK, name="stacked")
    match = program.wait_paused()
    assert match["file"] == program.path
    assert int(match["line"]) == line_in(program.source, "# INNER")
    assert match["function"] == "inner"
    assert int(match["pid"]) == program.pid
    assert f"jupdb.connect({program.pid})" in match.string
    assert program.stderr.count("jupdb: paused at") == 1

    found = jupdb.sessions()
    assert len(found) == 1
    info = found[0]
    assert info.pid == program.pid and info.state == "paused"
    assert info.program[0] == program.path
    assert (info.location.file, info.location.line, info.location.function) == (
        program.path,
        line_in(program.source, "# INNER"),
        "inner",
    )
    assert os.path.dirname(info.path) == runtime_dir
    assert os.path.basename(info.path) == f"jupdb-{program.pid}-{info.session_id}.json"

    # the file: private, and names the port the stderr line gave
    assert stat.S_IMODE(os.stat(info.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(runtime_dir).st_mode) == 0o700
    with open(info.path) as fh:
        content = json.load(fh)
    assert content["request_port"] == int(match["port"])
    assert content["pid"] == program.pid and content["state"] == "paused"
    assert content["ip"] == "127.0.0.1" and content["transport"] == "tcp"
    assert content["signature_scheme"] == "jupdb-blake3-v1" and len(bytes.fromhex(content["key"])) == 32
    assert content["session_id"] == info.session_id
    assert os.listdir(runtime_dir) == [os.path.basename(info.path)]

    # every way of naming the target reaches the same program
    for target in (None, program.pid, info.session_id, info.path):
        with jupdb.connect(target, timeout=TIMEOUT) as session:
            assert session.status()["pid"] == program.pid
            assert session.eval("i_local").repr == "12"
    with pytest.raises(LookupError):
        jupdb.connect(program.pid + 1_000_000)
    # a file of another signature scheme (another jupdb) is refused, saying why
    for scheme in ("hmac-sha256", "jupdb-blake3-v2"):
        other = os.path.join(str(tmp_path), f"{scheme}.json")
        with open(other, "w") as fh:
            json.dump(dict(content, signature_scheme=scheme), fh)
        os.chmod(other, 0o600)
        with pytest.raises(ValueError, match=f'unsupported signature scheme "{scheme}".*"jupdb-blake3-v1"'):
            jupdb.connect(other, timeout=TIMEOUT)

    session = program.connect()
    session.cont()
    program.assert_finishes_ok()
    assert not os.path.exists(info.path)
    assert os.listdir(runtime_dir) == []
    assert jupdb.sessions() == []


def test_connection_file_follows_the_state(launch):
    program = launch("""
        import os, time, jupdb
        def first():
            jupdb.set_trace()                      # FIRST
        def second():
            jupdb.set_trace()                      # SECOND
        first()
        flag = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go")
        while not os.path.exists(flag):            # RUNNING
            time.sleep(0.01)
        second()
    """)
    session = program.connect()
    assert jupdb.sessions()[0].location.function == "first"
    session.cont()
    wait_until(lambda: jupdb.sessions()[0].state == "running", what="state 'running' in the file")
    assert jupdb.sessions()[0].location is None
    assert session.status()["state"] == "running" and session.status()["paused_threads"] == []
    with pytest.raises(jupdb.RemoteError) as info:
        session.eval("1")
    assert info.value.ename == "NotPaused"

    open(os.path.join(os.path.dirname(program.path), "go"), "w").close()
    stop = session.wait(timeout=TIMEOUT)
    assert stop.function == "second" and stop.line == line_in(program.source, "# SECOND")
    latest = jupdb.sessions()[0]
    assert latest.state == "paused" and latest.location.function == "second"
    assert program.stderr.count("jupdb: paused at") == 1  # announced once per process
    session.cont()
    program.assert_finishes_ok()


def test_status_is_answered_while_python_is_busy(launch, tmp_path):
    program = launch(VALUES)
    session = program.connect()
    flag = tmp_path / "release"
    busy_code = (
        "import os, time\n"
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
    )
    done = threading.Event()
    errors = []

    def busy():
        try:
            session.exec(busy_code)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        done.set()

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        # the exec is running (the paused thread is busy in it) and cannot end before the flag exists
        with jupdb.connect(program.pid, timeout=TIMEOUT) as other:
            status = other.status()
            assert not done.is_set()
            assert status["state"] == "paused" and status["pid"] == program.pid
            assert [t["location"]["function"] for t in status["paused_threads"]] == ["work"]
    finally:
        flag.touch()
        worker.join(TIMEOUT)
    assert done.is_set() and not errors
    session.cont()
    program.assert_finishes_ok()


def test_remote_print_goes_to_the_client_not_the_program(launch):
    program = launch(VALUES)
    session = program.connect()
    captured = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(captured):
        value = session.eval("print('from eval') or 5")
    assert value.repr == "5" and captured.getvalue() == "from eval\n"
    session.cont()
    program.assert_finishes_ok()
    assert "from eval" not in program.stdout


def test_exec_writes_through_to_cell_variables(launch):
    program = launch("""
        import jupdb

        def outer():
            x = 1
            def read():
                return x
            jupdb.set_trace()
            print("x", x, "read", read(), flush=True)

        outer()
    """)
    session = program.connect()
    assert session.eval("read()").repr == "1"
    session.exec("x = 2")
    assert session.eval("x").repr == "2"
    assert session.eval("read()").repr == "2"  # the closure sees it too
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["x 2 read 2"]


def test_values_whose_repr_or_str_fails(launch):
    program = launch("""
        import jupdb

        class Broken:
            def __repr__(self):
                raise RuntimeError("no repr for you")
            def __len__(self):
                raise TypeError("no len either")

        def main():
            broken = Broken()
            text = "h\u00e9llo \u4e16\u754c \U0001f600"
            big = 2 ** 200
            jupdb.set_trace()
            print("ok", flush=True)

        main()
    """)
    session = program.connect()
    broken = session.eval("broken")
    assert broken.type == "__main__.Broken"
    assert "RuntimeError" in broken.repr and "no repr for you" in broken.repr and broken.len is None
    assert "broken" in session.locals()
    assert session.eval("text").repr == repr("h\u00e9llo \u4e16\u754c \U0001f600")
    assert session.eval("big").repr == str(2**200)
    assert session.eval("b'\\x00\\xff'").repr == "b'\\x00\\xff'"
    assert session.fetch("text") == "h\u00e9llo \u4e16\u754c \U0001f600"
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["ok"]


def test_fetch_of_an_object_whose_pickle_is_over_64_mib(launch):
    """The protocol limits the content frame to 64 MiB, not what fetch can bring back:
    an object pickled in band (bytes, str, lists...) larger than that still arrives."""
    program = launch(VALUES)
    session = program.connect(timeout=10)
    size = 70 * 1024 * 1024
    data = session.fetch(f"bytes(range(256)) * ({size} // 256)")
    assert data == bytes(range(256)) * (size // 256)
    del data
    assert session.eval("a").repr == "10"
    session.cont()
    program.assert_finishes_ok()


def test_exec_printing_more_than_64_mib(launch, capsys):
    """The reply may cut what was printed, but it must arrive (not be dropped
    for its size, leaving the client to time out)."""
    program = launch(VALUES)
    session = program.connect(timeout=10)
    session.exec("print('x' * (70 * 1024 * 1024))\na = 11")
    out = capsys.readouterr().out
    assert out.startswith("xxxxxxxx")
    assert session.eval("a").repr == "11"
    session.cont()
    program.assert_finishes_ok()


def test_a_closed_session_refuses_requests(launch):
    program = launch(VALUES)
    session = program.connect(timeout=3)
    assert session.eval("a").repr == "10"
    session.close()
    with pytest.raises(Exception) as info:
        session.eval("a")
    # refused as closed: not reported as a program that is busy (TimeoutError) or gone
    assert not isinstance(info.value, (TimeoutError, jupdb.SessionLost)), repr(info.value)
    with jupdb.connect(program.pid, timeout=TIMEOUT) as other:  # the program did not notice
        assert other.eval("a").repr == "10"
        other.cont()
    program.assert_finishes_ok()
