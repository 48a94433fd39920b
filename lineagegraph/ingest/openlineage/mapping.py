"""OpenLineage events -> ChangeSets: the graph shape of runs, jobs and datasets.

:class:`OpenLineageMapper` is the mapper of the ``openlineage`` source: a pure
function of one logged event (plus the identity rules it was built with).
What one event becomes:

* **Job** ``job:<ns>|<name>`` with its facets, and **Run** ``run:<runId>``
  with its facets; ``Run -INSTANCE_OF-> Job``.
* Inputs: ``Dataset -CONSUMED-> Run`` (run-level, input facets on the edge)
  and ``Dataset -CONSUMED-> Job``; outputs: ``Run -PRODUCED-> Dataset`` and
  ``Job -PRODUCED-> Dataset``. Lineage views hide Run nodes (job view) or Job
  nodes (run view). Job-level edges a job stops using are tombstoned by
  :mod:`.reconcile` (a projection step that reads the store).
* ``parent`` run facet: ``Run -CHILD_OF-> parent Run``, the parent run and job
  created from the facet (a child's events may come first); ``root`` is kept
  as properties (``root_run_id``, ``root_job_namespace``, ``root_job_name``).
* Dataset identity: a TABLE symlink names the dataset, then the alias rules
  (:meth:`IdentityResolver.resolve_with_symlinks`); when that renames it, the
  name as sent becomes an alias node ``-ALIAS_OF->`` the canonical one.
* Versions: a **DatasetVersion** (the ``version`` facet's ``datasetVersion``,
  else ``schema-<hash>`` of the schema facet) ``-VERSION_OF-> Dataset`` with
  that version's ``schema``, and ``Run -READ_VERSION/WROTE_VERSION->
  DatasetVersion``; the dataset's ``current_version`` is the latest one.
* ``schema`` fields (nested too) become **Field** nodes (``Dataset
  -HAS_FIELD-> Field``); ``columnLineage`` becomes ``Field -DERIVES-> Field``
  with the transformations (type, subtype, description, masking) on the edge;
  its dataset-level dependencies derive every output field (``scope:
  dataset``). Input fields of datasets not in the event create those fields.
* Run state: ``state`` is set only by terminal events (COMPLETE, FAIL,
  ABORT), so a late START or a stray RUNNING can never overwrite it (the
  store merges each property by event time); START and RUNNING set
  ``running_state``; ``started_at``/``ended_at``/``completed_at`` come from
  their own event types. Read a run's state as ``state or running_state``.
* Data quality per run: assertions and metrics on the ``Dataset -CONSUMED->
  Run`` edge, and on the dataset the latest result of each assertion
  (``quality.<assertion name>``) and the latest metrics (``quality_metrics``).
* ``lifecycleStateChange``: DROP tombstones the dataset at the event time
  (history kept; a later write revives it); RENAME tombstones the previous
  name and links it ``-ALIAS_OF->`` the new one; every change is kept as
  ``lifecycle_state``.

Every node and edge carries the event time and ``Provenance("openlineage",
<idempotency key>)``; the key is the SHA-256 of the event's canonical JSON,
so the same event twice is one log entry and changes nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from lineagegraph.graph.changeset import (
    ChangeSet,
    NodeTombstone,
    Provenance,
    edge_upsert,
    node_upsert,
)
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.ingest.identity import IdentityResolver
from lineagegraph.ingest.log import LoggedEvent
from lineagegraph.ingest.mappers import (
    register_configurer,
    register_mapper,
    register_reconciler,
)
from lineagegraph.ingest.openlineage import models as m
from lineagegraph.ingest.openlineage.facets import (
    DATASET_FACETS,
    JOB_FACETS,
    RUN_FACETS,
    facet_props,
)
from lineagegraph.ingest.openlineage.keys import (
    MAX_KEYS,
    dataset_key,
    field_key,
    job_key,
    node_key,
    run_key,
    version_key,
)
from lineagegraph.ingest.openlineage.reconcile import reconcile_job_edges
from lineagegraph.ingest.openlineage.validate import ValidatedEvent, validate_event

if TYPE_CHECKING:
    from lineagegraph.settings import Settings

SOURCE = "openlineage"
# Edge and node kinds as module constants: reading an enum member off its class
# costs a metaclass lookup (~50 ns), and the mapping names them per node and edge.
CONSUMED, PRODUCED, DERIVES = EdgeKind.CONSUMED, EdgeKind.PRODUCED, EdgeKind.DERIVES
HAS_FIELD, VERSION_OF, ALIAS_OF = EdgeKind.HAS_FIELD, EdgeKind.VERSION_OF, EdgeKind.ALIAS_OF
INSTANCE_OF, CHILD_OF = EdgeKind.INSTANCE_OF, EdgeKind.CHILD_OF
READ_VERSION, WROTE_VERSION = EdgeKind.READ_VERSION, EdgeKind.WROTE_VERSION
FIELD = NodeKind.FIELD


class OpenLineageMapper:
    """The ``openlineage`` mapper: LoggedEvent -> ChangeSet (see the module docstring)."""

    def __init__(self, resolver: IdentityResolver | None = None) -> None:
        self.resolver = resolver or IdentityResolver()
        self.names = _DatasetNames(self.resolver)

    def __call__(self, logged: LoggedEvent) -> ChangeSet:
        validated = validated_cache.take(logged.idempotency_key)
        if validated is None:
            validated = validate_event(logged.payload)
        return self.map(validated, Provenance(SOURCE, logged.idempotency_key))

    def map(self, validated: ValidatedEvent, provenance: Provenance) -> ChangeSet:
        return _EventMapping(self.names, validated, provenance).build()


class _DatasetNames:
    """The canonical dataset key of a name as sent (alias rules applied), memoized:
    the resolver is a pure function of the name and its rules."""

    def __init__(self, resolver: IdentityResolver) -> None:
        self.resolver = resolver
        self._memo: dict[tuple[str, str], NodeKey] = {}

    def key(self, namespace: str, name: str) -> NodeKey:
        memo = self._memo
        key = memo.get((namespace, name))
        if key is None:
            if len(memo) >= MAX_KEYS:
                memo.clear()
            key = memo[(namespace, name)] = dataset_key(*self.resolver.resolve(namespace, name))
        return key


class _ValidatedCache:
    """Events validated at ingest, kept until projection maps them (inline mode).

    Validation is a pure function of the document, so a hit gives exactly what
    validating the logged payload again would; it only saves the work. Small
    and bounded: a miss (background projection, replay) just validates.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: dict[str, ValidatedEvent] = {}
        self._lock = threading.Lock()  # request handlers put, the projection takes

    def put(self, key: str, value: ValidatedEvent) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)), None)  # the oldest
            self._items[key] = value

    def take(self, key: str) -> ValidatedEvent | None:
        with self._lock:
            return self._items.pop(key, None)


