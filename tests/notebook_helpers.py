"""Helpers for the notebook layer's tests: a real IPython kernel (ipykernel,
started and driven with jupyter_client) next to real debuggee subprocesses
(``launch`` from remote_helpers).

* ``kernel`` (fixture): a kernel started with this test's environment — its
  ``JUPDB_RUNTIME_DIR`` (so the kernel finds this test's debuggees only) and a
  ``PYTHONPATH`` with this checkout's jupdb — and shut down after the test.
* ``Kernel.execute(code)`` runs a cell and returns a :class:`Run`: every
  iopub message the cell caused, in order, and its ``execute_reply``.
  ``Kernel.submit`` / ``Kernel.wait_for`` / ``Kernel.collect`` do the same in
  steps, for a test that acts while the cell runs (the interrupt button).
* ``Kernel.complete(code, cursor_pos)``: a ``complete_request``'s reply.

Import with ``from notebook_helpers import kernel  # noqa: F401`` (and
``launch``, ``runtime_dir`` from remote_helpers).
"""

from __future__ import annotations

import base64
import os
import queue
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from jupyter_client import KernelManager

import jupdb
from remote_helpers import TIMEOUT

#: The directory that holds this checkout's ``jupdb`` package.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(jupdb.__file__)))


class Run:
    """What one ``execute_request`` caused: iopub outputs in order, and the reply."""

    def __init__(self, msg_id: str, messages: List[Dict[str, Any]], reply: Dict[str, Any]) -> None:
        self.msg_id = msg_id
        self.messages = messages
        self.reply = reply

    @property
    def outputs(self) -> List[Tuple[str, Dict[str, Any]]]:
        """(msg_type, content) of what a notebook shows: streams, display data, results, errors."""
        shown = ("stream", "display_data", "execute_result", "error")
        return [(m["msg_type"], m["content"]) for m in self.messages if m["msg_type"] in shown]

    @property
    def ok(self) -> bool:
        return self.reply.get("status") == "ok"

    def stream(self, name: str) -> str:
        return "".join(c["text"] for t, c in self.outputs if t == "stream" and c["name"] == name)

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def stderr(self) -> str:
        return self.stream("stderr")

    def data(self, mime: str) -> List[Any]:
        """Every value of ``mime`` in display data and results, in order."""
        shown = [c["data"] for t, c in self.outputs if t in ("display_data", "execute_result")]
        return [data[mime] for data in shown if mime in data]

    @property
    def text(self) -> str:
        """All the text a terminal would show: streams, text/plain of displays, tracebacks."""
        parts = []
        for t, c in self.outputs:
            if t == "stream":
                parts.append(c["text"])
            elif t in ("display_data", "execute_result"):
                parts.append(c["data"].get("text/plain", "") + "\n")
            elif t == "error":
                parts.append("\n".join(c["traceback"]) + "\n")
        return "".join(parts)

    @property
    def html(self) -> str:
        return "\n".join(self.data("text/html"))

    def png(self) -> List[bytes]:
        return [base64.b64decode(v) for v in self.data("image/png")]

    @property
    def error(self) -> Optional[Dict[str, Any]]:
        """The error output's content (``ename``, ``evalue``, ``traceback``), if any."""
        return next((c for t, c in self.outputs if t == "error"), None)

    def __repr__(self) -> str:  # what a failed assertion shows
        return f"<Run {self.reply.get('status')}: {self.outputs!r}>"


class Kernel:
    """A running ipykernel and a blocking client to it."""

    def __init__(self, env: Dict[str, str], cwd: str) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=cwd)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=TIMEOUT)
        self._pending: Dict[str, List[Dict[str, Any]]] = {}
        self._idle: set = set()

    def submit(self, code: str) -> str:
        """Send a cell; its msg_id (see :meth:`collect`). Each cell stands alone: one that
        fails does not make the kernel abort those sent after it (``stop_on_error``, which
        a notebook's Run All wants, made a cell sent just after a failed one flaky)."""
        msg_id = self.client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        self._pending[msg_id] = []
        return msg_id

    def _read_iopub(self, timeout: float) -> None:
        try:
            msg = self.client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return
        parent = msg["parent_header"].get("msg_id")
        if parent in self._pending:
            self._pending[parent].append({"msg_type": msg["header"]["msg_type"], "content": msg["content"]})
            if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                self._idle.add(parent)

    def wait_for(self, msg_id: str, predicate: Callable[[Run], bool], timeout: float = TIMEOUT) -> Run:
        """Read outputs until ``predicate`` holds for what cell ``msg_id`` showed so far."""
        deadline = time.monotonic() + timeout
        while True:
            so_far = Run(msg_id, list(self._pending[msg_id]), {})
            if predicate(so_far):
                return so_far
            if msg_id in self._idle:
                raise AssertionError(f"the cell ended before the condition held: {so_far!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout} s; the cell showed {so_far!r}")
            self._read_iopub(min(left, 0.5))

    def collect(self, msg_id: str, timeout: float = TIMEOUT) -> Run:
        """Wait for cell ``msg_id`` to finish: all it showed, and its reply."""
        self.wait_for(msg_id, lambda run: msg_id in self._idle, timeout)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no execute_reply within {timeout} s")
            reply = self.client.get_shell_msg(timeout=left)
            if reply["parent_header"].get("msg_id") == msg_id:
                return Run(msg_id, self._pending.pop(msg_id), reply["content"])

    def execute(self, code: str, timeout: float = TIMEOUT) -> Run:
        """Run a cell to its end."""
        return self.collect(self.submit(code), timeout)

    def ok(self, code: str, timeout: float = TIMEOUT) -> Run:
        """Run a cell that must succeed."""
        run = self.execute(code, timeout)
        assert run.ok, f"cell failed: {code!r}\n{run.text}"
        return run

    def complete(self, code: str, cursor_pos: Optional[int] = None) -> Dict[str, Any]:
        msg_id = self.client.complete(code, len(code) if cursor_pos is None else cursor_pos)
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self.client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.01))
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"]

    def interrupt(self) -> None:
        """The interrupt button."""
        self.manager.interrupt_kernel()

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(runtime_dir, tmp_path, monkeypatch):
    """A kernel for this test (see the module's docstring); jupdb loaded."""
    # The kernel's connection file and IPython's history stay in this test's directory.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    pythonpath = os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, JUPDB_RUNTIME_DIR=runtime_dir, PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1")
    env.pop("PYTHONBREAKPOINT", None)
    env.pop("MPLBACKEND", None)
    started = Kernel(env, str(tmp_path))
    try:
        started.ok("%load_ext jupdb")
        yield started
    finally:
        started.shutdown()
