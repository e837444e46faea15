"""The live panel (jupdb.widget, Session.widget), end to end.

The model tests drive the panel's Python model in this process against real
paused programs in subprocesses (outside a kernel, ipywidgets gives the widget
a comm that sends nothing, so only the traits are looked at). The browser test
runs a real JupyterLab (and Notebook 7) server and a real kernel, opens a notebook in headless
Chromium (Debian's, through playwright: ``JUPDB_CHROMIUM``, else
/usr/bin/chromium; scripts/browser.sh finds or installs it), shows the panel
there and clicks it, and keeps a screenshot of the panel. VS Code, the third of
anywidget's hosts, cannot be driven here.
"""

import base64
import importlib.resources
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest

import jupdb
from jupdb.notebook.panel import CHILDREN_LIMIT, Panel, path_expression
from remote_helpers import TIMEOUT, free_port, launch, line_in, runtime_dir, wait_until  # noqa: F401

TRAIN = """
import threading
import jupdb

class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

class Report:
    def _repr_html_(self):
        return "<b class='report'>loss report</b>"
    def _repr_png_(self):
        return b"\\x89PNG\\r\\n\\x1a\\nnot really"
    def __repr__(self):
        return "Report()"

class Broken:
    def __repr__(self):
        raise SystemExit("broken repr")
    @property
    def size(self):
        raise KeyboardInterrupt("from a property")

def train(epochs):
    history = []
    config = {"lr": 0.01, "layers": [64, 32], "origin": Point(1, 2)}
    big = list(range(1000))
    tags = {"a"}
    broken = Broken()
    for epoch in range(epochs):                           # LOOP
        loss = round(1.0 / (epoch + 1), 3)                # LOSS
        if epoch == 0:
            jupdb.set_trace()                             # PAUSE
        history.append(loss)                              # APPEND
        print(f"epoch {epoch}: loss {loss}", flush=True)  # PRINT
    return history

print("trained:", train(3), flush=True)                   # CALL
"""


def lines(program, *markers):
    return {m: line_in(program.source, f"# {m}") for m in markers}


def variable(panel, name):
    return next((v for v in panel.variables if v["name"] == name), None)


def shown_at(panel, line):
    """Whether the panel shows the program paused at ``line`` (location and highlighted source)."""
    return panel.state == "paused" and panel.location.get("line") == line and panel.source.get("current_line") == line


def step(panel, action, line):
    """Click ``action`` and wait for the panel to show the stop at ``line``, all of it."""
    panel.command({"do": action})
    wait_until(lambda: shown_at(panel, line), what=f"{action} to stop at line {line}")
    assert panel.settle(TIMEOUT)


@pytest.fixture
def panels():
    """Panels made by a test, closed at its end (their threads must stop)."""
    made = []
    yield made
    for panel in made:
        panel.close()
        for thread in (panel._worker, panel._reader):
            thread.join(TIMEOUT)
            assert not thread.is_alive(), f"{thread.name} still runs after close()"


def open_panel(program, panels) -> Panel:
    session = program.connect()
    panel = session.widget()
    panels.append(panel)
    assert isinstance(panel, Panel)
    assert panel._session is not session  # its own session: its events are its own
    return panel


