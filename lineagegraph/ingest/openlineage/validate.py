"""Parse and validate OpenLineage events, with the service's leniencies in one place.

``validate_event(doc)`` takes a decoded JSON document and returns a
:class:`ValidatedEvent` (the typed event, the document as received, and the
warnings) or raises :class:`~lineagegraph.errors.ValidationFailed` whose
``path`` is the JSON path of the offending value (``$.run.runId``) and whose
``details["rule"]`` names the rule it breaks (``required``, ``type``,
``format``, ``enum``, ``oneOf``, ``json``, ...).

Real producers are imperfect. Where the meaning of an imperfect event is
clear, it is accepted and a warning is recorded; everything else is strict.
The complete list of leniencies is :data:`LENIENCIES`: a document is first
*normalized* (each leniency rewrites the imperfect part into its spec-valid
meaning and records a warning), then validated strictly by the typed models.
So "the normalized document is valid against the official JSON schemas" is
exactly "this service accepts it", which the conformance test checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from lineagegraph.errors import ValidationFailed
from lineagegraph.ingest.openlineage.models import (
    DatasetEvent,
    DatasetFacets,
    Event,
    JobEvent,
    JobFacets,
    RunEvent,
)

# ---- the leniencies: one place, with reasons ------------------------------------------


@dataclass(frozen=True, slots=True)
class Leniency:
    code: str
    what: str  # what the service accepts, and how it reads it
    why: str  # why a user wants that rather than a rejection


LENIENCIES: dict[str, Leniency] = {
    item.code: item
    for item in (
        Leniency(
            "missing_schema_url",
            "An event without `schemaURL` is read as an event of the current spec (2-0-2).",
            "Marquez accepts such events and its own seed data lacks the field; the event's "
            "shape says what it is, and rejecting it would lose real lineage.",
        ),
        Leniency(
            "missing_facet_base_fields",
            "A facet without `_producer` takes the event's producer; one without `_schemaURL` "
            "is kept without one.",
            "Hand-written and older custom facets often omit them; the facet's content is "
            "what users need, and it is kept verbatim.",
        ),
        Leniency(
            "time_without_timezone",
            "A date-time without a UTC offset is read as UTC.",
            "Python's `datetime.isoformat()` of a naive time produces these (the OpenLineage "
            "Python client's own examples do); schedulers and clients mean UTC.",
        ),
        Leniency(
            "time_offset_without_colon",
            "A UTC offset written `+hhmm` is read as `+hh:mm`.",
            "Java formatters write offsets that way; the instant is unambiguous.",
        ),
        Leniency(
            "date_without_time",
            "A date where a date-time is expected is read as midnight UTC of that date.",
            "Nominal times of daily schedules are often sent as dates; the day is what counts.",
        ),
        Leniency(
            "time_beyond_microseconds",
            "Fractions of a second beyond microseconds (nanoseconds) are truncated.",
            "Valid RFC 3339 that Python cannot hold; sub-microsecond order is not meaningful "
            "across producers anyway.",
        ),
        Leniency(
            "null_as_absent",
            "An object property given as JSON `null` is treated as absent.",
            "Serializers that write nulls for unset fields are common; `null` means 'not "
            "given'. A required property that is null is still rejected as missing.",
        ),
        Leniency(
            "deleted_facet_unchecked",
            "A job or dataset facet sent with `_deleted: true` is not checked against its "
            "schema: it only deletes the facet.",
            "A deletion carries no content, and producers send just the base fields; "
            "insisting on the facet's required fields would keep a facet the user deleted.",
        ),
        Leniency(
            "quality_metrics_without_columns",
            "A `dataQualityMetrics` facet without `columnMetrics` is read with no column metrics.",
            "Marquez's own full example sends only row count and bytes; those are meaningful "
            "without per-column metrics.",
        ),
    )
}

#: The spec version assumed when an event has no schemaURL.
SPEC_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


@dataclass(frozen=True, slots=True)
class ValidationWarning:
    """Something imperfect the service accepted (see :data:`LENIENCIES`)."""

    code: str
    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "message": self.message}


@dataclass(frozen=True, slots=True)
class ValidatedEvent:
    """A valid event: its kind, the typed event, the document as received, the warnings."""

    kind: str  # "RunEvent", "JobEvent" or "DatasetEvent"
    event: Event
    raw: Mapping[str, Any]
    warnings: tuple[ValidationWarning, ...] = field(default=())


# ---- entry points ----------------------------------------------------------------


def validate_event(doc: Any) -> ValidatedEvent:
    """Validate one decoded event (see the module docstring)."""
    if not isinstance(doc, dict):
        raise invalid(
            f"an OpenLineage event is a JSON object, got {_json_type(doc)}",
            path="$",
            rule="type",
        )
    warnings: list[ValidationWarning] = []
    norm = _normalize(doc, warnings)
    model = _classify(norm)
    try:
        event = model.model_validate(norm)
    except ValidationError as exc:
        raise _translate(exc, model.__name__) from None
    return ValidatedEvent(model.__name__, event, doc, tuple(warnings))


def normalize(doc: Mapping[str, Any]) -> tuple[dict[str, Any], list[ValidationWarning]]:
    """The document with every leniency applied, as JSON text values (for conformance
    tests: the result must be valid against the official schemas)."""
    warnings: list[ValidationWarning] = []
    norm = _normalize(dict(doc), warnings)
    return orjson.loads(orjson.dumps(norm)), warnings


# ---- classification ------------------------------------------------------------------


def _classify(doc: Mapping[str, Any]) -> type[RunEvent] | type[JobEvent] | type[DatasetEvent]:
    """Which of the spec's three events (its ``oneOf``) a document is."""
    has_run, has_job, has_dataset = "run" in doc, "job" in doc, "dataset" in doc
    if has_run and has_job:
        return RunEvent
    if has_job:
        if has_dataset:
            raise invalid(
                "an event with `job` and `dataset` but no `run` is both a JobEvent and a "
                "DatasetEvent; send `job` (static job lineage) or `dataset`, not both",
                path="$",
                rule="oneOf",
            )
        return JobEvent
    if has_dataset:
        return DatasetEvent
    if has_run:
        return RunEvent  # validation reports the missing job
    raise invalid(
        "not an OpenLineage event: a RunEvent has `run` and `job`, a JobEvent `job`, "
        "a DatasetEvent `dataset`",
        path="$",
        rule="oneOf",
    )


