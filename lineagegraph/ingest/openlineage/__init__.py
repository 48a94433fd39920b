"""OpenLineage ingestion: any OpenLineage producer can point at this service.

* :mod:`.models` — typed models of the spec and its standard facets;
* :mod:`.validate` — parse and validate, with the leniencies in one list;
* :mod:`.mapping` — the ``openlineage`` mapper: event -> ChangeSet;
* :mod:`.reconcile` — the projection step that retires job edges a job stopped using;
* :mod:`.reader` — events from request bodies and files (JSON, arrays, NDJSON, gzip);
* :mod:`.ingest` — validate, log and dead-letter, per item (HTTP, CLI and GraphQL share it).
"""

from lineagegraph.ingest.openlineage.ingest import IngestReport, ItemResult, ingest_items
from lineagegraph.ingest.openlineage.mapping import OpenLineageMapper
from lineagegraph.ingest.openlineage.reader import RawItem
from lineagegraph.ingest.openlineage.validate import LENIENCIES, ValidatedEvent, validate_event

__all__ = [
    "LENIENCIES",
    "IngestReport",
    "ItemResult",
    "OpenLineageMapper",
    "RawItem",
    "ValidatedEvent",
    "ingest_items",
    "validate_event",
]
