"""The per-request GraphQL context: who is calling, the services, and the DataLoaders.

Every read of the graph made while resolving fields goes through the two
loaders here, created anew for each request: one batches node reads
(``GraphStore.get_nodes``), the other batches edge reads (``get_edges``), so a
list of 100 datasets asking for their producing runs costs one edge read and
one node read, not 200 (tests/api count the store calls).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from lineagegraph.api.metrics import Metrics
from lineagegraph.auth import Principal
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.store import Direction, Edge, GraphStore, Node
from lineagegraph.runtime import Services
from lineagegraph.settings import Settings

T = TypeVar("T")

#: Store reads of GraphQL requests running at once (in worker threads), per app. More
#: only add contention on a small machine: threads fight over the GIL, and beyond
#: the embedded store's connection pool (5) every read opens a new SQLite connection
#: with a cold page cache.
STORE_CALLS = 4


@dataclass(frozen=True, slots=True)
class EdgeQuery:
    """The edges of one node in one direction, of some kinds (``None``: all)."""

    key: NodeKey
    direction: Direction
    kinds: frozenset[EdgeKind] | None = None
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """An edge seen from one of its ends: the edge and the node at the other end."""

    edge: Edge
    node: Node
    direction: Direction  # DOWNSTREAM: the edge leaves the node asked about


class GraphReader:
    """Batched, cached reads of one request (the DataLoaders)."""

    def __init__(self, store: GraphStore, limiter: anyio.CapacityLimiter | None = None) -> None:
        self.store = store
        self.limiter = limiter
        self.nodes: DataLoader[NodeKey, Node | None] = DataLoader(load_fn=self._load_nodes)
        self.edges: DataLoader[EdgeQuery, list[Edge]] = DataLoader(load_fn=self._load_edges)

    async def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run a store call in a worker thread.

        Store calls block (SQLite, a server's network round trips) and a large
        lineage takes long: on the event loop they would stall every other
        request, health probes included. The thread hop costs well under a
        millisecond (bench/bench_graphql.py measured no difference in CPU per
        request on the embedded store). At most ``limiter``'s tokens run at once.
        """
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self.limiter)

    def prime(self, nodes: Collection[Node]) -> None:
        """Remember nodes already read (by lineage, search, ...) so fields reuse them."""
        for n in nodes:
            self.nodes.prime(n.key, n)

    async def node(self, key: NodeKey) -> Node | None:
        return await self.nodes.load(key)

    async def nodes_of(self, keys: Sequence[NodeKey]) -> list[Node]:
        """The existing nodes among ``keys``, in order."""
        found = await self.nodes.load_many(list(keys))
        return [n for n in found if n is not None]

    async def links(
        self,
        key: NodeKey,
        direction: Direction,
        kinds: Collection[EdgeKind] | None = None,
        *,
        include_deleted: bool = False,
    ) -> list[Link]:
        """Edges of ``key`` with the nodes at their other ends, oldest edge first."""
        query = EdgeQuery(
            key, direction, frozenset(kinds) if kinds is not None else None, include_deleted
        )
        edges = await self.edges.load(query)
        others = [e.dst if e.src == key else e.src for e in edges]
        nodes = await self.nodes.load_many(others)
        links = [
            Link(e, n, Direction.DOWNSTREAM if e.src == key else Direction.UPSTREAM)
            for e, n in zip(edges, nodes, strict=True)
            if n is not None
        ]
        links.sort(key=lambda link: (link.edge.first_seen, str(link.node.key)))
        return links

    async def neighbors(
        self, key: NodeKey, direction: Direction, kinds: Collection[EdgeKind] | None = None
    ) -> list[Node]:
        """Distinct nodes linked to ``key`` (deduplicated, in link order)."""
        seen: dict[NodeKey, Node] = {}
        for link in await self.links(key, direction, kinds):
            seen.setdefault(link.node.key, link.node)
        return list(seen.values())

    # ---- batch functions ---------------------------------------------------
    async def _load_nodes(self, keys: list[NodeKey]) -> list[Node | None]:
        found = await self.call(self.store.get_nodes, keys)
        return [found.get(k) for k in keys]

    async def _load_edges(self, queries: list[EdgeQuery]) -> list[list[Edge]]:
        # One store read per direction, whatever kinds and however many nodes ask:
        # the union of the kinds is read and each query keeps its own.
        groups: dict[tuple[Direction, bool], list[EdgeQuery]] = defaultdict(list)
        for q in queries:
            groups[(q.direction, q.include_deleted)].append(q)
        results: dict[EdgeQuery, list[Edge]] = {}
        for (direction, deleted), group in groups.items():
            kinds: set[EdgeKind] | None = set()
            for q in group:
                if q.kinds is None or kinds is None:
                    kinds = None
                else:
                    kinds |= q.kinds
            keys = list(dict.fromkeys(q.key for q in group))
            edges = await self.call(
                self.store.get_edges,
                keys,
                direction=direction,
                edge_kinds=kinds,
                include_deleted=deleted,
            )
            by_key: dict[NodeKey, list[Edge]] = defaultdict(list)
            for e in edges:
                if direction is not Direction.UPSTREAM:
                    by_key[e.src].append(e)
                if direction is not Direction.DOWNSTREAM and e.dst != e.src:
                    by_key[e.dst].append(e)
            for q in group:
                found = by_key.get(q.key, [])
                results[q] = found if q.kinds is None else [e for e in found if e.kind in q.kinds]
        return [results[q] for q in queries]


class Context(BaseContext):
    """What every resolver gets as ``info.context``."""

    def __init__(
        self,
        services: Services,
        principal: Principal | None,
        metrics: Metrics | None = None,
        store_calls: anyio.CapacityLimiter | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.metrics = metrics
        self.settings: Settings = services.settings
        #: ``None`` when the caller sent no token and anonymous reads are off
        self.principal = principal
        self.graph = GraphReader(services.store, store_calls)
