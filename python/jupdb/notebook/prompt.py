"""A terminal IPython's prompt while ``%jupdb on`` runs cells in the paused
frame: ``jupdb[app.py:12]> `` says where they run."""

from __future__ import annotations

import os
from typing import Any, Callable, List, Optional, Tuple

from IPython.terminal.prompts import Prompts
from pygments.token import Token  # type: ignore[import-untyped]  # comes with IPython

from ..remote.session import FrameInfo


class PausedFramePrompts(Prompts):  # type: ignore[misc]  # IPython is typed Any here
    """The shell's own prompts, but the input prompt names the paused frame."""

    def __init__(self, shell: Any, before: Any, where: Callable[[], Optional[FrameInfo]]) -> None:
        super().__init__(shell)
        self.before = before
        self.where = where

    def in_prompt_tokens(self) -> List[Tuple[Any, str]]:
        frame = self.where()
        place = "?" if frame is None else f"{os.path.basename(frame.file)}:{frame.line}"
        return [(Token.Prompt, f"jupdb[{place}]> ")]

    def out_prompt_tokens(self) -> Any:
        return self.before.out_prompt_tokens()
