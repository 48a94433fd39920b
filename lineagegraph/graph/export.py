"""Export a whole graph as JSON lines, through the store contract only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lineagegraph.graph.store import Direction, Edge, GraphStore, Node, SearchQuery


def node_json(n: Node) -> dict[str, Any]:
    return {
        "type": "node",
        "id": str(n.key),
        "kind": n.kind.value,
        "props": dict(n.props),
        "first_seen": n.first_seen.isoformat(),
        "last_seen": n.last_seen.isoformat(),
        "deleted_at": n.deleted_at.isoformat() if n.deleted_at else None,
        "source": n.source,
        "event_id": n.event_id,
    }


def edge_json(e: Edge) -> dict[str, Any]:
    return {
        "type": "edge",
        "src": str(e.src),
        "kind": e.kind.value,
        "dst": str(e.dst),
        "props": dict(e.props),
        "first_seen": e.first_seen.isoformat(),
        "last_seen": e.last_seen.isoformat(),
        "deleted_at": e.deleted_at.isoformat() if e.deleted_at else None,
        "source": e.source,
        "event_id": e.event_id,
    }


def export_graph(
    store: GraphStore, *, include_deleted: bool = False, page: int = 500
) -> Iterator[dict[str, Any]]:
    """Every node, then each page's outgoing edges: JSON-ready dicts, streamed page by page."""
    after: str | None = None
    while True:
        result = store.search(SearchQuery(first=page, after=after, include_deleted=include_deleted))
        for n in result.nodes:
            yield node_json(n)
        edges = store.get_edges(
            [n.key for n in result.nodes],
            direction=Direction.DOWNSTREAM,
            include_deleted=include_deleted,
        )
        for e in edges:
            yield edge_json(e)
        if not result.has_next_page:
            return
        after = result.end_cursor
