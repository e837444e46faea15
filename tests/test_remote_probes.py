"""Probes installed from a client in a program that runs on (issue 17, remote
probes): ``Session.capture_calls`` / ``capture_call`` / ``breakpoint``,
``probes()``, ``remove()``, removal with the client that installed them, and
the bounds of a probe's traffic (``limit``, ``every``, drops)."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jupdb
from jupdb.remote.probe_handles import HitError
from remote_helpers import TIMEOUT, launch, line_in, runtime_dir, wait_until  # noqa: F401

RUN = [sys.executable, "-m", "jupdb", "run"]

#: Numbers its calls of step(), reports its progress and how many engine probes
#: it runs (the cost a probe adds is gone once it is 0).
PROGRAM = """
import sys, time
import jupdb._native

class Block:
    def __init__(self, i):
        self.i = i
    def forward(self, x):
        y = x * 2 + self.i
        return y

class Model:
    def __init__(self):
        self.blocks = [Block(i) for i in range(6)]

def step(n):
    total = n * n
    return total

def train(pause):
    scale = 1
    n = 0
    while True:
        n += 1
        step(n)
        model.blocks[n % 6].forward(n)
        if n % 200 == 0:
            print("progress", n, "scale", scale, "probes", jupdb._native.active_probes(), flush=True)  # REPORT
        if pause:
            time.sleep(pause)

model = Model()
print("ready", flush=True)
train(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0005)
"""


@pytest.fixture
def program(launch):
    return start(launch)


def start(launch, *args):
    prog = launch(PROGRAM, name="train", command=RUN, args=list(args))
    prog.wait_stdout("ready")
    wait_until(lambda: any(s.pid == prog.pid for s in jupdb.sessions()), what="the program to serve")
    return prog


def progress(prog):
    """The program's latest progress line, as (n, scale, probes)."""
    lines = [line.split() for line in prog.stdout_lines() if line.startswith("progress")]
    return (int(lines[-1][1]), int(lines[-1][3]), int(lines[-1][5])) if lines else (0, 0, 0)


def runs_on(prog, calls=1000):
    """Wait until the program has made ``calls`` more calls of step()."""
    now = progress(prog)[0]
    wait_until(lambda: progress(prog)[0] >= now + calls, what=f"{calls} more calls in the program")


