"""Ingesting OpenLineage events: validate, log the valid ones, dead-letter the rest.

The HTTP endpoint, the CLI and the GraphQL ingest mutation all go through
here, so they answer the same: every item gets a result (``accepted``,
``duplicate`` or ``rejected`` with the JSON path and rule it broke) and the
warnings of the leniencies applied to it. One bad event never costs the
others: valid events are logged (durably) whatever their neighbours are, and
rejected ones land in the dead letters with their reason.

The idempotency key of an event is the SHA-256 of its canonical JSON (the
log's default), computed once here; a validated event is handed to the
mapper through a small cache, so inline projection does not validate it twice.

Long inputs (a file replay, :func:`ingest_stream`) use a second core: a worker
process parses, validates, keys and maps each batch (:func:`prepare`) and
hands back the results, the canonical texts and the batch's events mapped and
coalesced into one ChangeSet, while this process logs and projects the batch
before (:func:`ingest_prepared`; projection applies the premapped ChangeSet
only when the batch it reads from the log is exactly those events, see
:class:`~lineagegraph.ingest.projection.Premapped`). Results, log, dead letters
and graph are the same as with one process.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from lineagegraph.errors import InvalidInput, ValidationFailed
from lineagegraph.gcpause import gc_paused
from lineagegraph.graph.changeset import (
    ChangeSet,
    EdgeTombstone,
    EdgeUpsert,
    NodeTombstone,
    NodeUpsert,
    Provenance,
    coalesce,
)
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.ingest.log import canonical_json
from lineagegraph.ingest.mappers import mapper_for
from lineagegraph.ingest.openlineage.keys import node_key
from lineagegraph.ingest.openlineage.mapping import SOURCE, OpenLineageMapper, validated_cache
from lineagegraph.ingest.openlineage.reader import RawItem, parse_item
from lineagegraph.ingest.openlineage.reconcile import job_runs, reconcile_runs
from lineagegraph.ingest.openlineage.validate import (
    ValidatedEvent,
    ValidationWarning,
    error_text,
    validate_event,
)
from lineagegraph.ingest.service import IngestService, SubmitResult

log = logging.getLogger(__name__)

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass(frozen=True, slots=True)
class Checked:
    """An item after validation: a valid event with its key, or the error."""

    item: RawItem
    event: ValidatedEvent | None = None  # (not kept by :func:`prepare`)
    key: str | None = None
    error: ValidationFailed | None = None
    warnings: tuple[ValidationWarning, ...] = ()
    #: the event's canonical JSON, which ``key`` hashes and the log stores
    text: bytes | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    index: int
    origin: str
    status: Status
    seq: int | None  # the event's log position (rejected ones: their dead letter's)
    error: dict[str, Any] | None = None
    warnings: tuple[ValidationWarning, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status, "seq": self.seq}
        if self.error is not None:
            out["error"] = self.error
        if self.warnings:
            out["warnings"] = [w.to_dict() for w in self.warnings]
        return out


@dataclass(slots=True)
class IngestReport:
    """What happened to each item, and the totals."""

    results: list[ItemResult] = field(default_factory=list)
    projected: bool = True

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def accepted(self) -> int:
        return self.count("accepted")

    @property
    def duplicates(self) -> int:
        return self.count("duplicate")

    @property
    def rejected(self) -> int:
        return self.count("rejected")

    @property
    def warnings(self) -> int:
        return sum(len(r.warnings) for r in self.results)

    def slice(self, start: int, end: int) -> IngestReport:
        """The results of items ``start`` to ``end`` (exclusive), numbered from 0."""
        results = [
            ItemResult(r.index - start, r.origin, r.status, r.seq, r.error, r.warnings)
            for r in self.results[start:end]
        ]
        return IngestReport(results, self.projected)

    def extend(self, other: IngestReport) -> None:
        offset = len(self.results)
        for r in other.results:
            self.results.append(
                ItemResult(offset + r.index, r.origin, r.status, r.seq, r.error, r.warnings)
            )
        self.projected = self.projected and other.projected


def check(item: RawItem) -> Checked:
    """Validate one item (pure; cheap enough to run on the event loop)."""
    item = parse_item(item)
    if item.error is not None:
        return Checked(item, error=item.error)
    try:
        event = validate_event(item.doc)
    except ValidationFailed as exc:
        return Checked(item, error=exc)
    # the idempotency key: SHA-256 of the canonical JSON (kept: the log stores it)
    text = canonical_json(item.doc)
    key = hashlib.sha256(text).hexdigest()
    return Checked(item, event=event, key=key, warnings=event.warnings, text=text)


@dataclass(frozen=True, slots=True)
class Payloads:
    """The valid events of a batch, ready for ``IngestService.submit``."""

    docs: list[Any]
    keys: list[str | None]
    texts: list[bytes | None]


def valid_payloads(checked: Sequence[Checked]) -> Payloads:
    """The valid events, their keys and canonical JSON; their validation is
    cached for the mapper."""
    out = Payloads([], [], [])
    for c in checked:
        if c.event is not None and c.key is not None:
            validated_cache.put(c.key, c.event)
            out.docs.append(c.item.doc)
            out.keys.append(c.key)
            out.texts.append(c.text)
    return out


def reject_invalid(service: IngestService, checked: Sequence[Checked]) -> dict[int, int]:
    """Dead-letter every invalid item; returns their dead-letter positions by index."""
    seqs: dict[int, int] = {}
    for i, c in enumerate(checked):
        if c.error is not None:
            seqs[i] = service.reject(SOURCE, c.item.raw_text(), error_text(c.error))
    return seqs


def assemble(
    checked: Sequence[Checked], submitted: SubmitResult | None, rejected: dict[int, int]
) -> IngestReport:
    """Per-item results from the submit result and the dead-letter positions."""
    report = IngestReport(projected=submitted.projected if submitted else True)
    appended = iter(submitted.appended if submitted else [])
    for i, c in enumerate(checked):
        if c.error is not None:
            report.results.append(
                ItemResult(i, c.item.origin, "rejected", rejected.get(i), c.error.to_dict())
            )
            continue
        a = next(appended)
        status: Status = "duplicate" if a.duplicate else "accepted"
        report.results.append(ItemResult(i, c.item.origin, status, a.seq, None, c.warnings))
    return report


def ingest_items(service: IngestService, items: Sequence[RawItem]) -> IngestReport:
    """Validate, log and project a batch of items (one log transaction)."""
    with gc_paused():
        checked = [check(item) for item in items]
        valid = valid_payloads(checked)
        submitted = (
            service.submit(SOURCE, valid.docs, valid.keys, valid.texts) if valid.docs else None
        )
        return assemble(checked, submitted, reject_invalid(service, checked))


def ingest_stream(
    service: IngestService,
    items: Iterable[RawItem],
    *,
    batch: int = 2000,
    workers: int | None = None,
) -> Iterator[IngestReport]:
    """Ingest items of any number in batches; yields each batch's report.

    With ``workers`` (default: :func:`default_workers`, when the input is more
    than one batch) the items are validated, keyed and mapped in worker
    processes (:func:`prepare`) while this process logs and projects the
    batches before: the same results, in the same order.
    """
    chunks = _chunks(items, batch)
    first = next(chunks, None)
    if first is None:
        return
    if workers is None:
        workers = default_workers()
    if not workers or len(first) < batch or "fork" not in mp.get_all_start_methods():
        yield ingest_items(service, first)
        for chunk in chunks:
            yield ingest_items(service, chunk)
        return
    # fork: the workers inherit the configured mappers (alias rules) and imports
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        pending: deque[tuple[list[RawItem], Future[Prepared] | None]] = deque()
        for chunk in itertools.chain([first], chunks):
            portable = [_portable(item) for item in chunk]
            try:
                pending.append((portable, pool.submit(prepare, portable)))
            except BrokenProcessPool:
                pending.append((portable, None))
            if len(pending) > workers:  # one batch ahead: it is prepared while this one lands
                yield _land(service, *pending.popleft())
        while pending:
            yield _land(service, *pending.popleft())


def default_workers() -> int:
    """Worker processes for a replay: one per CPU, at most 4; none on one CPU.

    Preparing an event (validate, map, coalesce, pickle) costs 1.6-1.7 times
    what landing it does here (log, graph), so with one worker this process
    waits for it; two beside it keep both cores of a two-core machine busy
    (``bench/README.md``). Two already prepare faster than this process
    lands; the cap of 4 leaves room for slower or shared cores.
    """
    cpus = os.cpu_count() or 1
    return min(cpus, 4) if cpus > 1 else 0


def _land(
    service: IngestService, items: list[RawItem], prepared: Future[Prepared] | None
) -> IngestReport:
    """Log and project a batch a worker prepared; or do it all here when the worker
    died (killed, out of memory): nothing read is lost."""
    try:
        if prepared is not None:
            return ingest_prepared(service, prepared.result())
    except BrokenProcessPool:
        log.warning("the ingest worker process died; going on in this process")
    return ingest_items(service, items)


def _chunks(items: Iterable[RawItem], size: int) -> Iterator[list[RawItem]]:
    chunk: list[RawItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _portable(item: RawItem) -> RawItem:
    """The item to send to a worker: its bytes rather than their parsed value when it
    has its own (a line, a file), as they are cheaper to pass and to parse again."""
    if item.parsed and item.text is not None and item.error is None:
        return RawItem(item.origin, text=item.text, parsed=False)
    return item


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch of items made ready to log and project (by :func:`prepare`)."""

    checked: list[Checked]  # without the parsed documents: ``texts`` replaces them
    texts: list[bytes | None]  # the canonical JSON of each valid event
    #: every valid event mapped, coalesced into one (:func:`pack`ed to cross processes
    #: cheaply); None when a mapping failed (projection then maps each event itself
    #: and dead-letters the failing one)
    packed: tuple[Any, ...] | None
    #: what reconciliation reads of the valid events (:func:`reconcile.job_runs`)
    runs: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changes(self) -> ChangeSet | None:
        return None if self.packed is None else unpack(self.packed)


