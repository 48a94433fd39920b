"""Prometheus metrics of the service (served at ``/metrics``).

Per-process instruments, on a registry of the app's own (so two apps in one
process, as in tests, never collide):

* ``lineagegraph_http_request_duration_seconds{method,route,status}``: every
  HTTP request, labelled by its route template, never by its raw path;
* ``lineagegraph_graphql_operation_duration_seconds{operation,type,outcome}``:
  every GraphQL operation by name (anonymous ones as ``anonymous``; names are
  the client's choice, so at most ``MAX_OPERATION_NAMES`` distinct names are
  kept and the rest count as ``other``);
* ``lineagegraph_api_ingest_inputs_total{source,outcome}``: inputs the API
  received, by outcome (accepted, duplicate, rejected).

Read at scrape time from the shared state (the same for every replica):

* ``lineagegraph_log_inputs_total{status}``: inputs in the event log, accepted
  and rejected (the dead letters), and ``lineagegraph_projection_errors_total``;
* ``lineagegraph_projection_lag`` (log positions not yet in the graph) and
  ``lineagegraph_store_log_position``;
* ``lineagegraph_backend_up{component}``: 1 when the store / log answered.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lineagegraph.runtime import Services

log = logging.getLogger("lineagegraph.api")

MAX_OPERATION_NAMES = 200
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StateCollector(Collector):
    """Ingest totals and projection lag, read from the log and the store when scraped."""

    def __init__(self, services: Callable[[], Services | None]) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        services = self._services()
        if services is None:
            return
        up = GaugeMetricFamily(
            "lineagegraph_backend_up",
            "1 when the component answered the scrape",
            labels=["component"],
        )
        try:
            counts = services.log.counts()
            head = services.log.head()
            up.add_metric(["log"], 1)
        except Exception:  # a scrape reports the outage; the cause goes to the log
            log.warning("metrics: event log unavailable", exc_info=True)
            up.add_metric(["log"], 0)
            counts, head = None, None
        try:
            position: int | None = services.store.log_position()
            up.add_metric(["store"], 1)
        except Exception:
            log.warning("metrics: graph store unavailable", exc_info=True)
            up.add_metric(["store"], 0)
            position = None
        yield up
        if counts is not None:
            inputs = CounterMetricFamily(
                "lineagegraph_log_inputs",
                "Inputs in the event log by status (rejected: dead letters)",
                labels=["status"],
            )
            for status in ("accepted", "rejected"):
                inputs.add_metric([status], counts.get(status, 0))
            yield inputs
            yield CounterMetricFamily(
                "lineagegraph_projection_errors",
                "Accepted inputs a store could not project (dead letters)",
                value=counts.get("projection_errors", 0),
            )
        if position is not None:
            yield GaugeMetricFamily(
                "lineagegraph_store_log_position",
                "The event log position the graph store has applied",
                value=position,
            )
            if head is not None:
                yield GaugeMetricFamily(
                    "lineagegraph_projection_lag",
                    "Event log positions not yet applied to the graph store",
                    value=max(0, head - position),
                )


class Metrics:
    """The instruments of one app."""

    def __init__(self, services: Callable[[], Services | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_latency = Histogram(
            "lineagegraph_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.graphql_latency = Histogram(
            "lineagegraph_graphql_operation_duration_seconds",
            "GraphQL operation latency by operation name",
            ["operation", "type", "outcome"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.ingest_inputs = Counter(
            "lineagegraph_api_ingest_inputs",
            "Inputs received through this API process, by outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.registry.register(StateCollector(services))
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def operation_label(self, name: str | None) -> str:
        """A bounded label for a client-chosen operation name."""
        if not name:
            return "anonymous"
        if not _NAME_RE.match(name):
            return "other"
        with self._lock:
            if name in self._names:
                return name
            if len(self._names) < MAX_OPERATION_NAMES:
                self._names.add(name)
                return name
        return "other"

    def count_ingest(self, source: str, *, accepted: int, duplicates: int, rejected: int) -> None:
        for outcome, n in (
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ):
            if n:
                self.ingest_inputs.labels(source, outcome).inc(n)
