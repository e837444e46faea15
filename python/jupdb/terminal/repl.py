"""The prompt of ``jupdb attach``: pdb's loop over a remote Session.

The main thread reads lines (readline: history kept across sessions, Tab
completion of commands and of the program's names) and runs them. While it
waits at the prompt, a *follower* thread reads the program's events and
prints them above the prompt: another client's step or continue shows its
new stop, or that the program runs, and the program's output appears as it
comes. The follower stops before any command runs, so that a command's own
events (its step's stop) are read by the command.
"""

from __future__ import annotations

import codeop
import os
import signal
import sys
import threading
from typing import Any, List, Optional

from ..commands.words import CommandError
from ..remote.session import RemoteError, Session, _stop
from .commands import Slot, TerminalCommands, error_text, pdb_location

PROMPT = "(jupdb) "
CONTINUATION = "... "

#: Characters that end the word Tab completes: what precedes a name in Python,
#: not the dot of an attribute.
COMPLETER_DELIMS = " \t\n`~!@#$%^&*()-=+[{]}\\|;:'\",<>/?"


def history_path() -> str:
    """Where the prompt's history is kept: ``$XDG_STATE_HOME/jupdb/history``
    (default ``~/.local/state/jupdb/history``)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "jupdb", "history")


class Terminal:
    """pdb's prompt for one attached session."""

    def __init__(self, session: Session) -> None:
        self.slot = Slot(session)
        self.commands = TerminalCommands(self._show, self.say, self.slot)
        self.commands.ask = self._ask
        self._print_lock = threading.RLock()
        self._at_prompt = False
        self._prompt = PROMPT
        self._follower: Optional[threading.Thread] = None
        self._following = threading.Event()
        self._readline: Any = None

    @property
    def session(self) -> Session:
        """The attached session (``attach PID`` at the prompt changes it)."""
        return self.slot.get_or_connect()

    # -- printing -------------------------------------------------------------------------
    def say(self, text: str) -> None:
        with self._print_lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def _show(self, obj: Any) -> None:
        self.say(obj if isinstance(obj, str) else repr(obj))

    def _above_prompt(self, text: str) -> None:
        """Print ``text`` while the user may be typing: above the prompt,
        which is drawn again with what was typed so far."""
        with self._print_lock:
            if not self._at_prompt:
                sys.stdout.write(text)
                sys.stdout.flush()
                return
            typed = self._readline.get_line_buffer() if self._readline is not None else ""
            sys.stdout.write("\r\x1b[K" + text + ("" if text.endswith("\n") else "\n") + self._prompt + typed)
            sys.stdout.flush()

    def _ask(self, prompt: str) -> str:
        self._prompt = prompt
        try:
            return input(prompt)
        finally:
            self._prompt = PROMPT

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Read and run lines until ``detach``, Ctrl-D, ``q`` or the program's end."""
        self._setup_readline()
        try:
            self._greet()
            while not self.commands.done:
                try:
                    line = self._read()
                except EOFError:
                    if not self.commands.done:
                        self.say("")
                        self.commands.run_line("detach")
                    break
                except KeyboardInterrupt:
                    self.say("")
                    if not self.commands.done:
                        self._pause_if_running()
                    continue
                self._run(line)
        finally:
            self._stop_following()
            self._save_history()
            self.slot.use(None)
        return 0

    def _greet(self) -> None:
        session = self.session
        self.say(f"jupdb: attached to pid {session.pid} ({' '.join(session.info.get('argv') or []) or '?'})")
        paused = session.status().get("paused_threads") or []
        if not paused:
            self.say("the program is running; Ctrl-C (or pause) stops it, Ctrl-D leaves it running")
            return
        # The most recently paused thread (requests go to it), with why it stopped (an exception).
        chosen = next((t for t in session.threads() if t.id == paused[-1]["id"]), None)
        if chosen is not None and chosen.location is not None:
            self.commands.show_stop(chosen.location)

    def _read(self) -> str:
        """One command, or a Python block of several lines (a line that opens
        one asks for more with ``...`` until a blank line, as pdb 3.13)."""
        first = self._input(PROMPT)
        body = first.strip()
        if body.startswith("!"):
            body = body[1:]
        word = body.split(" ", 1)[0]
        if not body or (self.commands.find(word) is not None and not first.strip().startswith("!")):
            return first
        lines = [first]
        while _incomplete("\n".join(lines).strip().removeprefix("!")):
            more = self._input(CONTINUATION)
            lines.append(more)
            if not more.strip():
                break
        return "\n".join(lines)

    def _input(self, prompt: str) -> str:
        self._prompt = prompt
        self._start_following()
        try:
            with self._print_lock:
                if self.commands.done:  # the program ended as the prompt came
                    raise EOFError
                self._at_prompt = True
            return input(prompt)
        finally:
            with self._print_lock:
                self._at_prompt = False
            self._stop_following()
            self._prompt = PROMPT

    def _run(self, line: str) -> None:
        try:
            self.commands.run_line(line)
        except (CommandError, RemoteError) as exc:
            self.say(error_text(exc))
        except KeyboardInterrupt as exc:
            self.say(f"*** KeyboardInterrupt{': ' + str(exc) if str(exc) else ''}")
        except (ConnectionError, TimeoutError) as exc:
            self.say(f"*** {exc}")
        except Exception as exc:  # a bug of jupdb's: say it, and keep the prompt (the program waits on it)
            self.say(f"*** jupdb failed on that line: {type(exc).__name__}: {exc}")
        if self.slot.get() is None:
            self.commands.done = True

    def _pause_if_running(self) -> None:
        """Ctrl-C at the prompt: pause the program if it runs (as pdb's Ctrl-C does)."""
        try:
            if self.session.status().get("paused_threads"):
                return
            self.commands.run("pause")
        except (CommandError, RemoteError, ConnectionError, TimeoutError, KeyboardInterrupt) as exc:
            self.say(error_text(exc))

    # -- following the program while at the prompt -------------------------------------------
    def _start_following(self) -> None:
        if self._follower is not None:
            return
        self._following.set()
        self._follower = threading.Thread(target=self._follow, name="jupdb-follow", daemon=True)
        self._follower.start()

    def _stop_following(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            self._following.clear()
            follower.join()

    def _follow(self) -> None:
        try:
            session = self.session
        except CommandError:  # not attached any more: nothing to follow
            return
        while self._following.is_set():
            try:
                event = session.next_event(0.05)
            except Exception:  # the session closed under us: nothing more to follow
                return
            if event is None:
                continue
            msg_type, content, _, thread = event
            if msg_type == "output":
                stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
                if stream is sys.stdout:
                    self._above_prompt(content.get("text", ""))
                else:
                    with self._print_lock:
                        stream.write(content.get("text", ""))
                        stream.flush()
            elif msg_type == "paused":
                stop = _stop(content["location"], content["thread"], content)
                self.commands.location = stop
                self.commands.listing = None
                self._above_prompt(pdb_location(stop, current=True) + "\n")
            elif msg_type == "resumed":
                action = content.get("action", "continue")
                self._above_prompt(
                    f"[jupdb: thread {content.get('thread')} runs on ({action}), moved by another client]\n"
                )
            elif msg_type == "exited":
                self._above_prompt(f"[jupdb: the program (pid {session.pid}) has exited]\n")
                with self._print_lock:
                    self.commands.done = True
                    if self._at_prompt:
                        os.kill(os.getpid(), signal.SIGINT)  # ends the wait at the prompt
                return

    # -- readline -------------------------------------------------------------------------
    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # no readline (Windows): the prompt works, without history or completion
            return
        self._readline = readline
        readline.set_completer_delims(COMPLETER_DELIMS)
        readline.set_completer(self._complete)
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        readline.set_history_length(1000)
        path = history_path()
        try:
            readline.read_history_file(path)
        except OSError:
            pass  # none yet

    def _save_history(self) -> None:
        if self._readline is None:
            return
        path = history_path()
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # created private, before anything is in it
            os.chmod(path, 0o600)
            self._readline.write_history_file(path)
        except OSError as exc:
            sys.stderr.write(f"jupdb: history not saved to {path}: {exc}\n")

    def _complete(self, text: str, state: int) -> Optional[str]:
        if state == 0:
            try:
                self._matches = self._completions(text)
            except Exception:  # completion never breaks the prompt
                self._matches = []
        return self._matches[state] if state < len(self._matches) else None

    def _completions(self, text: str) -> List[str]:
        readline = self._readline
        line = readline.get_line_buffer()
        begin, end = readline.get_begidx(), readline.get_endidx()
        before = line[:begin]
        if not before.strip() and not text.startswith("!"):  # the first word: a command, or a name
            names = sorted({n for c in self.commands.commands() for n in c.names if n.startswith(text)})
            return names + self._remote(text, text)
        code_start = 0
        word = line.lstrip().split(" ", 1)[0]
        if line.lstrip().startswith("!"):
            code_start = line.index("!") + 1
        elif self.commands.find(word) is not None:
            code_start = line.index(word) + len(word)
        return self._remote(line[code_start:end], text)

    def _remote(self, code: str, text: str) -> List[str]:
        """Completions of ``code`` (the text before the cursor) from the
        program's frame, as replacements of ``text`` (readline's word)."""
        if not self.session.status().get("paused_threads"):
            return []
        found = self.session.complete(code, len(code), timeout=2.0)
        start = len(code) - len(text)  # where readline's word starts in code
        out = []
        for match in found["matches"]:
            full = code[: found["cursor_start"]] + match
            if full[:start] == code[:start]:  # readline replaces its word only
                out.append(full[start:])
        return out


def _incomplete(source: str) -> bool:
    """Whether ``source`` opens a block that needs more lines."""
    try:
        return codeop.compile_command(source, "<stdin>", "single") is None
    except (SyntaxError, ValueError, OverflowError):
        return False  # an error: run it, and say so
