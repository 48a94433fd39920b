"""Results of the graph questions: lineage, impact, search pages and stats."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson
import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from lineagegraph.api.graphql.types.node import Info, Node, wrap
from lineagegraph.errors import InvalidInput
from lineagegraph.graph.impact import Affected as AffectedResult
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.store import Edge
from lineagegraph.graph.store import Node as StoreNode

# ---- lineage ---------------------------------------------------------------------------


@strawberry.type(description="A node reached by a lineage query, with its distance.")
class LineageNode:
    depth: int = strawberry.field(description="Hops from the nearest start node (start: 0).")
    node: Node


@strawberry.type(description="An edge among the nodes of a lineage result (ids refer to them).")
class LineageEdge:
    raw: strawberry.Private[Edge]
    # plain attributes, set by the resolver: no resolver call per edge and field
    source: strawberry.ID = strawberry.field(
        description="The node the edge leaves (data flows from it)."
    )
    target: strawberry.ID = strawberry.field(description="The node the edge enters.")
    kind: EdgeKind

    @strawberry.field(description="The edge's properties (e.g. a column's transformation).")
    def props(self) -> JSON:
        return JSON(dict(self.raw.props))

    @strawberry.field
    def first_seen(self) -> datetime:
        return self.raw.first_seen

    @strawberry.field
    def last_seen(self) -> datetime:
        return self.raw.last_seen


@strawberry.type(description="The lineage subgraph around a node.")
class LineageGraph:
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool = strawberry.field(
        description="True when `limit` stopped the expansion: there is more lineage."
    )


# ---- impact ----------------------------------------------------------------------------


@strawberry.type(description="A node affected by a change, with the evidence.")
class Affected:
    raw: strawberry.Private[AffectedResult]

    @strawberry.field
    def node(self) -> Node:
        return wrap(self.raw.node)

    @strawberry.field(description="Hops downstream of the change.")
    def depth(self) -> int:
        return self.raw.depth

    @strawberry.field(description="One shortest path from a changed node to this one (ids).")
    def path(self) -> list[strawberry.ID]:
        return [strawberry.ID(str(k)) for k in self.raw.path]

    @strawberry.field(description="The nodes of `path`, in order.")
    async def path_nodes(self, info: Info) -> list[Node]:
        return [wrap(n) for n in await info.context.graph.nodes_of(self.raw.path)]

    @strawberry.field(description="Who to tell: the owners recorded on the node.")
    def owners(self) -> list[str]:
        return list(self.raw.owners)

    @strawberry.field(
        description="lineage: reached over lineage edges; column: holds an affected column; "
        "dataset: reached only by the conservative dataset-level expansion."
    )
    def via(self) -> str:
        return self.raw.via


@strawberry.type(description="Affected nodes of one kind.")
class ImpactGroup:
    kind: NodeKind
    affected: list[Affected]

    @strawberry.field
    def count(self) -> int:
        return len(self.affected)


@strawberry.type(description="What a change to some nodes or columns affects downstream.")
class ImpactReport:
    sources: list[Node] = strawberry.field(description="The changed nodes.")
    affected: list[Affected] = strawberry.field(description="Every affected node, nearest first.")
    by_kind: list[ImpactGroup] = strawberry.field(description="The affected nodes by kind.")
    truncated: bool = strawberry.field(description="True when `limit` cut the analysis short.")

    @strawberry.field
    def total(self) -> int:
        return len(self.affected)

    @strawberry.field(description="Everyone to tell: the owners of all affected nodes.")
    def owners(self) -> list[str]:
        out: dict[str, None] = {}
        for a in self.affected:
            out.update(dict.fromkeys(a.raw.owners))
        return list(out)


# ---- search ----------------------------------------------------------------------------
# The store pages search results with its own opaque cursors, one per page. An
# edge's cursor here is (the store cursor its page started from, how many
# results of that page to skip), so paging can resume after any edge.


def encode_cursor(store_after: str | None, skip: int) -> str:
    raw = orjson.dumps([store_after, skip])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after, skip = orjson.loads(raw)
        if (after is None or isinstance(after, str)) and isinstance(skip, int) and skip >= 0:
            return after, skip
    except (ValueError, TypeError, orjson.JSONDecodeError):
        pass
    raise InvalidInput("not a cursor from this search's pageInfo or edges", path="after")


@strawberry.type(description="A search hit, with the cursor to resume after it.")
class SearchEdge:
    cursor: str
    node: Node


@strawberry.type(name="SearchConnection", description="A page of search hits.")
class SearchConnection:
    page_info: relay.PageInfo
    edges: list[SearchEdge]

    @classmethod
    def of(
        cls, nodes: list[StoreNode], store_after: str | None, skip: int, next_cursor: str | None
    ) -> SearchConnection:
        edges = [
            SearchEdge(cursor=encode_cursor(store_after, skip + i + 1), node=wrap(n))
            for i, n in enumerate(nodes)
        ]
        if edges and next_cursor is not None:
            # resume from the store's own cursor: no results to skip
            edges[-1] = SearchEdge(cursor=encode_cursor(next_cursor, 0), node=edges[-1].node)
        return cls(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=next_cursor is not None,
                has_previous_page=store_after is not None or skip > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


# ---- stats -----------------------------------------------------------------------------


@strawberry.type
class KindCount:
    kind: str
    count: int


@strawberry.type(description="The size of the graph and how far projection has come.")
class Stats:
    node_count: int
    edge_count: int
    nodes_by_kind: list[KindCount]
    edges_by_kind: list[KindCount]
    log_position: int = strawberry.field(description="The event log position the store applied.")
    log_head: int = strawberry.field(description="The newest event log position.")

    @strawberry.field(description="Inputs logged but not yet in the graph.")
    def projection_lag(self) -> int:
        return max(0, self.log_head - self.log_position)