# ---- normalization (the leniencies at work) ----------------------------------------------


def _normalize(doc: dict[str, Any], warnings: list[ValidationWarning]) -> dict[str, Any]:
    """The document with the leniencies applied, sharing what it does not rewrite."""
    text = orjson.dumps(doc)
    if b":null" in text:  # orjson writes a null property as `"key":null`
        norm: dict[str, Any] = orjson.loads(text)  # a private deep copy to strip
        _strip_nulls(norm, "$", warnings)
    else:
        norm = dict(doc)  # copy on write: containers are copied before they change
    if "schemaURL" not in norm and ("run" in norm or "job" in norm or "dataset" in norm):
        norm["schemaURL"] = SPEC_URL
        _warn(warnings, "missing_schema_url", "$.schemaURL", "no schemaURL: read as spec 2-0-2")
    if "eventTime" in norm:
        norm["eventTime"] = _time(norm["eventTime"], "$.eventTime", warnings)
    producer = norm.get("producer")
    for path, facets, role in _facet_containers(norm):
        for name, facet in list(facets.items()):
            if not isinstance(facet, dict):
                continue  # the models report the type error
            if (
                role != "run"
                and facet.get("_deleted") is True
                and not _valid_facet(role, name, facet)
            ):
                del facets[name]
                _warn(warnings, "deleted_facet_unchecked", _join(path, name),
                      "deleted facet: not checked")  # fmt: skip
                continue
            if "_producer" in facet and "_schemaURL" in facet:
                continue  # nothing to rewrite (the common case)
            where = _join(path, name)
            facet = facets[name] = dict(facet)
            if "_producer" not in facet and isinstance(producer, str):
                facet["_producer"] = producer
                _warn(warnings, "missing_facet_base_fields", f"{where}._producer",
                      "facet has no _producer: the event's producer is used")  # fmt: skip
            if "_schemaURL" not in facet:
                facet["_schemaURL"] = ""
                _warn(warnings, "missing_facet_base_fields", f"{where}._schemaURL",
                      "facet has no _schemaURL")  # fmt: skip
        if role == "run":
            nominal = facets.get("nominalTime")
            if isinstance(nominal, dict):
                nominal = facets["nominalTime"] = dict(nominal)
                for key in ("nominalStartTime", "nominalEndTime"):
                    if key in nominal:
                        nominal[key] = _time(nominal[key], f"{path}.nominalTime.{key}", warnings)
        elif role == "dataset" and isinstance(facets.get("dataQualityMetrics"), dict):
            metrics = facets["dataQualityMetrics"] = dict(facets["dataQualityMetrics"])
            where = f"{path}.dataQualityMetrics"
            if "columnMetrics" not in metrics:
                metrics["columnMetrics"] = {}
                _warn(warnings, "quality_metrics_without_columns", f"{where}.columnMetrics",
                      "dataQualityMetrics without columnMetrics: read with none")  # fmt: skip
            if "lastUpdated" in metrics:
                metrics["lastUpdated"] = _time(
                    metrics["lastUpdated"], f"{where}.lastUpdated", warnings
                )
    return norm


