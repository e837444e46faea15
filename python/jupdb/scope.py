"""Where a probe applies: a function, a name, a module, a file, or everything.

A :class:`Scope` turns what the user named into what the engine watches: one
code object (plus, for a bound method or callable instance, the object that
must be ``self``), or a *matcher* that the engine asks once per code object.
"""

from __future__ import annotations

import functools
import os
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without the cost of importing typing

from . import _native

if TYPE_CHECKING:  # typing and pathlib are not imported at run time: `import jupdb` stays cheap
    import pathlib
    from typing import Any, Callable, Iterable, Optional, Union

    Target = Union[Callable[..., Any], str, None]
    FileSpec = Union[str, os.PathLike[str], None]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# runpy starts programs for `python -m` and `jupdb run`; frozen from 3.11 on.
_RUNPY_FILES = ("<frozen runpy>", os.path.join(os.path.dirname(os.__file__), "runpy.py"))


def is_launcher_code(code: types.CodeType) -> bool:
    """Whether ``code`` is jupdb's own or runpy's: the code that starts and
    debugs a program, never stopped in by a step or pause and not shown at the
    bottom of a paused thread's stack."""
    return code.co_filename.startswith(_PACKAGE_DIR) or code.co_filename in _RUNPY_FILES


class Scope:
    """The part of the program a capture or breakpoint applies to.

    Args:
        function: A Python callable (function, bound method — only calls on that
            instance —, callable instance — only that instance —, decorated
            function) or the name of a function.
        module: Only code defined in this module.
        file: Only code defined in this file. A ``str`` is a glob matched with
            :meth:`pathlib.PurePath.match` against the resolved path; a path-like
            object must equal the resolved path.
        unwrap: Follow ``__wrapped__`` from decorators to the function they wrap.
    """

    def __init__(
        self,
        function: Target = None,
        module: Optional[types.ModuleType] = None,
        file: FileSpec = None,
        unwrap: bool = True,
    ) -> None:
        import pathlib

        self.function = function
        self.module = module
        self.unwrap = unwrap
        self.code: Optional[types.CodeType] = None
        self.instance: Any = None
        self.name: Optional[str] = None
        if isinstance(function, str):
            self.name = function
        elif function is not None:
            self.code, self.instance = _code_and_instance(function, unwrap)
        self.file: Union[str, pathlib.Path, None]
        if isinstance(file, os.PathLike):
            self.file = pathlib.Path(file).resolve()
        else:
            self.file = file
        if module is not None and not isinstance(module, types.ModuleType):
            raise TypeError(f"module must be a module object, not {type(module).__name__}")
        if self.code is not None and (module is not None or file is not None) and not self._in_place(self.code):
            raise ValueError(
                f"{_describe(function)} is defined in {self.code.co_filename}, "
                f"outside the module or file this scope names"
            )

    @property
    def is_code_target(self) -> bool:
        """Whether the scope is one code object (else the engine asks a matcher)."""
        return self.code is not None

    def matches_code(self, code: types.CodeType) -> bool:
        """Whether calls of ``code`` fall in this scope (instance checks aside)."""
        if self.code is not None:
            return code is self.code
        if self.name is not None and code.co_name != self.name:
            return False
        if self.module is None and self.file is None and self.name is None:
            return not code.co_filename.startswith(_PACKAGE_DIR)
        return self._in_place(code)

    def _in_place(self, code: types.CodeType) -> bool:
        filename = code.co_filename
        if self.module is not None and filename != getattr(self.module, "__file__", None):
            return False
        if self.file is not None:
            return _file_matches(filename, self.file)
        return True

    def __repr__(self) -> str:
        parts = [
            f"{k}={v!r}"
            for k, v in (("function", self.function), ("module", self.module), ("file", self.file))
            if v is not None
        ]
        return f"Scope({', '.join(parts)})"


@functools.lru_cache(maxsize=4096)
def _resolved(filename: str) -> pathlib.Path:
    import pathlib

    return pathlib.Path(filename).resolve()


def _file_matches(filename: str, spec: Union[str, pathlib.Path]) -> bool:
    if filename.endswith(">"):  # "<stdin>", "<ipython-input-...>": compare as is
        return filename == str(spec)
    if isinstance(spec, str):
        return _resolved(filename).match(spec)
    return _resolved(filename) == spec


def _describe(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)


def _not_python(obj: Any, why: str = "") -> TypeError:
    return TypeError(
        f"jupdb can only target pure-Python code: {_describe(obj)!s} is "
        f"{why or 'a built-in or C function'}; pass a Python function, method or name"
    )


def _code_and_instance(fn: Any, unwrap: bool) -> tuple[types.CodeType, Any]:
    """The code object that runs when ``fn`` is called, and the required ``self``."""
    import inspect

    def function_code(f: Any, owner: Any) -> types.CodeType:
        if unwrap:
            f = inspect.unwrap(f)
        while isinstance(f, functools.partial):
            f = f.func
        code = getattr(f, "__code__", None)
        if not isinstance(code, types.CodeType):
            raise _not_python(owner)
        return code

    if isinstance(
        fn,
        (
            types.BuiltinFunctionType,
            types.BuiltinMethodType,
            types.WrapperDescriptorType,
            types.MethodWrapperType,
            types.MethodDescriptorType,
            types.ClassMethodDescriptorType,
        ),
    ):
        raise _not_python(fn)
    if isinstance(fn, types.MethodType):
        return function_code(fn.__func__, fn), fn.__self__
    if isinstance(fn, (staticmethod, classmethod)):
        return function_code(fn.__func__, fn), None
    if isinstance(fn, (types.FunctionType, functools.partial)) or hasattr(fn, "__wrapped__"):
        return function_code(fn, fn), None
    if isinstance(fn, type):
        raise _not_python(fn, "a class; target one of its methods, e.g. its __init__")
    call = getattr(type(fn), "__call__", None)  # noqa: B004 (its code is wanted, not whether fn is callable)
    if call is not None and isinstance(call, types.FunctionType):
        return function_code(call, fn), fn
    raise _not_python(fn, f"not a Python function ({type(fn).__name__})")


def code_lines(code: types.CodeType) -> frozenset[int]:
    """Line numbers that have code in ``code`` itself (not in nested functions)."""
    return _native.code_lines(code)


def lines_with_text(filename: str, candidates: Iterable[int], text: str, module_globals: Any = None) -> set[int]:
    """The candidate lines whose source, stripped, is ``text`` stripped."""
    import linecache

    wanted = text.strip()
    return {n for n in candidates if linecache.getline(filename, n, module_globals).strip() == wanted}
