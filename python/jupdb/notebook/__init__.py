"""The notebook layer: jupdb from IPython and Jupyter.

``%load_ext jupdb`` adds the ``%jupdb`` / ``%%jupdb`` magics and completion from
the paused frame; :func:`jupdb.jump_context` brings a paused frame's locals
into the notebook for the length of a ``with`` block.

Everything here drives the debugged program through :class:`jupdb.Session`
only; nothing in this package touches sockets. Importing it does not import
IPython: the magics are loaded by :func:`load_ipython_extension`.
"""

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupdb``: register the magics and the completer."""
    from .magics import load  # IPython itself: only when IPython asks

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupdb``: remove them, end ``%jupdb on``, disconnect."""
    from .magics import unload

    unload(ipython)
