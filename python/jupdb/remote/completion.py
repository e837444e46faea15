"""Tab completion in a paused frame: names, attributes, dict keys, DataFrame columns.

:func:`complete` is a pure function of the code, the cursor and the frame's
namespaces, computed where the objects live (the debuggee), the answer shaped
as Jupyter's ``complete_reply``. It runs the program's code only where a
completion needs it and nowhere else: it evaluates the expression before a
``.`` or ``[`` if that is a name, attribute accesses and literal subscripts
(``self.model.layers[0].``), never a call; it lists attributes with ``dir()``
and tells their kinds without running properties. Whatever that code does
(raise, even ``SystemExit``) costs that part of the completion, not the rest,
and the work is bounded (:data:`MAX_MATCHES`, :data:`MAX_NAMES`).
"""

from __future__ import annotations

import ast
import inspect
import keyword
import re
import types
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

#: At most this many matches are returned (the first, in order).
MAX_MATCHES = 2000

#: At most this many names of one namespace or ``dir()`` are looked at.
MAX_NAMES = 20000

Completion = Dict[str, Any]

_IDENTIFIER_TAIL = re.compile(r"[^\W\d]\w*$|$")
#: ``[`` then an optional quote and what is typed of a key, at the end of the text.
_KEY_TAIL = re.compile(r"\[\s*(?:(?P<quote>['\"])(?P<key>(?:[^'\"\\]|\\.)*)|(?P<bare>[\w.+-]*))$")


class Namespaces:
    """Where names are looked up, in order: the frame's locals, its globals, builtins."""

    def __init__(self, locals: Mapping[str, Any], globals: Mapping[str, Any], builtins: Mapping[str, Any]) -> None:
        self.scopes = (locals, globals, builtins)

    def lookup(self, name: str) -> Any:
        for scope in self.scopes:
            try:
                return scope[name]
            except KeyError:
                continue
        raise NameError(name)

    def names(self) -> Iterable[Tuple[str, Any]]:
        for scope in self.scopes:
            for count, name in enumerate(list(scope)):
                if count >= MAX_NAMES:
                    break
                if isinstance(name, str):
                    yield name, scope[name]


def complete(
    code: str, cursor_pos: int, locals: Mapping[str, Any], globals: Mapping[str, Any], builtins: Mapping[str, Any]
) -> Completion:
    """Completions of ``code`` at ``cursor_pos`` (a str index, as Jupyter's
    ``cursor_pos``): ``matches``, ``cursor_start`` and ``cursor_end`` (the text
    they replace), and ``types`` (one per match: "function", "class",
    "module", "instance", "property", "keyword", "key")."""
    if not isinstance(cursor_pos, int) or isinstance(cursor_pos, bool) or not 0 <= cursor_pos <= len(code):
        raise ValueError(f"cursor_pos must be an int from 0 to {len(code)}, not {cursor_pos!r}")
    text, after = code[:cursor_pos], code[cursor_pos:]
    space = Namespaces(locals, globals, builtins)
    key = _KEY_TAIL.search(text)
    if key is not None and key.group("quote"):  # d["… : a key, as a string
        start = key.start("key")
        return _reply(
            _keys_after(text[: key.start()], space, key.group("quote"), key.group("key"), after), start, cursor_pos
        )
    prefix = _IDENTIFIER_TAIL.search(text).group()  # type: ignore[union-attr]
    found: List[Tuple[str, str]] = []
    start = cursor_pos - len(prefix)
    if key is not None and not prefix:  # d[ or d[1… : keys, as literals
        bare = key.group("bare")
        found += _keys_after(text[: key.start()], space, None, bare, after)
        if bare:
            return _reply(found, key.start("bare"), cursor_pos)
    if _in_string(text[text.rfind("\n") + 1 :]):
        return _reply(found, start, cursor_pos)
    before = text[:start].rstrip()
    if before.endswith(".") and not before.endswith(".."):
        owner = _evaluate(before[:-1], space)
        if owner is not _NOTHING:
            found += _attribute_matches(owner, prefix)
    elif prefix or not re.search(r"[\w)\]}'\"]$", before):  # not right after a value: `d["a"]<tab>`
        if not _is_number_tail(text[:start]):
            found += _name_matches(space, prefix)
    return _reply(found, start, cursor_pos)


def _reply(found: List[Tuple[str, str]], start: int, end: int) -> Completion:
    matches, kinds = _unique(found)
    return {"matches": matches, "cursor_start": start, "cursor_end": end, "types": kinds}


# -- what the code before the cursor stands for -----------------------------------------

_NOTHING = object()


def _expression_start(text: str) -> int:
    """Where the dotted/subscripted expression that ``text`` ends with begins."""
    i = len(text)
    while i > 0:
        c = text[i - 1]
        if c.isalnum() or c in "_.":
            i -= 1
        elif c == "]":
            opening = _matching_bracket(text, i - 1)
            if opening < 0:
                break
            i = opening
        else:
            break
    return i


def _matching_bracket(text: str, closing: int) -> int:
    """The index of the ``[`` that the ``]`` at ``closing`` closes (-1: none)."""
    depth = 0
    for i in range(closing, max(closing - 200, -1), -1):
        if text[i] == "]":
            depth += 1
        elif text[i] == "[":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _evaluate(text: str, space: Namespaces) -> Any:
    """The value of the expression ``text`` ends with, if it is names,
    attribute accesses and literal subscripts only; else _NOTHING."""
    source = text[_expression_start(text) :].strip()
    if not source:
        return _NOTHING
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError:
        return _NOTHING
    return _guarded(lambda: _value_of(tree, space), _NOTHING)