def client_process(tmp_path, pid, code):
    """Another client, in a process of its own that stays until killed: it
    connects to ``pid``, runs ``code`` (with ``session``), prints "installed"
    and then whatever ``code`` prints as it goes."""
    script = tmp_path / "other_client.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time, jupdb
            session = jupdb.connect({pid})
            """
        )
        + textwrap.dedent(code),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    line = proc.stdout.readline()
    assert line.strip() == "installed", line + proc.stderr.read()
    return proc


def test_capture_calls_sees_each_call_once_and_remove_stops_it(program):
    session = program.connect(wait=False)
    calls = session.capture_calls("step")
    calls.wait(300, timeout=TIMEOUT)
    numbers = [call.args["n"].value for call in list(calls)[:300]]
    assert numbers == list(range(numbers[0], numbers[0] + 300))  # none missed, none twice
    first = calls[0]
    assert first.name == "step" and first.thread_name == "MainThread"
    assert first.return_value == numbers[0] ** 2 and first.exception is None
    assert first.locals["total"].value == numbers[0] ** 2
    last = calls[-1]  # (the list grows meanwhile)
    assert last.fetch("locals", "total") == last.args["n"].value ** 2
    assert last.fetch("return_value") == last.return_value.value
    [info] = session.probes()
    assert (info.id, info.kind, info.target, info.mine) == (calls.id, "calls", "step", True)
    assert info.hits >= 300

    calls.remove()
    assert session.probes() == [] and not calls.active and calls.ended == "removed"
    seen = len(calls)
    runs_on(program)
    assert len(calls) == seen
    wait_until(lambda: progress(program)[2] == 0, what="the engine probe to go")
    assert program.proc.poll() is None


def test_capture_call_keeps_the_latest(program):
    session = program.connect(wait=False)
    latest = session.capture_call("step")
    latest.wait(20)
    n = latest.args["n"].value
    assert latest.return_value == n * n and latest.name == "step"
    assert latest.fetch("args", "n") >= n  # the program holds the latest call's objects
    latest.remove()


def test_a_dotted_path_names_one_object_of_the_program(program):
    session = program.connect(wait=False)
    calls = session.capture_calls("model.blocks.4.forward")
    calls.wait(20)
    for call in list(calls)[:20]:
        x = call.args["x"].value
        assert x % 6 == 4 and call.return_value == 2 * x + 4  # block 4's calls only
    by_module = session.capture_calls("__main__:Block.forward", limit=12)
    by_module.wait(12)
    assert {call.return_value.value - 2 * call.args["x"].value for call in by_module} == set(range(6))


def test_limit_and_every_bound_the_hits(program):
    session = program.connect(wait=False)
    calls = session.capture_calls("step", limit=10, every=3)
    calls.wait(10)
    wait_until(lambda: calls.ended == "limit", what="the probe to end at its limit")
    numbers = [call.args["n"].value for call in calls]
    assert numbers == list(range(numbers[0], numbers[0] + 30, 3))
    [info] = session.probes()
    assert info.hits == 10 and not info.details["active"]
    assert calls[0].fetch("args", "n") == numbers[0]  # held until removed
    runs_on(program)
    assert len(calls) == 10
    calls.remove()
    assert session.probes() == []


def test_a_dying_clients_probes_are_removed(program, tmp_path):
    code = """
    calls = session.capture_calls("step")
    calls.wait(5)
    print("installed", flush=True)
    time.sleep(600)
    """
    other = client_process(tmp_path, program.pid, code)
    session = program.connect(wait=False)
    [info] = session.probes()
    assert info.kind == "calls" and not info.mine
    wait_until(lambda: progress(program)[2] == 1, what="the program to report its probe")
    other.send_signal(signal.SIGKILL)
    other.wait(TIMEOUT)
    wait_until(lambda: session.probes() == [], what="the dead client's probe to go")
    wait_until(lambda: progress(program)[2] == 0, what="the engine to run without probes")


def test_closing_a_session_removes_its_probes_unless_kept(program):
    owner = jupdb.connect(program.pid)
    owner.capture_calls("step")
    kept = owner.breakpoint("step", keep=True)
    kept.exec("n = n")
    owner.close()
    session = program.connect(wait=False)
    wait_until(lambda: [p.id for p in session.probes()] == [kept.id], what="the kept probe alone")
    [left] = session.probes()
    assert left.keep and not left.mine
    session.remove_probe(left.id)
    assert session.probes() == []


def test_a_slow_client_costs_drops_not_time(launch, tmp_path):
    prog = start(launch, "0")  # a hot loop: no pause between calls
    code = """
    calls = session.capture_calls("step")
    calls.wait(5)
    print("installed", flush=True)
    seen = 0
    while True:
        if calls.dropped != seen:
            seen = calls.dropped
            print("dropped", seen, flush=True)
        time.sleep(0.05)
    """
    other = client_process(tmp_path, prog.pid, code)
    try:
        other.send_signal(signal.SIGSTOP)  # reads nothing more, acknowledges nothing
        session = prog.connect(wait=False)
        wait_until(lambda: session.probes()[0].dropped > 0, what="hits to be dropped")
        runs_on(prog, 20000)  # the program runs on meanwhile
        [info] = session.probes()
        assert info.dropped > 0 and info.details["sent"] <= info.hits - info.dropped
        other.send_signal(signal.SIGCONT)
        line = other.stdout.readline().split()  # the client learns how many it missed
        assert line[0] == "dropped" and int(line[1]) > 0
    finally:
        other.kill()
        other.wait(TIMEOUT)


def test_breakpoint_exec_changes_the_running_program(program):
    session = program.connect(wait=False)
    report = line_in(program.source, "# REPORT")
    bp = session.breakpoint(file=program.path, line=report)
    bp.exec("scale = 5")
    wait_until(lambda: progress(program)[1] == 5, what="the program to run with scale 5")
    bp.remove()
    assert session.probes() == []
    by_name = session.breakpoint("train", line=report, cond="n % 400 == 0")
    by_name.exec("scale = scale + 1")
    wait_until(lambda: progress(program)[1] >= 7, what="scale to grow at every other report")


def test_breakpoint_eval_streams_values(program):
    session = program.connect(wait=False)
    bp = session.breakpoint("step")
    tens = bp.eval("n * 10")
    fails = bp.eval("n / 0")
    tens.wait(50)
    fails.wait(50)
    values = [v.value for v in list(tens)[:50]]
    assert values == list(range(values[0], values[0] + 500, 10))
    assert isinstance(fails[0], HitError) and fails[0].ename == "ZeroDivisionError"
    runs_on(program)  # an expression that raises leaves the program alone
    bp.remove()


def test_pause_true_pauses_there(program):
    session = program.connect(wait=False)
    bp = session.breakpoint("step", pause=True)
    stop = session.wait(timeout=TIMEOUT)
    assert stop.function == "step"
    assert session.eval("n").value > 0
    session.exec("n = 7")  # a change made at the pause sticks
    session.next()
    assert session.eval("total").value == 49
    bp.remove()
    session.cont()
    runs_on(program)


@pytest.mark.parametrize(
    "kwargs, ename",
    [
        ({"target": "nosuch.thing"}, "LookupError"),
        ({"target": "model.blocks.99.forward"}, "LookupError"),
        ({"target": "__main__:Nothing"}, "LookupError"),
        ({"target": "nosuchmodule:f"}, "LookupError"),
        ({"target": "time.sleep"}, "TypeError"),
        ({"target": "model"}, "TypeError"),
        ({"target": "a b"}, "InvalidRequest"),
        ({"module": "not_imported"}, "LookupError"),
        ({"target": "step", "every": 0}, "InvalidRequest"),
        ({"target": "step", "limit": -1}, "InvalidRequest"),
    ],
)
def test_bad_targets_are_clear_errors(program, kwargs, ename):
    session = program.connect(wait=False)
    with pytest.raises(jupdb.RemoteError) as caught:
        session.capture_calls(**kwargs)
    assert caught.value.ename == ename
    assert session.probes() == []
    runs_on(program, 200)


def test_bad_breakpoints_and_expressions_are_clear_errors(program):
    session = program.connect(wait=False)
    with pytest.raises(jupdb.RemoteError, match="SyntaxError"):
        session.breakpoint("step", cond="n >")
    with pytest.raises(jupdb.RemoteError, match="ValueError"):
        session.breakpoint(file=program.path, line=10_000)
    with pytest.raises(jupdb.RemoteError, match="FileNotFoundError"):
        session.breakpoint(file="no_such_file.py", line=3)
    with pytest.raises(jupdb.RemoteError, match="SyntaxError"):
        session.request("probe", {"kind": "break", "target": "step", "actions": [{"action": "eval", "code": "n +"}]})
    with pytest.raises(jupdb.RemoteError, match="InvalidRequest"):
        session.request("probe", {"kind": "break", "target": "step", "actions": ["n"]})
    with pytest.raises(jupdb.RemoteError, match="InvalidRequest"):
        session.request("probe", {"kind": "watch", "target": "step"})
    assert session.probes() == []
    runs_on(program, 200)
    bp = session.breakpoint("step")
    with pytest.raises(jupdb.RemoteError, match="SyntaxError"):
        bp.eval("1 +")
    with pytest.raises(jupdb.RemoteError, match="SyntaxError"):
        bp.exec("x = = 1")
    bp.exec("raise SystemExit('from a probe')")
    wait_until(lambda: bp.errors, what="the exec's error")
    assert bp.errors[0].ename == "SystemExit" and bp.errors[0].evalue == "from a probe"
    runs_on(program)
    with pytest.raises(TypeError):
        session.capture_calls(print)  # type: ignore[arg-type]
    calls = session.capture_calls("step", limit=5, fetchable=2)
    calls.wait(5)
    with pytest.raises(jupdb.RemoteError, match="KeyError"):
        calls[-1].fetch("locals", "nothing_here")
    with pytest.raises(jupdb.RemoteError, match="NoSuchHit"):
        calls[0].fetch("args", "n")  # the program holds the latest 2 only
    assert calls[4].fetch("args", "n") == calls[4].args["n"].value


# -- fuzzing: random probe requests ---------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=20)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_likely = {
    "kind": st.sampled_from(["calls", "call", "break", "watch"]),
    "target": st.sampled_from(["step", "model.blocks.4.forward", "__main__:Block.forward", "nosuch", "time.sleep"]),
    "module": st.sampled_from(["__main__", "os", "nosuch"]),
    "file": st.sampled_from(["train.py", "/nonexistent.py", "*.py"]),
    "action": st.sampled_from(["eval", "exec", "jump"]),
    "code": st.sampled_from(["n", "n +", "1/0", "x = n", "raise SystemExit"]),
    "path": st.lists(st.sampled_from(["args", "locals", "return_value", "n", "total", 0]), max_size=3),
}
_fields = [*_likely, "line", "cond", "limit", "every", "keep", "fetchable", "actions", "probe", "received", "hit"]


@st.composite
def _requests(draw):
    """A request type and content: mostly well-formed (so that probes get
    installed, acted on and fetched from), with random fields and values."""
    msg_type = draw(st.sampled_from(["probe", "probe_action", "probes", "unprobe", "probe_ack", "probe_fetch"]))
    content = {}
    if msg_type == "probe":
        content = {"kind": draw(_likely["kind"]), "target": draw(_likely["target"])}
    elif msg_type != "probes":
        content = {"probe": draw(st.integers(1, 12))}
    names = draw(st.lists(st.sampled_from(_fields), max_size=4, unique=True))
    for name in names:
        content[name] = draw(_likely[name] | _values if name in _likely else st.integers(-2, 50) | _values)
    return msg_type, content


def test_random_probe_requests_never_end_or_stop_the_program(program):
    session = program.connect(wait=False)

    @settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(request=_requests())
    def one(request):
        msg_type, content = request
        reply, _ = session._exchange(msg_type, content)
        assert reply["status"] in ("ok", "error"), reply
        assert program.proc.poll() is None, f"{msg_type} {content!r} ended the program\n{program.stderr}"

    one()
    for probe in session.probes():
        session.remove_probe(probe.id)
    runs_on(program)
    wait_until(lambda: progress(program)[2] == 0, what="every engine probe to go")