validated_cache = _ValidatedCache()


class _EventMapping:
    """The mapping of one event (state shared by its helpers)."""

    def __init__(
        self, names: _DatasetNames, validated: ValidatedEvent, provenance: Provenance
    ) -> None:
        self.resolver = names.resolver
        self.resolved = names.key
        self.event = validated.event
        self.raw = validated.raw
        self.t: datetime = validated.event.eventTime
        self.when = self.t.isoformat()  # the event time as the properties hold it
        self.prov = provenance
        self.cs = ChangeSet()
        self._ensured: set[NodeKey] = set()
        #: (namespace, name) as sent -> canonical dataset key, for column lineage refs
        self._names: dict[tuple[str, str], NodeKey] = {}
        self.job_key: NodeKey | None = None
        self.run_key: NodeKey | None = None
        #: the run id of a RunEvent (its datasets' quality results name it)
        self.run_id = self.event.run.runId if isinstance(self.event, m.RunEvent) else None

    # ---- events ---------------------------------------------------------------------
    def build(self) -> ChangeSet:
        ev = self.event
        # a RunEvent first: isinstance is quick when it holds, slower when it does not
        if not isinstance(ev, m.RunEvent | m.JobEvent):
            assert isinstance(ev, m.DatasetEvent)
            self._dataset(ev.dataset, _raw(self.raw, "dataset"), role=None)
            return self.cs
        self.job_key = self._job(ev.job, _raw(self.raw, "job"))
        if isinstance(ev, m.RunEvent):
            self.run_key = self._run(ev)
        # register every dataset's canonical name first: column lineage may refer to any
        inputs, outputs = ev.inputs or [], ev.outputs or []
        raw_in, raw_out = _raw_list(self.raw, "inputs"), _raw_list(self.raw, "outputs")
        names = self._names
        for ds in [*inputs, *outputs]:
            sent = (ds.namespace, ds.name)
            if sent not in names:
                names[sent] = self._dataset_key(ds)
        for i, ids in enumerate(inputs):
            self._dataset(ids, raw_in[i], role="input")
        for i, ods in enumerate(outputs):
            self._dataset(ods, raw_out[i], role="output")
        return self.cs

    def _job(self, job: m.Job, raw: Mapping[str, Any]) -> NodeKey:
        key = job_key(job.namespace, job.name)
        props: dict[str, Any] = {"namespace": job.namespace, "name": job.name}
        props.update(facet_props(_raw(raw, "facets"), job.facets, JOB_FACETS))
        ev = self.event
        if isinstance(ev, m.RunEvent) and ev.eventType == "COMPLETE":
            # the job's latest completed run (merged by event time): reconcile.py
            # compares the job's current inputs and outputs with that run's
            props["last_completed_run"] = {"run_id": ev.run.runId, "at": self.when}
        self._node(key, self.t, self.prov, props)
        self._ensured.add(key)
        return key

    def _run(self, ev: m.RunEvent) -> NodeKey:
        assert self.job_key is not None
        run = ev.run
        key = run_key(run.runId)
        props: dict[str, Any] = {
            "run_id": run.runId,
            "job_namespace": ev.job.namespace,
            "job_name": ev.job.name,
            "producer": ev.producer,
        }
        when = self.when
        etype = ev.eventType
        if etype in m.TERMINAL_STATES:
            props["state"] = etype
            props["ended_at"] = when
            if etype == "COMPLETE":
                props["completed_at"] = when
        elif etype in ("START", "RUNNING"):
            props["running_state"] = etype
            if etype == "START":
                props["started_at"] = when
        run_facets = _raw(_raw(self.raw, "run"), "facets")
        props.update(facet_props(run_facets, run.facets, RUN_FACETS, deletable=False))
        self._node(key, self.t, self.prov, props)
        self._ensured.add(key)
        self._edge(key, INSTANCE_OF, self.job_key, self.t, self.prov)
        parent = run.facets.parent if run.facets else None
        if parent is not None and parent.run.runId != run.runId:
            parent_job = self._ensure(
                job_key(parent.job.namespace, parent.job.name),
                {"namespace": parent.job.namespace, "name": parent.job.name},
            )
            parent_run = self._ensure(run_key(parent.run.runId), {"run_id": parent.run.runId})
            self._edge(parent_run, INSTANCE_OF, parent_job, self.t, self.prov)
            self._edge(key, CHILD_OF, parent_run, self.t, self.prov)
        return key

    # ---- datasets ----------------------------------------------------------------------
    def _dataset_key(self, ds: m.Dataset) -> NodeKey:
        links = ds.facets.symlinks if ds.facets else None
        if not links or not links.identifiers:
            return self.resolved(ds.namespace, ds.name)
        identifiers = [i.model_dump() for i in links.identifiers]
        ns, name = self.resolver.resolve_with_symlinks(ds.namespace, ds.name, identifiers)
        return dataset_key(ns, name)

    def _ref(self, namespace: str, name: str) -> NodeKey:
        """The dataset a column lineage reference names."""
        known = self._names.get((namespace, name))
        if known is not None:
            return known
        return self.resolved(namespace, name)

    def _dataset(self, ds: m.Dataset, raw: Mapping[str, Any], role: str | None) -> NodeKey:
        key = self._names.get((ds.namespace, ds.name)) or self._dataset_key(ds)
        t, prov = self.t, self.prov
        facets = ds.facets
        role_facets: m.DatasetFacets | None = None
        raw_role: Mapping[str, Any] | None = None
        if isinstance(ds, m.InputDataset):
            role_facets, raw_role = ds.inputFacets, _raw(raw, "inputFacets")
        elif isinstance(ds, m.OutputDataset):
            role_facets, raw_role = ds.outputFacets, _raw(raw, "outputFacets")

        raw_facets = _raw(raw, "facets")
        props: dict[str, Any] = {"namespace": key.parts[0], "name": key.parts[1]}
        props.update(facet_props(raw_facets, facets, DATASET_FACETS))
        schema = facets.schema_ if facets else None
        version, source = _version(facets)
        if version is not None:
            props["current_version"] = version
        quality = _quality(facets, role_facets)
        run_id, when = self.run_id, self.when
        for assertion in quality.assertions:
            name = assertion.name or _assertion_id(assertion)
            props[f"quality.{name}"] = {
                "success": assertion.success,
                "assertion": assertion.assertion,
                "column": assertion.column,
                "severity": assertion.severity,
                "run_id": run_id,
                "at": when,
            }
        if quality.metrics is not None:
            props["quality_metrics"] = {**_metrics(quality.metrics), "run_id": run_id, "at": when}
        stats = _pick(role_facets, facets, "outputStatistics") if role == "output" else None
        if stats is not None:
            props["output_statistics"] = {**_statistics(stats), "run_id": run_id}
        lifecycle = facets.lifecycleStateChange if facets else None
        if lifecycle is not None and not lifecycle.deleted:
            props["lifecycle_state"] = {
                "state": lifecycle.lifecycleStateChange,
                "at": when,
                "run_id": run_id,
            }
        self._node(key, t, prov, props)
        self._ensured.add(key)

        self._alias(ds, key)
        if schema is not None and schema.fields and not schema.deleted:
            self._fields(key, schema.fields, ())
        if version is not None:
            dv = version_key(key.parts[0], key.parts[1], version)
            dv_props: dict[str, Any] = {"version": version, "version_source": source}
            if schema is not None and not schema.deleted:
                # the schema of this version (the dataset keeps the latest in facets.schema)
                dv_props["schema"] = _raw(raw_facets, "schema").get("fields", [])
            self._node(dv, t, prov, dv_props)
            self._edge(dv, VERSION_OF, key, t, prov)
            if self.run_key is not None and role is not None:
                kind = READ_VERSION if role == "input" else WROTE_VERSION
                self._edge(self.run_key, kind, dv, t, prov)
        if role is not None:
            self._io_edges(key, role, facets, role_facets, raw_role, quality)
        if lifecycle is not None and not lifecycle.deleted:
            self._lifecycle(key, lifecycle)
        if facets and facets.columnLineage and not facets.columnLineage.deleted:
            self._column_lineage(key, facets)
        return key

    def _alias(self, ds: m.Dataset, key: NodeKey) -> None:
        sent = self.resolved(ds.namespace, ds.name)
        if sent is not key and sent != key:  # keys are shared: identity is the common case
            self._ensure(
                sent,
                {"namespace": sent.parts[0], "name": sent.parts[1], "alias_of": str(key)},
            )
            self._edge(sent, ALIAS_OF, key, self.t, self.prov, {"reason": "symlink"})

    def _io_edges(
        self,
        key: NodeKey,
        role: str,
        facets: m.DatasetFacets | None,
        role_facets: m.DatasetFacets | None,
        raw_role: Mapping[str, Any] | None,
        quality: _Quality,
    ) -> None:
        t, prov = self.t, self.prov
        assert self.job_key is not None
        props: dict[str, Any] = {f"facets.{k}": v for k, v in (raw_role or {}).items()}
        if self.run_key is not None:
            props["run_id"] = self.run_key.parts[0]
        if role == "input":
            if quality.assertions:
                props["data_quality_assertions"] = [
                    a.model_dump(exclude_none=True) for a in quality.assertions
                ]
            if quality.metrics is not None:
                props["data_quality_metrics"] = _metrics(quality.metrics)
            stats = _pick(role_facets, facets, "inputStatistics")
            if stats is not None:
                props["input_statistics"] = _statistics(stats)
            if self.run_key is not None:
                self._edge(key, CONSUMED, self.run_key, t, prov, props)
            self._edge(key, CONSUMED, self.job_key, t, prov, _job_edge_props(props))
        else:
            stats = _pick(role_facets, facets, "outputStatistics")
            if stats is not None:
                props["output_statistics"] = _statistics(stats)
            if self.run_key is not None:
                self._edge(self.run_key, PRODUCED, key, t, prov, props)
            self._edge(self.job_key, PRODUCED, key, t, prov, _job_edge_props(props))

    def _lifecycle(self, key: NodeKey, f: m.LifecycleStateChangeDatasetFacet) -> None:
        if f.lifecycleStateChange == "DROP":
            # the upsert of the same event has the same time: a tie keeps it deleted
            self.cs.node_tombstones.append(NodeTombstone(key, self.t, self.prov))
        elif f.lifecycleStateChange == "RENAME" and f.previousIdentifier is not None:
            prev = f.previousIdentifier
            old = self.resolved(prev.namespace, prev.name)
            if old != key:
                self._ensure(
                    old, {"namespace": old.parts[0], "name": old.parts[1], "renamed_to": str(key)}
                )
                self.cs.node_tombstones.append(NodeTombstone(old, self.t, self.prov))
                self._edge(old, ALIAS_OF, key, self.t, self.prov, {"reason": "rename"})

    # ---- fields and column lineage ------------------------------------------------------
    def _fields(self, ds: NodeKey, fields: list[m.SchemaField], prefix: tuple[str, ...]) -> None:
        # the hottest loop of a replay (about half of all nodes are columns): inlined
        t, prov, ensured = self.t, self.prov, self._ensured
        nodes, edges = self.cs.nodes.append, self.cs.edges.append
        base = (ds.parts[0], ds.parts[1])
        for f in fields:
            name = f.name
            path = (*prefix, name)
            key = node_key(FIELD, base + path)
            props = {
                "name": name,
                "path": list(path),
                "type": f.type,
                "description": f.description,
                "ordinal_position": f.ordinal_position,
            }
            nodes(node_upsert(key, t, prov, props))
            ensured.add(key)
            edges(edge_upsert(ds, HAS_FIELD, key, t, prov, {}))
            if f.fields:
                self._fields(ds, f.fields, path)

    def _field(self, ds: NodeKey, name: str) -> NodeKey:
        """The field node a column lineage reference names (created when not known)."""
        key = field_key(ds.parts[0], ds.parts[1], name)
        if key not in self._ensured and "." in name:
            nested = field_key(ds.parts[0], ds.parts[1], *name.split("."))
            if nested in self._ensured:  # "a.b" naming the nested schema field b of a
                return nested
        if key not in self._ensured:
            self._ensure(ds, {"namespace": ds.parts[0], "name": ds.parts[1]})
            self._ensure(key, {"name": name, "path": [name]})
            self._edge(ds, HAS_FIELD, key, self.t, self.prov)
        return key

    def _column_lineage(self, out: NodeKey, facets: m.DatasetFacets) -> None:
        cl = facets.columnLineage
        assert cl is not None
        edges: dict[tuple[NodeKey, NodeKey], dict[str, Any]] = {}

        def derive(src: NodeKey, dst: NodeKey, transforms: list[dict[str, Any]]) -> dict[str, Any]:
            props = edges.setdefault((src, dst), {"transformations": []})
            props["transformations"].extend(transforms)
            return props

        out_fields: list[NodeKey] = []
        for out_name, spec in cl.fields.items():
            dst = self._field(out, out_name)
            out_fields.append(dst)
            # the deprecated per-field form (transformationType/-Description) is kept as sent
            legacy = {
                "transformation_type": spec.transformationType,
                "transformation_description": spec.transformationDescription,
            }
            for inp in spec.inputFields:
                src = self._field(self._ref(inp.namespace, inp.name), inp.field)
                transforms = [t.model_dump(exclude_none=True) for t in inp.transformations or []]
                if not transforms and spec.transformationType:
                    transforms = [{"type": spec.transformationType, "legacy": True}]
                props = derive(src, dst, transforms)
                props.update({k: v for k, v in legacy.items() if v is not None})
        schema = facets.schema_
        if cl.dataset:
            if schema and schema.fields:
                out_fields.extend(
                    field_key(out.parts[0], out.parts[1], f.name) for f in schema.fields
                )
            targets = list(dict.fromkeys(out_fields))
            for inp in cl.dataset:
                src = self._field(self._ref(inp.namespace, inp.name), inp.field)
                transforms = [
                    {**t.model_dump(exclude_none=True), "scope": "dataset"}
                    for t in inp.transformations or []
                ] or [{"type": "INDIRECT", "scope": "dataset"}]
                for dst in targets:
                    derive(src, dst, transforms)
        for (src, dst), props in edges.items():
            if self.job_key is not None:
                props["job"] = str(self.job_key)
            self._edge(src, DERIVES, dst, self.t, self.prov, props)

    # ---- helpers -------------------------------------------------------------------------
    def _node(
        self, key: NodeKey, t: datetime, prov: Provenance, props: dict[str, Any] | None = None
    ) -> None:
        """Upsert a node (``props``: a dict of this mapping's own, not copied)."""
        self.cs.nodes.append(node_upsert(key, t, prov, {} if props is None else props))

    def _edge(
        self,
        src: NodeKey,
        kind: EdgeKind,
        dst: NodeKey,
        t: datetime,
        prov: Provenance,
        props: dict[str, Any] | None = None,
    ) -> None:
        self.cs.edges.append(edge_upsert(src, kind, dst, t, prov, {} if props is None else props))

    def _ensure(self, key: NodeKey, props: dict[str, Any]) -> NodeKey:
        """Upsert a node this event only refers to (once per event)."""
        if key not in self._ensured:
            self._ensured.add(key)
            self._node(key, self.t, self.prov, props)
        return key


