"""The embedded graph store (the default): SQLite for durability, networkx for traversal.

Open it with ``EmbeddedStore.from_uri("sqlite:///path/graph.db")`` (or
``memory://`` for an in-memory store), usually through
:func:`lineagegraph.graph.registry.open_store`.
"""

from lineagegraph.graph.embedded.store import EmbeddedStore

__all__ = ["EmbeddedStore"]
