"""Breakpoint.debug(): a real pdb session at the breakpoint, driven through
``stdin=io.StringIO(...)`` in-process and through a pipe in a subprocess."""

import io
import os
import pdb
import subprocess
import sys
import textwrap

import jupdb
from conftest import line_of


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


def other(x):
    return x + 1


RETURN_LINE = line_of(f, "return 2 * z")
FIRST_LINE = line_of(f, "z = x + y")


def debug_kwargs(commands):
    out = io.StringIO()
    return out, {"stdin": io.StringIO(commands), "stdout": out, "nosigint": True}


def test_debug_print_and_continue():
    trace_before = sys.gettrace()
    out, kwargs = debug_kwargs("p x\np z * 3\nc\n")
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.debug(**kwargs)
        inside = sys.gettrace()
        assert f(12345, 1) == 24692
        assert sys.gettrace() is inside
    text = out.getvalue()
    assert "12345" in text
    assert "37038" in text
    assert "return 2 * z" in text  # pdb shows the current line
    assert sys.gettrace() is trace_before


def test_debug_assignment_changes_the_running_function():
    out, kwargs = debug_kwargs("!z = 100\nc\n")
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.debug(**kwargs)
        assert f(1, 1) == 200


def test_debug_next_steps_to_the_following_line():
    out, kwargs = debug_kwargs("n\np z\nc\n")
    with jupdb.breakpoint(f, line=FIRST_LINE) as bp:
        bp.debug(**kwargs)
        assert f(1000, 234) == 2468
    text = out.getvalue()
    assert "1234" in text
    assert text.index("z = x + y") < text.index("return 2 * z")


def test_debug_where_shows_the_callers():
    out, kwargs = debug_kwargs("w\nc\n")
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.debug(**kwargs)
        assert g(2) == 8
    text = out.getvalue()
    assert "return f(x, x)" in text
    assert "test_debug_where_shows_the_callers" in text


def test_debug_fires_at_every_hit():
    out, kwargs = debug_kwargs("p x\nc\np x\nc\n")
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.debug(**kwargs)
        assert f(111, 0) == 222
        assert f(999, 0) == 1998
    text = out.getvalue()
    assert text.index("111") < text.index("999")


def test_debug_with_custom_debugger_class():
    created = []

    class MyPdb(pdb.Pdb):
        def __init__(self, **kw):
            created.append(kw.get("nosigint"))
            super().__init__(**kw)

    out, kwargs = debug_kwargs("p y\nc\n")
    with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
        bp.debug(debugger_cls=MyPdb, **kwargs)
        assert f(1, 4242) == 8486
    assert created == [True]
    assert "4242" in out.getvalue()


def test_other_probes_keep_working_after_debugging():
    out, kwargs = debug_kwargs("p x\nc\n")
    with jupdb.NoPdb() as dbg:
        calls = dbg.capture_calls(f)
        zs = dbg.breakpoint(f, line=RETURN_LINE).eval("z")
        dbg.breakpoint(f, line=RETURN_LINE, cond="x == 1").debug(**kwargs)
        other_calls = dbg.capture_calls(other)
        assert [f(1, 1), f(2, 2), other(5), f(3, 3)] == [4, 8, 6, 12]
    assert [c.args["x"] for c in calls] == [1, 2, 3]
    assert zs == [2, 4, 6]
    assert [c.return_value for c in other_calls] == [6]
    assert out.getvalue().count("(Pdb)") >= 2


def test_preexisting_tracer_is_back_after_debugging():
    events = []

    def tracer(frame, event, arg):
        if frame.f_code is other.__code__:
            events.append(event)
        return None

    out, kwargs = debug_kwargs("p x\nc\n")
    sys.settrace(tracer)
    try:
        with jupdb.breakpoint(f, line=RETURN_LINE) as bp:
            bp.debug(**kwargs)
            inside = sys.gettrace()
            assert f(5, 5) == 20
            assert sys.gettrace() is inside
            other(1)
        assert sys.gettrace() is tracer
        other(2)
    finally:
        sys.settrace(None)
    assert events == ["call", "call"]


SCRIPT = """
    import sys
    import jupdb

    def f(x, y):
        z = x + y
        return 2 * z

    with jupdb.breakpoint(f, line="return 2 * z") as bp:
        bp.debug()
        result = f(20000, 1)
    print("RESULT", result)
    print("TRACE", sys.gettrace())
    print("FINISHED")
"""


def test_debug_through_a_real_stdin_pipe(tmp_path):
    script = tmp_path / "debug_me.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(jupdb.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(script)],
        input="p z * 3\n!z = 7\nc\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "60003" in proc.stdout
    assert "RESULT 14" in proc.stdout
    assert "TRACE None" in proc.stdout
    assert "FINISHED" in proc.stdout
    assert "Traceback" not in proc.stderr
