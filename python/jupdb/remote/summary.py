"""Value summaries: what a client sees of a remote object without receiving it.

Everything here runs the program's objects' code (``__repr__``, ``__len__``,
properties) on behalf of a client, so every call is guarded against any
``BaseException``: a ``__repr__`` that raises ``SystemExit`` or
``KeyboardInterrupt`` is described, and never ends the program.
"""

from __future__ import annotations

from typing import Any, Dict

#: Default length at which a remote ``repr()`` is cut (``truncated`` says so).
REPR_LIMIT = 1000

_MIME_METHODS = {
    "_repr_html_": "text/html",
    "_repr_markdown_": "text/markdown",
    "_repr_svg_": "image/svg+xml",
    "_repr_png_": "image/png",
    "_repr_jpeg_": "image/jpeg",
    "_repr_latex_": "text/latex",
    "_repr_json_": "application/json",
}


def type_name(obj: Any) -> str:
    cls = type(obj)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", None) else f"{module}.{cls.__qualname__}"


def safe_repr(obj: Any, limit: int = REPR_LIMIT) -> tuple[str, bool]:
    """``repr(obj)`` cut at ``limit`` characters; a failing repr is described, not raised."""
    try:
        text = repr(obj)
    except BaseException as exc:  # a broken __repr__ must not break the debugger, nor end the program
        text = f"<{type_name(obj)} object; repr() raised {type(exc).__name__}: {safe_str(exc)}>"
    if len(text) > limit:
        return text[:limit], True
    return text, False


def safe_str(obj: Any) -> str:
    """``str(obj)``, or a description of why it failed (whatever it raised)."""
    try:
        return str(obj)
    except BaseException as exc:
        try:
            return f"<str() raised {type(exc).__name__}>"
        except BaseException:
            return "<str() failed>"


def mime_bundle(obj: Any) -> Dict[str, Any]:
    """The object's rich representations (IPython's protocol), without text/plain."""
    bundle: Dict[str, Any] = {}
    method = getattr(type(obj), "_repr_mimebundle_", None)
    if method is not None:
        try:
            data = method(obj)
            if isinstance(data, tuple):
                data = data[0]
            if isinstance(data, dict):
                bundle.update({k: v for k, v in data.items() if isinstance(k, str) and _mime_value(k, v)})
        except BaseException:
            pass
    for name, mime in _MIME_METHODS.items():
        if mime in bundle or getattr(type(obj), name, None) is None:
            continue
        try:
            data = getattr(obj, name)()
        except BaseException:
            continue
        if isinstance(data, tuple):
            data = data[0]
        if _mime_value(mime, data):
            bundle[mime] = data
    bundle.pop("text/plain", None)
    return bundle


def _mime_value(mime: str, value: Any) -> bool:
    """Whether ``value`` can stand for ``mime`` in a bundle: str or bytes, or for
    a JSON type (application/json, plotly's and vega's ``…+json``) JSON data."""
    if isinstance(value, (str, bytes)):
        return True
    return (mime == "application/json" or mime.endswith("+json")) and _is_json(value, 32)


def _is_json(value: Any, depth: int) -> bool:
    """JSON data (exact built-in types, str keys), nested at most ``depth`` deep."""
    if type(value) in (str, int, float, bool, type(None)):
        return True
    if depth == 0:
        return False
    if type(value) in (list, tuple):
        return all(_is_json(v, depth - 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth - 1) for k, v in value.items())
    return False


_SCALARS = (int, float, complex, bool, type(None))


def summarize(obj: Any, *, repr_limit: int = REPR_LIMIT, mime: bool = False) -> Dict[str, Any]:
    """Type, truncated repr, and len/shape/dtype/MIME bundle where available."""
    if not isinstance(repr_limit, int) or isinstance(repr_limit, bool) or repr_limit < 0:
        raise TypeError(f"repr_limit must be a non-negative int, not {repr_limit!r}")
    text, truncated = safe_repr(obj, repr_limit)
    summary: Dict[str, Any] = {"type": type_name(obj), "repr": text, "truncated": truncated}
    if type(obj) in _SCALARS:  # nothing more to say, and evaluating scalars is the common case
        return summary
    if not isinstance(obj, type):
        try:
            summary["len"] = len(obj)
        except BaseException:
            pass
        try:
            shape = getattr(obj, "shape", None)
            if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
                summary["shape"] = [int(n) for n in shape]
            dtype = getattr(obj, "dtype", None)
            if dtype is not None:
                summary["dtype"] = safe_str(dtype)
        except BaseException:
            pass
    if mime:
        bundle = mime_bundle(obj)
        if bundle:
            summary["mime"] = bundle
    return summary
