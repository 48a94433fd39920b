"""Where Neo4j's Cypher and FalkorDB's differ: one small table, and the only one.

The store writes portable openCypher; everything that is not portable is a
field of :class:`Dialect`, with one row per supported server:

=========================  ==================================  ===============================
difference                 Neo4j 5.x                           FalkorDB 4.x
=========================  ==================================  ===============================
name a node across         ``elementId(n)`` (a string)         ``id(n)`` (an integer)
queries
index DDL                  ``CREATE INDEX <name> IF NOT        ``CREATE INDEX FOR ...`` (no
                           EXISTS FOR ...``                    IF NOT EXISTS): existing ones
                                                               are listed first with
                                                               ``CALL db.indexes()``
unique key constraint      ``CREATE CONSTRAINT ... IF NOT      no Cypher form: the RESP command
                           EXISTS ... IS UNIQUE``              ``GRAPH.CONSTRAINT CREATE``
writers serialized by      the meta node's write lock, taken   the server (write queries run
                           first in the transaction            one at a time; a write is one
                                                               query)
NUL character in strings   allowed                             refused (parameters travel as
                                                               text)
=========================  ==================================  ===============================

Labels, relationship types and property names that appear in query text are
never values: they come from :data:`NODE_LABELS` / :data:`EDGE_TYPES` (built
from the fixed enums and checked to be plain identifiers) or from the
constants of this package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lineagegraph.errors import InvalidInput
from lineagegraph.graph.kinds import EdgeKind, NodeKind

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

#: the label every lineage node carries (the key index and constraint hang on it)
NODE_LABEL = "LGNode"
#: the label of the one bookkeeping node (log position, write version, schema version)
META_LABEL = "LGMeta"


def _identifier(text: str) -> str:
    if not _IDENTIFIER.match(text):
        raise ValueError(f"{text!r} is not a plain Cypher identifier")
    return text


#: NodeKind -> its second label, e.g. ``model_version`` -> ``ModelVersion``
NODE_LABELS: dict[NodeKind, str] = {
    k: _identifier("".join(w.capitalize() for w in k.value.split("_"))) for k in NodeKind
}
#: EdgeKind -> relationship type, e.g. ``instance_of`` -> ``INSTANCE_OF``
EDGE_TYPES: dict[EdgeKind, str] = {k: _identifier(k.value.upper()) for k in EdgeKind}
EDGE_KIND_BY_TYPE: dict[str, EdgeKind] = {t: k for k, t in EDGE_TYPES.items()}
NODE_KIND_BY_VALUE: dict[str, NodeKind] = {k.value: k for k in NodeKind}


def edge_type_pattern(kinds: Iterable[EdgeKind]) -> str:
    """``:A|B|C`` for a relationship pattern, from EdgeKinds only (sorted, stable text)."""
    types = sorted(EDGE_TYPES[EdgeKind(k)] for k in kinds)
    if not types:
        raise ValueError("at least one edge kind is needed for a type pattern")
    return ":" + "|".join(types)


@dataclass(frozen=True, slots=True)
class Index:
    """A property index (or unique constraint) the store needs."""

    name: str
    label: str
    prop: str
    unique: bool = False


#: What the store creates at start-up (idempotently).
SCHEMA: tuple[Index, ...] = (
    Index("lg_node_key", NODE_LABEL, "key", unique=True),
    Index("lg_node_kind", NODE_LABEL, "kind"),
    Index("lg_node_name_fold", NODE_LABEL, "name_fold"),
    Index("lg_meta_id", META_LABEL, "id", unique=True),
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """One row of the table in the module docstring."""

    name: str
    #: function that names a node so a later query can find it again by that value
    node_id_function: str
    #: index DDL; ``{name}``, ``{label}``, ``{prop}`` are filled from :data:`SCHEMA`
    index_ddl: str
    #: unique-constraint DDL in Cypher, or None when the server has none
    unique_ddl: str | None
    #: lists existing ``(label, [properties])`` when the DDL has no IF NOT EXISTS
    index_listing: str | None
    #: take the meta node's write lock before reading, inside the write transaction
    lock_meta_first: bool
    #: whether strings may hold the NUL character
    allows_nul: bool

    def node_id(self, var: str) -> str:
        """``id(n)`` / ``elementId(n)`` for a variable of the query."""
        return f"{self.node_id_function}({_identifier(var)})"

    def index_statements(self, existing: Iterable[tuple[str, str]] = ()) -> list[tuple[Index, str]]:
        """DDL for the indexes of :data:`SCHEMA` not among ``existing`` (label, property)."""
        have = set(existing)
        out: list[tuple[Index, str]] = []
        for ix in SCHEMA:
            if (ix.label, ix.prop) in have:
                continue
            fields = {"name": ix.name, "label": ix.label, "prop": ix.prop}
            if ix.unique and self.unique_ddl is not None:
                out.append((ix, self.unique_ddl.format(**fields)))
            else:
                out.append((ix, self.index_ddl.format(**fields)))
        return out

    def text(self, value: str) -> str:
        """A string as this server can hold it (search fields only; keys never hold NUL)."""
        return value if self.allows_nul else value.replace("\x00", "\ufffd")


NEO4J = Dialect(
    name="neo4j",
    node_id_function="elementId",
    index_ddl="CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})",
    unique_ddl="CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE",
    index_listing=None,
    lock_meta_first=True,
    allows_nul=True,
)

FALKORDB = Dialect(
    name="falkordb",
    node_id_function="id",
    index_ddl="CREATE INDEX FOR (n:{label}) ON (n.{prop})",
    unique_ddl=None,
    index_listing="CALL db.indexes() YIELD label, properties RETURN label, properties",
    lock_meta_first=False,
    allows_nul=False,
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (NEO4J, FALKORDB)}


def dialect_named(name: str) -> Dialect:
    try:
        return DIALECTS[name.lower()]
    except KeyError:
        raise InvalidInput(
            f"unknown Cypher dialect {name!r} (known: {', '.join(sorted(DIALECTS))})",
            path="dialect",
        ) from None