def test_the_panel_follows_steps_made_anywhere(launch, panels):
    program = launch(TRAIN)
    ln = lines(program, "PAUSE", "APPEND", "PRINT", "LOOP", "CALL")
    panel = open_panel(program, panels)
    wait_until(lambda: shown_at(panel, ln["PAUSE"]) and panel.variables, what="the first stop")
    assert panel.location["function"] == "train" and panel.location["reason"] == "set_trace"
    assert panel.source["file"] == program.path
    assert panel.source["lines"][ln["PAUSE"] - panel.source["first_line"]].strip().startswith("jupdb.set_trace()")
    assert [(f["function"], f["line"]) for f in panel.stack] == [("train", ln["PAUSE"]), ("<module>", ln["CALL"])]
    assert panel.frame == 0
    assert variable(panel, "history")["repr"] == "[]"
    assert variable(panel, "loss")["repr"] == "1.0"
    assert variable(panel, "config")["expandable"] and not variable(panel, "loss")["expandable"]
    [main] = panel.threads
    assert main == {"id": panel.thread, "name": "MainThread", "paused": True}
    assert "prog.py" in panel.program and str(program.pid) in panel.program

    # A step from the panel's own button...
    step(panel, "next", ln["APPEND"])
    step(panel, "next", ln["PRINT"])
    assert variable(panel, "history")["repr"] == "[1.0]"
    # ... and one from another session (another cell, a terminal) show alike.
    elsewhere = jupdb.connect(program.pid)
    try:
        assert elsewhere.next().line == ln["LOOP"]
        wait_until(lambda: shown_at(panel, ln["LOOP"]), what="the step made elsewhere")
        wait_until(lambda: ["stdout", "epoch 0: loss 1.0\n"] in panel.output, what="the program's output")
        # A frame selected: its source and variables.
        panel.command({"do": "frame", "index": 1})
        wait_until(lambda: panel.frame == 1 and variable(panel, "Point"), what="the caller's frame")
        assert panel.source["current_line"] == ln["CALL"]
        elsewhere.cont()
    finally:
        elsewhere.close()
    wait_until(lambda: panel.state == "ended", what="the end of the program")
    assert "exited" in panel.message
    program.assert_finishes_ok()
    assert program.stdout_lines()[-1] == "trained: [1.0, 0.5, 0.333]"


def test_containers_expand_into_their_parts(launch, panels):
    program = launch(TRAIN)
    panel = open_panel(program, panels)
    wait_until(lambda: variable(panel, "config"), what="the variables")

    panel.command({"do": "expand", "path": ["config"]})
    wait_until(lambda: "config" in panel.children, what="config's parts")
    parts = panel.children["config"]["items"]
    assert [(p["label"], p["repr"]) for p in parts[:2]] == [("'lr'", "0.01"), ("'layers'", "[64, 32]")]
    assert parts[2]["label"] == "'origin'" and parts[2]["type"] == "__main__.Point" and parts[2]["expandable"]
    panel.command({"do": "expand", "path": ["config", 2]})  # an object: its attributes
    wait_until(lambda: "config/2" in panel.children, what="the object's attributes")
    assert [(p["label"], p["repr"]) for p in panel.children["config/2"]["items"]] == [("x", "1"), ("y", "2")]
    panel.command({"do": "expand", "path": ["config", 1]})  # a list: its elements
    wait_until(lambda: "config/1" in panel.children, what="the list's elements")
    assert [(p["label"], p["repr"]) for p in panel.children["config/1"]["items"]] == [("0", "64"), ("1", "32")]
    panel.command({"do": "expand", "path": ["tags"]})  # a set
    wait_until(lambda: "tags" in panel.children, what="the set's elements")
    assert [p["repr"] for p in panel.children["tags"]["items"]] == ["'a'"]

    # Bounded: the first CHILDREN_LIMIT of a long list.
    panel.command({"do": "expand", "path": ["big"]})
    wait_until(lambda: "big" in panel.children, what="the long list's first elements")
    assert [p["repr"] for p in panel.children["big"]["items"]] == [str(i) for i in range(CHILDREN_LIMIT)]
    assert variable(panel, "big")["len"] == 1000

    # A value whose repr and attributes raise (even SystemExit, KeyboardInterrupt): described.
    assert "repr() raised SystemExit" in variable(panel, "broken")["repr"]
    panel.command({"do": "expand", "path": ["broken"]})
    wait_until(lambda: "broken" in panel.children, what="the broken object's parts")
    assert panel.children["broken"] == {"items": []}

    # Expanded parts follow the program; collapsing a node drops its children too.
    panel.command({"do": "expand", "path": ["history"]})
    wait_until(lambda: "history" in panel.children, what="history's elements")
    assert panel.children["history"]["items"] == []
    step(panel, "next", lines(program, "APPEND")["APPEND"])
    step(panel, "next", lines(program, "PRINT")["PRINT"])
    wait_until(lambda: [p["repr"] for p in panel.children["history"]["items"]] == ["1.0"], what="history, kept up")
    panel.command({"do": "collapse", "path": ["config"]})
    wait_until(lambda: "config" not in panel.children, what="the collapse")
    assert "config/2" not in panel.children and "config/1" not in panel.children and "history" in panel.children

    session = program.sessions[0]
    session.cont()
    program.assert_finishes_ok()