def pack(cs: ChangeSet) -> tuple[Any, ...]:
    """A ChangeSet as plain tuples, each key and provenance once: pickled (to and from
    a worker process) in a fraction of the time its dataclasses take. See :func:`unpack`."""
    keys: dict[NodeKey, int] = {}
    provs: dict[Provenance, int] = {}

    def k(key: NodeKey) -> int:
        i = keys.get(key)
        if i is None:
            i = keys[key] = len(keys)
        return i

    def p(prov: Provenance) -> int:
        i = provs.get(prov)
        if i is None:
            i = provs[prov] = len(provs)
        return i

    nodes = [(k(n.key), n.event_time, p(n.provenance), n.props) for n in cs.nodes]
    edges = [
        (k(e.src), e.kind.value, k(e.dst), e.event_time, p(e.provenance), e.props) for e in cs.edges
    ]
    node_tombs = [(k(t.key), t.event_time, p(t.provenance)) for t in cs.node_tombstones]
    edge_tombs = [
        (k(t.src), t.kind.value, k(t.dst), t.event_time, p(t.provenance))
        for t in cs.edge_tombstones
    ]
    key_parts = [(key.kind.value, key.parts) for key in keys]
    prov_parts = [(prov.source, prov.event_id) for prov in provs]
    return key_parts, prov_parts, nodes, edges, node_tombs, edge_tombs


