"""The GraphStore contract on the embedded store: a SQLite file, and in memory."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import GraphStore
from tests.contract.store_contract import StoreContract


class TestEmbeddedFileStore(StoreContract):
    __test__ = True
    supports_reopen: ClassVar[bool] = True

    def make_store(self, tmp_path: Path) -> GraphStore:
        return open_store(f"sqlite:///{tmp_path / 'graph.db'}")

    def reopen(self, store: GraphStore, tmp_path: Path) -> GraphStore:
        store.close()
        return open_store(f"sqlite:///{tmp_path / 'graph.db'}")


class TestEmbeddedMemoryStore(StoreContract):
    __test__ = True

    def make_store(self, tmp_path: Path) -> GraphStore:
        return open_store("memory://")
