"""pdb's words over a remote Session, shared by the notebook's ``%jupdb`` and
the terminal's ``jupdb attach`` (neither depends on the other)."""

from .views import View, as_html, message, table
from .words import Command, CommandError, Commands, Current, command, program_errors, usage_of

__all__ = [
    "Command",
    "CommandError",
    "Commands",
    "Current",
    "View",
    "as_html",
    "command",
    "message",
    "program_errors",
    "table",
    "usage_of",
]
