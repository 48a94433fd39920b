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
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lineagegraph.errors import ValidationFailed
from lineagegraph.ingest.log import canonical_json
from lineagegraph.ingest.openlineage.mapping import SOURCE, validated_cache
from lineagegraph.ingest.openlineage.reader import RawItem
from lineagegraph.ingest.openlineage.validate import (
    ValidatedEvent,
    ValidationWarning,
    error_text,
    validate_event,
)
from lineagegraph.ingest.service import IngestService, SubmitResult

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass(frozen=True, slots=True)
class Checked:
    """An item after validation: a valid event with its key, or the error."""

    item: RawItem
    event: ValidatedEvent | None = None
    key: str | None = None
    error: ValidationFailed | None = None


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

    def extend(self, other: IngestReport) -> None:
        offset = len(self.results)
        for r in other.results:
            self.results.append(
                ItemResult(offset + r.index, r.origin, r.status, r.seq, r.error, r.warnings)
            )
        self.projected = self.projected and other.projected


def check(item: RawItem) -> Checked:
    """Validate one item (pure; cheap enough to run on the event loop)."""
    if item.error is not None:
        return Checked(item, error=item.error)
    try:
        event = validate_event(item.doc)
    except ValidationFailed as exc:
        return Checked(item, error=exc)
    return Checked(item, event=event, key=event_key(item.doc))


def event_key(doc: Any) -> str:
    """The idempotency key of an event: SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def valid_payloads(checked: Sequence[Checked]) -> tuple[list[Any], list[str | None]]:
    """The valid events and their keys, ready for ``IngestService.submit``; their
    validation is cached for the mapper."""
    docs: list[Any] = []
    keys: list[str | None] = []
    for c in checked:
        if c.event is not None and c.key is not None:
            validated_cache.put(c.key, c.event)
            docs.append(c.item.doc)
            keys.append(c.key)
    return docs, keys


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
        assert c.event is not None
        a = next(appended)
        status: Status = "duplicate" if a.duplicate else "accepted"
        report.results.append(ItemResult(i, c.item.origin, status, a.seq, None, c.event.warnings))
    return report


def ingest_items(service: IngestService, items: Sequence[RawItem]) -> IngestReport:
    """Validate, log and project a batch of items (one log transaction)."""
    checked = [check(item) for item in items]
    docs, keys = valid_payloads(checked)
    submitted = service.submit(SOURCE, docs, keys) if docs else None
    return assemble(checked, submitted, reject_invalid(service, checked))


def ingest_stream(
    service: IngestService, items: Iterable[RawItem], *, batch: int = 2000
) -> Iterator[IngestReport]:
    """Ingest items of any number in batches; yields each batch's report."""
    chunk: list[RawItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= batch:
            yield ingest_items(service, chunk)
            chunk = []
    if chunk:
        yield ingest_items(service, chunk)


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
