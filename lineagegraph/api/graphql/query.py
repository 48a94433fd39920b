"""The Query root: node, search, lineage, impact, modelVersion, stats.

Resolvers stay thin: parse the arguments (ids through ``parse_key``), call
the algorithms of ``lineagegraph.graph`` and wrap what they return. Every
field needs the reader role (anonymous callers have it only when
``anonymous_read`` is on).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from lineagegraph.api.graphql.permissions import CanRead
from lineagegraph.api.graphql.types.models import ModelVersion
from lineagegraph.api.graphql.types.node import MAX_PAGE, Info, Node, wrap
from lineagegraph.api.graphql.types.results import (
    Affected,
    ImpactGroup,
    ImpactReport,
    KindCount,
    LineageEdge,
    LineageGraph,
    LineageNode,
    SearchConnection,
    Stats,
    decode_cursor,
)
from lineagegraph.errors import InvalidInput, InvalidKey
from lineagegraph.graph.impact import impact as impact_of
from lineagegraph.graph.keys import NodeKey, parse_key
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.lineage import Granularity
from lineagegraph.graph.lineage import lineage as lineage_of
from lineagegraph.graph.store import Direction, SearchQuery

READ: list[type[BasePermission]] = [CanRead]
#: Most changed columns one impact question may name.
MAX_FIELDS = 1000


def parse_id(value: str, argument: str) -> NodeKey:
    """A node key from an id argument; the error names the argument and the id."""
    try:
        return parse_key(value)
    except InvalidKey as exc:
        where = f"{argument}.{exc.path}" if exc.path else argument
        raise InvalidKey(f"{value[:200]!r} is not a node id: {exc.message}", path=where) from None


def _check_time(value: datetime | None, argument: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise InvalidInput("give a timezone, e.g. 2026-11-01T00:00:00Z", path=argument)
    return value


def _limit(info: Info, limit: int | None) -> int:
    cap = info.context.settings.max_lineage_nodes
    if limit is None:
        return cap
    if not 1 <= limit <= cap:
        raise InvalidInput(f"limit must be between 1 and {cap} (max_lineage_nodes)", path="limit")
    return limit


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=READ,
        description="A node by id (null when there is none). A malformed id is an error.",
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        found = await info.context.graph.node(parse_id(id, "id"))
        return wrap(found) if found is not None else None

    @strawberry.field(permission_classes=READ, description="Several nodes by id, in order.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_PAGE:
            raise InvalidInput(f"at most {MAX_PAGE} ids at a time, got {len(ids)}", path="ids")
        keys = [parse_id(v, f"ids[{i}]") for i, v in enumerate(ids)]
        found = await info.context.graph.nodes.load_many(keys)
        return [wrap(n) if n is not None else None for n in found]

    @strawberry.field(
        permission_classes=READ,
        description="Find nodes by name or namespace (case-insensitive), a page at a time.",
    )
    async def search(
        self,
        info: Info,
        text: str = "",
        kinds: list[NodeKind] | None = None,
        namespace: str | None = None,
        prefix: Annotated[
            bool, strawberry.argument(description="Match the start of names instead of anywhere.")
        ] = False,
        include_deleted: bool = False,
        first: int = 20,
        after: str | None = None,
    ) -> SearchConnection:
        page_size = MAX_PAGE
        if not 1 <= first <= page_size:
            raise InvalidInput(f"first must be between 1 and {page_size}", path="first")
        store_after, skip = decode_cursor(after) if after else (None, 0)
        graph = info.context.graph
        page = await graph.call(
            graph.store.search,
            SearchQuery(
                text=text,
                kinds=frozenset(kinds) if kinds else None,
                namespace=namespace,
                mode="prefix" if prefix else "substring",
                first=first + skip,
                after=store_after,
                include_deleted=include_deleted,
            ),
        )
        nodes = page.nodes[skip:]
        graph.prime(nodes)
        next_cursor = page.end_cursor if page.has_next_page else None
        return SearchConnection.of(nodes, store_after, skip, next_cursor)

    @strawberry.field(
        permission_classes=READ,
        description="The lineage around a node: where it came from (UPSTREAM), what it "
        "feeds (DOWNSTREAM) or both, to a depth, as of a time, at job or run granularity.",
    )
    async def lineage(
        self,
        info: Info,
        id: strawberry.ID,
        direction: Direction = Direction.BOTH,
        depth: int | None = None,
        kinds: Annotated[
            list[NodeKind] | None,
            strawberry.argument(description="Only enter nodes of these kinds."),
        ] = None,
        edge_kinds: Annotated[
            list[EdgeKind] | None,
            strawberry.argument(
                description="Follow only these edges (default: every lineage edge)."
            ),
        ] = None,
        as_of: datetime | None = None,
        granularity: Granularity = Granularity.JOB,
        limit: Annotated[
            int | None,
            strawberry.argument(
                description="Stop after this many nodes (then `truncated` is true)."
            ),
        ] = None,
    ) -> LineageGraph:
        start = parse_id(id, "id")
        graph = info.context.graph
        result = await graph.call(
            lineage_of,
            graph.store,
            start,
            direction=direction,
            depth=depth,
            edge_kinds=edge_kinds,
            node_kinds=kinds,
            as_of=_check_time(as_of, "asOf"),
            granularity=granularity,
            limit=_limit(info, limit),
        )
        if as_of is None:  # nodes as of a past time are not today's: keep them out of the cache
            graph.prime(result.nodes)
        nodes = [wrap(n) for n in result.nodes]
        ids = {n.raw.key: n.id for n in nodes}  # each key's string form, made once
        return LineageGraph(
            nodes=[LineageNode(depth=result.depth.get(n.raw.key, 0), node=n) for n in nodes],
            edges=[
                LineageEdge(
                    raw=e,
                    source=ids.get(e.src) or strawberry.ID(str(e.src)),
                    target=ids.get(e.dst) or strawberry.ID(str(e.dst)),
                    kind=e.kind,
                )
                for e in result.edges
            ],
            truncated=result.truncated,
        )

    @strawberry.field(
        permission_classes=READ,
        description="What a change affects downstream: give a node `id`, or the changed "
        "columns as `fields` (Field ids). Grouped by kind, with evidence paths and owners.",
    )
    async def impact(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        fields: list[strawberry.ID] | None = None,
        depth: int | None = None,
        as_of: datetime | None = None,
        limit: int | None = None,
        conservative: Annotated[
            bool,
            strawberry.argument(
                description="Also everything downstream of the datasets holding the fields "
                "(for producers that report no column lineage)."
            ),
        ] = False,
    ) -> ImpactReport:
        if fields is not None and len(fields) > MAX_FIELDS:
            raise InvalidInput(
                f"at most {MAX_FIELDS} fields at a time, got {len(fields)}", path="fields"
            )
        starts: list[NodeKey] = []
        if id is not None:
            starts.append(parse_id(id, "id"))
        for i, f in enumerate(fields or []):
            key = parse_id(f, f"fields[{i}]")
            if key.kind is not NodeKind.FIELD:
                raise InvalidInput(f"{f!r} is a {key.kind} id, not a field id", path=f"fields[{i}]")
            starts.append(key)
        if not starts:
            raise InvalidInput("give a node id or at least one field id", path="id")
        graph = info.context.graph
        result = await graph.call(
            impact_of,
            graph.store,
            starts,
            depth=depth,
            as_of=_check_time(as_of, "asOf"),
            limit=_limit(info, limit),
            conservative=conservative,
        )
        affected = [Affected(raw=a) for a in result.affected]
        if as_of is None:
            graph.prime([a.node for a in result.affected])
        by_kind = [
            ImpactGroup(kind=kind, affected=[Affected(raw=a) for a in items])
            for kind, items in sorted(result.by_kind.items(), key=lambda kv: kv[0].value)
        ]
        sources = [wrap(n) for n in await graph.nodes_of(result.sources)]
        return ImpactReport(
            sources=sources, affected=affected, by_kind=by_kind, truncated=result.truncated
        )

    @strawberry.field(
        permission_classes=READ,
        description="A registered model's version (namespace: the MLflow namespace by default).",
    )
    async def model_version(
        self, info: Info, name: str, version: str, namespace: str | None = None
    ) -> ModelVersion | None:
        ns = namespace or info.context.settings.mlflow_namespace
        found = await info.context.graph.node(NodeKey.model_version(ns, name, version))
        return ModelVersion(raw=found) if found is not None else None

    @strawberry.field(permission_classes=READ, description="Node and edge counts, projection lag.")
    async def stats(self, info: Info) -> Stats:
        graph = info.context.graph
        stats = await graph.call(graph.store.stats)
        head = await graph.call(info.context.services.log.head)
        return Stats(
            node_count=stats.node_count,
            edge_count=stats.edge_count,
            nodes_by_kind=[
                KindCount(kind=k, count=v) for k, v in sorted(stats.nodes_by_kind.items())
            ],
            edges_by_kind=[
                KindCount(kind=k, count=v) for k, v in sorted(stats.edges_by_kind.items())
            ],
            log_position=stats.log_position,
            log_head=head,
        )
