"""Completion in a paused frame: the pure function (jupdb.remote.completion.complete)
with hostile objects, and Session.complete against a real paused subprocess."""

from __future__ import annotations

import builtins
import time
from typing import Any, Dict, List

import pandas as pd
import pytest

import jupdb
from jupdb.remote.completion import MAX_MATCHES, complete
from remote_helpers import TIMEOUT, launch, runtime_dir  # noqa: F401


class Hostile:
    """Everything a completion might touch raises, or records that it ran."""

    ran: List[str] = []

    def __dir__(self):
        raise SystemExit("__dir__ must not end anything")

    @property
    def explodes(self):
        Hostile.ran.append("explodes")
        raise RuntimeError("property raised")

    @property
    def exits(self):
        Hostile.ran.append("exits")
        raise SystemExit(3)

    def method(self):
        Hostile.ran.append("method")

    def __getattr__(self, name):
        Hostile.ran.append(f"__getattr__ {name}")
        raise AttributeError(name)

    level = 1


class LoudProperty:
    @property
    def counted(self):
        LoudProperty.calls += 1
        return 5

    calls = 0


def matches_of(code: str, namespace: Dict[str, Any], cursor_pos=None) -> Dict[str, str]:
    reply = complete(code, len(code) if cursor_pos is None else cursor_pos, namespace, {}, vars(builtins))
    assert len(reply["matches"]) == len(reply["types"])
    return dict(zip(reply["matches"], reply["types"], strict=True))


def test_names_from_locals_globals_builtins_and_keywords():
    reply = complete("pr", 2, {"prompt_text": "x"}, {"process_all": len}, vars(builtins))
    assert reply["cursor_start"] == 0 and reply["cursor_end"] == 2
    got = dict(zip(reply["matches"], reply["types"], strict=True))
    assert got == {"print": "function", "process_all": "function", "prompt_text": "instance", "property": "class"}
    assert matches_of("x = wh", {})["while"] == "keyword"
    assert matches_of("tim", {"time": time})["time"] == "module"
    assert "_hidden" not in matches_of("", {"_hidden": 1}) and "_hidden" in matches_of("_h", {"_hidden": 1})
    # In the middle of the code: the text before the cursor counts, in characters.
    reply = complete("ünï = prin + 1", 10, {"ünï": 1}, {}, vars(builtins))
    assert reply["matches"] == ["print"] and (reply["cursor_start"], reply["cursor_end"]) == (6, 10)


def test_attributes_and_their_kinds_without_running_properties():
    LoudProperty.calls = 0
    got = matches_of("obj.", {"obj": LoudProperty()})
    assert got["counted"] == "property" and LoudProperty.calls == 0
    got = matches_of("df.co", {"df": pd.DataFrame({"x": [1]})})
    assert "columns" in got and "copy" in got and got["copy"] == "function"
    assert matches_of("time.slee", {"time": time}) == {"sleep": "function"}
    # Evaluated: names, attributes, literal subscripts. Never a call.
    assert matches_of("obj.counted.re", {"obj": LoudProperty()}) == {"real": "property"}
    assert LoudProperty.calls == 1
    assert matches_of("items[1][-1].up", {"items": [["a"], ["b", "c"]]}) == {"upper": "function"}
    called = []
    assert matches_of("f().", {"f": lambda: called.append(1)}) == {} and called == []
    assert matches_of("1.", {}) == {} and matches_of("x = 3.1", {}) == {}


def test_hostile_objects_cost_their_part_of_the_completion_only():
    Hostile.ran.clear()
    got = matches_of("h.", {"h": Hostile()})  # __dir__ raises SystemExit: the class's names instead
    assert {
        "explodes": "property",
        "exits": "property",
        "method": "function",
        "level": "instance",
    }.items() <= got.items()
    assert Hostile.ran == []  # no property ran, no __getattr__
    assert matches_of("h.explodes.", {"h": Hostile()}) == {}  # the property raised
    assert matches_of("h.exits.", {"h": Hostile()}) == {}  # even SystemExit
    assert matches_of("h.missing.", {"h": Hostile()}) == {}
    assert matches_of("le", {"h": Hostile(), "lev": 1}) == {"len": "function", "lev": "instance"}

    class BadKeys(dict):
        def keys(self):
            raise SystemExit(1)

    assert matches_of('d["', {"d": BadKeys(a=1)}) == {}

    class WeirdDir:
        def __dir__(self):
            return ["fine", 3, None]

    assert matches_of("w.", {"w": WeirdDir()}) == {"fine": "instance"}