def test_watches_and_the_expression_box(launch, panels):
    program = launch(TRAIN)
    ln = lines(program, "APPEND", "PRINT")
    panel = open_panel(program, panels)
    wait_until(lambda: panel.state == "paused" and panel.variables, what="the first stop")

    panel.command({"do": "watch", "expression": "len(history) * 10"})
    panel.command({"do": "watch", "expression": "undefined_name"})
    wait_until(lambda: len(panel.watches) == 2, what="two watches")
    first, second = panel.watches
    assert first["expression"] == "len(history) * 10" and first["value"]["repr"] == "0"
    assert second["error"] == "NameError: name 'undefined_name' is not defined"
    step(panel, "next", ln["APPEND"])
    step(panel, "next", ln["PRINT"])  # history.append ran: the watch's value comes with the stop
    wait_until(lambda: panel.watches and panel.watches[0].get("value", {}).get("repr") == "10", what="the new value")
    panel.command({"do": "unwatch", "id": second["id"]})
    wait_until(lambda: [w["expression"] for w in panel.watches] == ["len(history) * 10"], what="the unwatch")

    # The expression box: rich output (HTML, PNG), what it printed, errors.
    panel.command({"do": "eval", "code": "Report()"})
    wait_until(lambda: panel.result.get("code") == "Report()", what="the rich result")
    data = panel.result["data"]
    assert data["text/html"] == "<b class='report'>loss report</b>" and data["text/plain"] == "Report()"
    assert base64.b64decode(data["image/png"]) == b"\x89PNG\r\n\x1a\nnot really"
    panel.command({"do": "eval", "code": "print('from the program') or config['lr']"})
    wait_until(lambda: panel.result.get("code", "").startswith("print"), what="the printed result")
    assert panel.result["stdout"] == "from the program\n" and panel.result["data"] == {"text/plain": "0.01"}
    panel.command({"do": "eval", "code": "1 / 0"})
    wait_until(lambda: panel.result.get("code") == "1 / 0", what="the error")
    assert panel.result["error"] == "ZeroDivisionError: division by zero"
    assert "jupdb" not in panel.result["traceback"].replace(program.path, "")

    # The program is still paused, where it was, and goes on as if nothing happened.
    assert panel.state == "paused" and program.sessions[0].where()[0].line == ln["PRINT"]
    program.sessions[0].cont()
    program.assert_finishes_ok()
    assert program.stdout_lines()[-1] == "trained: [1.0, 0.5, 0.333]"


#: Commands panel.js would never send, and what the panel says to each.
BAD_COMMANDS = [
    ({"do": "fly"}, "unknown panel command 'fly'"),
    ({"no": "do"}, "unknown panel command None"),
    (["next"], "a panel command is a dict, not ['next']"),
    ({"do": "frame", "index": "1"}, "frame: index must be an integer, not '1'"),
    ({"do": "frame", "index": 7}, "there is no frame 7"),
    ({"do": "expand", "path": "config"}, "not a variable's path: 'config'"),
    ({"do": "expand", "path": ["config", "lr"]}, "not a variable's path: ['config', 'lr']"),
    ({"do": "expand", "path": ["__import__('os').system('true')"]}, "not a variable's path: [\"__import__("),
    ({"do": "expand", "path": ["nowhere"]}, "no variable 'nowhere' in this frame"),
    ({"do": "eval", "code": None}, "eval: code must be text, not None"),
    ({"do": "watch", "expression": " "}, "a watch needs an expression"),
    ({"do": "unwatch", "id": 99}, "NoSuchWatch"),
    ({"do": "thread", "id": "12"}, "there is no thread 12"),
    ({"do": "thread", "id": "x"}, "invalid literal for int()"),
]


