"""The IPython side of ``%load_ext jupdb``: the ``%jupdb`` and ``%%jupdb`` magics
and the ``%jupdb on`` mode.

- ``%jupdb COMMAND``: pdb's words (see :mod:`.commands`).
- ``%%jupdb [TARGET]``: the cell runs in the paused frame; its output (streams,
  ``display()``, the last expression's value) comes back into the cell as it
  is made; the interrupt button interrupts it in the program.
- ``%jupdb on`` / ``%jupdb off``: every cell in between runs as ``%%jupdb``.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from ..commands.views import message
from ..remote.session import Session, jupyter_bundle
from . import current
from .commands import CommandError, Commands, program_errors, usage_of
from .completer import make_matcher


class CellInterrupted(KeyboardInterrupt):
    """A ``%%jupdb`` cell stopped by the interrupt button; shown as one line."""

    def _render_traceback_(self) -> List[str]:
        return [f"KeyboardInterrupt: {self}"]


class CellOutput:
    """Shows a remote cell's events in the cell that runs it, in order: streams
    on this process's ``sys.stdout``/``sys.stderr`` (a kernel forwards them),
    ``display_data`` as display data, the last expression's value as the cell's
    result (``Out[n]``)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def __call__(self, msg_type: str, content: Dict[str, Any]) -> None:
        if msg_type == "stream":
            stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
            stream.write(content.get("text", ""))
            stream.flush()
        elif msg_type == "display_data":
            display(jupyter_bundle(content.get("data", {})), raw=True, metadata=content.get("metadata") or None)
        elif msg_type == "execute_result":
            self._result(jupyter_bundle(content.get("data", {})), content.get("metadata") or {})

    def _result(self, data: Dict[str, Any], metadata: Dict[str, Any]) -> None:
        """What IPython's display hook does with a value, given its MIME bundle
        (there is no object here to format)."""
        hook = getattr(self.shell, "displayhook", None)
        steps = ("start_displayhook", "write_output_prompt", "write_format_data", "finish_displayhook")
        if hook is None or not all(hasattr(hook, step) for step in steps):
            display(data, raw=True, metadata=metadata or None)
            return
        hook.start_displayhook()
        hook.write_output_prompt()
        hook.write_format_data(data, metadata)
        if "text/plain" in data and hasattr(hook, "log_output"):
            hook.log_output(data)
        hook.finish_displayhook()


def _prefix_with_cell_magic(lines: List[str]) -> List[str]:
    """``%jupdb on``'s input transformer: a cell runs as ``%%jupdb``, unless it
    is a jupdb magic itself (``%jupdb off`` among them)."""
    first = next((line for line in lines if line.strip()), None)
    if first is None or first.lstrip().startswith(("%jupdb", "%%jupdb")):
        return lines
    return ["%%jupdb\n", *lines]


# IPython's check for a complete input (a terminal's Enter) must not see cells as
# cell magics, which would need a blank line to end them.
_prefix_with_cell_magic.has_side_effects = True  # type: ignore[attr-defined]