def _value_of(node: ast.AST, space: Namespaces) -> Any:
    if isinstance(node, ast.Name):
        return space.lookup(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_value_of(node.value, space), node.attr)
    if isinstance(node, ast.Subscript):
        index = node.slice
        if (
            isinstance(index, ast.UnaryOp)
            and isinstance(index.op, ast.USub)
            and isinstance(index.operand, ast.Constant)
        ):
            number = index.operand.value
            if not isinstance(number, (int, float)):
                raise ValueError("only a literal subscript is evaluated")
            literal: Any = -number
        elif isinstance(index, ast.Constant):
            literal = index.value
        else:
            raise ValueError("only a literal subscript is evaluated")
        return _value_of(node.value, space)[literal]
    raise ValueError("only names, attributes and literal subscripts are evaluated")


def _guarded(work: Callable[[], Any], failed: Any) -> Any:
    """``work()``, or ``failed`` if the program's code it runs raises anything
    but a client's interrupt (which ends the whole completion)."""
    try:
        return work()
    except KeyboardInterrupt:
        raise
    except BaseException:  # SystemExit from a __dir__ included: a completion never ends the program
        return failed


def _in_string(line: str) -> bool:
    """Whether the end of ``line`` is inside a one-line string literal (roughly: quotes are counted)."""
    quote: Optional[str] = None
    escaped = False
    for c in line:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif quote is None and c == "#":
            return False
        elif c in "'\"":
            quote = None if quote == c else c if quote is None else quote
    return quote is not None


def _is_number_tail(text: str) -> bool:
    """``1.`` or ``3.14``: a number, not a name, is being typed."""
    return bool(re.search(r"(?<![\w.])\d[\d_]*\.?$", text))


# -- the matches ------------------------------------------------------------------------


def _name_matches(space: Namespaces, prefix: str) -> List[Tuple[str, str]]:
    found = [(name, "keyword") for name in keyword.kwlist if name.startswith(prefix)]
    for name, value in space.names():
        if name.startswith(prefix) and (prefix.startswith("_") or not name.startswith("_")):
            found.append((name, _kind(value)))
    return sorted(found, key=_order)


def _attribute_matches(owner: Any, prefix: str) -> List[Tuple[str, str]]:
    # dir() without its sort, which fails on a __dir__ that lists a non-str.
    cls: Any = type(owner)
    names = _guarded(lambda: sorted(n for n in cls.__dir__(owner) if isinstance(n, str)), None)
    if names is None:  # a __dir__ that raises: what the class and the instance hold
        names = _static_names(owner)
    found = []
    for name in names[:MAX_NAMES]:
        if name.startswith(prefix) and (prefix.startswith("_") or not name.startswith("_")):
            found.append((name, _attribute_kind(owner, name)))
    return sorted(found, key=_order)


def _static_names(owner: Any) -> List[str]:
    names: List[str] = []
    for cls in _guarded(lambda: type(owner).__mro__, ()):
        names += [n for n in _guarded(lambda: list(vars(cls)), []) if isinstance(n, str)]  # noqa: B023
    names += [n for n in _guarded(lambda: list(object.__getattribute__(owner, "__dict__")), []) if isinstance(n, str)]
    return sorted(set(names))


def _keys_after(text: str, space: Namespaces, quote: Optional[str], typed: str, after: str) -> List[Tuple[str, str]]:
    """Keys of the mapping (or columns of the DataFrame) that ``text`` ends
    with, completing ``[`` + ``quote`` + ``typed``: closed (quote, then ``]``)
    as IPython closes them, unless the text after the cursor does already."""
    container = _evaluate(text, space)
    if container is _NOTHING:
        return []
    keys = _guarded(lambda: _keys_of(container), [])
    closing = "" if not quote or after.startswith(quote) else quote
    rest = after[1:] if quote and not closing else after
    bracket = "" if rest.lstrip().startswith("]") else "]"
    found = []
    for k in keys[:MAX_NAMES]:
        if quote:
            if not isinstance(k, str):
                continue
            text = k.replace("\\", "\\\\").replace(quote, "\\" + quote)
        elif isinstance(k, (str, bytes, int)) and not isinstance(k, bool):
            text = repr(k)
        else:
            continue
        if text.startswith(typed):
            found.append((text + closing + bracket, "key"))
    return found


def _keys_of(container: Any) -> List[Any]:
    columns = getattr(type(container), "columns", None)
    if columns is not None and type(container).__module__.startswith("pandas"):  # a DataFrame's columns
        return list(container.columns)
    if isinstance(container, Mapping) or (hasattr(type(container), "keys") and hasattr(type(container), "__getitem__")):
        return list(container.keys())
    return []


def _kind(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, type):
        return "class"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)) or inspect.isroutine(value):
        return "function"
    return "instance"


def _attribute_kind(owner: Any, name: str) -> str:
    """The kind of ``owner.name``, told without running it (no property runs)."""
    static = _guarded(lambda: inspect.getattr_static(owner, name), _NOTHING)
    if static is _NOTHING:
        return "instance"
    if isinstance(static, property) or type(static).__name__ in ("getset_descriptor", "cached_property"):
        return "property"
    if isinstance(static, (staticmethod, classmethod)):
        return "function"
    return _kind(static)


def _order(match: Tuple[str, str]) -> Tuple[bool, str]:
    return match[0].startswith("_"), match[0]


def _unique(found: List[Tuple[str, str]]) -> Tuple[List[str], List[str]]:
    seen = set()
    matches, kinds = [], []
    for text, kind in found:
        if text not in seen:
            seen.add(text)
            matches.append(text)
            kinds.append(kind)
            if len(matches) >= MAX_MATCHES:
                break
    return matches, kinds
