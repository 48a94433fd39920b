"""Synthetic lineage graphs of a realistic shape, for benchmarks.

:func:`generate` builds a graph of exactly ``n_nodes`` nodes and ``n_edges``
edges, deterministic for a seed. Its shape is what a data platform's lineage
looks like, not a chain:

* **domains** (teams) of a few thousand to tens of thousands of nodes, each a
  layered pipeline: raw datasets, then layers of batch jobs that read datasets
  of earlier layers and write new ones, then training jobs whose runs train
  model versions (served by deployments, scored by evaluations), then
  inference jobs that read a model version and write predictions;
* **fan-in**: a job reads one to a few dozen datasets, mostly from the layer
  just above, some from any earlier layer, a few from earlier domains;
* **fan-out**: popular tables (dimensions, cleaned sources) are read by many
  jobs, a job writes one to three tables, a job has one to a dozen runs;
* both pictures DESIGN.md asks for: job-level edges (Dataset -> Job ->
  Dataset) and run-level edges (Dataset -> Run -> Dataset, Run -> Job), so
  lineage can be asked at either granularity;
* a few incremental jobs read the table they write (cycles), and structural
  edges (instance-of, version-of) a lineage walk must not follow.

Nodes and edges are held as compact integer arrays (1M nodes and 3M edges take
about 40 MB); keys are made on demand. Use :meth:`SyntheticGraph.changesets`
to load a store in chunks, :meth:`SyntheticGraph.iter_nodes` /
:meth:`SyntheticGraph.iter_edges` for rows (e.g. Cypher ``UNWIND`` batches),
and the integer arrays for in-process references such as igraph.

:func:`generate_artifact_dag` builds the ML-Metadata-shaped graph (artifacts,
executions and input/output events only) used to compare with MLMD.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lineagegraph.graph.changeset import ChangeSet, Provenance
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, EdgeKind, NodeKind

__all__ = [
    "BASE_TIME",
    "SyntheticGraph",
    "generate",
    "generate_artifact_dag",
]

#: Event time of node 0; node ``i`` is first seen ``i`` seconds later, so the
#: generation order (domain by domain, layer by layer) is also time order.
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
PROVENANCE_SOURCE = "synthetic"

# Node and edge kinds are stored as small integers: their index in these tuples.
_NK: tuple[NodeKind, ...] = tuple(NodeKind)
_EK: tuple[EdgeKind, ...] = tuple(EdgeKind)
_NKI = {k: i for i, k in enumerate(_NK)}
_EKI = {k: i for i, k in enumerate(_EK)}

_DATASET_NAMESPACES = (
    "postgres://warehouse-{d}.example.com:5432",
    "s3://lake-{d}",
    "bigquery",
    "snowflake://acct-{d}.eu-west-1",
)
_JOB_TYPES = ("batch", "training", "inference")


@dataclass(slots=True)
class SyntheticGraph:
    """A generated graph: integer arrays, keys made on demand.

    Node ``i`` has kind ``node_kind(i)`` and key ``key(i)``; edge ``j`` joins
    ``edge_src[j]`` to ``edge_dst[j]`` with kind ``edge_kind(j)``.
    """

    seed: int
    kind_codes: bytearray = field(default_factory=bytearray)
    domain: array[int] = field(default_factory=lambda: array("i"))
    layer: array[int] = field(default_factory=lambda: array("h"))
    #: run -> its job, model version -> its model, job -> its type; else -1
    aux: array[int] = field(default_factory=lambda: array("i"))
    #: a model version's version number; else 0
    ordinal: array[int] = field(default_factory=lambda: array("i"))
    edge_src: array[int] = field(default_factory=lambda: array("i"))
    edge_dst: array[int] = field(default_factory=lambda: array("i"))
    edge_codes: bytearray = field(default_factory=bytearray)

    # ---- sizes and kinds -------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.kind_codes)

    @property
    def n_edges(self) -> int:
        return len(self.edge_codes)

    def node_kind(self, i: int) -> NodeKind:
        return _NK[self.kind_codes[i]]

    def edge_kind(self, j: int) -> EdgeKind:
        return _EK[self.edge_codes[j]]

    def counts(self) -> dict[str, dict[str, int]]:
        """Nodes and edges by kind."""
        nodes: dict[str, int] = {}
        for c in set(self.kind_codes):
            nodes[_NK[c].value] = self.kind_codes.count(c)
        edges: dict[str, int] = {}
        for c in set(self.edge_codes):
            edges[_EK[c].value] = self.edge_codes.count(c)
        return {"nodes": dict(sorted(nodes.items())), "edges": dict(sorted(edges.items()))}

    # ---- keys and times --------------------------------------------------
    def key(self, i: int) -> NodeKey:
        """The node key of node ``i`` (unique: every key holds ``i``)."""
        kind = _NK[self.kind_codes[i]]
        d = self.domain[i]
        if kind is NodeKind.DATASET:
            ns = _DATASET_NAMESPACES[d % len(_DATASET_NAMESPACES)].format(d=d)
            layer = self.layer[i]
            name = f"raw/source_{i}/part-*.parquet" if layer == 0 else f"l{layer}.table_{i}"
            return NodeKey.dataset_key(ns, name)
        if kind is NodeKind.JOB:
            return NodeKey.job(f"airflow://scheduler-{d}", f"dag_l{self.layer[i]}.task_{i}")
        if kind is NodeKind.RUN:
            digest = hashlib.blake2b(f"{self.seed}:{i}".encode(), digest_size=16).digest()
            return NodeKey.run(str(uuid.UUID(bytes=digest, version=4)))
        if kind is NodeKind.MODEL:
            return NodeKey.model_key("mlflow", f"domain{d}-model-{i}")
        if kind is NodeKind.MODEL_VERSION:
            model = self.key(self.aux[i])
            return NodeKey.model_version("mlflow", model.parts[1], self.ordinal[i])
        if kind is NodeKind.DEPLOYMENT:
            env = "prod" if i % 2 else "staging"
            return NodeKey.deployment(env, f"https://serving-{d}.example.com/endpoint-{i}")
        if kind is NodeKind.EVALUATION:
            return NodeKey.evaluation("mlflow", f"eval-{i}")
        raise AssertionError(f"the generator makes no {kind} nodes")

    def event_time(self, i: int) -> datetime:
        """When node ``i`` was first seen."""
        return BASE_TIME + timedelta(seconds=i)

    def props(self, i: int) -> dict[str, Any]:
        """A few small properties, as ingestion would record."""
        kind = _NK[self.kind_codes[i]]
        if kind is NodeKind.DATASET:
            return {"layer": self.layer[i], "domain": self.domain[i]}
        if kind is NodeKind.JOB:
            return {"type": _JOB_TYPES[self.aux[i]], "domain": self.domain[i]}
        if kind is NodeKind.RUN:
            return {"state": "COMPLETE"}
        if kind is NodeKind.MODEL_VERSION:
            return {"version": self.ordinal[i]}
        return {}

    # ---- rows and ChangeSets ---------------------------------------------
    def iter_nodes(self) -> Iterator[tuple[NodeKey, dict[str, Any], datetime]]:
        """Every node as ``(key, props, event_time)``."""
        for i in range(self.n_nodes):
            yield self.key(i), self.props(i), self.event_time(i)

    def keys(self) -> list[NodeKey]:
        """Every node's key, by index (about 300 MB for a million nodes)."""
        return [self.key(i) for i in range(self.n_nodes)]

    def iter_edges(
        self, keys: list[NodeKey] | None = None
    ) -> Iterator[tuple[NodeKey, EdgeKind, NodeKey, datetime]]:
        """Every edge as ``(src, kind, dst, event_time)``; its time is its later end's.

        Pass :meth:`keys` to reuse keys already made rather than make two per edge.
        """
        key = keys.__getitem__ if keys is not None else self.key
        for j in range(self.n_edges):
            s, d = self.edge_src[j], self.edge_dst[j]
            yield key(s), _EK[self.edge_codes[j]], key(d), self.event_time(max(s, d))

    def changesets(self, chunk_size: int = 50_000) -> Iterator[ChangeSet]:
        """The graph as ChangeSets of at most ``chunk_size`` entries: every node
        first, then every edge, so each chunk's edge endpoints are already stored."""
        cs = ChangeSet()
        chunk = 0

        def prov() -> Provenance:
            return Provenance(PROVENANCE_SOURCE, f"synthetic-{self.seed}-{chunk}")

        p = prov()
        keys: list[NodeKey] = []
        for key, props, t in self.iter_nodes():
            keys.append(key)
            cs.node(key, t, p, props)
            if len(cs.nodes) >= chunk_size:
                yield cs
                cs, chunk = ChangeSet(), chunk + 1
                p = prov()
        for src, kind, dst, t in self.iter_edges(keys):
            cs.edge(src, kind, dst, t, p)
            if len(cs) >= chunk_size:
                yield cs
                cs, chunk = ChangeSet(), chunk + 1
                p = prov()
        if len(cs):
            yield cs

    def lineage_edge_pairs(self) -> Iterator[tuple[int, int]]:
        """``(src, dst)`` of every lineage edge (structural ones left out)."""
        lineage_codes = {_EKI[k] for k in LINEAGE_EDGE_KINDS}
        codes, src, dst = self.edge_codes, self.edge_src, self.edge_dst
        for j in range(len(codes)):
            if codes[j] in lineage_codes:
                yield src[j], dst[j]

    def indices_of_kind(self, kind: NodeKind) -> list[int]:
        code = _NKI[kind]
        return [i for i, c in enumerate(self.kind_codes) if c == code]

    # ---- building (used by the generators) -------------------------------
    def _node(
        self, kind: NodeKind, dom: int, layer: int = 0, aux: int = -1, ordinal: int = 0
    ) -> int:
        self.kind_codes.append(_NKI[kind])
        self.domain.append(dom)
        self.layer.append(layer)
        self.aux.append(aux)
        self.ordinal.append(ordinal)
        return len(self.kind_codes) - 1

    def _edge(self, src: int, kind: EdgeKind, dst: int) -> None:
        self.edge_src.append(src)
        self.edge_dst.append(dst)
        self.edge_codes.append(_EKI[kind])


