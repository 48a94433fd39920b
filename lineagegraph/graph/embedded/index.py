"""The in-memory index of the embedded store: the current graph, for traversal.

Layout (sized for millions of nodes and edges):

* nodes are the integer row ids of the ``node`` table; ``keys[id]`` gives the
  :class:`NodeKey` (parsed once, at load), ``ids`` the reverse, ``kinds[id]``
  a kind code and ``alive[id]`` whether the node is alive now;
* ``lineage`` is an ``nx.DiGraph`` of the *current* lineage edges only (alive
  edges between alive nodes); ``structure`` the same for structural edges.
  Each pair's data dict is ``{"k": bitmask of edge kinds}``. These dicts are
  shared, read-only, one per distinct mask: a dict per edge would cost ~180
  bytes for each of millions of edges. That is why edges are linked here
  through the graph's adjacency dicts rather than ``add_edge``.
* ``reach`` mirrors the current lineage edges in rustworkx (``reach.py``), so
  whole closures are walked in C; the Python walks here serve depth-bounded,
  limited and filtered expansions. Walks return layers of ids, and keys are
  looked up only when a caller names the nodes.

History (as-of queries) is not kept here; the store answers it from SQL.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import networkx as nx

from lineagegraph.graph.embedded.reach import ReachMirrors
from lineagegraph.graph.keys import NodeKey, parse_key, trusted_key
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, EdgeKind, NodeKind
from lineagegraph.graph.store import ParentFinder, Traversal

NODE_KINDS: tuple[NodeKind, ...] = tuple(NodeKind)
NODE_KIND_CODE: dict[NodeKind, int] = {k: i for i, k in enumerate(NODE_KINDS)}
EDGE_KINDS: tuple[EdgeKind, ...] = tuple(EdgeKind)
EDGE_INDEX: dict[EdgeKind, int] = {k: i for i, k in enumerate(EDGE_KINDS)}
EDGE_BIT: dict[EdgeKind, int] = {k: 1 << i for i, k in enumerate(EDGE_KINDS)}
LINEAGE_MASK = sum(EDGE_BIT[k] for k in LINEAGE_EDGE_KINDS)
STRUCTURAL_MASK = sum(EDGE_BIT.values()) - LINEAGE_MASK
_NODE_KIND_BY_VALUE: dict[str, NodeKind] = {k.value: k for k in NodeKind}
EDGE_KIND_BY_VALUE: dict[str, EdgeKind] = {k.value: k for k in EdgeKind}

_KIND_VALUE_OF_BIT: dict[int, str] = {EDGE_BIT[k]: k.value for k in EdgeKind}

Adjacency = dict[int, dict[int, dict[str, int]]]


def edge_mask(kinds: Iterable[EdgeKind]) -> int:
    mask = 0
    for k in kinds:
        mask |= EDGE_BIT[k]
    return mask


def key_from_text(text: str) -> NodeKey:
    """Parse a key the store wrote itself; a fast path for the common case of
    nothing escaped (stored keys were validated when written)."""
    kind_text, _, rest = text.partition(":")
    if "%" in rest:
        return parse_key(text)
    parts = rest.split("|")
    parts[0] = sys.intern(parts[0])  # namespaces repeat across many nodes
    return trusted_key(_NODE_KIND_BY_VALUE[kind_text], tuple(parts))


class RWLock:
    """Many readers or one writer; a waiting writer holds back new readers.

    Not re-entrant: public store methods take it once and internals never do.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class CurrentGraph:
    """An ``nx.DiGraph`` of int node ids and its adjacency dicts.

    ``succ``/``pred`` are the graph's own ``_succ``/``_pred`` (networkx's type
    stubs hide them): the traversal hot path reads them directly.
    """

    def __init__(self) -> None:
        self.graph: nx.DiGraph[int] = nx.DiGraph()
        self.succ: Adjacency = self.graph._succ  # type: ignore[attr-defined]
        self.pred: Adjacency = self.graph._pred  # type: ignore[attr-defined]
        self._nodes: dict[int, dict[str, Any]] = self.graph._node  # type: ignore[attr-defined]

    def complete(self) -> None:
        """After a bulk load that filled ``succ`` and ``pred`` only: every node
        with an edge gets both sides and the entry networkx keeps for it."""
        succ, pred, nodes = self.succ, self.pred, self._nodes
        for n in succ.keys() - pred.keys():
            pred[n] = {}
        for n in pred.keys() - succ.keys():
            succ[n] = {}
        for n in succ:
            nodes[n] = {}

    def add_node(self, n: int) -> None:
        """``graph.add_node(n)`` without its per-call overhead (millions at load)."""
        self.succ[n] = {}
        self.pred[n] = {}
        self._nodes[n] = {}