def test_bad_commands_say_why_and_lose_nothing(launch, panels):
    program = launch(TRAIN)
    panel = open_panel(program, panels)
    wait_until(lambda: panel.state == "paused" and panel.variables, what="the first stop")

    for command, message in BAD_COMMANDS:
        panel.command(command)
        wait_until(lambda: message in panel.message, what=f"the panel to say {message!r} (it says {panel.message!r})")
    panel.command({"do": "eval", "code": "("})
    wait_until(lambda: "SyntaxError" in panel.result.get("error", ""), what="the syntax error")
    panel.command({"do": "next"})  # the panel and the program carry on
    wait_until(lambda: panel.location.get("line") == line_in(program.source, "# APPEND"), what="the next stop")
    assert panel.message == ""
    panel.command({"do": "continue"})
    wait_until(lambda: panel.state == "ended", what="the end")
    program.assert_finishes_ok()


LOSSES = """
import jupdb

def train():
    losses = [0.5, float("nan"), float("inf"), -float("inf"), complex(float("nan"), 1)]
    jupdb.set_trace()
    print("losses", len(losses), flush=True)

train()
"""


def test_a_container_of_nans_and_infinities_expands(launch, panels):
    """A loss history gone NaN is what one debugs: its parts show. (Before, the
    parts' summaries carried their values, and ``nan`` is no Python literal:
    the expansion failed with "malformed node or string".)"""
    program = launch(LOSSES)
    panel = open_panel(program, panels)
    wait_until(lambda: variable(panel, "losses"), what="the variables")
    panel.command({"do": "expand", "path": ["losses"]})
    wait_until(lambda: "losses" in panel.children, what="the parts of losses")
    assert "error" not in panel.children["losses"], panel.children["losses"]
    shown = [p["repr"] for p in panel.children["losses"]["items"]]
    assert shown == ["0.5", "nan", "inf", "-inf", "(nan+1j)"]
    program.sessions[0].cont()
    program.assert_finishes_ok()


THREADS = """
import threading
import time
import jupdb

running = [True]  # not an Event: its is_set() would be the Python call a 3.10 pause stops in

def tick(turns):
    return turns + 1                        # TICK

def spin():
    turns = 0
    while running[0]:                       # WHILE
        turns = tick(turns)
        time.sleep(0.001)                   # SLEEP

worker = threading.Thread(target=spin, name="spinner")
worker.start()
answer = 42
jupdb.set_trace()                           # PAUSE
running[0] = False
worker.join()
print("done", flush=True)
"""


def test_threads_are_listed_chosen_and_paused(launch, panels):
    program = launch(THREADS)
    ln = lines(program, "PAUSE", "WHILE", "SLEEP", "TICK")
    panel = open_panel(program, panels)
    wait_until(lambda: panel.state == "paused" and len(panel.threads) == 2, what="both threads")
    main, spinner = sorted(panel.threads, key=lambda t: t["name"] != "MainThread")
    assert (main["name"], main["paused"], spinner["name"], spinner["paused"]) == ("MainThread", True, "spinner", False)
    assert panel.thread == main["id"] and panel.location["line"] == ln["PAUSE"]

    panel.command({"do": "thread", "id": spinner["id"]})  # a running thread: shown running, pause allowed
    wait_until(lambda: panel.thread == spinner["id"] and panel.state == "running" and panel.pinned, what="the pick")
    panel.command({"do": "next"})
    wait_until(lambda: panel.message, what="the refusal")
    assert panel.message == "ValueError: next: the thread shown is not paused"
    panel.command({"do": "pause"})
    # At a line of spin; on 3.10 and 3.11 a thread other than the main one stops at
    # its next call of a Python function instead: tick's first line.
    wait_until(lambda: panel.state == "paused" and panel.location.get("function") in ("spin", "tick"), what="the pause")
    assert panel.thread == spinner["id"] and panel.location["reason"] == "pause"
    if panel.location["function"] == "spin":
        assert panel.source["current_line"] in range(ln["WHILE"], ln["SLEEP"] + 1)
    else:
        assert panel.source["current_line"] == ln["TICK"]
    assert int(variable(panel, "turns")["repr"]) >= 0
    panel.command({"do": "continue"})
    wait_until(lambda: panel.state == "running", what="the spinner to run again")

    panel.command({"do": "thread", "id": main["id"]})  # back to the paused main thread
    wait_until(lambda: shown_at(panel, ln["PAUSE"]) and panel.thread == main["id"], what="the main thread")
    assert variable(panel, "answer")["repr"] == "42"
    panel.command({"do": "thread", "id": ""})  # the latest stop again
    wait_until(lambda: not panel.pinned, what="the panel to follow the latest stop")
    panel.command({"do": "continue"})
    wait_until(lambda: panel.state == "ended", what="the end")
    program.assert_finishes_ok()
    assert program.stdout_lines() == ["done"]


