"""Validation agrees with the official JSON schemas, except the documented leniencies.

The service's verdict on a document is checked against the reference (the
spec's own schemas through jsonschema): where the reference rejects and the
service accepts, the service must have applied leniencies, and the document
as the service reads it (``normalize``) must be valid against the schemas.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.errors import ValidationFailed
from lineagegraph.ingest.openlineage.validate import (
    LENIENCIES,
    ValidatedEvent,
    normalize,
    validate_event,
)
from tests.openlineage.helpers import ReferenceValidator, fixture_events

INVALID_ON_PURPOSE = {
    "openlineage-examples/fluentd-proxy/event_no_run_id.json": ("$.run.runId", "required"),
    "openlineage-examples/fluentd-proxy/event_invalid_dataset_facet.json": (
        "$.outputs[0].facets.ownership.owners[0].name",
        "required",
    ),
}


def verdict(reference: ReferenceValidator, doc: Any) -> tuple[ValidatedEvent | None, str]:
    """The service's result, after checking it against the reference's.

    Returns the validated event (None when rejected) and how they compare:
    "agree", or "lenient" when only the service's leniencies make the difference.
    """
    errors = reference.errors(doc)
    try:
        validated = validate_event(doc)
    except ValidationFailed as exc:
        assert errors, f"the service rejects what the schemas accept: {exc.to_dict()}"
        return None, "agree"
    if not errors:
        return validated, "agree"
    assert validated.warnings, f"accepted without a warning, but the schemas say: {errors}"
    assert {w.code for w in validated.warnings} <= set(LENIENCIES)
    normalized, warnings = normalize(doc)
    assert warnings == list(validated.warnings)
    assert reference.errors(normalized) == [], "the normalized document must be spec-valid"
    return validated, "lenient"


def test_every_fixture_event_gets_the_verdict_of_the_official_schemas(
    openlineage_fixtures: Path, reference: ReferenceValidator
) -> None:
    events = fixture_events(openlineage_fixtures)
    assert len(events) > 100
    rejected: dict[str, tuple[str | None, object]] = {}
    lenient: dict[str, set[str]] = {}
    kinds: set[str] = set()
    for name, index, event in events:
        validated, how = verdict(reference, event)
        if validated is None:
            with pytest.raises(ValidationFailed) as info:
                validate_event(event)
            rejected[name] = (info.value.path, info.value.details.get("rule"))
            continue
        kinds.add(validated.kind)
        if how == "lenient":
            lenient[f"{name}#{index}"] = {w.code for w in validated.warnings}
    # exactly the two events invalid on purpose are rejected, with precise errors
    assert rejected == INVALID_ON_PURPOSE
    assert kinds == {"RunEvent", "JobEvent", "DatasetEvent"}
    # the imperfect ones the fixtures README lists are accepted, each for a stated reason
    assert lenient["marquez/open_lineage/event_without_schema_url.json#0"] == {"missing_schema_url"}
    assert lenient["marquez/open_lineage/event_required_no_timezone.json#0"] == {
        "time_without_timezone"
    }
    assert "missing_schema_url" in lenient["marquez/apples/1_pick_apples.json#0"]
    assert lenient["marquez/open_lineage/event_full.json#0"] == {"quality_metrics_without_columns"}


def test_the_leniency_list_names_a_reason_for_every_entry() -> None:
    for code, item in LENIENCIES.items():
        assert item.code == code and item.what and len(item.why) > 30


BASE: dict[str, Any] = {
    "eventType": "START",
    "eventTime": "2026-03-01T10:00:00.123Z",
    "producer": "https://example.com/producer",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": "3f1c2d5e-8b7a-4d0c-9e21-1a2b3c4d5e6f"},
    "job": {"namespace": "ns", "name": "job"},
    "inputs": [{"namespace": "s3://b", "name": "in"}],
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """BASE with the value at a dotted path set (``None``: JSON null; ``...``: removed)."""
    doc = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    target: Any = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return doc


FACET = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s"}

# (document, expected: None when accepted, else (JSON path, rule)) - every one also
# checked against the reference schemas
CASES: list[tuple[str, dict[str, Any], tuple[str, str] | None, set[str]]] = [
    ("valid", BASE, None, set()),
    ("nanoseconds", with_("eventTime", "2026-03-01T10:00:00.123456789Z"), None,
     {"time_beyond_microseconds"}),
    ("offset without colon", with_("eventTime", "2026-03-01T12:00:00+0200"), None,
     {"time_offset_without_colon"}),
    ("no timezone", with_("eventTime", "2026-03-01T10:00:00"), None, {"time_without_timezone"}),
    ("date only nominal time",
     with_("run.facets", {"nominalTime": {**FACET, "nominalStartTime": "2026-03-01"}}), None,
     {"date_without_time"}),
    ("time not a time", with_("eventTime", "yesterday"), ("$.eventTime", "format"), set()),
    ("impossible date", with_("eventTime", "2026-02-30T10:00:00Z"), ("$.eventTime", "format"),
     set()),
    ("optional null", with_("eventType", None), None, {"null_as_absent"}),
    ("required null", with_("job.name", None), ("$.job.name", "required"), set()),
    ("missing producer", with_("producer", ...), ("$.producer", "required"), set()),
    ("lowercase event type", with_("eventType", "start"), ("$.eventType", "enum"), set()),
    ("run id not a uuid", with_("run.runId", "run-1"), ("$.run.runId", "format"), set()),
    ("name not a string", with_("inputs.0.name", 7), ("$.inputs[0].name", "type"), set()),
    ("custom facet not an object", with_("run.facets", {"x": 5}), ("$.run.facets.x", "type"),
     set()),
    ("custom facet without base fields", with_("job.facets", {"my facet": {"a": 1}}), None,
     {"missing_facet_base_fields"}),
    ("bad execution parameter",
     with_("run.facets", {"executionParameters": {**FACET, "parameters": [{"key": "k", "x": 1}]}}),
     ("$.run.facets.executionParameters.parameters[0].x", "additionalProperties"), set()),
    ("schema field without a name",
     with_("inputs.0.facets", {"schema": {**FACET, "fields": [{"type": "int"}]}}),
     ("$.inputs[0].facets.schema.fields[0].name", "required"), set()),
    ("column lineage without input fields",
     with_("inputs.0.facets", {"columnLineage": {**FACET, "fields": {"a b": {}}}}),
     ('$.inputs[0].facets.columnLineage.fields["a b"].inputFields', "required"), set()),
    ("lifecycle state unknown",
     with_("inputs.0.facets", {"lifecycleStateChange": {**FACET, "lifecycleStateChange": "MOVE"}}),
     ("$.inputs[0].facets.lifecycleStateChange.lifecycleStateChange", "enum"), set()),
]  # fmt: skip


@pytest.mark.parametrize(("name", "doc", "error", "warnings"), CASES, ids=[c[0] for c in CASES])
def test_imperfect_events_are_accepted_with_warnings_or_rejected_precisely(
    reference: ReferenceValidator,
    name: str,
    doc: dict[str, Any],
    error: tuple[str, str] | None,
    warnings: set[str],
) -> None:
    validated, _ = verdict(reference, doc)
    if error is None:
        assert validated is not None
        assert {w.code for w in validated.warnings} == warnings
        return
    assert validated is None
    with pytest.raises(ValidationFailed) as info:
        validate_event(doc)
    assert (info.value.path, info.value.details["rule"]) == error
    assert info.value.to_dict()["details"]["errors"][0]["path"] == error[0]


def test_event_kinds_are_told_apart_and_ambiguity_is_an_error(
    reference: ReferenceValidator,
) -> None:
    job_event = {k: v for k, v in BASE.items() if k not in ("run", "eventType")}
    dataset_event = {k: BASE[k] for k in ("eventTime", "producer", "schemaURL")}
    dataset_event["dataset"] = {"namespace": "s3://b", "name": "d"}
    assert verdict(reference, job_event)[0].kind == "JobEvent"  # type: ignore[union-attr]
    assert verdict(reference, dataset_event)[0].kind == "DatasetEvent"  # type: ignore[union-attr]
    ambiguous = {**job_event, "dataset": dataset_event["dataset"]}
    assert verdict(reference, ambiguous)[0] is None
    for doc in (ambiguous, {"eventTime": BASE["eventTime"]}, [BASE]):
        with pytest.raises(ValidationFailed) as info:
            validate_event(doc)
        assert info.value.path == "$"


def test_times_are_normalized_to_utc() -> None:
    event = validate_event(with_("eventTime", "2026-03-01T12:00:00.5+02:00")).event
    assert event.eventTime.isoformat() == "2026-03-01T10:00:00.500000+00:00"
