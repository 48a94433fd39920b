"""The embedded store's cache of current node and edge records.

Reading a node or an edge back costs a SQLite row (~3.5 us of random access
in a large file) and a Python object (props through orjson, three times):
a lineage picture of 200 nodes is ~500 of them, a closure of 14,000 about
36,000. People look at the same neighbourhoods again and again (the UI, a
CI job's impact check), so the store keeps the ``Node`` and ``Edge`` objects
of the current view it has built, up to a bound.

Correct by construction: an entry is dropped by every ``apply`` that writes
its row (the store does it under the exclusive lock, after the commit and
before any reader can look), and the whole cache when the index is rebuilt.
A node's entry says it is alive: a tombstone writes the row, so drops it.
An edge's entry holds only the edge row's facts; whether the edge is current
(its ends alive) is the index's answer, asked on every read. History (as-of)
reads never use it.

Bounded by count, not bytes: records are small and similar; the oldest
entries go first (insertion order), a quarter at a time.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from typing import Generic, TypeVar

from lineagegraph.graph.store import Edge, Node

K = TypeVar("K")
V = TypeVar("V")

#: edges by (src row id, dst row id, kind value)
EdgeSlot = tuple[int, int, str]


class _Bounded(Generic[K, V]):
    """A dict readers may ``get`` from freely; changes take a lock (readers of
    the store fill it concurrently, and eviction iterates it)."""

    __slots__ = ("_lock", "entries", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: dict[K, V] = {}
        self._lock = threading.Lock()

    def put_many(self, items: list[tuple[K, V]]) -> None:
        if not self.limit:
            return
        entries = self.entries
        with self._lock:
            entries.update(items)
            if len(entries) > self.limit:
                excess = len(entries) - self.limit * 3 // 4
                for k in list(itertools.islice(entries, excess)):
                    del entries[k]

    def drop(self, keys: Iterable[K]) -> None:
        pop = self.entries.pop
        with self._lock:
            for k in keys:
                pop(k, None)


class RecordCache:
    """Current ``Node`` objects by row id; ``(edge row id, Edge)`` by
    ``(src, dst, kind)`` (the row id orders answers as SQLite would)."""

    def __init__(self, max_nodes: int = 200_000, max_edges: int = 500_000) -> None:
        self.nodes: _Bounded[int, Node] = _Bounded(max_nodes)
        self.edges: _Bounded[EdgeSlot, tuple[int, Edge]] = _Bounded(max_edges)

    def clear(self) -> None:
        self.nodes.drop(list(self.nodes.entries))
        self.edges.drop(list(self.edges.entries))
