"""The ``Node`` interface every graph node implements, connections, and prop helpers.

A GraphQL node object wraps one store :class:`~lineagegraph.graph.store.Node`
(``raw``). Its ``id`` is the node key's one string form (``dataset:ns|name``),
stable across stores and replays and read back with ``parse_key``. Facts come
from the node's props, which the OpenLineage and MLflow mappers write; the
typed accessors read them tolerantly (a missing or oddly typed prop is
``null``), and ``props`` always shows everything as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import strawberry
from strawberry import relay
from strawberry.relay.types import NodeType
from strawberry.scalars import JSON

from lineagegraph.api.graphql.context import Context, Link
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.lineage import Granularity
from lineagegraph.graph.store import Direction
from lineagegraph.graph.store import Node as StoreNode

# The domain enums, as GraphQL enums (values are the lower-case names).
strawberry.enum(NodeKind, description="The kind of a graph node.")
strawberry.enum(EdgeKind, description="The kind of an edge (lineage or structural).")
strawberry.enum(Direction, description="UPSTREAM: where it came from; DOWNSTREAM: what it feeds.")
strawberry.enum(Granularity, description="JOB: datasets and jobs; RUN: datasets and runs; ALL.")

Info = strawberry.Info[Context, None]
#: The longest page a connection returns (Strawberry's relay_max_results), also
#: its length when the query gives no first/last.
MAX_PAGE = 100
N = TypeVar("N", bound="Node")


# ---- reading props tolerantly ---------------------------------------------------


def prop(props: Mapping[str, Any], *names: str) -> Any:
    """The first present, non-null value among ``names``.

    A name is looked up as it is first (mappers write flat keys such as
    ``facets.schema`` or ``quality.not_null``), then as a dotted path into
    nested objects.
    """
    for name in names:
        value: Any = props.get(name)
        if value is None and "." in name:
            value = props
            for part in name.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None:
            return value
    return None


def prefixed(props: Mapping[str, Any], prefix: str) -> dict[str, Any] | None:
    """The props named ``<prefix><name>``, as {name: value} (None when there are none)."""
    out = {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix) and v is not None}
    return out or None


def text(props: Mapping[str, Any], *names: str) -> str | None:
    value = prop(props, *names)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return None


def number(props: Mapping[str, Any], *names: str) -> float | None:
    value = prop(props, *names)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def flag(props: Mapping[str, Any], *names: str) -> bool | None:
    value = prop(props, *names)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def when(props: Mapping[str, Any], *names: str) -> datetime | None:
    """A time from an ISO string or epoch milliseconds (MLflow's form)."""
    value = prop(props, *names)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return None


def strings(props: Mapping[str, Any], *names: str) -> list[str]:
    """A list of strings from a list (of strings or {"name": ...}), a string or a map's keys."""
    value = prop(props, *names)
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    if isinstance(value, list):
        out = []
        for v in value:
            name = v.get("name") if isinstance(v, Mapping) else v
            if isinstance(name, str | int | float) and not isinstance(name, bool):
                out.append(str(name))
        return out
    return []


@strawberry.type(description="A named value: a parameter, tag or metric.")
class Entry:
    key: str
    value: JSON


def entries(props: Mapping[str, Any], *names: str) -> list[Entry]:
    """Key/value pairs from a map, or from a list of {"key": ..., "value": ...}."""
    value = prop(props, *names)
    if isinstance(value, Mapping):
        return [Entry(key=str(k), value=JSON(v)) for k, v in sorted(value.items())]
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, Mapping) and "key" in item:
                out.append(Entry(key=str(item["key"]), value=JSON(item.get("value"))))
        return out
    return []


# ---- connections ---------------------------------------------------------------------


if TYPE_CHECKING:
    # Strawberry's relay types bind their item type to relay.Node, whose GlobalID
    # ids we do not use (ids here are node keys). At run time any type works as
    # an item; this is the class as the type checker should see it.
    Item = TypeVar("Item")

    class ListOf(Generic[Item]):
        total: int | None

        def total_count(self) -> int | None: ...

else:

    @strawberry.type(name="Connection", description="A page of a list, with its total size.")
    class ListOf(relay.ListConnection[NodeType]):
        total: strawberry.Private[int | None] = None

        @strawberry.field(description="How many items the whole list holds.")
        def total_count(self) -> int | None:
            return self.total

        @classmethod
        def resolve_connection(cls, nodes, *, info, **kwargs):
            items = list(nodes)
            conn = super().resolve_connection(items, info=info, **kwargs)
            conn.total = len(items)
            return conn


# ---- the Node interface ------------------------------------------------------------

_TYPES: dict[NodeKind, type[Node]] = {}


def node_type(kind: NodeKind) -> Any:
    """Class decorator: the GraphQL type that shows nodes of ``kind``."""

    def register(cls: type[Node]) -> type[Node]:
        _TYPES[kind] = cls
        cls.KIND = kind
        return cls

    return register


