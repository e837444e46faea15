"""Programs with audit hooks (``sys.addaudithook``: sandboxes, security monitors).

On 3.10 and 3.11 the engine sets profile and trace hooks, which raises the
``sys.setprofile`` / ``sys.settrace`` audit events: the program's audit hooks
run then, and may refuse. Whatever they do, the program goes on.
"""

import sys

import pytest

import jupdb
from remote_helpers import TIMEOUT, launch, runtime_dir  # noqa: F401

#: Serves, and counts in a loop; a Python audit hook sees every event.
HOOKED_LOOP = """
import sys, jupdb
seen = []
sys.addaudithook(lambda event, args: seen.append(event) if event.startswith("sys.set") else None)
jupdb.listen()
print("serving", flush=True)
i = 0
while i < 300_000_000:
    i += 1
print("done", i, flush=True)
"""


def test_pausing_a_program_whose_python_audit_hook_runs_meanwhile(launch):  # noqa: F811
    # The hook's own frame runs while the engine takes the thread's hooks for the pause.
    program = launch(HOOKED_LOOP)
    program.wait_stdout("serving")
    session = jupdb.connect(program.pid, timeout=TIMEOUT)
    program.sessions.append(session)
    session.pause()
    assert session.eval("i").value > 0
    if sys.version_info < (3, 12):  # the legacy engine's hooks went through the audit hook
        assert session.eval("'sys.setprofile' in seen or 'sys.settrace' in seen").value is True
    session.exec("i = 299_999_000")
    session.cont()
    session.close()
    program.wait_stdout("done 300000000")
    program.assert_finishes_ok()


#: An audit hook that refuses every profile and trace hook, around a capture.
REFUSING_HOOK = """
import sys, jupdb

def refuse(event, args):
    if event in ("sys.setprofile", "sys.settrace"):
        raise RuntimeError("no hooks here: " + event)

def double(x):
    return 2 * x

sys.addaudithook(refuse)
with jupdb.capture_call(double) as call:
    result = double(21)
print("result", result, flush=True)
print("captured", call.return_value, flush=True)
"""


def test_an_audit_hook_that_refuses_the_engine_s_hooks(launch):  # noqa: F811
    program = launch(REFUSING_HOOK)
    program.assert_finishes_ok()
    assert "result 42" in program.stdout
    if sys.version_info < (3, 12):
        # Refused: the call runs as it would have, uncaptured, and the refusal is reported.
        assert "captured None" in program.stdout
        assert "RuntimeError: no hooks here: sys.setprofile" in program.stderr
    else:  # sys.monitoring raises no such event
        assert "captured 42" in program.stdout


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the 3.10/3.11 engine's profile hook")
def test_a_generator_thrown_into_keeps_its_exception_when_the_hook_is_refused(launch):  # noqa: F811
    program = launch(
        """
        import sys, jupdb

        def refuse(event, args):
            if event == "sys.setprofile":
                raise RuntimeError("refused")

        def gen():
            try:
                yield 1
            except KeyError as exc:
                yield "caught " + str(exc)

        sys.addaudithook(refuse)
        with jupdb.capture_calls(gen):
            g = gen()
            next(g)
            print(g.throw(KeyError("k")), flush=True)
        """
    )
    program.assert_finishes_ok()
    assert "caught 'k'" in program.stdout
