"""`@value_class` behaves as `@dataclass(frozen=True, slots=True)` (layers/core/enhancer/domain/values.py)."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import field

import pytest

from enhancer.domain.values import value_class


@value_class
class Built:
    name: str
    size: int = 2
    tags: list[str] = field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class Reference:
    name: str
    size: int = 2
    tags: list[str] = field(default_factory=list)


@value_class
class Empty:
    pass


@value_class
class Partly:
    shown: str
    hidden: str = field(default="", compare=False, repr=False)


def test_it_is_a_dataclass_with_the_same_fields_and_slots() -> None:
    assert dataclasses.is_dataclass(Built)
    assert [(f.name, f.type) for f in dataclasses.fields(Built)] == \
        [(f.name, f.type) for f in dataclasses.fields(Reference)]
    assert Built.__slots__ == Reference.__slots__ == ("name", "size", "tags")
    assert Built.__match_args__ == ("name", "size", "tags")
    assert not hasattr(Built("a"), "__dict__")


@pytest.mark.parametrize("args, kwargs", [(("a",), {}), (("a", 5), {}), (("a",), {"tags": ["x"]}),
                                          ((), {"name": "b", "size": 0, "tags": []})])
def test_construction_repr_equality_and_hash_match_the_standard_dataclass(args: tuple, kwargs: dict) -> None:
    built, reference = Built(*args, **kwargs), Reference(*args, **kwargs)
    assert repr(built) == repr(reference).replace("Reference", "Built")
    assert dataclasses.asdict(built) == dataclasses.asdict(reference)
    assert built == Built(*args, **kwargs)
    assert built != Built("other")
    assert built != reference  # another class, as with dataclasses
    frozen = Built(built.name, built.size, tuple(built.tags))  # type: ignore[arg-type]
    assert hash(frozen) == hash(Built(built.name, built.size, tuple(built.tags)))  # type: ignore[arg-type]


def test_each_instance_gets_its_own_default_factory_value() -> None:
    first, second = Built("a"), Built("b")
    first.tags.append("x")
    assert second.tags == []


def test_fields_cannot_be_assigned_or_deleted() -> None:
    built = Built("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del built.size  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        built.other = 1  # type: ignore[attr-defined]
    assert built.name == "a"


def test_replace_and_pickle_round_trip() -> None:
    built = Built("a", 3, ["x"])
    assert dataclasses.replace(built, size=4) == Built("a", 4, ["x"])
    assert pickle.loads(pickle.dumps(built)) == built  # noqa: S301 - our own bytes


def test_missing_and_unknown_arguments_fail_as_with_any_function() -> None:
    with pytest.raises(TypeError, match="name"):
        Built()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="colour"):
        Built("a", colour="red")  # type: ignore[call-arg]


def test_compare_and_repr_flags_are_honoured() -> None:
    assert Partly("a", "x") == Partly("a", "y")
    assert hash(Partly("a", "x")) == hash(Partly("a", "y"))
    assert repr(Partly("a", "x")) == "Partly(shown='a')"
    assert Empty() == Empty() and hash(Empty()) == hash(Empty()) and repr(Empty()) == "Empty()"


def test_a_required_field_after_a_default_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="non-default argument 'late'"):
        @value_class
        class Wrong:
            early: int = 1
            late: int  # type: ignore[misc]
