"""Wiring: build the store, the event log and the ingest service from Settings, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import GraphStore
from lineagegraph.ingest.identity import IdentityResolver
from lineagegraph.ingest.log import EventLog
from lineagegraph.ingest.mappers import configure_mappers
from lineagegraph.ingest.projector_process import ProjectorProcess
from lineagegraph.ingest.service import IngestService
from lineagegraph.settings import Settings


@dataclass
class Services:
    settings: Settings
    store: GraphStore
    log: EventLog
    ingest: IngestService
    identity: IdentityResolver

    def close(self) -> None:
        self.ingest.stop()
        self.store.close()
        self.log.close()


def build_services(settings: Settings, *, start_worker: bool = True) -> Services:
    """Open the configured store and log; start projection (background or process
    mode) if asked."""
    options: dict[str, Any] = dict(settings.store_credentials())
    process = None
    if settings.projection_mode == "process":
        process = ProjectorProcess(settings)  # the store's writer: this one reads
        if settings.store_uri.partition(":")[0].lower() == "sqlite":
            options["follow"] = True
    store = open_store(settings.store_uri, **options)
    configure_mappers(settings)  # identity rules reach the mappers before any projection
    log = EventLog(settings.log_url)
    ingest = IngestService(
        log,
        store,
        mode=settings.projection_mode,
        batch=settings.projection_batch,
        store_name=settings.store_uri.split("@")[-1],
        linger=settings.projection_linger_ms / 1000,
        process=process,
    )
    if start_worker:
        ingest.start()
    return Services(settings, store, log, ingest, IdentityResolver(settings.dataset_aliases))
