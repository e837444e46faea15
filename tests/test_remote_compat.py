"""The original jupdb API, end to end: ``JuPDb().set_trace()`` in the program,
``debug_eval`` / ``debug_continue`` in the client, exactly as the original README
(and the original project's own tests) use them."""

import threading

import pytest

import jupdb
import jupdb.client
from jupdb.client import JuPDbClient, debug_continue, debug_eval
from jupdb.core import JuPDb
from remote_helpers import (  # noqa: F401
    TIMEOUT,
    free_port,
    in_process,
    launch,
    port_is_free,
    runtime_dir,
    wait_paused_in_process,
    wait_until,
)

# The README's app.py, verbatim.
README_APP = """
from jupdb.core import JuPDb

def example_function():
    a = 10
    jupdb = JuPDb()
    jupdb.set_trace()  # Breakpoint here
    b = 20
    print("Result:", a + b)

if __name__ == "__main__":
    example_function()
"""


@pytest.fixture(autouse=True)
def fresh_client_cache():
    """The original client API keeps one connection per port: start and end each test without any."""
    yield
    for _, session in list(jupdb.client._open.values()):
        session.close()
    jupdb.client._open.clear()


def test_readme_flow_default_port(launch):
    if not port_is_free(5555):
        pytest.skip("port 5555 (the README's default) is in use on this machine")
    app = launch(README_APP, name="app")
    app.wait_paused()

    assert debug_eval("a") == {"result": "10"}
    assert debug_eval("a = 42") == {"result": "executed"}
    assert debug_eval("a") == {"result": "42"}
    assert debug_continue() == {"status": "resuming"}

    app.assert_finishes_ok()
    assert app.stdout_lines() == ["Result: 62"]


def test_readme_flow_on_a_chosen_port(launch):
    port = free_port()
    app = launch(README_APP.replace("JuPDb()", f"JuPDb(port={port})"), name="app")
    match = app.wait_paused()
    assert int(match["port"]) == port

    assert debug_eval("a", port=port) == {"result": "10"}
    assert debug_eval("a = 42", port=port) == {"result": "executed"}
    assert debug_eval("a", port=port) == {"result": "42"}
    # the result is str(value), as the original returned it
    assert debug_eval("'x' + str(a)", port=port) == {"result": "x42"}
    assert debug_eval("[a, None]", port=port) == {"result": "[42, None]"}
    assert debug_continue(port=port) == {"status": "resuming"}

    app.assert_finishes_ok()
    assert app.stdout_lines() == ["Result: 62"]


def test_errors_are_error_dicts_and_the_program_stays_paused(launch):
    port = free_port()
    app = launch(README_APP.replace("JuPDb()", f"JuPDb(port={port})"), name="app")
    app.wait_paused()
    client = JuPDbClient(port)

    assert client.eval("1/0") == {"error": "division by zero"}
    assert client.eval("undefined_name") == {"error": "name 'undefined_name' is not defined"}
    syntax = client.eval("invalid syntax")
    assert set(syntax) == {"error"} and syntax["error"]
    assert set(client.eval("raise ValueError('boom')")) == {"error"}
    assert client.eval("raise ValueError('boom')")["error"] == "boom"
    # still paused and serving, and the failed statements changed nothing
    assert client.eval("a") == {"result": "10"}
    assert client.eval("a = a + 1") == {"result": "executed"}
    assert client.cont() == {"status": "resuming"}

    app.assert_finishes_ok()
    assert app.stdout_lines() == ["Result: 31"]


def test_set_trace_called_again_on_the_same_port(launch):
    port = free_port()
    app = launch(
        f"""
        from jupdb.core import JuPDb

        def step(i):
            a = i * 10
            JuPDb(port={port}).set_trace()
            print("step", i, a, flush=True)

        for i in range(3):
            step(i)
    """,
        name="app",
    )
    app.wait_paused()
    for i in range(3):
        wait_until(lambda: debug_eval("i", port=port) == {"result": str(i)}, what=f"pause number {i + 1}")
        assert debug_eval("a", port=port) == {"result": str(i * 10)}
        assert debug_eval("a = -a", port=port) == {"result": "executed"}
        assert debug_continue(port=port) == {"status": "resuming"}
        app.wait_stdout(f"step {i} {-i * 10}")
    app.assert_finishes_ok()
    assert app.stdout_lines() == ["step 0 0", "step 1 -10", "step 2 -20"]


# -- set_trace in a thread of the test process itself, as the original's own tests do --------------


def test_original_tests_flow_in_a_thread(in_process):
    port = free_port()
    thread = threading.Thread(target=JuPDb(port=port).set_trace)
    in_process.append(thread)
    thread.start()
    wait_paused_in_process()

    assert debug_eval("10+20", port=port) == {"result": "30"}
    assert debug_eval("x = 42", port=port) == {"result": "executed"}
    assert debug_eval("x", port=port) == {"result": "42"}
    assert "error" in debug_eval("invalid syntax", port=port)
    assert "error" in debug_eval("1/0", port=port)
    assert debug_continue(port=port) == {"status": "resuming"}

    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_readme_flow_in_a_thread(in_process):
    port = free_port()
    results = []

    def example_function():
        a = 10
        JuPDb(port=port).set_trace()
        b = 20
        results.append(a + b)

    thread = threading.Thread(target=example_function)
    in_process.append(thread)
    thread.start()
    wait_paused_in_process()

    assert debug_eval("a", port=port) == {"result": "10"}
    assert debug_eval("a = 42", port=port) == {"result": "executed"}
    assert debug_eval("a", port=port) == {"result": "42"}
    assert debug_continue(port=port) == {"status": "resuming"}

    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert results == [62]