def _valid_facet(role: str, name: str, facet: dict[str, Any]) -> bool:
    container = JobFacets if role == "job" else DatasetFacets
    try:
        container.model_validate({name: {"_producer": "", "_schemaURL": "", **facet}})
    except ValidationError:
        return False
    return True


#: The facets objects of a dataset (the role ones only in inputs and outputs).
_DATASET_FACETS = ("facets", "inputFacets", "outputFacets")


def _facet_containers(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every facets object of an event that a leniency may rewrite, each a copy that
    may be changed (and so are the objects and lists on its way from ``doc``, itself
    a copy): (JSON path, facets, "run" | "job" | "dataset"). The others are shared
    with the document as received, unchanged."""
    for part in ("run", "job"):
        owner = doc.get(part)
        facets = owner.get("facets") if isinstance(owner, dict) else None
        if isinstance(facets, dict) and _rewrites(facets, part):
            owner = doc[part] = dict(owner)  # type: ignore[arg-type]
            facets = owner["facets"] = dict(facets)
            yield f"$.{part}.facets", facets, part
    dataset = doc.get("dataset")
    if isinstance(dataset, dict):
        yield from _dataset_facets(doc, "dataset", "$.dataset")
    for side in ("inputs", "outputs"):
        items = doc.get(side)
        if not isinstance(items, list):
            continue
        copied = False
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            for key in _DATASET_FACETS:
                facets = item.get(key)
                if isinstance(facets, dict) and _rewrites(facets, "dataset"):
                    break
            else:
                continue  # nothing of this dataset is rewritten (the common case)
            if not copied:
                items = doc[side] = list(items)
                copied = True
            yield from _dataset_facets(items, i, f"$.{side}[{i}]")


def _dataset_facets(
    parent: dict[str, Any] | list[Any], at: str | int, path: str
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """The facets objects of the dataset ``parent[at]`` that a leniency may rewrite."""
    dataset: dict[str, Any] = parent[at]  # type: ignore[index]
    copied = False
    for key in _DATASET_FACETS:
        facets = dataset.get(key)
        if isinstance(facets, dict) and _rewrites(facets, "dataset"):
            if not copied:
                dataset = parent[at] = dict(dataset)  # type: ignore[index]
                copied = True
            facets = dataset[key] = dict(facets)
            yield f"{path}.{key}", facets, "dataset"


def _rewrites(facets: dict[str, Any], role: str) -> bool:
    """Whether normalizing a facets object may change it (False: it is left as sent)."""
    if role == "run":
        if "nominalTime" in facets:
            return True
        for facet in facets.values():
            if isinstance(facet, dict) and ("_producer" not in facet or "_schemaURL" not in facet):
                return True
        return False
    if role == "dataset" and "dataQualityMetrics" in facets:
        return True
    for facet in facets.values():
        if isinstance(facet, dict) and (
            "_producer" not in facet or "_schemaURL" not in facet or facet.get("_deleted") is True
        ):
            return True
    return False


def _strip_nulls(value: Any, path: str, warnings: list[ValidationWarning]) -> None:
    if isinstance(value, dict):
        nulls = [k for k, v in value.items() if v is None]
        for k in nulls:
            del value[k]
            _warn(warnings, "null_as_absent", _join(path, k), "null read as absent")
        for k, v in value.items():
            if isinstance(v, dict | list):
                _strip_nulls(v, _join(path, k), warnings)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, dict | list):
                _strip_nulls(v, f"{path}[{i}]", warnings)


_TIME_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hms>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:\d{2}|(?P<tz4>[+-]\d{4}))?)?"
)


#: An RFC 3339 date-time that needs no leniency and that ``datetime.fromisoformat``
#: reads as it is (ASCII digits, a fraction of at most 6 of them, ``Z`` or ``±hh:mm``).
_PLAIN_TIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)


def _time(value: Any, path: str, warnings: list[ValidationWarning]) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return value  # the models report the type error
    if _PLAIN_TIME_RE.fullmatch(value):
        # The common case: ``fromisoformat`` reads it directly, exactly as the text
        # rebuilt below (it takes any separator, pads the fraction, reads ``Z``).
        # An invalid value (month 13, hour 24) takes the full path and its error.
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            pass
    m = _TIME_RE.fullmatch(value)
    if m is None:
        raise invalid(
            f"{value[:80]!r} is not an RFC 3339 date-time (format: date-time)",
            path=path,
            rule="format",
        )
    hms, frac, tz = m["hms"], m["frac"] or "", m["tz"]
    if hms is None:
        hms, tz = "00:00:00", "+00:00"
        _warn(warnings, "date_without_time", path, f"{value!r} is a date: read as midnight UTC")
    elif tz is None:
        tz = "+00:00"
        _warn(warnings, "time_without_timezone", path, f"{value!r} has no offset: read as UTC")
    elif m["tz4"]:
        tz = f"{tz[:3]}:{tz[3:]}"
        _warn(warnings, "time_offset_without_colon", path, f"offset of {value!r} read as {tz}")
    if len(frac) > 6:
        _warn(
            warnings,
            "time_beyond_microseconds",
            path,
            f"{value!r} is more precise than microseconds: truncated",
        )
        frac = frac[:6]
    if tz in ("Z", "z"):
        tz = "+00:00"
    text = f"{m['date']}T{hms}{'.' + frac.ljust(6, '0') if frac else ''}{tz}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError as exc:
        raise invalid(
            f"{value[:80]!r} is not a valid date-time: {exc} (format: date-time)",
            path=path,
            rule="format",
        ) from None


def _warn(warnings: list[ValidationWarning], code: str, path: str, message: str) -> None:
    assert code in LENIENCIES, code
    warnings.append(ValidationWarning(code, path, message))


# ---- errors ----------------------------------------------------------------------------


def invalid(message: str, *, path: str, rule: str) -> ValidationFailed:
    """A ValidationFailed in the one shape every rejection has: path, rule, errors."""
    return ValidationFailed(
        message, path=path, rule=rule, errors=[{"path": path, "rule": rule, "message": message}]
    )


_RULES: dict[str, str] = {
    "missing": "required",
    "literal_error": "enum",
    "enum": "enum",
    "extra_forbidden": "additionalProperties",
    "greater_than_equal": "minimum",
    "format": "format",
}
MAX_ERRORS = 20


def _translate(exc: ValidationError, kind: str) -> ValidationFailed:
    """A pydantic error, translated once into the service's error (JSON path + rule)."""
    errors = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        path = json_path(err["loc"])
        etype = err["type"]
        rule = _RULES.get(etype, "type" if etype.endswith("_type") else etype)
        if rule == "required":
            message = f"required property {_last(err['loc'])} is missing"
        else:
            message = str(err["msg"])
        errors.append({"path": path, "rule": rule, "message": message})
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ValidationFailed(
        f"invalid {kind}: {first['message']}{more}",
        path=first["path"],
        rule=first["rule"],
        errors=errors[:MAX_ERRORS],
    )


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _join(path: str, key: str) -> str:
    """``path.key``, or ``path["key"]`` when the key is not an identifier."""
    return f"{path}.{key}" if _IDENT.fullmatch(key) else f"{path}[{orjson.dumps(key).decode()}]"


def json_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a JSON path: ``('outputs', 0, 'name')`` -> ``$.outputs[0].name``."""
    out = "$"
    for part in loc:
        out = f"{out}[{part}]" if isinstance(part, int) else _join(out, part)
    return out


def _last(loc: tuple[int | str, ...]) -> str:
    return repr(loc[-1]) if loc else "'$'"


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


def error_text(exc: ValidationFailed) -> str:
    """One line for the dead-letter table: path, message and rule."""
    rule = exc.details.get("rule")
    return f"{exc.path or '$'}: {exc.message}" + (f" (rule: {rule})" if rule else "")
