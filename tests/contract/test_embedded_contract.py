"""The GraphStore contract on the embedded store: a SQLite file, in memory, and read
through a follower of the file while another store writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, cast

from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.embedded import EmbeddedStore
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import ApplyResult, GraphStore
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


class WriterAndFollower:
    """A GraphStore that writes through one embedded store and reads through a
    follower of the same file (``EmbeddedStore(follow=True)``), as the server reads
    while a projector process writes."""

    def __init__(self, path: Path) -> None:
        self.writer = EmbeddedStore(path)
        self.follower = EmbeddedStore(path, follow=True)

    def apply(self, changes: ChangeSet, *, log_position: int | None = None) -> ApplyResult:
        return self.writer.apply(changes, log_position=log_position)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.follower, name)

    def close(self) -> None:
        self.follower.close()
        self.writer.close()


class TestEmbeddedFollower(StoreContract):
    """Every read of the contract answered by a follower of the writing store."""

    __test__ = True
    supports_reopen: ClassVar[bool] = True

    def make_store(self, tmp_path: Path) -> GraphStore:
        return cast(GraphStore, WriterAndFollower(tmp_path / "graph.db"))

    def reopen(self, store: GraphStore, tmp_path: Path) -> GraphStore:
        store.close()
        return self.make_store(tmp_path)
