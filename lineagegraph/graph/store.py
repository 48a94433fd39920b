"""The GraphStore contract: what every store (embedded, Cypher server) offers.

Stores are small: apply ChangeSets, read nodes and edges in batches, expand
breadth-first by frontier, search, and count. Lineage, impact and the other
algorithms are written once on top of this contract (see ``lineage.py`` and
``impact.py``), so they answer the same on every store.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from lineagegraph.errors import InvalidInput
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, EdgeKind, NodeKind


class Direction(StrEnum):
    UPSTREAM = "upstream"  # against lineage edges: where did this come from
    DOWNSTREAM = "downstream"  # along lineage edges: what does this feed
    BOTH = "both"  # the union of the two closures (not an undirected walk)


@dataclass(frozen=True, slots=True)
class Node:
    key: NodeKey
    props: Mapping[str, Any]
    first_seen: datetime
    last_seen: datetime
    #: when a tombstone ended this node (it stays in history for as-of queries)
    deleted_at: datetime | None
    source: str
    event_id: str

    @property
    def kind(self) -> NodeKind:
        return self.key.kind

    def alive_at(self, t: datetime | None) -> bool:
        if t is None:
            return self.deleted_at is None
        return self.first_seen <= t and (self.deleted_at is None or self.deleted_at > t)


@dataclass(frozen=True, slots=True)
class Edge:
    src: NodeKey
    kind: EdgeKind
    dst: NodeKey
    props: Mapping[str, Any]
    first_seen: datetime
    last_seen: datetime
    deleted_at: datetime | None
    source: str
    event_id: str

    def alive_at(self, t: datetime | None) -> bool:
        if t is None:
            return self.deleted_at is None
        return self.first_seen <= t and (self.deleted_at is None or self.deleted_at > t)


@dataclass(frozen=True, slots=True)
class TraversalSpec:
    """A breadth-first expansion from a set of start nodes.

    * ``direction``: UPSTREAM or DOWNSTREAM (BOTH is composed by the algorithms).
    * ``max_depth``: hops from the start; ``None`` for the whole closure.
    * ``edge_kinds``: which edges to follow (default: every lineage edge).
    * ``node_kinds``: which kinds of node may be entered (``None``: all). This is
      how job-level (no Run nodes) and run-level (no Job nodes) views are made.
    * ``as_of``: follow only nodes and edges alive at that time (``None``: now).
    * ``limit``: stop after this many nodes (start nodes not counted) and
      report ``truncated``.
    """

    starts: tuple[NodeKey, ...]
    direction: Direction = Direction.DOWNSTREAM
    max_depth: int | None = None
    edge_kinds: frozenset[EdgeKind] = LINEAGE_EDGE_KINDS
    node_kinds: frozenset[NodeKind] | None = None
    as_of: datetime | None = None
    limit: int | None = None


def check_traversal_spec(spec: TraversalSpec) -> Direction:
    """Reject what no store can traverse; returns the (one) direction to walk.

    Raises ``InvalidInput`` naming the field: BOTH (the lineage algorithm
    composes it from two walks), a negative depth or a negative limit.
    """
    direction = Direction(spec.direction)
    if direction is Direction.BOTH:
        raise InvalidInput(
            "traverse goes UPSTREAM or DOWNSTREAM; BOTH is the union of two traversals "
            "(lineagegraph.graph.lineage composes it)",
            path="direction",
        )
    if spec.max_depth is not None and spec.max_depth < 0:
        raise InvalidInput(f"max_depth must be >= 0, got {spec.max_depth}", path="max_depth")
    if spec.limit is not None and spec.limit < 0:
        raise InvalidInput(f"limit must be >= 0, got {spec.limit}", path="limit")
    return direction


#: parents (id -> id) of the ids of a layered walk (see ``Traversal.from_layers``)
ParentFinder = Callable[[Sequence[Sequence[int]]], Mapping[int, int]]


class Traversal:
    """What a breadth-first expansion reached.

    ``depth`` maps every reached node (start nodes at depth 0) to its hop
    count, in breadth-first order. ``parent`` maps every non-start node to a
    node one hop nearer a start with an edge to it, so following parents gives
    one shortest path back to a start node. ``nodes`` lists the reached keys
    in breadth-first order.

    A store fills it in one of two ways. Keyed, as it walks:
    ``Traversal(depth, parent)`` (the dicts may still be filled afterwards).
    Or, from an in-memory index, as layers of integer node ids with the table
    that names them (:meth:`from_layers`): naming ten thousand nodes by key
    costs more than finding them, so the keyed views are built on first use,
    and the parents of a layered walk only when a path is asked for.
    """

    __slots__ = (
        "_depth",
        "_find_parents",
        "_key_of",
        "_layers",
        "_parent",
        "_parent_ids",
        "truncated",
    )

    def __init__(
        self,
        depth: dict[NodeKey, int] | None = None,
        parent: dict[NodeKey, NodeKey] | None = None,
        truncated: bool = False,
    ) -> None:
        self._depth: dict[NodeKey, int] | None = {} if depth is None else depth
        self._parent: dict[NodeKey, NodeKey] | None = {} if parent is None else parent
        self._layers: Sequence[Sequence[int]] = ()
        self._key_of: Sequence[NodeKey | None] = ()
        self._parent_ids: Mapping[int, int] | None = None
        self._find_parents: ParentFinder | None = None
        self.truncated = truncated

    @classmethod
    def from_layers(
        cls,
        layers: Sequence[Sequence[int]],
        key_of: Sequence[NodeKey | None],
        *,
        truncated: bool = False,
        parent_ids: Mapping[int, int] | None = None,
        find_parents: ParentFinder | None = None,
    ) -> Traversal:
        """A walk given as ``layers[d]`` = the ids reached at depth ``d``.

        ``key_of[id]`` names an id (every reached id has a key; the table may
        grow later but never changes an entry). Parents come from
        ``parent_ids`` (id -> id) or, when absent, from ``find_parents(layers)``,
        called once, the first time a parent or a path is asked for (the store
        answers it from its graph under its own lock).
        """
        if parent_ids is None and find_parents is None:
            raise ValueError("from_layers needs parent_ids or find_parents")
        t = cls()
        t._depth = t._parent = None
        t._layers, t._key_of = layers, key_of
        t._parent_ids, t._find_parents = parent_ids, find_parents
        t.truncated = truncated
        return t

    def __len__(self) -> int:
        if self._depth is not None:
            return len(self._depth)
        return sum(map(len, self._layers))

    @property
    def nodes(self) -> list[NodeKey]:
        """The reached keys, in breadth-first order (start nodes first)."""
        if self._depth is not None:
            return list(self._depth)
        key_of = self._key_of
        return [key_of[i] for layer in self._layers for i in layer]  # type: ignore[misc]

    @property
    def depth(self) -> dict[NodeKey, int]:
        if self._depth is None:
            key_of = self._key_of
            self._depth = {
                key_of[i]: d  # type: ignore[misc]
                for d, layer in enumerate(self._layers)
                for i in layer
            }
        return self._depth

    @property
    def parent(self) -> dict[NodeKey, NodeKey]:
        if self._parent is None:
            key_of = self._key_of
            ids = self._parent_id_map()
            self._parent = {key_of[v]: key_of[u] for v, u in ids.items()}  # type: ignore[misc]
        return self._parent

    def _parent_id_map(self) -> Mapping[int, int]:
        if self._parent_ids is None:
            assert self._find_parents is not None
            self._parent_ids = self._find_parents(self._layers)
        return self._parent_ids

    def path_to(self, key: NodeKey) -> list[NodeKey]:
        """One shortest path from a start node to ``key`` (both included)."""
        parent = self.parent
        path = [key]
        while path[-1] in parent:
            path.append(parent[path[-1]])
        path.reverse()
        return path


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str = ""
    kinds: frozenset[NodeKind] | None = None
    namespace: str | None = None
    #: "prefix" matches names that start with ``text``; "substring" anywhere
    mode: str = "substring"
    first: int = 20
    after: str | None = None  # an opaque cursor from a previous page
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class SearchPage:
    nodes: list[Node]
    end_cursor: str | None
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class StoreStats:
    nodes_by_kind: Mapping[str, int]
    edges_by_kind: Mapping[str, int]
    log_position: int

    @property
    def node_count(self) -> int:
        return sum(self.nodes_by_kind.values())

    @property
    def edge_count(self) -> int:
        return sum(self.edges_by_kind.values())


@dataclass(frozen=True, slots=True)
class ApplyResult:
    nodes_written: int
    edges_written: int
    tombstones_written: int


@runtime_checkable
class GraphStore(Protocol):
    """The contract every graph store implements (see tests/contract)."""

    def apply(self, changes: ChangeSet, *, log_position: int | None = None) -> ApplyResult:
        """Apply a ChangeSet atomically.

        Validates it first (the model's rules, and that every edge endpoint is
        stored or upserted by the same ChangeSet); on any error raises
        ``InvalidChangeSet`` and stores nothing. ``log_position``, when given,
        is recorded in the same transaction as the event log position the
        store has caught up with.
        """
        ...

    def get_nodes(
        self, keys: Collection[NodeKey], *, as_of: datetime | None = None
    ) -> dict[NodeKey, Node]:
        """The nodes among ``keys`` that exist (alive now, or at ``as_of``)."""
        ...

    def get_edges(
        self,
        keys: Collection[NodeKey],
        *,
        direction: Direction = Direction.BOTH,
        edge_kinds: Collection[EdgeKind] | None = None,
        as_of: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[Edge]:
        """Edges touching any of ``keys``: outgoing (DOWNSTREAM), incoming
        (UPSTREAM) or both, of the given kinds (default: all kinds)."""
        ...

    def edges_among(
        self,
        keys: Collection[NodeKey],
        *,
        edge_kinds: Collection[EdgeKind] = LINEAGE_EDGE_KINDS,
        as_of: datetime | None = None,
    ) -> list[Edge]:
        """Every edge of the given kinds, alive now (or at ``as_of``), whose two
        ends are both among ``keys``: the edges of a lineage picture. A store
        without a better way returns :func:`edges_among_by_reading`."""
        ...

    def traverse(self, spec: TraversalSpec) -> Traversal:
        """Breadth-first expansion by frontier (see :class:`TraversalSpec`)."""
        ...

    def search(self, query: SearchQuery) -> SearchPage: ...

    def stats(self) -> StoreStats: ...

    def log_position(self) -> int:
        """The event log position this store has applied up to (0 when empty)."""
        ...

    def check_health(self) -> None:
        """Raise ``BackendUnavailable`` when the store cannot serve."""
        ...

    def close(self) -> None: ...


def edges_among_by_reading(
    store: GraphStore,
    keys: Collection[NodeKey],
    *,
    edge_kinds: Collection[EdgeKind] = LINEAGE_EDGE_KINDS,
    as_of: datetime | None = None,
) -> list[Edge]:
    """``GraphStore.edges_among`` from ``get_edges``: every edge leaving ``keys``
    is read, and those that end outside are dropped."""
    if not edge_kinds:
        return []
    inside = set(keys)
    return [
        e
        for e in store.get_edges(
            keys, direction=Direction.DOWNSTREAM, edge_kinds=edge_kinds, as_of=as_of
        )
        if e.dst in inside
    ]
