"""Job-level edges follow the job's latest completed run: what it stops using stops being current.

``Job -PRODUCED-> Dataset`` and ``Dataset -CONSUMED-> Job`` are upserted by
every run event. When a run of a job COMPLETEs without a dataset that an
earlier run used, that job-level edge is tombstoned at the completion time:
the history stays (``as_of`` before then still sees it) but the current graph
no longer shows the old output. This needs what the store knows about other
events (the job's edges, the run's accumulated inputs and outputs: OpenLineage
events of one run are cumulative, e.g. outputs on START and none on
COMPLETE), so it cannot live in the pure mapper. It is a *projection step*:
after a batch of events is applied, :func:`reconcile_job_edges` reads the
store through the GraphStore contract and returns a ChangeSet.

Why this is order-tolerant (the same graph whatever order events arrive in),
with the store's merge rules (an edge is deleted while its latest tombstone is
not older than its latest upsert):

* every completed run ``R`` touched by the batch *refreshes* its job-level
  edges at ``completed_at(R) + 1 µs`` (the run's cumulative inputs/outputs
  read from the store). A run's last event to be projected sees all of its
  inputs and outputs, so each refresh set is eventually complete.
* the job's latest completed run ``R*`` (``last_completed_run``, a job
  property merged by event time, so the true latest whatever the order)
  tombstones every other job-level edge at ``completed_at(R*)`` unless the
  edge was written after that. Evaluated whenever any event of the job is
  projected, so the last evaluation sees every edge the job ever had.
* a tombstone from an evaluation that knew less (outputs still to come) is
  always outranked by the refresh 1 µs later, so only the facts decide: an
  edge is current iff the latest completed run used it, or a run newer than
  that completion wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from lineagegraph.graph.changeset import ChangeSet, EdgeTombstone, Provenance
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.store import Edge, GraphStore
from lineagegraph.ingest.log import LoggedEvent
from lineagegraph.ingest.openlineage.keys import canonical_uuid, job_key, run_key

_IO = (EdgeKind.PRODUCED, EdgeKind.CONSUMED)
_AFTER = timedelta(microseconds=1)


def reconcile_job_edges(store: GraphStore, events: Sequence[LoggedEvent]) -> ChangeSet:
    """The job-level edge changes implied by the store after ``events`` were applied."""
    return reconcile_runs(store, job_runs(ev.payload for ev in events))


def reconcile_runs(store: GraphStore, touched: Iterable[tuple[str, str, str]]) -> ChangeSet:
    """Like :func:`reconcile_job_edges`, given the ``(job namespace, job name, run
    id)`` of the events (:func:`job_runs`), e.g. read where the events were parsed."""
    return _reconcile(store, _by_job(touched))


def _reconcile(store: GraphStore, touched: dict[NodeKey, set[NodeKey]]) -> ChangeSet:
    cs = ChangeSet()
    if not touched:
        return cs
    # jobs that never read or wrote a dataset have nothing to reconcile: one cheap read
    # finds them (most orchestration jobs: DAGs, tasks without lineage)
    job_edges: dict[tuple[NodeKey, EdgeKind, NodeKey], Edge] = {}
    by_job: dict[NodeKey, list[Edge]] = {}
    for e in store.get_edges(list(touched), edge_kinds=_IO, include_deleted=True):
        job = e.src if e.kind is EdgeKind.PRODUCED else e.dst
        if job.kind is NodeKind.JOB and job in touched:
            job_edges[(e.src, e.kind, e.dst)] = e
            by_job.setdefault(job, []).append(e)
    jobs = set(by_job)
    if not jobs:
        return cs
    runs = {run for job in jobs for run in touched[job]}
    nodes = store.get_nodes([*jobs, *runs])
    latest: dict[NodeKey, tuple[NodeKey, datetime]] = {}
    for job in jobs:
        last = nodes[job].props.get("last_completed_run") if job in nodes else None
        at = _time(last.get("at")) if isinstance(last, dict) else None
        if at is not None and isinstance(last, dict) and isinstance(last.get("run_id"), str):
            latest[job] = (NodeKey.run(last["run_id"]), at)
    completed: dict[NodeKey, datetime] = {}
    for run in runs:
        node = nodes.get(run)
        if node is not None and node.props.get("state") == "COMPLETE":
            at = _time(node.props.get("completed_at"))
            if at is not None:
                completed[run] = at
    completed.update({r: t for r, t in latest.values()})
    if not completed:
        return cs

    run_jobs: dict[NodeKey, NodeKey] = {}
    used: dict[NodeKey, set[tuple[EdgeKind, NodeKey]]] = {r: set() for r in completed}
    for e in store.get_edges(list(completed), edge_kinds=[*_IO, EdgeKind.INSTANCE_OF]):
        if e.kind is EdgeKind.INSTANCE_OF and e.src in completed:
            run_jobs[e.src] = e.dst
        elif e.kind is EdgeKind.PRODUCED and e.src in completed:
            used[e.src].add((EdgeKind.PRODUCED, e.dst))
        elif e.kind is EdgeKind.CONSUMED and e.dst in completed:
            used[e.dst].add((EdgeKind.CONSUMED, e.src))

    # refresh: every completed run's inputs and outputs are current as of its completion
    for run, at in completed.items():
        owner = run_jobs.get(run)
        if owner is None:
            continue
        prov = Provenance("openlineage", f"completed:{run.parts[0]}")
        for kind, dataset in used[run]:
            ident = _ident(owner, kind, dataset)
            edge = job_edges.get(ident)
            if edge is None or edge.last_seen < at + _AFTER:
                cs.edge(ident[0], kind, ident[2], at + _AFTER, prov)

    # tombstone: what the latest completed run did not use, unless written since
    for job, (run, at) in latest.items():
        if run_jobs.get(run) != job:
            continue  # the run's own events are not projected yet
        prov = Provenance("openlineage", f"completed:{run.parts[0]}")
        current = {_ident(job, kind, ds) for kind, ds in used[run]}
        for edge in by_job.get(job, []):
            ident = (edge.src, edge.kind, edge.dst)
            if ident in current or edge.deleted_at is not None or edge.last_seen >= at:
                continue
            cs.edge_tombstones.append(EdgeTombstone(edge.src, edge.kind, edge.dst, at, prov))
    return cs


def _time(value: Any) -> datetime | None:
    """A time this mapper stored (ISO 8601), or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _ident(job: NodeKey, kind: EdgeKind, dataset: NodeKey) -> tuple[NodeKey, EdgeKind, NodeKey]:
    return (job, kind, dataset) if kind is EdgeKind.PRODUCED else (dataset, kind, job)


def job_runs(docs: Iterable[Any]) -> list[tuple[str, str, str]]:
    """``(job namespace, job name, run id)`` of the run events among ``docs``, all
    that reconciliation reads of an event (read defensively: the mapper has
    already reported any event it could not read)."""
    out: list[tuple[str, str, str]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        job, run = doc.get("job"), doc.get("run")
        if not isinstance(job, dict) or not isinstance(run, dict):
            continue
        ns, name, run_id = job.get("namespace"), job.get("name"), run.get("runId")
        if isinstance(ns, str) and isinstance(name, str) and isinstance(run_id, str):
            out.append((ns, name, run_id))
    return out


def _by_job(touched: Iterable[tuple[str, str, str]]) -> dict[NodeKey, set[NodeKey]]:
    """The jobs of the run events in a batch, with their runs."""
    out: dict[NodeKey, set[NodeKey]] = {}
    for ns, name, run_id in touched:
        try:
            run = run_key(canonical_uuid(run_id))
        except ValueError:
            continue
        out.setdefault(job_key(ns, name), set()).add(run)
    return out
