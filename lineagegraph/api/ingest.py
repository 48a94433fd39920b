"""The ingest calls the GraphQL API makes: OpenLineage events and MLflow syncs.

Thin: validation, logging and mapping live in ``lineagegraph.ingest`` (the
same functions behind ``POST /api/v1/lineage`` and the CLI); this module only
calls them and shapes their reports for the GraphQL layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lineagegraph.ingest.openlineage.ingest import ingest_items
from lineagegraph.ingest.openlineage.reader import RawItem
from lineagegraph.runtime import Services


@dataclass(frozen=True, slots=True)
class RejectedInput:
    index: int
    message: str
    path: str | None


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    accepted: int
    duplicates: int
    rejected: list[RejectedInput] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    projected: bool = False


def ingest_openlineage(services: Services, docs: list[Any]) -> IngestOutcome:
    """Validate OpenLineage events, log the valid ones, dead-letter the others."""
    items = [RawItem(f"events[{i}]", doc=doc) for i, doc in enumerate(docs)]
    report = ingest_items(services.ingest, items)
    rejected = [
        RejectedInput(
            r.index,
            str((r.error or {}).get("message", "rejected")),
            (r.error or {}).get("path"),
        )
        for r in report.results
        if r.status == "rejected"
    ]
    warnings = [
        f"events[{r.index}] {w.path}: {w.message}" for r in report.results for w in r.warnings
    ]
    return IngestOutcome(
        accepted=report.accepted,
        duplicates=report.duplicates,
        rejected=rejected,
        warnings=warnings,
        projected=report.projected,
    )


def sync_mlflow(services: Services, *, full: bool = False) -> dict[str, Any]:
    """One sync of the configured MLflow tracking server; counts by object type."""
    # Imported here: the MLflow client takes seconds to import and most API
    # processes never sync (the CLI's sync-mlflow or a scheduler does).
    from lineagegraph.ingest.mlflow.harvester import MlflowHarvester

    report = MlflowHarvester.from_services(services).sync(full=full)
    return {
        "full": report.full,
        "seconds": round(report.seconds, 3),
        "read": dict(report.read),
        "logged": dict(report.logged),
        "unchanged": dict(report.unchanged),
        "summary": report.summary(),
    }
