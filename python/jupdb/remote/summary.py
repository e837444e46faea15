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
                bundle.update({k: v for k, v in data.items() if isinstance(k, str) and is_mime_value(k, v)})
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
        if is_mime_value(mime, data):
            bundle[mime] = data
    bundle.pop("text/plain", None)
    return bundle


def is_mime_value(mime: str, value: Any) -> bool:
    """Whether ``value`` can stand for ``mime`` in a bundle: str; bytes for a
    binary type (a PNG; never for text, which a front end would take for
    base64); JSON data for a JSON type (application/json, plotly's and vega's
    ``…+json``)."""
    if isinstance(value, str):
        return True
    json_type = mime == "application/json" or mime.endswith("+json")
    if isinstance(value, bytes):
        return not (json_type or mime.startswith("text/") or mime.endswith("+xml"))
    return json_type and _is_json(value, 32)


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

#: A summary carries the value itself for a str or bytes of at most this many
#: characters (bytes), and for an int of at most this many bytes; a longer one
#: would make every summary of it heavy (``fetch`` brings any of them back).
VALUE_LIMIT = 64 * 1024

#: The same bound for ``locals``, which summarises every variable of a frame at once.
LOCALS_VALUE_LIMIT = 1024

#: MessagePack integers are 64 bits: an int outside this range travels as bytes.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1

#: At most this many of a DataFrame's columns are listed (with their dtypes).
COLUMNS_LIMIT = 50

#: The length at which a dtype, a device or a column name is cut.
_NAME_LIMIT = 200

#: More dimensions than any array library has: a ``shape`` beyond it is not one.
_MAX_DIMENSIONS = 64


def summarize(
    obj: Any, *, repr_limit: int = REPR_LIMIT, mime: bool = False, value_limit: int = VALUE_LIMIT
) -> Dict[str, Any]:
    """Type, truncated repr, the value itself for a built-in scalar (``value``),
    and len, shape, dtype, device, a DataFrame's columns, MIME bundle where
    available (docs/protocol.md, section 8)."""
    if not isinstance(repr_limit, int) or isinstance(repr_limit, bool) or repr_limit < 0:
        raise TypeError(f"repr_limit must be a non-negative int, not {repr_limit!r}")
    text, truncated = safe_repr(obj, repr_limit)
    summary: Dict[str, Any] = {"type": type_name(obj), "repr": text, "truncated": truncated}
    kind = type(obj)
    # Scalars first, with nothing more to say: evaluating them is the common case.
    if kind is int:
        if _INT_MIN <= obj <= _INT_MAX:
            summary["value"] = obj
        else:
            _big_int(obj, summary, value_limit)
        return summary
    if kind in _SCALARS:
        if kind is complex:
            summary["value"] = [obj.real, obj.imag]
        elif obj is not None:  # None's value is its type's
            summary["value"] = obj
        return summary
    if kind is str or kind is bytes:
        summary["len"] = len(obj)
        _text_value(obj, summary, value_limit)
        return summary
    if not isinstance(obj, type):
        try:
            summary["len"] = len(obj)
        except BaseException:
            pass
        _describe_array(obj, kind, summary)
    if mime:
        bundle = mime_bundle(obj)
        if bundle:
            summary["mime"] = bundle
    return summary


def _big_int(number: int, summary: Dict[str, Any], limit: int) -> None:
    """An int beyond 64 bits: its two's complement, big-endian, as bytes."""
    size = (number.bit_length() + 8) // 8  # one bit more for the sign
    if size <= limit:
        summary["value"] = number.to_bytes(size, "big", signed=True)
    else:
        summary["value_omitted"] = f"an int of {size} bytes, over the {limit} a summary carries"


def _text_value(obj: Any, summary: Dict[str, Any], limit: int) -> None:
    unit = "characters" if isinstance(obj, str) else "bytes"
    if len(obj) > limit:
        summary["value_omitted"] = f"{len(obj)} {unit}, over the {limit} a summary carries"
        return
    if isinstance(obj, str) and not obj.isascii():
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: it would travel changed
            summary["value_omitted"] = "a str that is not valid Unicode (a lone surrogate)"
            return
    summary["value"] = obj


def _describe_array(obj: Any, kind: type, summary: Dict[str, Any]) -> None:
    """shape, dtype and device of an array or tensor (numpy, torch, jax, …), and a
    DataFrame's columns, from what the object offers: no module is imported."""
    try:
        shape = _defined(obj, "shape")
        if isinstance(shape, tuple) and len(shape) <= _MAX_DIMENSIONS and all(isinstance(n, int) for n in shape):
            summary["shape"] = [int(n) for n in shape]
    except BaseException:
        pass
    try:
        dtype = _defined(obj, "dtype")
        if dtype is not None:
            summary["dtype"] = safe_str(dtype)[:_NAME_LIMIT]
    except BaseException:
        pass
    if "shape" in summary:  # an array's device (a torch tensor's "cuda:0"); not any object's
        try:
            device = _defined(obj, "device")
            if callable(device) and _root_module(kind) in ("jax", "jaxlib"):  # a method in older jax
                device = device()
            if device is not None and not callable(device):
                summary["device"] = safe_str(device)[:_NAME_LIMIT]
        except BaseException:
            pass
    if any(c.__name__ == "DataFrame" and _root_module(c) == "pandas" for c in kind.__mro__):
        _columns(obj, summary)  # a subclass's too (geopandas' GeoDataFrame)


def _root_module(cls: type) -> str:
    """The top package a class comes from (``"pandas"`` for ``pandas.core.frame.DataFrame``)."""
    module = cls.__module__
    return module.partition(".")[0] if isinstance(module, str) else ""


def _columns(frame: Any, summary: Dict[str, Any]) -> None:
    """A DataFrame's first columns, each ``[name, dtype]``: ``shape`` counts them all."""
    try:
        pairs = zip(frame.columns[:COLUMNS_LIMIT], frame.dtypes.iloc[:COLUMNS_LIMIT], strict=False)
        summary["columns"] = [[safe_str(name)[:_NAME_LIMIT], safe_str(dtype)[:_NAME_LIMIT]] for name, dtype in pairs]
    except BaseException:
        pass


_MISSING = object()


def _defined(obj: Any, name: str) -> Any:
    """``obj.name`` where the object defines it (its type, or its own ``__dict__``);
    None where only a ``__getattr__`` would make it up (a DataFrame's column named
    ``dtype``, a mock's anything)."""
    if getattr(type(obj), name, _MISSING) is not _MISSING:
        return getattr(obj, name)
    try:
        own = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return None
    return own.get(name) if isinstance(own, dict) else None