class GraphIndex:
    """Ids, keys, kinds and the current graph (see the module docstring)."""

    def __init__(self) -> None:
        self.keys: list[NodeKey | None] = [None]  # row ids start at 1
        self.ids: dict[NodeKey, int] = {}
        self.kinds = bytearray(1)
        self.alive = bytearray(1)
        self.lineage = CurrentGraph()
        self.structure = CurrentGraph()
        self.node_counts = [0] * len(NODE_KINDS)
        self.edge_counts = [0] * len(EDGE_KINDS)
        self._shared: dict[int, dict[str, int]] = {}
        self.reach = ReachMirrors(self.kinds, NODE_KIND_CODE)
        #: the id the next new edge row gets (edges are not kept here, only counted)
        self.next_edge_id = 1

    # ---- nodes ------------------------------------------------------------
    @property
    def next_id(self) -> int:
        return len(self.keys)

    def add_node(self, id_: int, key: NodeKey, alive: bool) -> None:
        """Register a node row; ids come in increasing order (gaps allowed)."""
        while len(self.keys) < id_:  # a gap: ids of rows that never committed
            self.keys.append(None)
            self.kinds.append(0)
            self.alive.append(0)
        code = NODE_KIND_CODE[key.kind]
        self.keys.append(key)
        self.kinds.append(code)
        self.alive.append(1 if alive else 0)
        self.ids[key] = id_
        if alive:
            self.node_counts[code] += 1

    def set_alive(self, id_: int, alive: bool) -> None:
        """Change a node's liveness; a node that dies takes its edges out of the graph."""
        if bool(self.alive[id_]) == alive:
            return
        self.alive[id_] = 1 if alive else 0
        self.node_counts[self.kinds[id_]] += 1 if alive else -1
        if alive:
            return
        if id_ in self.lineage.succ:
            for v in self.lineage.succ[id_]:
                self.reach.remove(id_, v)
            for u in self.lineage.pred[id_]:
                self.reach.remove(u, id_)
        for g in (self.lineage, self.structure):
            if id_ not in g.succ:
                continue
            for data in g.succ[id_].values():
                self._count(data["k"], -1)
            for other, data in g.pred[id_].items():
                if other != id_:  # a self-loop was counted above
                    self._count(data["k"], -1)
            g.graph.remove_node(id_)

    # ---- edges ------------------------------------------------------------
    def _graph_of(self, bit: int) -> CurrentGraph:
        return self.lineage if bit & LINEAGE_MASK else self.structure

    def link(self, src: int, dst: int, kind: EdgeKind) -> None:
        """Add an edge to the current view (idempotent); both ends must be alive."""
        bit = EDGE_BIT[kind]
        if self._link(self._graph_of(bit), src, dst, bit):
            self.edge_counts[EDGE_INDEX[kind]] += 1

    def _link(self, g: CurrentGraph, src: int, dst: int, bit: int) -> bool:
        succ = g.succ
        nbrs = succ.get(src)
        if nbrs is None:
            g.add_node(src)
            nbrs = succ[src]
        if dst not in succ:
            g.add_node(dst)
        data = nbrs.get(dst)
        old = data["k"] if data is not None else 0
        if old & bit:
            return False
        nbrs[dst] = g.pred[dst][src] = self._data(old | bit)
        if data is None and g is self.lineage:
            self.reach.add(src, dst)
        return True

    def unlink(self, src: int, dst: int, kind: EdgeKind) -> None:
        """Remove an edge from the current view (idempotent)."""
        bit = EDGE_BIT[kind]
        g = self._graph_of(bit)
        nbrs = g.succ.get(src)
        data = nbrs.get(dst) if nbrs is not None else None
        if data is None or not data["k"] & bit:
            return
        rest = data["k"] & ~bit
        if rest:
            g.succ[src][dst] = g.pred[dst][src] = self._data(rest)
        else:
            g.graph.remove_edge(src, dst)
            if g is self.lineage:
                self.reach.remove(src, dst)
        self.edge_counts[EDGE_INDEX[kind]] -= 1

    def load_nodes(self, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-add ``(id, key text, alive)`` rows, in id order, at start-up.

        The body of :meth:`add_node` for a store's own rows: keys are parsed
        without re-validation (they were validated when written).
        """
        keys, kinds, alive_of = self.keys, self.kinds, self.alive
        code_of = NODE_KIND_CODE
        for id_, text, alive in rows:
            if id_ != len(keys):
                self.add_node(id_, key_from_text(text), bool(alive))
                continue
            key = key_from_text(text)
            keys.append(key)
            kinds.append(code_of[key.kind])
            alive_of.append(1 if alive else 0)
        self.ids = {k: i for i, k in enumerate(keys) if k is not None}
        counts = [0] * len(NODE_KINDS)
        for code, up in zip(kinds, alive_of, strict=True):
            counts[code] += up
        self.node_counts = counts

    def load_edges(self, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-add ``(src, dst, kind value)`` rows at start-up (skips dead ends).

        The body of :meth:`_link`, inlined, with the graphs' node entries
        completed afterwards: this loop runs once per stored edge.
        """
        alive = self.alive
        counts = self.edge_counts
        shared = self._data
        by_value = {
            k.value: (EDGE_BIT[k], i, g.succ, g.pred, shared(EDGE_BIT[k]))
            for i, k in enumerate(EDGE_KINDS)
            for g in (self._graph_of(EDGE_BIT[k]),)
        }
        lineage_succ = self.lineage.succ
        new_src: list[int] = []  # new lineage pairs, for the reach mirrors
        new_dst: list[int] = []
        for src, dst, kind in rows:
            if not (alive[src] and alive[dst]):
                continue
            bit, i, succ, pred, single = by_value[kind]
            nbrs = succ.get(src)
            if nbrs is None:
                nbrs = succ[src] = {}
            back = pred.get(dst)
            if back is None:
                back = pred[dst] = {}
            data = nbrs.get(dst)
            if data is None:
                nbrs[dst] = back[src] = single
                if succ is lineage_succ:
                    new_src.append(src)
                    new_dst.append(dst)
            elif not data["k"] & bit:
                nbrs[dst] = back[src] = shared(data["k"] | bit)
            else:
                continue
            counts[i] += 1
        for g in (self.lineage, self.structure):
            g.complete()
        self.reach.load(new_src, new_dst, len(self.keys))

    def _data(self, mask: int) -> dict[str, int]:
        data = self._shared.get(mask)
        if data is None:
            data = self._shared[mask] = {"k": mask}
        return data

    def _count(self, mask: int, delta: int) -> None:
        for i in range(len(EDGE_KINDS)):
            if mask & (1 << i):
                self.edge_counts[i] += delta

    def pairs_among(self, ids: Sequence[int], mask: int) -> list[tuple[int, int, str]]:
        """``(src, dst, kind value)`` of the current edges of the kinds in ``mask``
        with both ends among ``ids``."""
        inside = set(ids)
        out: list[tuple[int, int, str]] = []
        for g, part in ((self.lineage, LINEAGE_MASK), (self.structure, STRUCTURAL_MASK)):
            wanted = mask & part
            if not wanted:
                continue
            succ = g.succ
            for u in ids:
                for v, data in succ.get(u, _NO_NEIGHBOURS).items():
                    if v not in inside:
                        continue
                    bits = data["k"] & wanted
                    while bits:
                        bit = bits & -bits
                        out.append((u, v, _KIND_VALUE_OF_BIT[bit]))
                        bits ^= bit
        return out

    # ---- traversal ----------------------------------------------------------
    def parents(self, layers: Sequence[Sequence[int]], *, upstream: bool) -> dict[int, int]:
        """A parent for each id of a walk's layers: an id one layer nearer the
        start with a lineage edge to it, found by sweeping the edges out of each
        layer (only edges inside the walk are looked at).

        Meant for the graph the walk ran on. If writes came in between, an id
        whose every way in has gone keeps the nearest reached id still linked
        to it, or none; the walk itself is not redone.
        """
        walk = self.lineage.pred if upstream else self.lineage.succ
        back = self.lineage.succ if upstream else self.lineage.pred
        at = {i: d for d, layer in enumerate(layers) for i in layer}
        parent: dict[int, int] = {}
        for d in range(1, len(layers)):
            for u in layers[d - 1]:
                for w in walk.get(u, _NO_NEIGHBOURS):
                    if at.get(w) == d and w not in parent:
                        parent[w] = u
        for d in range(1, len(layers)):
            for v in layers[d]:
                if v not in parent:
                    nearer = [u for u in back.get(v, _NO_NEIGHBOURS) if at.get(u, d) < d]
                    if nearer:
                        parent[v] = min(nearer, key=at.__getitem__)
        return parent

    def bfs(
        self,
        starts: Sequence[int],
        *,
        upstream: bool,
        mask: int,
        allowed: bytes | None,
        max_depth: int | None,
        limit: int | None,
        find_parents: ParentFinder | None = None,
    ) -> Traversal:
        """Breadth-first expansion over the current graph, by frontier.

        ``mask`` selects edge kinds, ``allowed`` (indexed by kind code) the node
        kinds that may be entered; ``limit`` cuts the expansion short (and says
        so). Whole closures over every lineage edge kind in one of the
        lineage views are walked in C by the reach mirrors; everything else
        (a depth bound, a limit, other filters) by the Python walks below, on
        int ids. Either way the result is layers of ids, named on demand. The
        C walk finds no parents: ``find_parents`` (see :meth:`parents`, called
        under the store's lock) does, when a caller asks; without it, the
        Python walk runs.
        """
        starts = list(dict.fromkeys(starts))
        lineage = self.lineage
        if mask == LINEAGE_MASK and max_depth is None and limit is None and find_parents:
            layers = self.reach.layers(starts, upstream=upstream, allowed=allowed)
            if layers is not None:
                return Traversal.from_layers(layers, self.keys, find_parents=find_parents)
        adjs: list[tuple[Adjacency, int | None]] = []
        for g, part in ((lineage, LINEAGE_MASK), (self.structure, STRUCTURAL_MASK)):
            if mask & part:
                adj = g.pred if upstream else g.succ
                adjs.append((adj, None if mask & part == part else mask))
        walk = _Walk(starts, max_depth, limit)
        if len(adjs) == 1 and adjs[0][1] is None:
            if allowed is None:
                _bfs_plain(walk, adjs[0][0])
            else:
                _bfs_node_kinds(walk, adjs[0][0], self.kinds, allowed)
        elif adjs:
            _bfs_filtered(walk, adjs, self.kinds, allowed)
        return Traversal.from_layers(
            walk.layers, self.keys, truncated=walk.truncated, parent_ids=walk.parent
        )


_NO_NEIGHBOURS: dict[int, dict[str, int]] = {}


class _Walk:
    """The state of one breadth-first expansion over int ids."""

    __slots__ = ("budget", "layers", "max_depth", "parent", "seen", "truncated")

    def __init__(self, starts: list[int], max_depth: int | None, limit: int | None) -> None:
        self.seen = set(starts)  # every id looked at: reached, or blocked by its kind
        self.layers: list[list[int]] = [starts]
        self.parent: dict[int, int] = {}
        self.max_depth = max_depth
        self.budget = -1 if limit is None else limit  # -1: never reaches 0
        self.truncated = False


def _bfs_plain(w: _Walk, adj: Adjacency) -> None:
    """The hot path: every edge of one graph followed, nothing checked per edge."""
    seen, parent, layers = w.seen, w.parent, w.layers
    budget, frontier, d = w.budget, layers[0], 0
    get = adj.get
    while frontier and d != w.max_depth:
        d += 1
        nxt: list[int] = []
        layers.append(nxt)
        push = nxt.append
        for u in frontier:
            for v in get(u, _NO_NEIGHBOURS):
                if v in seen:
                    continue
                if not budget:
                    w.truncated = True
                    return
                budget -= 1
                seen.add(v)
                parent[v] = u
                push(v)
        frontier = nxt


def _bfs_node_kinds(w: _Walk, adj: Adjacency, kinds: bytearray, allowed: bytes) -> None:
    """Every edge followed; a node's kind checked once, when first seen (the job-
    and run-level views of lineage). A blocked node is neither entered nor returned."""
    seen, parent, layers = w.seen, w.parent, w.layers
    budget, frontier, d = w.budget, layers[0], 0
    get = adj.get
    while frontier and d != w.max_depth:
        d += 1
        nxt: list[int] = []
        layers.append(nxt)
        push = nxt.append
        for u in frontier:
            for v in get(u, _NO_NEIGHBOURS):
                if v in seen:
                    continue
                seen.add(v)
                if not allowed[kinds[v]]:
                    continue
                if not budget:
                    w.truncated = True
                    return
                budget -= 1
                parent[v] = u
                push(v)
        frontier = nxt


def _bfs_filtered(
    w: _Walk, adjs: list[tuple[Adjacency, int | None]], kinds: bytearray, allowed: bytes | None
) -> None:
    """Edge kinds checked on the bitmask, node kinds once per newly seen node."""
    seen, parent, layers = w.seen, w.parent, w.layers
    budget, frontier, d = w.budget, layers[0], 0
    while frontier and d != w.max_depth:
        d += 1
        nxt: list[int] = []
        layers.append(nxt)
        for u in frontier:
            for adj, mask in adjs:
                for v, data in adj.get(u, _NO_NEIGHBOURS).items():
                    if v in seen or (mask is not None and not data["k"] & mask):
                        continue
                    seen.add(v)
                    if allowed is not None and not allowed[kinds[v]]:
                        continue
                    if not budget:
                        w.truncated = True
                        return
                    budget -= 1
                    parent[v] = u
                    nxt.append(v)
        frontier = nxt
