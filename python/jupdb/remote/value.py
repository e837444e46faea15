"""RemoteValue: what a client holds of a remote object, its summary.

A summary (docs/protocol.md, section 8) is the object's type, its repr, and what
cheaply describes it (len, shape, dtype, device, a DataFrame's columns, rich
representations). For a built-in scalar (int, float, bool, complex, str, bytes,
None) it also carries the value itself, so ``session.eval("loss") > 10`` works:
such a RemoteValue compares, hashes, converts and computes as its value does.
Any other RemoteValue refuses all of that with a TypeError that says to fetch
the object, rather than answer ``False`` to ``== 5`` without a word.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Dict, List, Optional, Tuple

#: The types whose summary carries the value (``type`` as the summary names them).
VALUE_TYPES = ("int", "float", "bool", "complex", "str", "bytes", "NoneType")


class RemoteValue:
    """A summary of a remote object: its type, ``repr`` and rich representations.

    ``str(value)`` and ``repr(value)`` are the remote repr (cut at the limit the
    request set, 1000 characters by default: ``truncated`` says so); in a notebook
    the remote object's HTML, PNG, … representations are shown.

    For a built-in scalar (int, float, bool, complex, str, bytes, None),
    :attr:`value` is the value itself, and the RemoteValue compares (``==``,
    ``<``, …), hashes, converts (``int()``, ``float()``, ``bool()``,
    ``complex()``, ``operator.index``, a format spec) and does arithmetic as
    it does, either side of the operator. Any other RemoteValue raises
    TypeError for all of those: ``session.fetch(expression)`` gives the object.

    Attributes:
        type: The qualified type name (``"int"``, ``"numpy.ndarray"``).
        repr: The remote ``repr()``, cut at the request's limit.
        truncated: Whether ``repr`` was cut.
        len: ``len()`` of the object, where it has one.
        shape, dtype, device: An array's or tensor's (numpy, torch, jax, pandas…).
        columns: A DataFrame's first columns as ``(name, dtype)`` pairs (``shape``
            counts them all).
        mime: Rich representations by MIME type.
        expression: What was evaluated, where known (named in error messages).
    """

    def __init__(self, summary: Dict[str, Any], expression: Optional[str] = None) -> None:
        self.type: str = summary["type"]
        self.repr: str = summary["repr"]
        self.truncated: bool = summary.get("truncated", False)
        self.len: Optional[int] = summary.get("len")
        self.shape: Optional[Tuple[int, ...]] = tuple(summary["shape"]) if "shape" in summary else None
        self.dtype: Optional[str] = summary.get("dtype")
        self.device: Optional[str] = summary.get("device")
        self.columns: Optional[List[Tuple[str, str]]] = (
            [(name, dtype) for name, dtype in summary["columns"]] if "columns" in summary else None
        )
        self.mime: Dict[str, Any] = summary.get("mime", {})
        self.expression = expression
        # The value as it travels (docs/protocol.md, section 8): an int beyond 64 bits
        # as its two's complement bytes, big-endian; a complex as [real, imag]; None
        # by its type alone.
        self._has_value = "value" in summary or self.type == "NoneType"
        self._value = summary.get("value")
        if self._has_value and self.type in ("int", "complex"):
            self._value = _decoded(self.type, self._value)
        self._omitted: Optional[str] = summary.get("value_omitted")

    @property
    def value(self) -> Any:
        """The value itself, for a built-in scalar (int, float, bool, complex,
        str, bytes, None); TypeError for anything else (use ``session.fetch``)."""
        return self._scalar("value")

    def _scalar(self, use: str) -> Any:
        if self._has_value:
            return self._value
        raise TypeError(self._why_no_value(use))

    def _why_no_value(self, use: str) -> str:
        fetch = f"session.fetch({self.expression!r})" if self.expression is not None else "session.fetch(expression)"
        flat = " ".join(self.repr.split())  # an array's repr has several lines
        shown = flat[:60] + ("…" if self.truncated or len(flat) > 60 else "")
        if self.type in VALUE_TYPES:
            why = f"its value did not come with it ({self._omitted or 'not sent'})"
        else:
            why = "only int, float, bool, complex, str, bytes and None come with their value"
        return (
            f"{use} needs the value, and this RemoteValue is a summary of a remote {self.type} ({shown}): "
            f"{why}; use {fetch} for the object itself"
        )

    def __repr__(self) -> str:
        return self.repr + ("…" if self.truncated else "")

    def __str__(self) -> str:
        return self.repr

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, Any]:
        return {"text/plain": repr(self), **self.mime}

    # -- as the value does (a built-in scalar's) --------------------------------------------
    def __eq__(self, other: object) -> Any:
        return self._scalar("==") == _plain(other, "==")

    def __ne__(self, other: object) -> Any:
        return self._scalar("!=") != _plain(other, "!=")

    def __lt__(self, other: Any) -> Any:
        return self._scalar("<") < _plain(other, "<")

    def __le__(self, other: Any) -> Any:
        return self._scalar("<=") <= _plain(other, "<=")

    def __gt__(self, other: Any) -> Any:
        return self._scalar(">") > _plain(other, ">")

    def __ge__(self, other: Any) -> Any:
        return self._scalar(">=") >= _plain(other, ">=")

    def __hash__(self) -> int:
        return hash(self._scalar("hash()"))

    def __bool__(self) -> bool:
        return bool(self._scalar("bool()"))

    def __int__(self) -> int:
        return int(self._scalar("int()"))

    def __float__(self) -> float:
        return float(self._scalar("float()"))

    def __complex__(self) -> complex:
        return complex(self._scalar("complex()"))

    def __index__(self) -> int:
        return operator.index(self._scalar("operator.index()"))

    def __bytes__(self) -> bytes:
        return bytes(self._scalar("bytes()"))

    def __format__(self, spec: str) -> str:
        # No spec: the remote repr, as str() (and an f-string) always gave.
        return format(self._scalar("a format spec"), spec) if spec else str(self)

    def __round__(self, ndigits: Optional[int] = None) -> Any:
        value = self._scalar("round()")
        return round(value) if ndigits is None else round(value, ndigits)

    def __trunc__(self) -> Any:
        return math.trunc(self._scalar("math.trunc()"))

    def __floor__(self) -> Any:
        return math.floor(self._scalar("math.floor()"))

    def __ceil__(self) -> Any:
        return math.ceil(self._scalar("math.ceil()"))

    def __neg__(self) -> Any:
        return -self._scalar("-")

    def __pos__(self) -> Any:
        return +self._scalar("+")

    def __abs__(self) -> Any:
        return abs(self._scalar("abs()"))

    def __invert__(self) -> Any:
        return ~self._scalar("~")

    def __pow__(self, other: Any, modulo: Any = None) -> Any:
        base, exponent = self._scalar("**"), _plain(other, "**")
        return pow(base, exponent) if modulo is None else pow(base, exponent, _plain(modulo, "pow()"))

    def __rpow__(self, other: Any) -> Any:
        return pow(_plain(other, "**"), self._scalar("**"))

    def __add__(self, other: Any) -> Any:
        return self._scalar("+") + _plain(other, "+")

    def __radd__(self, other: Any) -> Any:
        return _plain(other, "+") + self._scalar("+")

    def __sub__(self, other: Any) -> Any:
        return self._scalar("-") - _plain(other, "-")

    def __rsub__(self, other: Any) -> Any:
        return _plain(other, "-") - self._scalar("-")

    def __mul__(self, other: Any) -> Any:
        return self._scalar("*") * _plain(other, "*")

    def __rmul__(self, other: Any) -> Any:
        return _plain(other, "*") * self._scalar("*")

    def __truediv__(self, other: Any) -> Any:
        return self._scalar("/") / _plain(other, "/")

    def __rtruediv__(self, other: Any) -> Any:
        return _plain(other, "/") / self._scalar("/")

    def __floordiv__(self, other: Any) -> Any:
        return self._scalar("//") // _plain(other, "//")

    def __rfloordiv__(self, other: Any) -> Any:
        return _plain(other, "//") // self._scalar("//")

    def __mod__(self, other: Any) -> Any:
        return self._scalar("%") % _plain(other, "%")

    def __rmod__(self, other: Any) -> Any:
        return _plain(other, "%") % self._scalar("%")

    def __divmod__(self, other: Any) -> Any:
        return divmod(self._scalar("divmod()"), _plain(other, "divmod()"))

    def __rdivmod__(self, other: Any) -> Any:
        return divmod(_plain(other, "divmod()"), self._scalar("divmod()"))

    def __lshift__(self, other: Any) -> Any:
        return self._scalar("<<") << _plain(other, "<<")

    def __rlshift__(self, other: Any) -> Any:
        return _plain(other, "<<") << self._scalar("<<")

    def __rshift__(self, other: Any) -> Any:
        return self._scalar(">>") >> _plain(other, ">>")

    def __rrshift__(self, other: Any) -> Any:
        return _plain(other, ">>") >> self._scalar(">>")

    def __and__(self, other: Any) -> Any:
        return self._scalar("&") & _plain(other, "&")

    def __rand__(self, other: Any) -> Any:
        return _plain(other, "&") & self._scalar("&")

    def __or__(self, other: Any) -> Any:
        return self._scalar("|") | _plain(other, "|")

    def __ror__(self, other: Any) -> Any:
        return _plain(other, "|") | self._scalar("|")

    def __xor__(self, other: Any) -> Any:
        return self._scalar("^") ^ _plain(other, "^")

    def __rxor__(self, other: Any) -> Any:
        return _plain(other, "^") ^ self._scalar("^")


def _plain(other: Any, use: str) -> Any:
    """The other operand: a RemoteValue's value, anything else as it is."""
    return other._scalar(use) if isinstance(other, RemoteValue) else other


def _decoded(kind: str, value: Any) -> Any:
    if kind == "int" and isinstance(value, bytes):
        return int.from_bytes(value, "big", signed=True)
    if kind == "complex":
        return complex(*value)
    return value