def wrap(node: StoreNode) -> Node:
    """The GraphQL object for a store node (its kind's type)."""
    return _TYPES[node.key.kind](raw=node)


def wrap_as(cls: type[N], nodes: Iterable[StoreNode]) -> list[N]:
    """Wrap the nodes of the kind ``cls`` shows, dropping others."""
    kind = cls.KIND
    return [cls(raw=n) for n in nodes if n.key.kind is kind]


@strawberry.type(description="Where a fact came from.")
class Provenance:
    source: str = strawberry.field(description="The source system (openlineage, mlflow, api).")
    event_id: str = strawberry.field(description="The event (or log entry) that reported it.")


@strawberry.type(name="Link", description="An edge seen from one of its ends.")
class LinkInfo:
    raw: strawberry.Private[Link]

    @strawberry.field(description="The edge's kind.")
    def kind(self) -> EdgeKind:
        return self.raw.edge.kind

    @strawberry.field(description="DOWNSTREAM when the edge leaves the node asked about.")
    def direction(self) -> Direction:
        return self.raw.direction

    @strawberry.field(description="The node at the other end.")
    def node(self) -> Node:
        return wrap(self.raw.node)

    @strawberry.field(description="The edge's properties (e.g. a column's transformation).")
    def props(self) -> JSON:
        return JSON(dict(self.raw.edge.props))

    @strawberry.field
    def first_seen(self) -> datetime:
        return self.raw.edge.first_seen

    @strawberry.field
    def last_seen(self) -> datetime:
        return self.raw.edge.last_seen

    @strawberry.field(description="When the edge was ended (e.g. a version stopped serving).")
    def ended_at(self) -> datetime | None:
        return self.raw.edge.deleted_at


@strawberry.interface(description="A node of the lineage graph.")
class Node:
    raw: strawberry.Private[StoreNode]
    KIND: ClassVar[NodeKind]
    # The fields every query asks for are plain attributes, set once from the
    # key: GraphQL reads them without a resolver call (a large share of the
    # time of a lineage answer of hundreds of nodes).
    id: strawberry.ID = strawberry.field(
        default=strawberry.ID(""),
        description="Stable id: the node key's string form, e.g. "
        "'dataset:postgres://db:5432|public.orders'. Pass it to node(id:).",
    )
    kind: NodeKind = strawberry.field(default=NodeKind.DATASET, description="The node's kind.")
    name: str = strawberry.field(
        default="", description="A display name (the last identifying part of the key)."
    )
    namespace: str | None = strawberry.field(
        default=None, description="The namespace (or environment), for kinds that have one."
    )

    def __post_init__(self) -> None:
        key = self.raw.key
        self.id = strawberry.ID(str(key))
        self.kind = key.kind
        self.name = key.name
        self.namespace = key.namespace

    @strawberry.field(description="The key's parts, in order (see the key format).")
    def key_parts(self) -> list[str]:
        return list(self.raw.key.parts)

    @strawberry.field(description="Every property the sources reported, as JSON.")
    def props(self) -> JSON:
        return JSON(dict(self.raw.props))

    @strawberry.field(description="Event time the node was first reported.")
    def first_seen(self) -> datetime:
        return self.raw.first_seen

    @strawberry.field(description="Event time the node was last reported.")
    def last_seen(self) -> datetime:
        return self.raw.last_seen

    @strawberry.field(description="When a source ended (deleted) the node; null while alive.")
    def deleted_at(self) -> datetime | None:
        return self.raw.deleted_at

    @strawberry.field(description="The source and event of the node's last report.")
    def provenance(self) -> Provenance:
        return Provenance(source=self.raw.source, event_id=self.raw.event_id)

    @relay.connection(ListOf[LinkInfo], description="Edges to and from this node, any kind.")
    async def links(
        self,
        info: Info,
        direction: Direction = Direction.BOTH,
        kinds: list[EdgeKind] | None = None,
        include_ended: bool = False,
    ) -> list[LinkInfo]:
        links = await info.context.graph.links(
            self.raw.key, direction, kinds, include_deleted=include_ended
        )
        return [LinkInfo(raw=link) for link in links]


# ---- small helpers the domain types share -----------------------------------------


async def linked(
    info: Info,
    node: Node,
    direction: Direction,
    kinds: Iterable[EdgeKind],
    cls: type[N],
) -> list[N]:
    """The distinct neighbours of ``node`` that ``cls`` shows."""
    nodes = await info.context.graph.neighbors(node.raw.key, direction, list(kinds))
    return wrap_as(cls, nodes)


async def linked_any(
    info: Info, node: Node, direction: Direction, kinds: Iterable[EdgeKind]
) -> list[Node]:
    """The distinct neighbours of ``node``, whatever their kind."""
    nodes = await info.context.graph.neighbors(node.raw.key, direction, list(kinds))
    return [wrap(n) for n in nodes]


async def load(info: Info, key: NodeKey, cls: type[N]) -> N | None:
    found = await info.context.graph.node(key)
    if found is None or found.key.kind is not cls.KIND:
        return None
    return cls(raw=found)
