"""The Cypher server store: Neo4j 5.x over Bolt, FalkorDB 4.x over RESP.

Open it with ``CypherStore.from_uri("bolt://host:7687")``,
``CypherStore.from_uri("falkordb://host:6379/lineagegraph")`` (or through
:func:`lineagegraph.graph.registry.open_store`). See ``store.py`` for how it
works, ``dialect.py`` for what differs between the servers.
"""

from lineagegraph.graph.cypher.store import CypherStore

__all__ = ["CypherStore"]
