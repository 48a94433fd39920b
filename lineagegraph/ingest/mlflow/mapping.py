"""The ``mlflow`` mapper: one MLflow snapshot -> one ChangeSet.

What lands in the graph (namespace ``ns`` is the snapshot's harvest namespace):

* Experiment ``(ns, id)``; Run ``(run id)`` -IN_EXPERIMENT-> Experiment, and a
  Job ``(ns, experiment name)`` with Run -INSTANCE_OF-> Job, so the job-level
  picture stays connected (the lineage view hides Runs at job granularity and
  Jobs at run granularity, so every Run lineage edge is mirrored on the Job);
  parent runs: Run -CHILD_OF-> Run; the OpenLineage run of the same execution
  (MLflow run tag ``openlineage.runId``): Run -LINKED_RUN-> Run. (The other
  direction, an OpenLineage run facet naming the MLflow run, is for the
  OpenLineage mapper to read; it yields the same edge.)
* Run inputs: Dataset -CONSUMED-> Run/Job (edge props ``contexts``,
  ``digests``), a DatasetVersion per digest (Run -READ_VERSION-> it,
  -VERSION_OF-> Dataset) holding the schema and profile, and a Field per
  schema column (Dataset -HAS_FIELD-> Field).
* Model ``(ns, name)``, ModelVersion ``(ns, name, version)`` -VERSION_OF-> Model;
  Run/Job -TRAINED-> ModelVersion from the version's source run.
* Features: each named input of the version's signature is a Feature in
  namespace ``<ns>/<model name>`` (or the ``feature_namespace`` setting, for
  teams whose models share one feature vocabulary), Feature -INPUT_TO->
  ModelVersion, fed by Field -FEEDS-> Feature from every training dataset
  whose schema has that column (Dataset -FEEDS-> Feature when none has it).
* Evaluations: the logged model's metrics on one dataset, computed by one
  run: ModelVersion -EVALUATED-> Evaluation <-EVALUATED- Dataset (and its
  DatasetVersion).
* Deployments (see ``deployments.py``): ModelVersion -SERVES-> Deployment
  from ``since``; an ended one gets an EdgeTombstone at ``until``.
* Deleted runs, versions, models and experiments get NodeTombstones (a deleted
  model's features too, unless features live in a shared namespace).

Times: a node's first upsert is at the object's MLflow creation time (run
start, version creation, ...) and every edge at the time the relation began,
so as-of queries follow MLflow's history. The object's mutable properties are
written at the snapshot's ``observed_at``: MLflow keeps no update time for
runs, tags or aliases, and a newer observation must win whatever order the
snapshots are projected in. Nodes a snapshot only refers to are upserted
without properties at the relation's time, which never revives a deleted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from lineagegraph.graph.changeset import ChangeSet, EdgeTombstone, NodeTombstone, Provenance
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.ingest.log import LoggedEvent
from lineagegraph.ingest.mappers import register_mapper
from lineagegraph.ingest.mlflow.snapshots import (
    AnySnapshot,
    Context,
    DatasetDoc,
    ExperimentSnapshot,
    ModelVersionDeletedSnapshot,
    ModelVersionSnapshot,
    RegisteredModelDeletedSnapshot,
    RegisteredModelSnapshot,
    RunDoc,
    RunSnapshot,
    Serving,
    parse_snapshot,
)
from lineagegraph.ingest.mlflow.sources import is_training, resolve_dataset

SOURCE = "mlflow"
#: MLflow run tags that carry the id of the OpenLineage run of the same execution.
OPENLINEAGE_RUN_TAGS = ("openlineage.runId", "openlineage.run_id")
PARENT_RUN_TAG = "mlflow.parentRunId"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
E = EdgeKind


def at(ms: int) -> datetime:
    """An MLflow timestamp (epoch milliseconds) as an aware datetime."""
    return _EPOCH + timedelta(milliseconds=ms)


def iso(ms: int | None) -> str | None:
    return at(ms).isoformat() if ms is not None else None


def job_name(experiment_name: str | None, experiment_id: str | None) -> str:
    return experiment_name or f"experiment-{experiment_id}"


def feature_namespace(ctx: Context, model: str) -> str:
    return ctx.feature_namespace or f"{ctx.namespace}/{model}"


def map_mlflow_event(event: LoggedEvent) -> ChangeSet:
    """The registered mapper of source ``mlflow``."""
    snapshot = parse_snapshot(event.payload)
    return map_snapshot(snapshot, Provenance(SOURCE, event.idempotency_key))


def map_snapshot(snapshot: AnySnapshot, provenance: Provenance) -> ChangeSet:
    b = _Builder(snapshot.context, provenance, snapshot.observed_at)
    if isinstance(snapshot, ExperimentSnapshot):
        b.experiment(snapshot)
    elif isinstance(snapshot, RunSnapshot):
        b.run(snapshot.run)
    elif isinstance(snapshot, ModelVersionSnapshot):
        b.model_version(snapshot)
    elif isinstance(snapshot, RegisteredModelSnapshot):
        b.registered_model(snapshot)
    elif isinstance(snapshot, ModelVersionDeletedSnapshot):
        key = NodeKey.model_version(b.ns, snapshot.name, snapshot.version.version)
        b.touch(key, snapshot.version.creation_timestamp)
        b.tombstone(key)
    elif isinstance(snapshot, RegisteredModelDeletedSnapshot):
        b.registered_model_deleted(snapshot)
    return b.cs


class _Builder:
    def __init__(self, ctx: Context, prov: Provenance, observed_at: int) -> None:
        self.ctx = ctx
        self.ns = ctx.namespace
        self.prov = prov
        self.observed = observed_at
        self.cs = ChangeSet()

    # ---- primitives ------------------------------------------------------------------
    def touch(self, key: NodeKey, ms: int, props: Mapping[str, Any] | None = None) -> NodeKey:
        return self.cs.node(key, at(ms), self.prov, _clean(props or {}))

    def props(self, key: NodeKey, props: Mapping[str, Any]) -> None:
        self.cs.node(key, at(self.observed), self.prov, _clean(props))

    def edge(
        self, src: NodeKey, kind: EdgeKind, dst: NodeKey, ms: int, props: Mapping[str, Any] | None
    ) -> None:
        self.cs.edge(src, kind, dst, at(ms), self.prov, _clean(props or {}))

    def tombstone(self, key: NodeKey) -> None:
        self.cs.node_tombstones.append(NodeTombstone(key, at(self.observed), self.prov))

    def dataset(self, ds: DatasetDoc) -> NodeKey:
        ns, name = resolve_dataset(
            ds.source_type,
            ds.source,
            dataset_name=ds.name,
            digest=ds.digest,
            namespace=self.ns,
            table_namespace=self.ctx.table_namespace,
            aliases=self.ctx.dataset_aliases,
        )
        return NodeKey.dataset_key(ns, name)

    # ---- experiments and runs --------------------------------------------------------
    def experiment(self, s: ExperimentSnapshot) -> None:
        e = s.experiment
        key = NodeKey.experiment(self.ns, e.experiment_id)
        self.touch(key, e.creation_time or self.observed)
        self.props(
            key,
            {
                "name": e.name,
                "experiment_id": e.experiment_id,
                "artifact_location": e.artifact_location,
                "lifecycle_stage": e.lifecycle_stage,
                "tags": e.tags,
                "creation_time": iso(e.creation_time),
                "last_update_time": iso(e.last_update_time),
                "tracking_uri": self.ctx.tracking_uri,
            },
        )
        if e.lifecycle_stage == "deleted":
            self.tombstone(key)

    def run(self, r: RunDoc) -> None:
        start = r.start_time or self.observed
        run = NodeKey.run(r.run_id)
        self.touch(run, start)
        tags = r.tags
        self.props(
            run,
            {
                "name": r.run_name,
                "status": r.status,
                "start_time": iso(r.start_time),
                "end_time": iso(r.end_time),
                "user": r.user_id,
                "params": r.params,
                "metrics": r.metrics,
                "tags": tags,
                "lifecycle_stage": r.lifecycle_stage,
                "experiment_id": r.experiment_id,
                "artifact_uri": r.artifact_uri,
                "source_name": tags.get("mlflow.source.name"),
                "source_type": tags.get("mlflow.source.type"),
                "code_version": tags.get("mlflow.source.git.commit"),
                "logged_models": r.model_outputs,
                "type": "training",
                "integration": "MLFLOW",
            },
        )
        experiment = self.touch(NodeKey.experiment(self.ns, r.experiment_id), start)
        self.edge(run, E.IN_EXPERIMENT, experiment, start, None)
        job = self.job(r.experiment_name, r.experiment_id, start)
        self.edge(run, E.INSTANCE_OF, job, start, None)
        parent = tags.get(PARENT_RUN_TAG)
        if parent:
            self.edge(run, E.CHILD_OF, self.touch(NodeKey.run(parent), start), start, None)
        for tag in OPENLINEAGE_RUN_TAGS:
            if tags.get(tag, "").strip():
                linked = self.touch(NodeKey.run(tags[tag].strip()), start)
                self.edge(run, E.LINKED_RUN, linked, start, {"via": f"mlflow tag {tag}"})
                break
        self.inputs(r, run, job, start)
        if r.lifecycle_stage == "deleted":
            self.tombstone(run)

    def job(self, experiment_name: str | None, experiment_id: str | None, ms: int) -> NodeKey:
        key = NodeKey.job(self.ns, job_name(experiment_name, experiment_id))
        props = {"type": "training", "integration": "MLFLOW", "experiment_id": experiment_id}
        return self.touch(key, ms, props)

    def inputs(self, r: RunDoc, run: NodeKey, job: NodeKey, start: int) -> None:
        by_key: dict[NodeKey, list[DatasetDoc]] = {}
        for ds in r.datasets:
            by_key.setdefault(self.dataset(ds), []).append(ds)
        for key, docs in by_key.items():
            self.touch(key, start, {"mlflow_source_type": docs[0].source_type})
            contexts = sorted({d.context or "unspecified" for d in docs})
            digests = sorted({d.digest for d in docs if d.digest})
            training = any(is_training(d.context) for d in docs)
            context = "training" if training else contexts[0]
            edge_props = {"contexts": contexts, "digests": digests, "context": context}
            self.edge(key, E.CONSUMED, run, start, edge_props)
            self.edge(key, E.CONSUMED, job, start, {"contexts": contexts})
            for ds in docs:
                self.fields(key, ds, start)
                if ds.digest:
                    dv = self.dataset_version(key, ds, start)
                    self.edge(run, E.READ_VERSION, dv, start, {"context": ds.context})

    def fields(self, dataset: NodeKey, ds: DatasetDoc, ms: int) -> None:
        for col in ds.columns:
            f = NodeKey.field(dataset.parts[0], dataset.parts[1], col.name)
            self.touch(f, ms, {"name": col.name, "type": col.type})
            self.edge(dataset, E.HAS_FIELD, f, ms, None)

    def dataset_version(self, dataset: NodeKey, ds: DatasetDoc, ms: int) -> NodeKey:
        dv = NodeKey.dataset_version(dataset.parts[0], dataset.parts[1], ds.digest)
        self.touch(
            dv,
            ms,
            {
                "digest": ds.digest,
                "mlflow_name": ds.name,
                "source_type": ds.source_type,
                "source": ds.source,
                "fields": [c.model_dump() for c in ds.columns],
                "profile": ds.profile,
            },
        )
        self.edge(dv, E.VERSION_OF, dataset, ms, None)
        return dv

    # ---- the registry ----------------------------------------------------------------
    def model_version(self, s: ModelVersionSnapshot) -> None:
        v, lm = s.model_version, s.logged_model
        created = v.creation_timestamp
        mv = self.touch(NodeKey.model_version(self.ns, v.name, v.version), created)
        model = self.touch(NodeKey.model_key(self.ns, v.name), created)
        self.edge(mv, E.VERSION_OF, model, created, None)
        plain_metrics = {m.key: m.value for m in (lm.metrics if lm else []) if not m.dataset_name}
        self.props(
            mv,
            {
                "name": v.name,
                "version": v.version,
                "status": v.status,
                "stage": v.current_stage,
                "description": v.description,
                "tags": v.tags,
                "source": v.source,
                "run_id": v.run_id or (lm.source_run_id if lm else None),
                "model_id": v.model_id,
                "user": v.user_id,
                "creation_time": iso(v.creation_timestamp),
                "last_updated_time": iso(v.last_updated_timestamp),
                "signature": _signature(s),
                "params": lm.params if lm else None,
                "model_type": lm.model_type if lm else None,
                "metrics": plain_metrics or None,
            },
        )
        src = s.source_run
        if src is not None:
            run_start = min(src.start_time or created, created)
            run = self.touch(NodeKey.run(src.run_id), run_start)
            self.edge(run, E.TRAINED, mv, created, None)
            job = self.job(src.experiment_name, src.experiment_id, run_start)
            self.edge(job, E.TRAINED, mv, created, None)
        self.features(s, mv, created)
        self.evaluations(s, mv)

    def features(self, s: ModelVersionSnapshot, mv: NodeKey, created: int) -> None:
        lm = s.logged_model
        if lm is None or not lm.signature_inputs:
            return
        name = s.model_version.name
        training = s.source_run.datasets if s.source_run else []
        datasets = [(self.dataset(d), {c.name for c in d.columns}) for d in training]
        for col in lm.signature_inputs:
            feature = self.touch(
                NodeKey.feature(feature_namespace(self.ctx, name), col.name),
                created,
                {"name": col.name, "type": col.type, "model": name},
            )
            self.edge(feature, E.INPUT_TO, mv, created, None)
            fed = False
            for dataset, columns in datasets:
                if col.name in columns:
                    self.touch(dataset, created)
                    f = self.touch(NodeKey.field(*dataset.parts, col.name), created)
                    self.edge(dataset, E.HAS_FIELD, f, created, None)
                    self.edge(f, E.FEEDS, feature, created, None)
                    fed = True
            if not fed:  # computed in code, or a dataset without schema: coarse lineage
                for dataset, _ in datasets:
                    self.touch(dataset, created)
                    self.edge(dataset, E.FEEDS, feature, created, None)

    def evaluations(self, s: ModelVersionSnapshot, mv: NodeKey) -> None:
        lm, v = s.logged_model, s.model_version
        if lm is None:
            return
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for m in lm.metrics:
            if not m.dataset_name:
                continue
            g = groups.setdefault(
                (m.run_id or "", m.dataset_name, m.dataset_digest or ""),
                {"metrics": {}, "steps": {}, "first": m.timestamp},
            )
            # the latest value of each metric (by step, then time)
            if (m.step, m.timestamp) >= g["steps"].get(m.key, (-1, -1)):
                g["metrics"][m.key] = m.value
                g["steps"][m.key] = (m.step, m.timestamp)
            g["first"] = min(g["first"], m.timestamp)
        known = {(d.name, d.digest): d for d in s.evaluation_datasets}
        for (run_id, ds_name, digest), g in sorted(groups.items()):
            ds = known.get((ds_name, digest)) or DatasetDoc(name=ds_name, digest=digest)
            first = int(g["first"])
            dataset = self.touch(self.dataset(ds), first)
            ident = f"{v.name}/{v.version}/{ds_name}@{digest}/{run_id}"
            ev = self.touch(NodeKey.evaluation(self.ns, ident), first)
            self.props(
                ev,
                {
                    "metrics": g["metrics"],
                    "model": v.name,
                    "version": v.version,
                    "dataset": str(dataset),
                    "dataset_name": ds_name,
                    "dataset_digest": digest or None,
                    "run_id": run_id or None,
                    "evaluated_at": iso(first),
                },
            )
            self.edge(mv, E.EVALUATED, ev, first, None)
            self.edge(dataset, E.EVALUATED, ev, first, None)
            if digest:
                dv = self.dataset_version(dataset, ds, first)
                self.edge(dv, E.EVALUATED, ev, first, None)

    def registered_model(self, s: RegisteredModelSnapshot) -> None:
        m = s.registered_model
        model = self.touch(NodeKey.model_key(self.ns, m.name), m.creation_timestamp)
        self.props(
            model,
            {
                "name": m.name,
                "description": m.description,
                "tags": m.tags,
                "aliases": m.aliases,
                "creation_time": iso(m.creation_timestamp),
                "last_updated_time": iso(m.last_updated_timestamp),
                "previous_names": [s.renamed_from] if s.renamed_from else None,
                "tracking_uri": self.ctx.tracking_uri,
            },
        )
        held: dict[str, list[str]] = {}
        for alias, version in m.aliases.items():
            held.setdefault(version, []).append(alias)
        for version in s.versions:
            key = NodeKey.model_version(self.ns, m.name, version)
            self.props(key, {"aliases": sorted(held.get(version, []))})
        self.serving(m.name, s.serving, s.ended)

    def serving(self, model: str, serving: list[Serving], ended: list[Serving]) -> None:
        by_deployment: dict[NodeKey, list[dict[str, Any]]] = {}
        for sv in [*serving, *ended]:
            dep = NodeKey.deployment(sv.environment, sv.endpoint)
            self.touch(dep, sv.since, {"environment": sv.environment, "endpoint": sv.endpoint})
            mv = self.touch(NodeKey.model_version(self.ns, model, sv.version), sv.since)
            via, _, name = sv.via.partition(":")
            edge_props = {
                "via": sv.via,
                "alias": name if via == "alias" else None,
                "since": iso(sv.since),
                "traffic": sv.traffic,
            }
            self.edge(mv, E.SERVES, dep, sv.since, edge_props)
            now = by_deployment.setdefault(dep, [])
            if sv.until is None:
                now.append({"version": sv.version, "since": iso(sv.since), "via": sv.via})
            else:
                self.cs.edge_tombstones.append(
                    EdgeTombstone(mv, E.SERVES, dep, at(sv.until), self.prov)
                )
        for dep, now in by_deployment.items():
            self.props(dep, {"model": model, "model_namespace": self.ns, "serving": now})

    def registered_model_deleted(self, s: RegisteredModelDeletedSnapshot) -> None:
        model = self.touch(NodeKey.model_key(self.ns, s.name), s.creation_timestamp)
        if s.renamed_to:
            # just before the tombstone, so the ended node still says where it went
            self.touch(model, self.observed - 1, {"renamed_to": s.renamed_to})
        self.serving(s.name, [], s.ended)
        if not self.ctx.feature_namespace:  # the model's own features end with it
            for name in s.features:
                feature = NodeKey.feature(feature_namespace(self.ctx, s.name), name)
                self.tombstone(self.touch(feature, s.creation_timestamp))
        for v in s.versions:
            key = self.touch(
                NodeKey.model_version(self.ns, s.name, v.version), v.creation_timestamp
            )
            self.tombstone(key)
        self.tombstone(model)


def _signature(s: ModelVersionSnapshot) -> dict[str, Any] | None:
    lm = s.logged_model
    if lm is None or lm.signature_inputs is None:
        return None
    return {
        "inputs": [c.model_dump() for c in lm.signature_inputs],
        "outputs": [c.model_dump() for c in lm.signature_outputs or []],
    }


def _clean(props: Mapping[str, Any]) -> dict[str, Any]:
    """Properties without the unknown ones (a None would delete a value another write set)."""
    return {k: v for k, v in props.items() if v is not None}


register_mapper(SOURCE, map_mlflow_event)
