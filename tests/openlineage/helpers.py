"""Test helpers for OpenLineage ingestion: the official schemas as a reference
validator, the fixture events, and a real log + embedded store to project into."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from lineagegraph.graph.export import export_graph
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import GraphStore
from lineagegraph.ingest.log import EventLog
from lineagegraph.ingest.openlineage.ingest import IngestReport, ingest_items
from lineagegraph.ingest.openlineage.reader import RawItem
from lineagegraph.ingest.service import IngestService

# RFC 3339 date-time, as the spec's `format: date-time` means it. jsonschema checks
# this format only with an optional package; the reference must check it.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


def is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True  # not this format's business
    m = _RFC3339.match(value)
    if m is None:
        return False
    date, hms, frac, tz = m.groups()
    leap = hms.endswith(":60")  # RFC 3339 allows a leap second
    text = f"{date}T{hms[:-2] + '59' if leap else hms}.{(frac or '0')[:6]}"
    try:
        datetime.fromisoformat(text + ("+00:00" if tz in "Zz" else tz))
    except ValueError:
        return False
    return True


class ReferenceValidator:
    """The official JSON schemas (core + facets), resolved locally, no network.

    An event is checked against ``OpenLineage.json``; every facet of every
    facets object is checked against each facet schema that defines a facet of
    that name, as the OpenLineage proxy does.
    """

    def __init__(self, schemas: Path) -> None:
        core = json.loads((schemas / "OpenLineage.json").read_text())
        facets = [json.loads(p.read_text()) for p in sorted((schemas / "facets").glob("*.json"))]
        registry = Registry().with_resources(
            (doc["$id"], Resource.from_contents(doc, DRAFT202012)) for doc in [core, *facets]
        )
        checker = jsonschema.FormatChecker()
        checker.checks("date-time")(is_rfc3339)
        cls = jsonschema.Draft202012Validator
        self.core = cls(core, registry=registry, format_checker=checker)
        self.by_name: dict[str, list[Any]] = {}
        for doc in facets:
            for name in doc.get("properties", {}):
                ref = {"$ref": f"{doc['$id']}#/properties/{name}"}
                self.by_name.setdefault(name, []).append(
                    cls(ref, registry=registry, format_checker=checker)
                )

    def errors(self, event: Any) -> list[str]:
        out = [_describe(e) for e in self.core.iter_errors(event)]
        for path, facets in _facet_containers(event):
            for name, facet in facets.items():
                for validator in self.by_name.get(name, []):
                    out += [f"{path}.{name}{_describe(e)}" for e in validator.iter_errors(facet)]
        return out


def _describe(error: jsonschema.ValidationError) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    causes = "; ".join(c.message for c in (error.context or [])[:4])
    return f"{where}: {error.message[:120]}" + (f" ({causes})" if causes else "")


def _facet_containers(event: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(event, dict):
        return
    for part in ("run", "job"):
        facets = (event.get(part) or {}).get("facets")
        if isinstance(facets, dict):
            yield f"$.{part}.facets", facets
    datasets = [("$.dataset", event.get("dataset"))]
    for side in ("inputs", "outputs"):
        datasets += [(f"$.{side}[{i}]", d) for i, d in enumerate(event.get(side) or [])]
    for path, ds in datasets:
        for key in ("facets", "inputFacets", "outputFacets"):
            facets = ds.get(key) if isinstance(ds, dict) else None
            if isinstance(facets, dict):
                yield f"{path}.{key}", facets


def fixture_events(fixtures: Path) -> list[tuple[str, int, Any]]:
    """Every concrete event under ``events/``: (file, index in the file, event)."""
    out = []
    for path in sorted((fixtures / "events").rglob("*.json")):
        doc = json.loads(path.read_text())
        events = doc if isinstance(doc, list) else [doc]
        rel = str(path.relative_to(fixtures / "events"))
        out += [(rel, i, event) for i, event in enumerate(events)]
    return out


def capture(fixtures: Path, name: str) -> list[Any]:
    """The events of one captured run (``airflow/events-run1``), in the order sent."""
    return [json.loads(p.read_text()) for p in sorted((fixtures / "events" / name).glob("*.json"))]


@dataclass
class Sink:
    """A real event log (SQLite) and an embedded store, wired like the service."""

    service: IngestService

    @property
    def store(self) -> GraphStore:
        return self.service.store

    @property
    def log(self) -> EventLog:
        return self.service.log

    def ingest(self, events: Iterable[Any], *, one_by_one: bool = False) -> IngestReport:
        items = [RawItem(f"events[{i}]", doc=e) for i, e in enumerate(events)]
        if not one_by_one:
            return ingest_items(self.service, items)
        report = IngestReport()
        for item in items:
            report.extend(ingest_items(self.service, [item]))
        return report

    def snapshot(self) -> list[dict[str, Any]]:
        """The whole graph (deleted items too), comparable between sinks."""
        items = list(export_graph(self.store, include_deleted=True))
        return sorted(items, key=lambda d: json.dumps(d, sort_keys=True))


@contextmanager
def sink(tmp_path: Path, name: str = "sink", store_uri: str = "memory://") -> Iterator[Sink]:
    log = EventLog(f"sqlite:///{tmp_path / (name + '-events.db')}")
    service = IngestService(log, open_store(store_uri), store_name=name)
    try:
        yield Sink(service)
    finally:
        service.stop()
        service.store.close()
        log.close()


def render_template(doc: Any, key: str | None = None) -> Any:
    """A producer's expected-event template as a concrete event.

    The templates are matchers (``{{ is_uuid(result) }}``) and leave out what
    the producer's own test does not check; each matcher becomes a value that
    satisfies it and the missing required parts get plain values.
    """
    if isinstance(doc, dict):
        out = {k: render_template(v, k) for k, v in doc.items()}
        if key is None:  # the event itself
            out.setdefault("eventTime", "2026-01-01T00:00:00Z")
            out.setdefault("producer", "https://example.com/producer")
            if isinstance(out.get("job"), dict):
                out["job"].setdefault("namespace", "templates")
            if isinstance(out.get("run"), dict):
                out["run"].setdefault("runId", str(uuid.uuid4()))
                parent = (out["run"].get("facets") or {}).get("parent")
                if isinstance(parent, dict):
                    parent.setdefault("run", {"runId": str(uuid.uuid4())})
                    parent.setdefault("job", {"namespace": "templates", "name": "parent"})
        return out
    if isinstance(doc, list):
        return [render_template(v, "item") for v in doc]
    if isinstance(doc, str) and "{{" in doc:
        if "is_uuid" in doc or key == "runId":
            return str(uuid.uuid4())
        if "is_datetime" in doc:
            return "2026-01-01T00:00:00Z"
        if "is number" in doc:
            return 1
        if "result == true" in doc:
            return True
        if "https" in doc:
            return "https://example.com/matcher"
        return "value"
    return doc


def templates(fixtures: Path) -> list[tuple[str, Any]]:
    """Every expected event of the producers' templates, rendered: (file, event)."""
    out = []
    for path in sorted((fixtures / "templates").rglob("*.json")):
        doc = json.loads(path.read_text())
        for event in doc if isinstance(doc, list) else [doc]:
            out.append((str(path.relative_to(fixtures / "templates")), render_template(event)))
    return out


def emit_run(
    url: str,
    token: str,
    job: Any,
    *,
    run_id: str,
    parent_id: str,
    inputs: list[Any],
    outputs: list[Any],
    compression: Any = None,
) -> None:
    """A run of ``job`` (an openlineage-python ``Job``), START then COMPLETE, child of
    run ``parent_id`` of job ``dag``, sent by the openlineage-python client's HTTP
    transport to ``url``, as producers send it."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Run, RunEvent, RunState
    from openlineage.client.facet_v2 import parent_run
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    auth = ApiKeyTokenProvider({"apiKey": token})
    transport = HttpTransport(HttpConfig(url=url, auth=auth, compression=compression))
    client = OpenLineageClient(transport=transport)
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent_id),
        job=parent_run.Job(namespace=job.namespace, name="dag"),
    )
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(
            RunEvent(
                eventType=state,
                eventTime=datetime.now(UTC).isoformat(),
                run=Run(runId=run_id, facets={"parent": parent}),
                job=job,
                producer="https://example.com/client-test",
                inputs=inputs,
                outputs=outputs,
            )
        )
    transport.close()
