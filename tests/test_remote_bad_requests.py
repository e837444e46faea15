"""A bad command never ends the program (issue 15, item 7).

Requests signed with the right key but with content the handlers do not
expect, and user objects whose ``__repr__`` (or pickling, ``__str__``, …)
raises ``SystemExit`` or ``KeyboardInterrupt``: each gets an error reply (or a
described value), the program stays paused, and both the paused thread and the
service thread go on answering.
"""

from __future__ import annotations

import json
import struct

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from remote_helpers import (  # noqa: F401
    DELIMITER,
    TIMEOUT,
    launch,
    msgpack_packb,
    parse_reply,
    request_frames,
    runtime_dir,
)

import jupdb

PROGRAM = """
import jupdb

class Exits:
    def __repr__(self):
        raise SystemExit(3)
    def __reduce__(self):
        raise SystemExit(4)

class Interrupts:
    def __repr__(self):
        raise KeyboardInterrupt
    __str__ = __repr__
    def __len__(self):
        raise KeyboardInterrupt
    def __reduce__(self):
        raise KeyboardInterrupt

class Shaped:
    @property
    def shape(self):
        raise SystemExit(5)

class NoStr(Exception):
    def __str__(self):
        raise SystemExit(6)

def main():
    a = 10
    exits, interrupts, shaped = Exits(), Interrupts(), Shaped()
    jupdb.set_trace()                          # PAUSE
    print("a", a, flush=True)

main()
"""


class Pairs(list):
    """A MessagePack map given as its (key, value) pairs: keys may be lists or maps."""


def pack(obj) -> bytes:
    if isinstance(obj, Pairs):
        return b"\xdf" + struct.pack(">I", len(obj)) + b"".join(pack(k) + pack(v) for k, v in obj)
    if isinstance(obj, list):
        return b"\xdd" + struct.pack(">I", len(obj)) + b"".join(pack(x) for x in obj)
    return msgpack_packb(obj)


class Raw:
    """A DEALER that sends signed requests with any content."""

    def __init__(self, program, context):
        [found] = jupdb.sessions()
        with open(found.path) as fh:
            info = json.load(fh)
        self.key = bytes.fromhex(info["key"])
        self.dealer = context.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.setsockopt(zmq.RCVTIMEO, int(TIMEOUT * 1000))
        self.dealer.connect(f"tcp://127.0.0.1:{info['request_port']}")

    def ask(self, msg_type: str, content) -> dict:
        self.dealer.send_multipart(request_frames(self.key, msg_type, {}, body=pack(content)))
        return parse_reply(self.dealer.recv_multipart(), self.key)["content"]


@pytest.fixture
def paused(launch):
    program = launch(PROGRAM)
    session = program.connect(timeout=TIMEOUT)
    context = zmq.Context()
    raw = Raw(program, context)
    yield program, session, raw
    raw.dealer.close()
    context.destroy(linger=0)


def still_paused_and_serving(program, session) -> None:
    assert program.proc.poll() is None, f"the program ended\n{program.stderr}"
    assert session.eval("a").repr == "10"
    assert [t.paused for t in session.threads() if t.name == "MainThread"] == [True]  # the service thread lives
    assert session.status()["state"] == "paused"


def finish(program, session) -> None:
    session.cont()
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["a 10"]


@pytest.mark.parametrize(
    "msg_type", ["eval_request", "locals_request", "threads_request", "break_request", "watch_request"]
)
def test_a_content_map_with_a_list_or_map_as_key(paused, msg_type):
    program, session, raw = paused
    for key in ([1, 2], Pairs([("x", 1)])):
        reply = raw.ask(msg_type, Pairs([("code", "a"), (key, 1)]))
        assert (reply["status"], reply["ename"]) == ("error", "BadRequest"), reply
        assert "key" in reply["evalue"]
        still_paused_and_serving(program, session)
    finish(program, session)


def test_objects_whose_repr_raises_system_exit_or_keyboard_interrupt(paused):
    program, session, _ = paused
    assert "SystemExit" in session.eval("exits").repr
    assert "KeyboardInterrupt" in session.eval("interrupts").repr
    assert "SystemExit" in session.eval("shaped").repr or session.eval("shaped").shape is None
    shown = session.locals()
    assert "SystemExit" in shown["exits"].repr and "KeyboardInterrupt" in shown["interrupts"].repr
    with pytest.raises(jupdb.RemoteError) as info:
        session.fetch("exits")
    assert info.value.ename == "SystemExit"
    with pytest.raises(jupdb.RemoteError):
        session.fetch("interrupts")
    with pytest.raises(jupdb.RemoteError) as info:
        session.exec("raise NoStr()")  # an exception whose str() raises SystemExit
    assert info.value.ename == "NoStr"
    reply, _ = session.request("eval", {"code": "interrupts", "str": True})
    assert "KeyboardInterrupt" in reply["str"]
    session.exec("print('\\ud800 lone surrogate')")  # not UTF-8: sent with a replacement character
    session.watch("exits")
    session.watch("interrupts")
    still_paused_and_serving(program, session)
    finish(program, session)


def test_bad_resume_and_stepping_arguments(paused):
    program, session, raw = paused
    for content in (
        {"action": "until", "line": "x"},
        {"action": "until", "line": [1]},
        {"action": 5},
        {"action": "jump", "line": 1.5},
    ):
        reply = raw.ask("resume_request", content)
        assert reply["status"] == "error", (content, reply)
        still_paused_and_serving(program, session)
    finish(program, session)


# -- fuzzing: random well-signed requests -----------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(inner, inner), max_size=4).map(Pairs),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "code",
        "frame",
        "repr_limit",
        "mime",
        "str",
        "index",
        "move",
        "count",
        "context",
        "whole",
        "file",
        "line",
        "condition",
        "temporary",
        "id",
        "all",
        "expression",
        "thread",
        "cell",
        "cursor_pos",
        "name",
    ]
)
contents = st.lists(st.tuples(fields | values, values), max_size=5).map(Pairs)
#: Every request but those that may resume the thread (resume, jump): a random
#: one of those would let the program go on, which is no failure.
msg_types = st.sampled_from(
    [
        "eval_request",
        "exec_request",
        "fetch_request",
        "run_cell_request",
        "complete_request",
        "assign_request",
        "locals_request",
        "where_request",
        "frame_request",
        "source_request",
        "threads_request",
        "pause_request",
        "interrupt_request",
        "break_request",
        "breakpoints_request",
        "clear_request",
        "watch_request",
        "unwatch_request",
        "status_request",
        "nonsense_request",
    ]
)


def test_random_well_signed_requests_never_end_the_program(paused):
    program, session, raw = paused

    @settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(msg_type=msg_types, content=contents)
    def one(msg_type, content):
        reply = raw.ask(msg_type, content)
        assert reply["status"] in ("ok", "error"), reply
        assert program.proc.poll() is None, f"{msg_type} {content!r} ended the program\n{program.stderr}"

    one()
    session.request("clear", {"all": True})
    session.frame(0)  # a random frame_request may have moved it
    session.exec("a = 10")  # a random exec may have changed it
    still_paused_and_serving(program, session)
    finish(program, session)
