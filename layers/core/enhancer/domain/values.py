"""`@value_class`: a frozen, slotted dataclass built with one small `exec` instead of six (docs/architecture.md §10).

`dataclass(frozen=True, slots=True)` compiles `__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__` and
`__delattr__` one `exec` each, about 0.6 ms a class on Python 3.11; a function that loads 50 value classes paid
a tenth of its cold start for it. Here `dataclasses` still collects the fields and builds the slotted class (no
code generated), `__init__` alone is compiled, and equality, hashing and repr read the fields through
`operator.attrgetter`. The result is a real dataclass — `dataclasses.fields`, `replace` and `asdict` work —
that behaves as the frozen, slotted one.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")
_FACTORY = object()  # the __init__ default of a field with a default_factory


def _frozen_setattr(self: object, name: str, _: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, item in zip(dataclasses.fields(self), state, strict=True):
        object.__setattr__(self, f.name, item)


def _init_source(name: str, fields: list[dataclasses.Field[Any]]) -> str:
    parameters, body = [], []
    for index, f in enumerate(fields):
        if not f.init:
            raise TypeError(f"@value_class needs every field in __init__ ({name}.{f.name})")
        if f.default is not dataclasses.MISSING:
            parameters.append(f"{f.name}=_d{index}")
        elif f.default_factory is not dataclasses.MISSING:
            parameters.append(f"{f.name}=_FACTORY")
            body.append(f" if {f.name} is _FACTORY: {f.name} = _f{index}()")
        elif any(g.default is not dataclasses.MISSING or g.default_factory is not dataclasses.MISSING
                 for g in fields[:index]):
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            parameters.append(f.name)
        body.append(f" _set(self, {f.name!r}, {f.name})")
    return f"def __init__(self, {', '.join(parameters)}) -> None:\n" + "\n".join(body or [" pass"])


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The fields' values as a tuple, read by C code (operator.attrgetter)."""
    if not names:
        return lambda _: ()
    if len(names) == 1:
        single = operator.attrgetter(names[0])
        return lambda instance: (single(instance),)
    return operator.attrgetter(*names)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def value_class(cls: type[_T]) -> type[_T]:
    """The class as `@dataclass(frozen=True, slots=True)` would make it."""
    if not cls.__doc__:  # or dataclasses reads one from inspect.signature, which compiles a tokenizer regex
        cls.__doc__ = f"{cls.__name__}({', '.join(inspect.get_annotations(cls))})"
    built: Any = dataclasses.dataclass(init=False, repr=False, eq=False, slots=True)(cls)
    fields = list(dataclasses.fields(built))
    namespace: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    for index, f in enumerate(fields):
        namespace[f"_d{index}"] = f.default
        namespace[f"_f{index}"] = f.default_factory
    exec(_init_source(cls.__name__, fields), namespace)  # noqa: S102 - source built from the class's own field names
    compared = _key(tuple(f.name for f in fields if f.compare))
    hashed = _key(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
    shown = tuple(f.name for f in fields if f.repr)

    def __eq__(self: Any, other: Any) -> Any:
        return compared(self) == compared(other) if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    def __repr__(self: Any) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{name}={getattr(self, name)!r}' for name in shown)})"

    for function in (namespace["__init__"], __eq__, __hash__, __repr__):
        function.__qualname__ = f"{built.__qualname__}.{function.__name__}"
        setattr(built, function.__name__, function)
    built.__setattr__, built.__delattr__ = _frozen_setattr, _frozen_delattr
    built.__getstate__, built.__setstate__ = _getstate, _setstate
    return built  # type: ignore[no-any-return]