def test_jupdb_widget_connects_to_the_latest_paused_program(launch, panels):
    program = launch(TRAIN)
    program.wait_paused()
    panel = jupdb.widget()
    panels.append(panel)
    wait_until(lambda: panel.state == "paused", what="the stop")
    assert panel._session.pid == program.pid
    ln = lines(program, "PAUSE")
    assert repr(panel) == f"<jupdb panel of pid {program.pid}: {program.path}: paused at prog.py:{ln['PAUSE']}>"
    program.kill()  # killed: no exited event, the panel finds out by itself
    wait_until(lambda: panel.state == "ended", what="the panel to see the program gone")
    assert str(program.pid) in panel.message


def test_close_stops_the_panel_and_leaves_the_program_paused(launch, panels):
    program = launch(TRAIN)
    session = program.connect()
    panel = session.widget()
    wait_until(lambda: panel.state == "paused", what="the stop")
    panel.close()
    for thread in (panel._worker, panel._reader):
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    assert session.where()[0].line == line_in(program.source, "# PAUSE")  # untouched, still paused
    session.cont()
    program.assert_finishes_ok()


def test_paths_are_variables_and_positions_only():
    assert path_expression(["x"]) == "x"
    assert path_expression(["x", 3]).endswith("(x)[3][1]")
    for bad in ([], ["x", -1], ["x", CHILDREN_LIMIT], ["x", True], ["x y"], [3], "x", None):
        with pytest.raises(ValueError):
            path_expression(bad)


def test_panel_js_is_package_data():
    """panel.js is read through importlib.resources, as from an installed wheel
    (maturin puts every file under python/jupdb into it)."""
    module = importlib.resources.files("jupdb.notebook").joinpath("panel.js")
    assert module.is_file()
    text = module.read_text(encoding="utf-8")
    assert "export default { render }" in text and Panel._esm == text
    # One module, nothing fetched: no imports, no URLs.
    assert not re.search(r"^\s*import\b", text, re.M) and "http://" not in text and "https://" not in text


# -- in a real JupyterLab, in Chromium ----------------------------------------------------------


def chromium() -> str:
    configured = os.environ.get("JUPDB_CHROMIUM")
    if configured:
        assert os.access(configured, os.X_OK), f"JUPDB_CHROMIUM={configured} is not an executable"
        return configured
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if found is None:
        pytest.skip("no Chromium: run scripts/browser.sh (it installs Debian's chromium) or set JUPDB_CHROMIUM")
    return found


#: The front ends the browser test opens the panel in: the server's module, its
#: options, and the path a notebook opens at.
FRONT_ENDS = {
    "JupyterLab": (
        "jupyterlab",
        [
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run the cells by command
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--LabApp.workspaces_dir={tmp}/workspaces",
            "--LabApp.user_settings_dir={tmp}/settings",
        ],
        "lab/tree",
    ),
    "Notebook 7": (
        "notebook",
        [
            "--JupyterNotebookApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.workspaces_dir={tmp}/workspaces",
            "--JupyterNotebookApp.user_settings_dir={tmp}/settings",
        ],
        "notebooks",
    ),
}


