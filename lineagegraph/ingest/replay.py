"""Replay: project the whole event log, from position 0, into a store.

This is how a graph moves from the embedded default to a server store
(``lineagegraph replay --to bolt://...``), and how a broken projection is
rebuilt: the log holds every accepted input as received, the mappers turn
them into ChangeSets again, and the target ends with the same graph as any
other store that projected the same log.

The target must be empty (no node, log position 0), so that nothing already
in it mixes with the replayed graph. ``force=True`` projects over whatever it
holds: merging is idempotent, so facts from the log win or merge by event
time, but nodes the log never mentioned stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lineagegraph.errors import Conflict
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.store import GraphStore, SearchQuery
from lineagegraph.ingest.log import EventLog
from lineagegraph.ingest.projection import ProjectionReport, Projector


@dataclass(frozen=True, slots=True)
class ReplayReport:
    projected: int  # inputs applied
    failed: int  # inputs a mapper or the store refused (now in the dead letters)
    position: int  # the target's log position afterwards
    nodes: int  # alive nodes in the target afterwards
    edges: int  # current edges in the target afterwards
    seconds: float


def is_empty(store: GraphStore) -> bool:
    """No node (alive or ended) and nothing projected yet."""
    if store.log_position() != 0:
        return False
    return not store.search(SearchQuery(first=1, include_deleted=True)).nodes


def replay(
    log: EventLog,
    target: GraphStore,
    *,
    force: bool = False,
    batch: int = 1000,
    name: str = "replay",
    progress: Callable[[ProjectionReport], None] | None = None,
) -> ReplayReport:
    """Project every accepted input of ``log`` into ``target``, from position 0.

    Raises :class:`~lineagegraph.errors.Conflict` when ``target`` is not empty,
    unless ``force``. ``name`` labels the target in the dead letters;
    ``progress`` is called after every batch.
    """
    started = time.perf_counter()
    if not is_empty(target):
        if not force:
            stats = target.stats()
            raise Conflict(
                f"the target store is not empty ({stats.node_count} nodes, log position "
                f"{stats.log_position}): replay into an empty store, or force it to project "
                "the log over what is there",
                path="target",
            )
        target.apply(ChangeSet(), log_position=0)  # start again from the beginning
    projector = Projector(log, target, batch=batch, name=name)
    projected = failed = 0
    while True:
        report = projector.run_once()
        if report.projected + report.failed == 0:
            break
        projected += report.projected
        failed += report.failed
        if progress is not None:
            progress(report)
    stats = target.stats()
    return ReplayReport(
        projected=projected,
        failed=failed,
        position=target.log_position(),
        nodes=stats.node_count,
        edges=stats.edge_count,
        seconds=time.perf_counter() - started,
    )