@magics_class
class JupdbMagics(Magics):  # type: ignore[misc]  # IPython is typed Any here
    """``%jupdb`` / ``%%jupdb`` (see the module's docstring)."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.commands = Commands(show=display, say=print)
        #: Whether every cell runs in the paused frame (``%jupdb on``).
        self.on = False
        self._prompts_before: Any = None
        self.matcher = make_matcher(lambda: self.on)

    @line_cell_magic  # type: ignore[untyped-decorator]
    def jupdb(self, line: str, cell: Optional[str] = None) -> None:
        """Debug a paused program from here: ``%jupdb help`` lists the commands;
        ``%%jupdb [TARGET]`` runs the cell in the paused frame."""
        try:
            if cell is not None:
                self.run_cell(line.strip(), cell)
                return
            word, _, args = line.strip().partition(" ")
            if word == "on":
                self.switch_on(args.strip())
            elif word == "off":
                self.switch_off(args.strip())
            else:
                self.commands.run(line if word else "help")
        finally:
            if self.on and current.get() is None:  # the program ended, or was detached from
                self.switch_off()

    # -- cells -------------------------------------------------------------------------
    def run_cell(self, target: str, cell: str) -> None:
        """Run ``cell`` in the paused frame of ``target`` (default: the current program)."""
        with program_errors():
            session = self.commands.connect(target) if target else self.commands.session()
            if not cell.strip():
                return
            try:
                session.run_cell(cell, on_event=CellOutput(self.shell))
            except KeyboardInterrupt as exc:
                if "abandoned" in str(exc):  # a second Ctrl-C: Session.run_cell stopped waiting for it
                    raise CellInterrupted(f"{exc} (pid {session.pid})") from None
                raise CellInterrupted(f"the cell was interrupted in pid {session.pid}, which stays paused") from None

    # -- on / off ------------------------------------------------------------------------
    def switch_on(self, args: str) -> None:
        if args:
            raise CommandError(f"on takes no arguments\nusage: {usage_of('on')}")
        with program_errors():
            session = self.commands.session()
            stack = session.where()
            frame = stack[stack.selected]
            thread = self._describe_thread(session, stack[0].file, stack[0].line)
        self.commands.location = frame
        transforms = self.shell.input_transformers_cleanup
        if _prefix_with_cell_magic not in transforms:
            transforms.append(_prefix_with_cell_magic)
        self.on = True
        self._use_prompt()
        display(
            message(
                f"jupdb: cells now run in pid {session.pid}, {thread}, at {frame.file}:{frame.line} "
                f"in {frame.function}() (frame {frame.index}); %jupdb off runs them here again"
            )
        )

    def switch_off(self, args: str = "") -> None:
        if args:
            raise CommandError(f"off takes no arguments\nusage: {usage_of('off')}")
        transforms = self.shell.input_transformers_cleanup
        while _prefix_with_cell_magic in transforms:
            transforms.remove(_prefix_with_cell_magic)
        was_on, self.on = self.on, False
        if self._prompts_before is not None:
            self.shell.prompts = self._prompts_before
            self._prompts_before = None
        if was_on:
            print("jupdb: cells run here again")

    def _describe_thread(self, session: Session, file: str, line: int) -> str:
        """The thread cells run in, in words."""
        paused = [t for t in session.threads() if t.paused]
        here = [t for t in paused if t.location is not None and (t.location.file, t.location.line) == (file, line)]
        chosen = [t for t in paused if t.id == self.commands.thread] or here or paused
        return f"thread {chosen[0].id} ({chosen[0].name})" if chosen else "a paused thread"

    def _use_prompt(self) -> None:
        """In a terminal IPython, a prompt that says where cells run."""
        if self._prompts_before is not None or not hasattr(self.shell, "prompts"):
            return
        from .prompt import PausedFramePrompts  # prompt_toolkit: a terminal's alone

        self._prompts_before = self.shell.prompts
        self.shell.prompts = PausedFramePrompts(self.shell, self._prompts_before, lambda: self.commands.location)


_loaded: Optional[JupdbMagics] = None


def load(shell: Any) -> None:
    """Register the magics and the completer with ``shell``."""
    global _loaded
    if _loaded is not None:
        unload(_loaded.shell)
    magics = JupdbMagics(shell)
    shell.register_magics(magics)
    completer = getattr(shell, "Completer", None)
    if completer is not None and magics.matcher is not None:
        completer.custom_matchers.append(magics.matcher)
    _loaded = magics


def unload(shell: Any) -> None:
    """Undo :func:`load`: magics, mode, completer, and the current session."""
    global _loaded
    magics, _loaded = _loaded, None
    if magics is None:
        return
    magics.switch_off()
    completer = getattr(shell, "Completer", None)
    if completer is not None and magics.matcher in completer.custom_matchers:
        completer.custom_matchers.remove(magics.matcher)
    shell.magics_manager.magics["line"].pop("jupdb", None)
    shell.magics_manager.magics["cell"].pop("jupdb", None)
    current.use(None)
