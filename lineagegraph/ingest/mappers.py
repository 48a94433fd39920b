"""Which mapper turns a logged input of each source into a ChangeSet.

Every source of input (``openlineage``, ``mlflow``, ``changeset``, ...) has one
mapper: a pure function from a logged input to a ChangeSet. The log keeps the
input as received and projection maps it, so a mapper fixed later can rebuild
the graph from the same log (``replay``).

Two optional hooks per source:

* a *reconciler* (``register_reconciler``): a second projection step for facts
  that span events and so cannot come from one event alone (e.g. OpenLineage
  job-level edges a job stopped using). It reads the store through the
  GraphStore contract after a batch is applied and returns more changes.
* a *configurer* (``register_configurer``): rebuilds a source's mapper from
  Settings (identity rules) when services are built; until then each mapper
  works with its defaults.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lineagegraph.errors import InvalidInput
from lineagegraph.graph.changeset import ChangeSet, changeset_from_json
from lineagegraph.graph.store import GraphStore
from lineagegraph.ingest.log import LoggedEvent

if TYPE_CHECKING:
    from lineagegraph.settings import Settings

Mapper = Callable[[LoggedEvent], ChangeSet]
#: (store after the batch was applied, the batch's inputs of one source) -> more changes
Reconciler = Callable[[GraphStore, Sequence[LoggedEvent]], ChangeSet]
Configurer = Callable[["Settings"], None]

_MAPPERS: dict[str, Mapper] = {}
_RECONCILERS: dict[str, Reconciler] = {}
_CONFIGURERS: dict[str, Configurer] = {}

#: Modules that register mappers when imported.
BUILTIN_MAPPER_MODULES: tuple[str, ...] = (
    "lineagegraph.ingest.openlineage.mapping",
    "lineagegraph.ingest.mlflow.mapping",
)


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


def register_reconciler(source: str, reconciler: Reconciler) -> None:
    _RECONCILERS[source] = reconciler


def reconciler_for(source: str) -> Reconciler | None:
    """The source's reconciler, if it has one (see the module docstring)."""
    if not _MAPPERS.get("changeset"):
        load_builtin_mappers()  # the builtin modules register their reconcilers too
    return _RECONCILERS.get(source)


def register_configurer(source: str, configurer: Configurer) -> None:
    _CONFIGURERS[source] = configurer


def configure_mappers(settings: Settings) -> None:
    """Rebuild the mappers that depend on Settings (called when services are built).

    Mappers are process-wide: the last services built in a process decide
    their configuration.
    """
    load_builtin_mappers()
    for configure in _CONFIGURERS.values():
        configure(settings)


def load_builtin_mappers() -> None:
    register_mapper("changeset", _map_changeset)
    for name in BUILTIN_MAPPER_MODULES:
        importlib.import_module(name)


def _map_changeset(event: LoggedEvent) -> ChangeSet:
    return changeset_from_json(event.payload)
