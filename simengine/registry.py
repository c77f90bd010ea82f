"""One registry helper for everything chosen by name: materials, MD potentials and thermostats, learned
models, dataset comparisons.

    POTENTIALS = Registry("potential")

    @POTENTIALS.register("lennard_jones")
    class LennardJones: ...

    POTENTIALS.get("morse")        # the registered object; InputError naming the allowed names otherwise
    "morse" in POTENTIALS, sorted(POTENTIALS), POTENTIALS.names()

A name is registered once; registering another object under it raises `ValueError` (a programming error,
not bad input). Lookups normalise the name with ``normalize`` (default: unchanged).
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from simengine.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects registered under names, with one-line errors for unknown names.

    Args:
        kind: what is registered, used in messages (``"material"``, ``"potential"``, ``"model"``...).
        normalize: maps a user's spelling to the registered key (e.g. lower case, '-' -> '_').
    """

    def __init__(self, kind: str, normalize: Callable[[str], str] | None = None):
        self.kind = kind
        self._normalize = normalize or (lambda name: name)
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@registry.register("name")`` registers the decorated object and returns it."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        if name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} name {name!r} is already registered to {self._items[name]!r}")
        self._items[name] = obj

    def key(self, name) -> str:
        """The registered key for ``name``; `InputError` naming the allowed names when there is none."""
        key = self._normalize(str(name))
        if key not in self._items:
            raise InputError(f"{self.kind} = {name!r} is not one of {self.names()}")
        return key

    def get(self, name) -> T:
        return self._items[self.key(name)]

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self):
        return self._items.items()

    def __contains__(self, name) -> bool:
        return self._normalize(str(name)) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, name) -> T:
        return self.get(name)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {self.names()})"
