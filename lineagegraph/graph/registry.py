"""Choose a GraphStore from its URI scheme: one registry, one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from lineagegraph.errors import InvalidInput
from lineagegraph.graph.store import GraphStore

StoreFactory = Callable[..., GraphStore]

_FACTORIES: dict[str, str] = {
    # scheme -> "module:callable", imported lazily so optional drivers stay optional
    "sqlite": "lineagegraph.graph.embedded:EmbeddedStore.from_uri",
    "memory": "lineagegraph.graph.embedded:EmbeddedStore.from_uri",
    "bolt": "lineagegraph.graph.cypher:CypherStore.from_uri",
    "bolt+s": "lineagegraph.graph.cypher:CypherStore.from_uri",
    "bolt+ssc": "lineagegraph.graph.cypher:CypherStore.from_uri",
    "neo4j": "lineagegraph.graph.cypher:CypherStore.from_uri",
    "neo4j+s": "lineagegraph.graph.cypher:CypherStore.from_uri",
    "neo4j+ssc": "lineagegraph.graph.cypher:CypherStore.from_uri",
    "falkordb": "lineagegraph.graph.cypher:CypherStore.from_uri",
}


def supported_schemes() -> list[str]:
    return sorted(_FACTORIES)


def open_store(uri: str, **options: Any) -> GraphStore:
    """Open the store a URI names, e.g. ``sqlite:///graph.db`` or ``bolt://host:7687``."""
    scheme = urlsplit(uri).scheme.lower()
    target = _FACTORIES.get(scheme)
    if target is None:
        raise InvalidInput(
            f"no graph store for scheme {scheme!r} (supported: {', '.join(supported_schemes())})",
            path="store_uri",
        )
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=["_"])
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    store: GraphStore = obj(uri, **options)
    return store
