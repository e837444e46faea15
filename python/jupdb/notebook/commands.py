"""The notebook's ``%jupdb`` commands: pdb's words (:mod:`jupdb.commands`)
over the notebook's current session, written as ``%jupdb <command>``, and the
two the magic answers itself (``on``, ``off``)."""

from __future__ import annotations

from typing import Any, Callable, ContextManager

from ..commands import words
from ..commands.words import Command, CommandError
from . import current

__all__ = ["MAGIC_COMMANDS", "CommandError", "Commands", "program_errors", "usage_of"]


def _answered_by_the_magic(commands: Any, args: str) -> None:
    raise CommandError("on and off change how the notebook runs cells: the %jupdb magic answers them")


#: Commands the magic itself answers (they change the notebook, not the program);
#: listed by ``help`` with the rest.
MAGIC_COMMANDS = [
    Command(("on",), "on", "run every following cell in the paused frame, as %%jupdb", _answered_by_the_magic),
    Command(("off",), "off", "run cells here again", _answered_by_the_magic),
]


class Commands(words.Commands):
    """Runs ``%jupdb`` command lines against the notebook's current session."""

    prefix = "%jupdb "
    extra = MAGIC_COMMANDS

    def __init__(self, show: Callable[[Any], None], say: Callable[[str], None]) -> None:
        super().__init__(show, say, current)

    def usage_head(self) -> str:
        return "usage: %jupdb COMMAND [ARGS]   (%%jupdb [TARGET] runs a cell in the paused frame)"


def usage_of(name: str) -> str:
    """``%jupdb`` and the usage of command ``name``."""
    return Commands.prefix + (next((c.usage for c in Commands.commands() if name in c.names), name))


def program_errors() -> ContextManager[None]:
    """:func:`jupdb.commands.program_errors` for the notebook's current session."""
    return words.program_errors(current)