def test_dict_keys_close_the_quote_and_bracket_as_ipython_does():
    d = {"alpha": 1, "alps": 2, 'say "hi"': 3, 7: "seven", ("t",): 0}
    assert matches_of('d["al', {"d": d}) == {'alpha"]': "key", 'alps"]': "key"}
    reply = complete("d['al", 5, {"d": d}, {}, {})
    assert reply["matches"] == ["alpha']", "alps']"] and reply["cursor_start"] == 3
    assert matches_of('d["say', {"d": d}) == {'say \\"hi\\""]': "key"}
    # Closed already after the cursor: not closed again.
    assert complete('d["al"]', 5, {"d": d}, {}, {})["matches"] == ["alpha", "alps"]
    assert complete('d["al]', 5, {"d": d}, {}, {})["matches"] == ['alpha"', 'alps"']
    # Without a quote: the keys as literals (and names).
    got = matches_of("d[", {"d": d})
    assert {"'alpha']", "7]", "'alps']"} <= set(got) and "len" in got
    assert matches_of("d[7", {"d": d}) == {"7]": "key"}
    assert matches_of('nested["inner"]["', {"nested": {"inner": {"deep": 1}}}) == {'deep"]': "key"}


def test_dataframe_columns():
    df = pd.DataFrame({"price": [1.0], "product": ["x"], "with space": [0], 3: [1]})
    assert matches_of('df["pr', {"df": df}) == {'price"]': "key", 'product"]': "key"}
    assert 'with space"]' in matches_of('df["', {"df": df})
    assert "3]" in matches_of("df[", {"df": df})


def test_the_work_is_bounded():
    big = {f"name{i}": i for i in range(50_000)}
    reply = complete("name", 4, big, {}, {})
    assert len(reply["matches"]) == MAX_MATCHES
    with pytest.raises(ValueError):
        complete("abc", 4, {}, {}, {})


# -- through a real paused program ---------------------------------------------------------

PROGRAM = """
import jupdb
import pandas as pd

class Model:
    learning_rate = 0.1
    @property
    def forever(self):
        while True:
            pass

def work():
    model = Model()
    frame_table = pd.DataFrame({"loss": [0.5], "lr": [0.1]})
    config = {"epochs": 3, "batch_size": 32}
    jupdb.set_trace()                          # PAUSE
    print("done", flush=True)

work()
"""


def test_session_complete_names_attributes_keys_and_columns(launch):
    program = launch(PROGRAM)
    session = program.connect()
    reply = session.complete("mod")
    assert set(reply) == {"matches", "cursor_start", "cursor_end", "types"}
    assert reply["matches"] == ["model"] and reply["types"] == ["instance"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (0, 3)
    assert session.complete("model.lea")["matches"] == ["learning_rate"]
    assert session.complete("frame_table.lo")["matches"] == ["loc", "loss"]
    reply = session.complete('x = frame_table["l')
    assert reply["matches"] == ['loss"]', 'lr"]'] and reply["cursor_start"] == len('x = frame_table["')
    assert session.complete("config['ep")["matches"] == ["epochs']"]
    assert session.complete("print(conf + 1)", cursor_pos=10)["matches"] == ["config"]
    # Frame 1 is the module: its names, not work()'s.
    assert session.complete("wor", frame=1)["matches"] == ["work"]
    with pytest.raises(jupdb.RemoteError) as info:
        session.complete("abc", cursor_pos=10)
    assert info.value.ename == "InvalidRequest"
    session.cont()
    program.assert_finishes_ok()


def test_a_property_that_never_returns_is_interrupted(launch):
    program = launch(PROGRAM)
    session = program.connect()
    with pytest.raises(TimeoutError):
        session.complete("model.forever.", timeout=1.0)
    # Interrupted in the program, which is still paused and serving.
    assert session.complete("mod", timeout=TIMEOUT)["matches"] == ["model"]
    session.cont()
    program.assert_finishes_ok()
