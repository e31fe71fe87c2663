"""`@value_class`: a frozen, slotted dataclass built without compiling any code (docs/architecture.md §10).

`dataclass(frozen=True, slots=True)` compiles `__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__` and
`__delattr__` one `exec` each, about 0.6 ms a class on Python 3.11; a function that loads 50 value classes paid
a tenth of its cold start for it. Even one `exec` for `__init__` alone is half of what is left (compiling a
three-line function costs about 50 µs). So nothing here is compiled: the fields are read from the class's own
annotations, `__init__` is a closure over the field names that binds arguments the way Python binds parameters
(with the same errors), and equality, hashing and repr are functions every value class shares, reading the
class's fields through `operator.attrgetter`. Defining a class costs about 20 µs.

The result is a real dataclass — `dataclasses.fields`, `replace`, `asdict` and pickle work — and behaves as the
frozen, slotted one (`tests/unit/test_unit_values.py` holds it to the standard library's). What it does not
support it refuses at definition: base classes with fields, `ClassVar`, `InitVar`, `KW_ONLY` and `init=False`.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any, TypeVar, cast, dataclass_transform

_T = TypeVar("_T")
_NO_DEFAULT = dataclasses.MISSING
# Annotations these value types cannot have: dataclasses gives them meanings __init__ below does not implement.
_SPECIAL_ANNOTATIONS = ("ClassVar", "InitVar", "KW_ONLY")


def _frozen_setattr(self: object, name: str, _: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, name) for name in type(self).__match_args__]


def _setstate(self: Any, state: list[Any]) -> None:
    for name, item in zip(type(self).__match_args__, state, strict=True):
        object.__setattr__(self, name, item)


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The fields' values as a tuple, read by C code (operator.attrgetter)."""
    if not names:
        return lambda _: ()
    if len(names) == 1:
        single = operator.attrgetter(names[0])
        return lambda instance: (single(instance),)
    return operator.attrgetter(*names)


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The class's fields in definition order, as `dataclasses` would collect them."""
    if any("__dataclass_fields__" in vars(base) for base in cls.__mro__[1:]):
        raise TypeError(f"@value_class does not inherit fields ({cls.__name__})")
    fields: dict[str, dataclasses.Field[Any]] = {}
    for name, annotation in vars(cls).get("__annotations__", {}).items():
        if any(special in str(annotation) for special in _SPECIAL_ANNOTATIONS):
            raise TypeError(f"@value_class does not support {annotation} ({cls.__name__}.{name})")
        declared = vars(cls).get(name, _NO_DEFAULT)
        f: dataclasses.Field[Any] = (
            declared if isinstance(declared, dataclasses.Field) else dataclasses.field(default=declared))
        if not f.init or f.kw_only is True:
            raise TypeError(f"@value_class needs every field in __init__, by position ({cls.__name__}.{name})")
        f.name, f.type, f.kw_only = name, annotation, False
        f._field_type = dataclasses._FIELD  # type: ignore[attr-defined]  # what dataclasses.fields() selects
        fields[name] = f
    return fields


def _init(cls: type, fields: list[dataclasses.Field[Any]]) -> Callable[..., None]:
    """`__init__` for these fields: positional or keyword arguments, defaults and default factories, and the
    TypeErrors a compiled `def __init__(self, a, b=…)` would raise."""
    names = tuple(f.name for f in fields)
    count = len(names)
    defaults: dict[str, Any] = {}  # a default, or the factory to call (by name, in `factories`)
    factories: set[str] = set()
    for f in fields:
        if f.default is not _NO_DEFAULT:
            defaults[f.name] = f.default
        elif f.default_factory is not _NO_DEFAULT:
            defaults[f.name] = f.default_factory
            factories.add(f.name)
        elif defaults:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    qualname = f"{cls.__qualname__}.__init__"
    setter = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) == count and not kwargs:  # the common call: every field by position
            for name, value in zip(names, args, strict=True):
                setter(self, name, value)
            return
        if len(args) > count:
            raise TypeError(f"{qualname}() takes {count + 1} positional arguments but {len(args) + 1} were given")
        for name, value in zip(names, args, strict=False):  # the rest come by keyword or default
            if name in kwargs:
                raise TypeError(f"{qualname}() got multiple values for argument {name!r}")
            setter(self, name, value)
        missing = []
        for name in names[len(args):]:
            if name in kwargs:
                setter(self, name, kwargs.pop(name))
            elif name in factories:
                setter(self, name, defaults[name]())
            elif name in defaults:
                setter(self, name, defaults[name])
            else:
                missing.append(name)
        if kwargs:
            raise TypeError(f"{qualname}() got an unexpected keyword argument {next(iter(kwargs))!r}")
        if missing:
            raise TypeError(f"{qualname}() missing {len(missing)} required positional argument"
                            f"{'s' if len(missing) > 1 else ''}: {', '.join(repr(name) for name in missing)}")

    __init__.__qualname__ = qualname
    return __init__


# Shared by every value class: each reads its own fields from the class (`__value_keys__`: what equality
# compares, what the hash covers, what repr shows), so defining a class creates no functions but `__init__`.
def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    compared = self.__value_keys__[0]
    return compared(self) == compared(other)


def _hash(self: Any) -> int:
    return hash(self.__value_keys__[1](self))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__value_keys__[2])
    return f"{type(self).__qualname__}({shown})"


# The same for every class, as dataclass(frozen=True) records it.
_PARAMS = dataclasses._DataclassParams(  # type: ignore[attr-defined]
    init=True, repr=True, eq=True, order=False, unsafe_hash=False, frozen=True)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def value_class(cls: type[_T]) -> type[_T]:
    """The class as `@dataclass(frozen=True, slots=True)` would make it."""
    fields = _fields(cls)
    names = tuple(fields)
    namespace = {key: value for key, value in vars(cls).items()
                 if key not in names and key not in ("__dict__", "__weakref__")}
    keys = (_key(tuple(name for name, f in fields.items() if f.compare)),
            _key(tuple(name for name, f in fields.items() if (f.compare if f.hash is None else f.hash))),
            tuple(name for name, f in fields.items() if f.repr))
    namespace.update(
        __slots__=names, __match_args__=names, __dataclass_fields__=fields, __dataclass_params__=_PARAMS,
        __value_keys__=keys, __init__=_init(cls, list(fields.values())), __eq__=_eq, __hash__=_hash,
        __repr__=_repr, __setattr__=_frozen_setattr, __delattr__=_frozen_delattr, __getstate__=_getstate,
        __setstate__=_setstate)
    if not namespace.get("__doc__"):
        namespace["__doc__"] = f"{cls.__name__}({', '.join(names)})"
    return cast("type[_T]", type(cls.__name__, cls.__bases__, namespace))