def unpack(packed: tuple[Any, ...]) -> ChangeSet:
    """The ChangeSet :func:`pack` was given."""
    key_parts, prov_parts, nodes, edges, node_tombs, edge_tombs = packed
    keys = [node_key(NodeKind(kind), parts) for kind, parts in key_parts]
    provs = [Provenance(source, event_id) for source, event_id in prov_parts]
    kinds = {k.value: k for k in EdgeKind}
    return ChangeSet(
        [NodeUpsert(keys[k], t, provs[p], props) for k, t, p, props in nodes],
        [
            EdgeUpsert(keys[s], kinds[kind], keys[d], t, provs[p], props)
            for s, kind, d, t, p, props in edges
        ],
        [NodeTombstone(keys[k], t, provs[p]) for k, t, p in node_tombs],
        [
            EdgeTombstone(keys[s], kinds[kind], keys[d], t, provs[p])
            for s, kind, d, t, p in edge_tombs
        ],
    )


def prepare(items: Sequence[RawItem], *, mapping: bool = True) -> Prepared:
    """Validate, key and (unless not ``mapping``: for a projection that maps them
    itself, in another process) map a batch of items (pure; runs in a worker process)."""
    with gc_paused():
        return _prepare(items, mapping)


def _prepare(items: Sequence[RawItem], mapping: bool) -> Prepared:
    registered = mapper_for(SOURCE)
    mapper = registered if isinstance(registered, OpenLineageMapper) and mapping else None
    checked: list[Checked] = []
    texts: list[bytes | None] = []
    mapped: list[ChangeSet] = []
    docs: list[Any] = []
    failed = mapper is None
    for item in items:
        c = check(item)
        if c.event is None or c.key is None:
            checked.append(c)
            texts.append(None)
            continue
        docs.append(c.item.doc)
        if mapper is not None and not failed:
            try:
                mapped.append(mapper.map(c.event, Provenance(SOURCE, c.key)))
            except InvalidInput:
                failed = True
        # only what the report needs goes back: the canonical text replaces the rest
        checked.append(Checked(RawItem(c.item.origin), key=c.key, warnings=c.warnings))
        texts.append(c.text)
    if failed:
        return Prepared(checked, texts, None, job_runs(docs) if mapping else [])
    return Prepared(checked, texts, pack(coalesce(mapped)), job_runs(docs))


