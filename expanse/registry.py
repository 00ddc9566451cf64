"""One registry shape for everything chosen by name in params.yaml: generation backends, arbiters,
pairwise judges and merge methods.

A `Registry` maps names to lazy targets, "package.module:attribute" (or "package.module" when the
module itself is the entry, as for merge methods). Nothing is imported until `get(name)` is called,
so this module and every registry import neither torch nor transformers, and an unknown name fails
before any heavy import. Each registry states its contract: the attributes every entry provides
(`requires`) and a description of the interface (`contract`); `get` checks the attributes on the
resolved entry, and a unit test resolves every entry of every registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from expanse.errors import UnknownNameError


class Registry:
    """Named entries of one kind ("generation backend", "arbiter", ...), each a lazy target."""

    def __init__(self, kind: str, entries: Mapping[str, str], *, requires: tuple[str, ...] = (), contract: str = ""):
        self.kind = kind
        self.requires = requires
        self.contract = contract
        self._targets = dict(entries)
        self._resolved: dict[str, object] = {}

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def target(self, name: str) -> str:
        """The "module:attribute" string registered under `name`."""
        self.check(name)
        return self._targets[name]

    def unknown(self, name: object) -> str:
        """The one-line message for a name that is not registered."""
        return f"unknown {self.kind} {name!r} (known: {', '.join(self._targets)})"

    def check(self, name: str) -> None:
        """Raise UnknownNameError unless `name` is registered (imports nothing)."""
        if name not in self._targets:
            raise UnknownNameError(self.unknown(name))

    def get(self, name: str):
        """The entry registered under `name`, imported on first use; it provides `requires`."""
        self.check(name)
        if name not in self._resolved:
            module_name, _, attr = self._targets[name].partition(":")
            entry = importlib.import_module(module_name)
            if attr:
                entry = getattr(entry, attr)
            missing = [a for a in self.requires if not hasattr(entry, a)]
            if missing:
                raise TypeError(f"{self.kind} {name!r} ({self._targets[name]}) lacks {', '.join(missing)}")
            self._resolved[name] = entry
        return self._resolved[name]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self._targets!r})"
