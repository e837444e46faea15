"""jupdb.jump_context: a paused frame's locals as notebook variables for a
``with`` block, changes written back on leaving it. Through a real kernel, as
in a notebook, and from a script's namespace; the program checks what it got."""

import subprocess
import sys
import textwrap

import pytest

import jupdb
from jupdb.notebook.jump_context import WriteBackError
from notebook_helpers import kernel  # noqa: F401
from remote_helpers import launch, runtime_dir  # noqa: F401

PROGRAM = """
import threading
import numpy as np
import pandas as pd
import jupdb

def main():
    a = 10
    arr = np.arange(5.0)
    df = pd.DataFrame({"x": [1, 2, 3]})
    lock = threading.Lock()
    untouched = [1, 2]
    jupdb.set_trace()                                           # PAUSE
    print("a", a, flush=True)
    print("arr", arr.tolist(), flush=True)
    print("df", df.to_dict("list"), flush=True)
    print("new", locals().get("new"), flush=True)
    print("untouched", untouched, "lock", type(lock).__name__, flush=True)

main()
"""


def test_changes_in_the_block_reach_the_program(kernel, launch):
    program = launch(PROGRAM)
    program.wait_paused()
    kernel.ok("a = 'the notebook a'\nseen = []\nimport jupdb")

    run = kernel.ok(
        textwrap.dedent("""
        with jupdb.jump_context():
            seen.append((a, float(arr.sum()), list(df.x), 'lock' in globals(), untouched))
            a = a + 32
            arr *= 2                      # in place
            df.loc[0, "x"] = 100          # in place
            new = "added"
        print(seen)
        print(a, [name in globals() for name in ("arr", "df", "new", "untouched")])
        """)
    )
    assert run.stdout == "[(10, 10.0, [1, 2, 3], False, [1, 2])]\nthe notebook a [False, False, False, False]\n"
    warnings = [line for line in run.stderr.splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith("jupdb.jump_context: left out lock"), run.stderr

    kernel.ok("%load_ext jupdb\n%jupdb c --no-wait")
    program.assert_finishes_ok()
    assert program.stdout_lines() == [
        "a 42",
        "arr [0.0, 2.0, 4.0, 6.0, 8.0]",
        "df {'x': [100, 2, 3]}",
        "new added",
        "untouched [1, 2] lock lock",
    ]


def test_a_failed_write_back_is_named_and_the_rest_written(kernel, launch):
    program = launch(PROGRAM)
    program.wait_paused()
    run = kernel.execute(
        textwrap.dedent("""
        from jupdb.client import jump_context

        class OnlyInTheNotebook:      # the program cannot unpickle it
            pass

        with jump_context():
            a = -1
            new = OnlyInTheNotebook()
            untouched.append(3)
        """)
    )
    assert not run.ok and run.error["ename"] == "WriteBackError"
    assert "new" in run.error["evalue"] and "untouched" not in run.error["evalue"], run.error["evalue"]
    # What could not be written back is kept, not lost.
    assert kernel.ok("type(new).__name__").data("text/plain") == ["'OnlyInTheNotebook'"]

    kernel.ok("%jupdb c --no-wait")
    program.assert_finishes_ok()
    assert program.stdout_lines()[0] == "a -1"
    assert program.stdout_lines()[3:] == ["new None", "untouched [1, 2, 3] lock lock"]


def test_an_exception_in_the_block_still_writes_back(launch):
    program = launch(PROGRAM)
    session = program.connect()
    namespace = {"a": "the script's a"}
    with pytest.raises(KeyError):
        exec(
            "with jump_context(session):\n    a = 7\n    raise KeyError('in the block')\n",
            dict(namespace, jump_context=jupdb.jump_context, session=session),
        )
    assert session.eval("a").repr == "7"

    # A script's with block: its module globals, restored afterwards.
    namespace.update(jump_context=jupdb.jump_context, session=session)
    exec("with jump_context(session, frame=0) as ctx:\n    a = a * 6\n    names = sorted(ctx.fetched)\n", namespace)
    assert namespace["a"] == "the script's a" and "names" not in namespace and "arr" not in namespace
    assert session.eval("a").repr == "42"
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines()[0] == "a 42"


def test_a_block_in_a_function_warns_that_its_assignments_stay_there(launch):
    """In a function, what the block assigns is the function's locals, which
    jump_context cannot see: a warning says so, where before nothing was
    written back without a word."""
    program = launch(PROGRAM)
    session = program.connect()
    namespace = {"jump_context": jupdb.jump_context, "session": session}
    exec("def fix():\n    with jump_context(session):\n        a = 99\n", namespace)
    with pytest.warns(RuntimeWarning, match=r"in fix\(\) what the block assigns .* will not reach"):
        namespace["fix"]()
    assert session.eval("a") == 10
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines()[0] == "a 10"


def test_unchanged_values_are_not_sent_back(launch):
    program = launch(PROGRAM)
    session = program.connect()
    sent = []
    assign = session.assign
    session.assign = lambda name, value, **kw: (sent.append(name), assign(name, value, **kw))[1]
    namespace = {"jump_context": jupdb.jump_context, "session": session}
    exec("with jump_context(session):\n    total = float(arr.sum()) + len(df)\n", namespace)
    assert sent == ["total"]
    exec("with jump_context(session):\n    arr[4] = 0.5\n", namespace)
    assert sent == ["total", "arr"]
    with pytest.raises(WriteBackError) as failed:
        exec("with jump_context(session):\n    untouched = lambda: 1\n", namespace)
    assert list(failed.value.failures) == ["untouched"] and callable(failed.value.values["untouched"])
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines()[1] == "arr [0.0, 1.0, 2.0, 3.0, 0.5]"


NESTED = """
import jupdb

def inner():
    x = 1
    jupdb.set_trace()                                           # PAUSE
    return x

def outer():
    y = 2
    r = inner()
    print("y", y, "r", r, flush=True)

outer()
"""


def test_the_notebooks_session_and_selected_frame(kernel, launch):
    program = launch(NESTED)
    program.wait_paused()
    kernel.ok("import jupdb\n%jupdb up")  # the caller's frame, in the magics' session
    kernel.ok("with jupdb.jump_context():\n    y = y * 21\n    assert 'x' not in globals()\n")
    run = kernel.ok("%jupdb c")
    assert "y 42 r 1" in run.stdout
    program.assert_finishes_ok()


def test_import_jupdb_does_not_import_ipython():
    code = "import sys, jupdb, jupdb.client; jupdb.jump_context; print('IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n", out.stderr