def ingest_prepared(service: IngestService, prepared: Prepared) -> IngestReport:
    """Log, project and dead-letter a batch :func:`prepare` made ready."""
    with gc_paused():
        return _ingest_prepared(service, prepared)


def _ingest_prepared(service: IngestService, prepared: Prepared) -> IngestReport:
    keys: list[str] = []
    texts: list[bytes] = []
    for c, text in zip(prepared.checked, prepared.texts, strict=True):
        if c.key is not None and text is not None:
            keys.append(c.key)
            texts.append(text)
    followup = partial(reconcile_runs, touched=prepared.runs)
    submitted = (
        service.submit_mapped(SOURCE, keys, texts, prepared.changes, followup) if keys else None
    )
    return assemble(prepared.checked, submitted, reject_invalid(service, prepared.checked))


@dataclass(slots=True)
class IngestSummary:
    """Totals of a long ingest (a file replay) without keeping every item's result:
    counts, warnings by leniency, and the first ``keep`` rejections with reasons."""

    keep: int = 50
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + self.rejected

    def add(self, report: IngestReport) -> None:
        for r in report.results:
            if r.status == "accepted":
                self.accepted += 1
            elif r.status == "duplicate":
                self.duplicates += 1
            else:
                self.rejected += 1
                if len(self.rejections) < self.keep and r.error is not None:
                    rule = r.error.get("details", {}).get("rule")
                    reason = f"{r.error.get('path', '$')}: {r.error['message']}"
                    self.rejections.append(
                        (r.origin, reason + (f" (rule: {rule})" if rule else ""))
                    )
            for w in r.warnings:
                self.warnings[w.code] = self.warnings.get(w.code, 0) + 1
