"""One generic registry: name -> entry, used by ops, connections and every backend's lowerings.

A registry never imports the modules that register into it; the package that owns the entries (or an explicit
loader one layer up) does, through the ``loader`` callable given at construction, so no import cycle spans two
folders. A duplicate registration fails at import; an unknown name fails with the known names and, where one is
close, a "did you mean" (:func:`archc.errors.did_you_mean`, which also knows the names people bring from torch and
Keras).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from archc.errors import did_you_mean

T = TypeVar("T")


class UnknownName(KeyError):
    """A name that is not registered. ``str()`` is the full message; ``hint`` the "did you mean", or None."""

    def __init__(self, kind: str, name: str, known: list[str], hint: str | None):
        self.kind, self.name, self.known, self.hint = kind, name, known, hint
        message = f"unknown {kind} '{name}'"
        if hint:
            message += f" ({hint})"
        message += f"; known {kind}s: {', '.join(known)}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError quotes its argument; a message reads better plain
        return self.args[0]


class Registry(Generic[T]):
    """``name -> entry`` for one kind of thing (``"op"``, ``"connection"``, ``"torch lowering"``, ...).

    ``loader`` imports the modules that fill the registry; it runs once, on the first lookup, so that importing
    the registry itself stays cheap and cycle-free.
    """

    def __init__(self, kind: str, loader: Callable[[], None] | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loader = loader
        self._loaded = loader is None

    # -- filling -------------------------------------------------------------------------------------------------

    def add(self, name: str, entry: T, origin: str | None = None) -> T:
        """Register ``entry`` under ``name``; a second registration of one name is an error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered (by {self._origins[name]})")
        self._entries[name] = entry
        self._origins[name] = origin or _origin(entry)
        return entry

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under each of ``names``."""

        def decorate(entry: T) -> T:
            for name in names:
                self.add(name, entry)
            return entry

        return decorate

    def set_loader(self, loader: Callable[[], None]) -> None:
        """Install the loader later than construction: the package that owns the entries does, one layer up."""
        self._loader = loader
        self._loaded = False

    # -- reading -------------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Run the loader once (idempotent)."""
        if not self._loaded:
            self._loaded = True  # first, so a loader that looks names up does not recurse
            assert self._loader is not None
            self._loader()

    def get(self, name: str) -> T:
        """The entry registered under ``name``; :class:`UnknownName` otherwise."""
        self.load()
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    __getitem__ = get

    def unknown(self, name: str) -> UnknownName:
        """The error for an unregistered ``name`` (for callers that report it in their own form)."""
        self.load()
        known = sorted(self._entries)
        return UnknownName(self.kind, name, known, did_you_mean(name, known))

    def origin(self, name: str) -> str:
        """Where ``name`` was registered (``module.qualname``)."""
        self.load()
        return self._origins[name]

    def names(self) -> list[str]:
        self.load()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self.load()
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


def _origin(entry: object) -> str:
    module = getattr(entry, "__module__", None) or type(entry).__module__
    qualname = getattr(entry, "__qualname__", None) or type(entry).__qualname__
    return f"{module}.{qualname}"
