"""The matplotlib figures a notebook cell makes in the debuggee, sent back as PNG.

A cell that plots in a paused program should show its plots as a notebook
cell does, whatever backend the program uses (often a non-interactive one,
or none yet), and leave the program's own figures and backend alone. So,
while a cell runs:

- ``pyplot.show()`` called in the cell's thread sends the figures the cell
  created or drew on at that point, instead of showing windows;
- at its end the rest are sent; the figures it created are then closed, the
  program's own ones are not (they are only drawn, to make the PNG);
- the backend is never switched (``pyplot.switch_backend`` would close every
  figure): a figure is rendered with ``savefig``, which any canvas supports.

Nothing here imports matplotlib: a program that never used it does not get it
from a cell that does not. A cell that imports pyplot itself is followed from
that import on.
"""

from __future__ import annotations

import io
import sys
import threading
import types
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, cast

from .summary import safe_repr

if TYPE_CHECKING:
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

#: Called with each figure to send: it renders it (see :func:`figure_bundle`) and publishes it.
Send = Callable[[Any], None]


def is_figure(obj: Any) -> bool:
    """Whether ``obj`` is a matplotlib Figure (without importing matplotlib)."""
    figure = sys.modules.get("matplotlib.figure")
    cls = getattr(figure, "Figure", None)
    return cls is not None and isinstance(obj, cls)


def figure_bundle(fig: Any) -> Dict[str, Any]:
    """A figure as a notebook shows it: PNG (tight, as IPython's inline backend
    draws it) and its repr."""
    png = io.BytesIO()
    fig.savefig(png, format="png", bbox_inches="tight")
    return {"image/png": png.getvalue(), "text/plain": safe_repr(fig)[0]}


class CellFigures:
    """Follows pyplot's figures while one cell runs on ``thread``, and sends
    (with ``send``) those the cell created or drew on."""

    def __init__(self, thread: int, send: Send) -> None:
        self.thread = thread
        self.send = send
        self.pyplot: Optional[types.ModuleType] = None
        self._original_show: Any = None
        self._show: Any = None  # the show() pyplot has while the cell runs
        self._before: Dict[int, Any] = {}  # id(manager) -> manager, the program's figures
        self._touched: List[Any] = []  # the program's figures the cell drew on, in order
        self._callbacks: Dict[int, Any] = {}  # id(figure) -> the stale_callback it had
        self._shown: List[Any] = []  # figures sent and not drawn on since (held: ids get reused)
        self._watch: Optional[_PyplotImportWatch] = None

    # -- following -------------------------------------------------------------------
    def start(self) -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            self._follow(pyplot)
        else:
            self._watch = _PyplotImportWatch(self._follow)
            sys.meta_path.insert(0, self._watch)

    def _follow(self, pyplot: types.ModuleType) -> None:
        self.pyplot = pyplot
        for manager in _managers(pyplot):
            self._before[id(manager)] = manager
            fig = manager.canvas.figure
            original = fig.stale_callback
            self._callbacks[id(fig)] = original
            fig.stale_callback = self._drawn_on_callback(fig, original)
        self._original_show = pyplot.show
        pyplot.show = self._show = self._cell_show()  # type: ignore[attr-defined]

    def _drawn_on_callback(self, fig: Any, original: Any) -> Callable[[Any, bool], None]:
        """A stale_callback for one of the program's figures: matplotlib calls it
        whenever an artist of the figure changes (whether or not it was stale)."""

        def drawn_on(artist: Any, value: bool) -> None:
            if threading.get_ident() == self.thread and value:
                self._shown = _without(self._shown, fig)
                if not _holds(self._touched, fig):
                    self._touched.append(fig)
            if original is not None:
                original(artist, value)

        drawn_on.jupdb_cell = True  # type: ignore[attr-defined]
        return drawn_on

    def _cell_show(self) -> Callable[..., None]:
        """``pyplot.show`` while a cell runs: in the cell's thread, send its figures
        now. A function, not a method: pyplot sets attributes on its ``show``
        (``__signature__``) when it picks its backend."""

        def show(*args: Any, **kwargs: Any) -> None:
            if threading.get_ident() != self.thread:
                self._original_show(*args, **kwargs)
            else:
                self.flush()

        return show

    # -- sending -------------------------------------------------------------------------
    def shown(self, fig: Any) -> None:
        """``fig`` was sent otherwise (``display(fig)``, the cell's value): not again unless drawn on."""
        if not _holds(self._shown, fig):
            self._shown.append(fig)
        self._touched = _without(self._touched, fig)

    def flush(self) -> None:
        """Send the figures created or drawn on since the last flush; close the created ones."""
        pyplot = self.pyplot
        if pyplot is None:
            return
        created = [m.canvas.figure for m in _managers(pyplot) if id(m) not in self._before]
        touched, self._touched = self._touched, []
        for fig in [*touched, *created]:
            if not _holds(self._shown, fig):
                self.send(fig)
                self._shown.append(fig)
        # Rendering marks a figure as changed: only what the cell does next counts.
        self._touched = []
        for fig in created:
            self._shown = _without(self._shown, fig)
            pyplot.close(fig)

    def finish(self) -> None:
        """Send what is left and put pyplot back as it was (always call it)."""
        try:
            self.flush()
        finally:
            self._stop_following()

    def _stop_following(self) -> None:
        if self._watch is not None:
            try:
                sys.meta_path.remove(self._watch)
            except ValueError:
                pass
        pyplot = self.pyplot
        if pyplot is None:
            return
        if getattr(pyplot, "show", None) is self._show:
            pyplot.show = self._original_show  # type: ignore[attr-defined]
        for manager in self._before.values():
            fig = manager.canvas.figure
            if getattr(fig.stale_callback, "jupdb_cell", False):
                fig.stale_callback = self._callbacks.get(id(fig))


def _holds(figures: List[Any], fig: Any) -> bool:
    return any(f is fig for f in figures)


def _without(figures: List[Any], fig: Any) -> List[Any]:
    return [f for f in figures if f is not fig]


def _managers(pyplot: types.ModuleType) -> List[Any]:
    """pyplot's open figure managers, oldest first (without making one current)."""
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    gcf = getattr(helpers, "Gcf", None)
    return list(gcf.figs.values()) if gcf is not None else []


class _PyplotImportWatch:
    """Calls ``imported(pyplot)`` as soon as ``matplotlib.pyplot`` has been
    imported (by the cell, in the middle of it). A meta path finder by its
    ``find_spec`` (not importlib.abc's subclass: importing that costs the
    program's first attach milliseconds)."""

    def __init__(self, imported: Callable[[types.ModuleType], None]) -> None:
        self.imported = imported

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[types.ModuleType] = None
    ) -> Optional[ModuleSpec]:
        if fullname != "matplotlib.pyplot":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = cast("Loader", _ThenCall(spec.loader, self.imported))
        return spec


class _ThenCall:
    """A module's loader, and a call once the module has run."""

    def __init__(self, loader: Any, then: Callable[[types.ModuleType], None]) -> None:
        self.loader = loader
        self.then = then

    def create_module(self, spec: ModuleSpec) -> Optional[types.ModuleType]:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        self.then(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, … of the real loader
        return getattr(self.loader, name)
