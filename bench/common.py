"""Helpers shared by the jupdb benchmarks (timing, verdicts, tables, JSON results).

Not a benchmark itself; imported by ``calls.py``, ``import_time.py`` and ``summary.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

PY = "%d.%d" % sys.version_info[:2]


def best_of(
    cases: Dict[str, Callable[[], object]],
    repeat: int = 5,
    budget_s: float = 15.0,
) -> Dict[str, dict]:
    """Time every case ``repeat`` times, interleaving the rounds, keep the best.

    Rounds are interleaved (case A, B, C, A, B, C, ...) so slow drift of the
    machine hits all cases alike, and so a case that leaves a hook installed
    shows up as a slowdown of the cases after it.  A case whose runs add up to
    more than ``budget_s`` gets no further rounds (it always gets one), so the
    100x-slower tracers do not take minutes.  GC is off while timing.
    Returns ``{name: {"best_s", "runs", "value"}}`` where value is what the
    case returned on its last run.
    """
    out = {name: {"best_s": float("inf"), "runs": 0, "spent_s": 0.0, "value": None} for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            rec = out[name]
            if rec["runs"] and rec["spent_s"] > budget_s:
                continue
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                value = fn()
                dt = time.perf_counter() - t0
            finally:
                gc.enable()
            rec["best_s"] = min(rec["best_s"], dt)
            rec["spent_s"] += dt
            rec["runs"] += 1
            rec["value"] = value
    for rec in out.values():
        del rec["spent_s"]
    return out


def verdict(value: Optional[float], limit: Optional[float]) -> str:
    """'PASS'/'MISS' against an upper limit, '' when there is no target."""
    if limit is None:
        return ""
    if value is None:
        return "MISS"
    return "PASS" if value <= limit else "MISS"


def available(module: Optional[str]) -> bool:
    """Whether ``module`` (an anchor's package; None: nothing needed) can be imported."""
    if module is None:
        return True
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def table(header: Sequence[str], rows: Iterable[Sequence[object]], markdown: bool = False) -> str:
    """Format rows as a plain aligned table, or as a GitHub markdown table."""
    rows = [[str(c) for c in r] for r in rows]
    header = [str(h) for h in header]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    cols = list(zip(header, *rows))
    widths = [max(len(x) for x in col) for col in cols]
    # numbers (and ratios like "4.45x PASS") right-aligned, text left-aligned
    right = [i > 0 and all(c[:1].isdigit() or c[:1] in "<-" for c in col[1:] if c) for i, col in enumerate(cols)]
    fmt = lambda r: "  ".join(c.rjust(w) if rj else c.ljust(w) for c, w, rj in zip(r, widths, right)).rstrip()
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows])


def interpreter() -> str:
    return "%s %s (%s)" % (platform.python_implementation(), platform.python_version(), sys.executable)


def arg_parser(doc: Optional[str]) -> argparse.ArgumentParser:
    """Argument parser with the ``--json FILE`` option every benchmark takes."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    return p


def write_json(path: Optional[str], kind: str, payload: dict) -> None:
    if not path:
        return
    data = {"kind": kind, "python": PY, "version": platform.python_version(), **payload}
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


def load_json(paths: Iterable[str]) -> List[dict]:
    out = []
    for p in paths:
        with open(p) as f:
            out.append(json.load(f))
    return out
