"""Which file a client means: a breakpoint's file is found in the debuggee,
as pdb's ``lookupmodule`` finds it, never in the client's directory."""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Iterator, Optional


def find_source(name: str) -> pathlib.Path:
    """The existing file ``name`` names in this program, resolved: an absolute
    path as is; a module imported under that name (``"pkg.mod"``); else the
    first match of ``name`` (with ``.py`` added when it has no extension, or
    as a dotted module name) in the program's working directory, its main
    script's directory, then each ``sys.path`` entry. Raises FileNotFoundError
    saying where it looked."""
    for candidate in _candidates(name):
        if os.path.isfile(candidate):
            return pathlib.Path(candidate).resolve()
    if os.path.isabs(name):
        raise FileNotFoundError(f"no such file: {name}")
    script = _script_dir()
    raise FileNotFoundError(
        f"no file {name!r} in the program's working directory ({os.getcwd()})"
        + (f", its script's directory ({script})" if script else "")
        + " or sys.path, and no module of that name; give an absolute path"
    )


def _candidates(name: str) -> Iterator[str]:
    if os.path.isabs(name):
        yield name
        return
    module = sys.modules.get(name)
    module_file: Optional[str] = getattr(module, "__file__", None) if module is not None else None
    if module_file:
        yield module_file
    names = [name]
    root, ext = os.path.splitext(name)
    if not ext:
        names.append(name + ".py")
    if name.replace(".", "").replace("_", "").isalnum():  # a dotted module name: pkg.mod
        base = name.replace(".", os.sep)
        names += [base + ".py", os.path.join(base, "__init__.py")]
    script = _script_dir()
    for directory in [os.getcwd(), *([script] if script else []), *sys.path]:
        for each in names:
            yield os.path.join(directory or os.getcwd(), each)  # "" on sys.path: the working directory


def _script_dir() -> Optional[str]:
    """The directory of the program's main script, if it has one."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    return os.path.dirname(os.path.abspath(file)) if file else None
