"""Which mapper turns a logged input of each source into a ChangeSet.

Every source of input (``openlineage``, ``mlflow``, ``changeset``, ...) has one
mapper: a pure function from a logged input to a ChangeSet. The log keeps the
input as received and projection maps it, so a mapper fixed later can rebuild
the graph from the same log (``replay``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from lineagegraph.errors import InvalidInput
from lineagegraph.graph.changeset import ChangeSet, changeset_from_json
from lineagegraph.ingest.log import LoggedEvent

Mapper = Callable[[LoggedEvent], ChangeSet]

_MAPPERS: dict[str, Mapper] = {}

#: Modules that register mappers when imported.
BUILTIN_MAPPER_MODULES: tuple[str, ...] = ()


def register_mapper(source: str, mapper: Mapper) -> None:
    _MAPPERS[source] = mapper


def mapper_for(source: str) -> Mapper:
    if not _MAPPERS.get("changeset"):
        load_builtin_mappers()
    try:
        return _MAPPERS[source]
    except KeyError:
        load_builtin_mappers()
        if source in _MAPPERS:
            return _MAPPERS[source]
        raise InvalidInput(
            f"no mapper for input source {source!r} (known: {', '.join(sorted(_MAPPERS))})",
            path="source",
        ) from None


def load_builtin_mappers() -> None:
    register_mapper("changeset", _map_changeset)
    for name in BUILTIN_MAPPER_MODULES:
        importlib.import_module(name)


def _map_changeset(event: LoggedEvent) -> ChangeSet:
    return changeset_from_json(event.payload)