# ---- small pure helpers -------------------------------------------------------------------


class _Quality:
    __slots__ = ("assertions", "metrics")

    def __init__(
        self, assertions: Sequence[m.Assertion], metrics: m.DataQualityMetricsFacet | None
    ) -> None:
        self.assertions = assertions
        self.metrics = metrics


def _quality(facets: m.DatasetFacets | None, role: m.DatasetFacets | None) -> _Quality:
    """Assertions and metrics, from the input facets or (as producers also send
    them) the dataset facets; the input facets win when both are present."""
    dqa = _pick(role, facets, "dataQualityAssertions")
    dqm = _pick(role, facets, "dataQualityMetrics")
    if dqa is None and dqm is None:
        return _NO_QUALITY  # the common case
    assertions = dqa.assertions if isinstance(dqa, m.DataQualityAssertionsFacet) else []
    metrics = dqm if isinstance(dqm, m.DataQualityMetricsFacet) else None
    return _Quality(assertions, metrics)


_NO_QUALITY = _Quality((), None)


def _pick(first: m.DatasetFacets | None, second: m.DatasetFacets | None, name: str) -> Any:
    for container in (first, second):
        if container is not None:
            facet = getattr(container, name, None)
            if facet is not None and not facet.deleted:
                return facet
    return None