@pytest.fixture(params=sorted(FRONT_ENDS))
def jupyter_server(request, tmp_path, runtime_dir):
    """A JupyterLab (or Notebook 7) server serving ``tmp_path/lab``; yields (its url
    with the token, that folder, the path a notebook opens at)."""
    module, options, notebooks = FRONT_ENDS[request.param]
    root = tmp_path / "lab"
    root.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    package = os.path.dirname(os.path.dirname(os.path.abspath(jupdb.__file__)))
    env = dict(
        os.environ,
        JUPDB_RUNTIME_DIR=runtime_dir,
        PYTHONPATH=os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")])),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
    )
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",
            *(option.format(tmp=tmp_path) for option in options),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready():
        assert server.poll() is None, f"{request.param} exited:\n{(tmp_path / 'server.log').read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, what="JupyterLab to serve")
        yield url, token, root, notebooks
    finally:
        server.send_signal(signal.SIGTERM)  # it shuts its kernels down, then exits
        try:
            server.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(TIMEOUT)
        log.close()


NOTEBOOK_CELLS = [
    "import jupdb\npanel = jupdb.widget()  # the most recently paused program\npanel",
]


def test_the_panel_in_a_browser(launch, jupyter_server, tmp_path):
    import nbformat
    from playwright.sync_api import expect, sync_playwright

    program = launch(TRAIN)
    ln = lines(program, "PAUSE", "APPEND", "PRINT", "LOOP", "LOSS")
    program.wait_paused()
    url, token, root, notebooks = jupyter_server
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "panel.ipynb")
    wait = {"timeout": TIMEOUT * 1000}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium())
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            problems = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{url}/{notebooks}/panel.ipynb?token={token}")
            page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget?.sessionContext", **wait)
            page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.ready; }")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            panel = page.locator(".jupdb-panel")
            expect(panel).to_have_attribute("data-state", "paused", **wait)
            current = panel.locator(".jupdb-current")
            expect(current).to_have_attribute("data-line", str(ln["PAUSE"]), **wait)
            history = panel.locator('.jupdb-var[data-name="history"] .jupdb-value')
            expect(history).to_have_text("[]", **wait)
            expect(panel.locator(".jupdb-status")).to_contain_text(f"paused at prog.py:{ln['PAUSE']} in train()")

            # Clicked: the highlighted line moves, and a local changes.
            panel.locator('button[data-action="next"]').click()
            expect(current).to_have_attribute("data-line", str(ln["APPEND"]), **wait)
            panel.locator('button[data-action="next"]').click()
            expect(current).to_have_attribute("data-line", str(ln["PRINT"]), **wait)
            expect(history).to_have_text("[1.0]", **wait)

            # A step made elsewhere (this test's own session): the panel follows.
            elsewhere = program.connect()
            assert elsewhere.next().line == ln["LOOP"]
            expect(current).to_have_attribute("data-line", str(ln["LOOP"]), **wait)
            expect(panel.locator(".jupdb-output")).to_contain_text("epoch 0: loss 1.0", **wait)
            assert elsewhere.next().line == ln["LOSS"]
            expect(current).to_have_attribute("data-line", str(ln["LOSS"]), **wait)

            # Expand a dict, add a watch, evaluate something rich.
            panel.locator('.jupdb-var[data-name="config"] .jupdb-toggle').click()
            expect(panel.locator('.jupdb-var[data-path="config/2"] .jupdb-name')).to_have_text("'origin'", **wait)
            panel.locator("input.jupdb-watch-input").fill("loss * 100")
            panel.locator("input.jupdb-watch-input").press("Enter")
            expect(panel.locator(".jupdb-watch .jupdb-value")).to_have_text("100.0", **wait)
            panel.locator("input.jupdb-eval").fill("Report()")
            panel.locator("input.jupdb-eval").press("Enter")
            expect(panel.locator(".jupdb-result b.report")).to_have_text("loss report", **wait)
            expect(panel.locator(".jupdb-frame.jupdb-selected")).to_contain_text("#0 train()", **wait)

            screenshot = tmp_path / "panel.png"
            panel.screenshot(path=str(screenshot))
            print(f"\nscreenshot of the panel: {screenshot}")

            panel.locator('button[data-action="continue"]').click()
            expect(panel).to_have_attribute("data-state", "ended", **wait)
            program.assert_finishes_ok()
            assert program.stdout_lines()[-1] == "trained: [1.0, 0.5, 0.333]"
            assert not [p for p in problems if "jupdb" in p or "anywidget" in p], problems
        finally:
            browser.close()