@dataclass(slots=True)
class _Job:
    index: int
    domain: int
    layer: int
    runs: list[int] = field(default_factory=list)
    inputs: set[int] = field(default_factory=set)
    outputs: list[int] = field(default_factory=list)


class _Generator:
    """Builds the domains' nodes, their mandatory edges, then fills the edge
    budget with extra inputs (fan-in)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.g = SyntheticGraph(seed=seed)
        self.jobs: list[_Job] = []
        #: per domain, per layer, the datasets (layer 0: raw sources)
        self.tables: list[list[list[int]]] = []
        self.run_extra: set[tuple[int, int]] = set()

    # ---- picking inputs ----------------------------------------------------
    def pick_table(self, dom: int, below: int) -> int:
        """A dataset of a layer below ``below``: mostly the layer just above,
        skewed toward each layer's first tables (the popular ones)."""
        rng = self.rng
        if dom > 0 and rng.random() < 0.02:  # a table another team publishes
            dom = rng.randrange(dom)
            below = len(self.tables[dom])
        layers = self.tables[dom]
        top = min(below, len(layers)) - 1
        layer = top if rng.random() < 0.7 else rng.randint(0, top)
        tables = layers[layer]
        while not tables:
            layer -= 1
            tables = layers[layer]
        return tables[int(len(tables) * rng.random() ** 2)]

    def add_input(self, job: _Job, table: int) -> None:
        g = self.g
        job.inputs.add(table)
        g._edge(table, EdgeKind.CONSUMED, job.index)
        for run in job.runs:
            g._edge(table, EdgeKind.CONSUMED, run)

    def n_runs(self, most: int) -> int:
        # mostly one to three runs kept per job, a long tail of frequent jobs
        return min(most, 1 + int(self.rng.expovariate(0.9)))

    # ---- a domain ---------------------------------------------------------
    def domain(self, dom: int, budget: int) -> None:
        rng, g = self.rng, self.g
        n_layers = rng.randint(4, 8)
        raw = [g._node(NodeKind.DATASET, dom, 0) for _ in range(max(2, budget // 16))]
        self.tables.append([raw])
        left = budget - len(raw)
        ml_budget = left // 16
        etl_budget = left - ml_budget
        per_layer = etl_budget // n_layers
        for layer in range(1, n_layers + 1):
            self.tables[dom].append([])
            goal = etl_budget if layer == n_layers else min(per_layer, etl_budget)
            while goal >= 3:
                used = self.etl_job(dom, layer, goal)
                goal -= used
                etl_budget -= used
        left = ml_budget + etl_budget
        while left >= 7:
            left -= self.model_family(dom, n_layers, left)
        for _ in range(left):  # the few nodes left: unread source tables
            raw.append(g._node(NodeKind.DATASET, dom, 0))

    def etl_job(self, dom: int, layer: int, room: int) -> int:
        g = self.g
        runs = self.n_runs(most=room - 2)
        outputs = min(room - 1 - runs, self.rng.choice((1, 1, 1, 2, 2, 3)))
        job = _Job(g._node(NodeKind.JOB, dom, layer, aux=0), dom, layer)
        job.runs = [g._node(NodeKind.RUN, dom, layer, aux=job.index) for _ in range(runs)]
        for run in job.runs:
            g._edge(run, EdgeKind.INSTANCE_OF, job.index)
        self.add_input(job, self.pick_table(dom, layer))
        for _ in range(outputs):
            table = g._node(NodeKind.DATASET, dom, layer)
            self.tables[dom][layer].append(table)
            job.outputs.append(table)
            g._edge(job.index, EdgeKind.PRODUCED, table)
            for run in job.runs:
                g._edge(run, EdgeKind.PRODUCED, table)
        self.jobs.append(job)
        return 1 + runs + outputs

    def model_family(self, dom: int, n_layers: int, room: int) -> int:
        """A training job (one model version per run, each evaluated on a
        holdout table), its model, deployments, and maybe an inference job."""
        rng, g = self.rng, self.g
        runs = min(self.n_runs(most=12), (room - 4) // 3)
        train = _Job(g._node(NodeKind.JOB, dom, n_layers + 1, aux=1), dom, n_layers + 1)
        model = g._node(NodeKind.MODEL, dom, n_layers + 1)
        used = 2
        versions = []
        for v in range(1, runs + 1):
            run = g._node(NodeKind.RUN, dom, n_layers + 1, aux=train.index)
            mv = g._node(NodeKind.MODEL_VERSION, dom, n_layers + 1, aux=model, ordinal=v)
            ev = g._node(NodeKind.EVALUATION, dom, n_layers + 1)
            train.runs.append(run)
            versions.append(mv)
            g._edge(run, EdgeKind.INSTANCE_OF, train.index)
            g._edge(run, EdgeKind.TRAINED, mv)
            g._edge(train.index, EdgeKind.TRAINED, mv)
            g._edge(mv, EdgeKind.VERSION_OF, model)
            g._edge(mv, EdgeKind.EVALUATED, ev)
            g._edge(self.pick_table(dom, n_layers + 1), EdgeKind.EVALUATED, ev)
            used += 3
        self.add_input(train, self.pick_table(dom, n_layers + 1))
        self.jobs.append(train)
        # the latest version serves production; the one before (or it) staging
        for mv in (versions[-1], versions[max(0, len(versions) - 2)]):
            if used < room:
                g._edge(mv, EdgeKind.SERVES, g._node(NodeKind.DEPLOYMENT, dom, n_layers + 1))
                used += 1
        if room - used >= 3 and rng.random() < 0.5:
            infer = _Job(g._node(NodeKind.JOB, dom, n_layers + 2, aux=2), dom, n_layers + 2)
            infer.runs = [g._node(NodeKind.RUN, dom, n_layers + 2, aux=infer.index)]
            preds = g._node(NodeKind.DATASET, dom, n_layers + 2)
            g._edge(infer.runs[0], EdgeKind.INSTANCE_OF, infer.index)
            self.add_input(infer, versions[-1])
            g._edge(infer.index, EdgeKind.PRODUCED, preds)
            g._edge(infer.runs[0], EdgeKind.PRODUCED, preds)
            self.jobs.append(infer)
            used += 3
        return used

    # ---- the edge budget --------------------------------------------------
    def fill_edges(self, budget: int) -> None:
        """Add inputs until the graph has exactly ``budget`` edges: a whole
        input (the job and each of its runs read it) while it fits, then
        single run-level reads (a backfill run reading one more table)."""
        rng, g = self.rng, self.g
        left = budget - g.n_edges
        misses = 0
        while left > 0:
            if misses > 10_000 + 10 * len(self.jobs):
                raise ValueError(
                    f"cannot place {left} more edges without duplicates: ask for fewer edges "
                    f"per node (got {g.n_nodes} nodes, {budget} edges)"
                )
            job = self.jobs[rng.randrange(len(self.jobs))]
            if job.outputs and rng.random() < 0.01:
                table = rng.choice(job.outputs)  # an incremental job reads what it writes
            else:
                table = self.pick_table(job.domain, job.layer)
            if table in job.inputs:
                misses += 1
                continue
            if 1 + len(job.runs) <= left:
                self.add_input(job, table)
                left -= 1 + len(job.runs)
            else:
                run = rng.choice(job.runs)
                if (table, run) in self.run_extra:
                    misses += 1
                    continue
                self.run_extra.add((table, run))
                g._edge(table, EdgeKind.CONSUMED, run)
                left -= 1


def generate(
    n_nodes: int, n_edges: int, seed: int = 0, *, domain_nodes: int = 25_000
) -> SyntheticGraph:
    """A lineage graph of exactly ``n_nodes`` nodes and ``n_edges`` edges.

    ``domain_nodes`` is the mean size of a domain (one team's pipelines);
    domain sizes vary from a quarter to twice that. Raises ``ValueError``
    when the edge budget does not fit the shape (it needs roughly 2 to 6
    edges per node).
    """
    if n_nodes < 100:
        raise ValueError(f"n_nodes must be at least 100, got {n_nodes}")
    gen = _Generator(seed)
    mean = max(100, min(domain_nodes, n_nodes // 8))
    left, dom = n_nodes, 0
    while left > 0:
        size = int(mean * gen.rng.uniform(0.25, 2.0))
        if left - size < mean // 4:
            size = left
        gen.domain(dom, size)
        left -= size
        dom += 1
    g = gen.g
    if g.n_edges > n_edges:
        raise ValueError(
            f"n_edges={n_edges} is below the {g.n_edges} edges that {n_nodes} nodes of this "
            f"shape need at least"
        )
    gen.fill_edges(n_edges)
    assert g.n_nodes == n_nodes and g.n_edges == n_edges
    return g


def generate_artifact_dag(
    n_artifacts: int = 10_000,
    n_executions: int = 10_000,
    n_events: int = 40_000,
    seed: int = 0,
    *,
    window: int = 50,
) -> SyntheticGraph:
    """An ML-Metadata-shaped DAG: artifacts (datasets), executions (runs) and
    events (CONSUMED for inputs, PRODUCED for outputs), nothing else.

    A tenth of the artifacts are raw sources. Every execution writes one
    artifact (a new one, or, spread evenly once there are more executions
    than artifacts to write, the one the execution before it wrote: a retry)
    and reads its share of the remaining events from artifacts written by the
    ``window`` executions before it or from raw ones, so paths are long and a
    100-hop walk differs from a 10-hop one. The graph is acyclic.
    """
    n_raw = max(1, n_artifacts // 10)
    n_new = n_artifacts - n_raw
    if n_events < 2 * n_executions or n_new < 1 or n_new > n_executions:
        raise ValueError(
            "need n_events >= 2 * n_executions and n_artifacts <= 1.1 * n_executions "
            f"(got {n_artifacts} artifacts, {n_executions} executions, {n_events} events)"
        )
    rng = random.Random(seed)
    g = SyntheticGraph(seed=seed)
    raw = [g._node(NodeKind.DATASET, 0, 0) for _ in range(n_raw)]
    produced: list[int] = []
    reads_left = n_events - n_executions
    for e in range(n_executions):
        run = g._node(NodeKind.RUN, 0, 1)
        # write a new artifact on an even schedule; otherwise rewrite the last
        # one, which nothing has read yet that this run could depend on
        new = -(-(e + 1) * n_new // n_executions) > -(-e * n_new // n_executions)
        recent = produced[-window:] if new else produced[-window:-1]
        share = min(reads_left // (n_executions - e), len(recent) + n_raw)
        inputs: set[int] = set()
        while len(inputs) < share:
            pool = recent if recent and rng.random() < 0.9 else raw
            inputs.add(rng.choice(pool))
        for a in sorted(inputs):
            g._edge(a, EdgeKind.CONSUMED, run)
        reads_left -= len(inputs)
        out = g._node(NodeKind.DATASET, 0, 1) if new else produced[-1]
        g._edge(run, EdgeKind.PRODUCED, out)
        produced.append(out)
    return g