def _assertion_id(a: m.Assertion) -> str:
    return f"{a.assertion}({a.column})" if a.column else a.assertion


def _metrics(f: m.DataQualityMetricsFacet) -> dict[str, Any]:
    return {
        "row_count": f.rowCount,
        "bytes": f.bytes,
        "file_count": f.fileCount,
        "last_updated": f.lastUpdated.isoformat() if f.lastUpdated else None,
        "columns": {k: v.model_dump(exclude_none=True) for k, v in f.columnMetrics.items()},
    }


def _statistics(f: m.StatisticsFacet) -> dict[str, Any]:
    return {"row_count": f.rowCount, "size": f.size, "file_count": f.fileCount}


def _job_edge_props(run_props: Mapping[str, Any]) -> dict[str, Any]:
    """What a job-level edge keeps of its run-level twin: the latest run that used it."""
    return {"last_run_id": run_props["run_id"]} if "run_id" in run_props else {}


def _version(facets: m.DatasetFacets | None) -> tuple[str | None, str | None]:
    """A dataset version: the version facet's, else a hash of the schema's shape."""
    if facets is None:
        return None, None
    if facets.version is not None and not facets.version.deleted:
        return facets.version.datasetVersion, "facet"
    schema = facets.schema_
    if schema is not None and schema.fields and not schema.deleted:
        shape = orjson.dumps(_shape(schema.fields))
        version = _schema_versions.get(shape)
        if version is None:
            if len(_schema_versions) >= 4096:
                _schema_versions.clear()
            digest = hashlib.sha256(shape).hexdigest()[:16]
            version = _schema_versions[shape] = f"schema-{digest}"
        return version, "schema"
    return None, None


#: schema shape (JSON) -> its version: the same schemas come again and again, and a
#: SHA-256 costs more than the rest of the version (memoized, bounded)
_schema_versions: dict[bytes, str] = {}


def _shape(fields: list[m.SchemaField]) -> list[Any]:
    """Names and types only: a description edit is not a new version of the data."""
    return [[f.name, f.type, _shape(f.fields) if f.fields else None] for f in fields]


def _raw(doc: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    value = doc.get(key) if doc else None
    # `type(...) is dict` first: the Mapping ABC check costs ~10 times more
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def _raw_list(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = doc.get(key)
    if not isinstance(value, list):
        return []
    return [v if type(v) is dict or isinstance(v, Mapping) else {} for v in value]


def configure(settings: Settings) -> None:
    """Use the alias rules of ``settings`` (called when services are built)."""
    register_mapper(SOURCE, OpenLineageMapper(IdentityResolver(settings.dataset_aliases)))


register_mapper(SOURCE, OpenLineageMapper())  # no alias rules until configured
register_reconciler(SOURCE, reconcile_job_edges)
register_configurer(SOURCE, configure)
