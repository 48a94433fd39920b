"""How the Cypher store reaches a server: a two-method connector interface.

A :class:`Connector` runs a unit of work (a function of a :class:`Runner`)
as a read or as a write. Two implementations:

* :class:`BoltConnector`, the official ``neo4j`` driver, for ``bolt://``,
  ``bolt+s://``, ``bolt+ssc://``, ``neo4j://``, ``neo4j+s://`` and
  ``neo4j+ssc://`` URIs (Neo4j 5.x: single server, cluster or Aura). A unit of
  work is one explicit transaction; one driver lives as long as the store.
* :class:`RespConnector`, the ``falkordb`` client, for
  ``falkordb://host:port/graph`` (FalkorDB 4.x). FalkorDB has no
  multi-statement transactions; every query is atomic on its own, which is
  why the store writes a ChangeSet as one query.

Driver errors are translated here, once, into :mod:`lineagegraph.errors`:
a server that cannot be reached is ``BackendUnavailable`` with
``details["retryable"]`` set when trying again may help; a refused query is
a plain ``LineageGraphError`` (a bug, not a bad input); a broken unique
constraint is ``Conflict``. Query text never holds values, so it is safe to
put in a message; parameters never are.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from lineagegraph.errors import BackendUnavailable, Conflict, InvalidInput, LineageGraphError
from lineagegraph.graph.cypher.dialect import FALKORDB, NEO4J, Dialect, Index, dialect_named

log = logging.getLogger(__name__)

T = TypeVar("T")
Row = list[Any]

BOLT_SCHEMES = frozenset({"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"})
RESP_SCHEMES = frozenset({"falkordb"})
DEFAULT_GRAPH = "lineagegraph"


class Runner(Protocol):
    """Runs one query inside a unit of work and returns every row."""

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...


class Connector(Protocol):
    """A server the store talks to (see the module docstring)."""

    dialect: Dialect
    #: where the server is, for messages (never holds a password)
    target: str

    def read(self, work: Callable[[Runner], T]) -> T:
        """Run ``work`` as a read."""
        ...

    def write(self, work: Callable[[Runner], T]) -> T:
        """Run ``work`` as a write; with transactions, all of it commits or none does."""
        ...

    def ensure_unique(self, index: Index) -> bool:
        """Create a unique constraint the dialect has no Cypher DDL for; False if impossible."""
        ...

    def ping(self) -> None:
        """Raise ``BackendUnavailable`` unless the server answers a query now."""
        ...

    def check_version(self) -> None:
        """Raise ``BackendUnavailable`` for a server older than the supported versions."""
        ...

    def close(self) -> None: ...


def _no_credentials(user: str | None, password: str | None) -> None:
    # A URI is printed in logs and readiness reports: secrets go in settings instead.
    if user or password:
        raise InvalidInput(
            "put the user and password in LINEAGEGRAPH_STORE_USER / LINEAGEGRAPH_STORE_PASSWORD, "
            "not in the store URI",
            path="store_uri",
        )


def retryable(exc: BaseException) -> bool:
    """True for errors after which trying the same work again may succeed."""
    return isinstance(exc, BackendUnavailable) and bool(exc.details.get("retryable"))


def unavailable(message: str, *, retryable: bool = True) -> BackendUnavailable:
    return BackendUnavailable(message, path="store_uri", retryable=retryable)


# ---- Bolt (neo4j driver) -----------------------------------------------------------


def translate_neo4j(exc: Exception, target: str) -> LineageGraphError:
    """The one translation of ``neo4j`` driver errors (see the module docstring)."""
    from neo4j import exceptions as ne

    if isinstance(exc, ne.AuthError):
        return unavailable(f"graph server {target} refused the credentials", retryable=False)
    if isinstance(exc, ne.ConstraintError):
        return Conflict(f"graph server {target}: {exc}")
    if isinstance(exc, ne.TransientError | ne.ServiceUnavailable | ne.SessionExpired):
        return unavailable(f"graph server {target} unavailable: {exc}")
    if isinstance(exc, ne.ConfigurationError):
        return InvalidInput(f"bad configuration for {target}: {exc}", path="store_uri")
    if isinstance(exc, ne.Neo4jError):
        return LineageGraphError(f"graph server {target} refused a query: {exc}")
    if isinstance(exc, ne.DriverError | OSError):
        return unavailable(f"graph server {target} connection failed: {exc}")
    return LineageGraphError(f"graph server {target}: {type(exc).__name__}: {exc}")


class _BoltRunner:
    def __init__(self, tx: Any) -> None:
        self._tx = tx

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        result = self._tx.run(query, dict(params or {}))
        # Records arrive in batches (fetch_size) while we iterate.
        return [list(record.values()) for record in result]


class BoltConnector:
    """The ``neo4j`` driver (see the module docstring).

    Options: ``user`` and ``password`` (none: no authentication), ``database``
    (also ``?database=`` in the URI; default: the server's default database),
    ``dialect`` (also ``?dialect=``; ``neo4j`` by default, ``falkordb`` for
    FalkorDB's Bolt port), ``timeout`` in seconds for connecting and for each
    transaction.
    """

    def __init__(
        self,
        uri: str,
        *,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        dialect: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        import neo4j

        parts = urlsplit(uri)
        _no_credentials(parts.username, parts.password)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"database", "dialect"}
        if unknown:
            raise InvalidInput(
                f"unknown option(s) in the store URI: {', '.join(sorted(unknown))} "
                "(known: database, dialect)",
                path="store_uri",
            )
        self.dialect = dialect_named(dialect or query.get("dialect") or NEO4J.name)
        self.database = database or query.get("database") or None
        address = parts._replace(query="", fragment="", path="").geturl()
        self.target = address + (f"?database={self.database}" if self.database else "")
        self.timeout = timeout
        # Every session of this connector waits for the writes of the ones before it
        # (causal consistency: a read on a cluster follower sees our last apply).
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        try:
            self._driver = neo4j.GraphDatabase.driver(
                address,
                auth=(user, password or "") if user else None,
                connection_timeout=timeout,
                connection_acquisition_timeout=timeout,
            )
        except Exception as exc:
            raise translate_neo4j(exc, self.target) from exc

    @contextmanager
    def _errors(self) -> Iterator[None]:
        from neo4j.exceptions import DriverError, Neo4jError

        try:
            yield
        except (Neo4jError, DriverError, OSError) as exc:  # the driver's; others pass through
            raise translate_neo4j(exc, self.target) from exc

    def _work(self, work: Callable[[Runner], T], *, write: bool) -> T:
        import neo4j

        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        with (
            self._errors(),
            self._driver.session(
                database=self.database, default_access_mode=mode, bookmark_manager=self._bookmarks
            ) as session,
        ):
            tx = session.begin_transaction(timeout=self.timeout)
            try:
                out = work(_BoltRunner(tx))
                if write:
                    tx.commit()
                return out
            finally:
                if not tx.closed():
                    tx.rollback()

    def read(self, work: Callable[[Runner], T]) -> T:
        return self._work(work, write=False)

    def write(self, work: Callable[[Runner], T]) -> T:
        return self._work(work, write=True)

    def ensure_unique(self, index: Index) -> bool:
        return False  # Bolt speaks Cypher only: a dialect without constraint DDL has none

    def ping(self) -> None:
        with self._errors(), self._driver.session(database=self.database) as session:
            session.run("RETURN 1").consume()

    def check_version(self) -> None:
        """Neo4j 5 or newer (calendar versions such as 2025.01 included).

        FalkorDB's Bolt port calls itself Neo4j 5.13 and has no ``dbms``
        procedures, so with the ``falkordb`` dialect there is nothing to ask.
        """
        if self.dialect is not NEO4J:
            return
        rows = self.read(
            lambda r: r.run("CALL dbms.components() YIELD name, versions RETURN name, versions")
        )
        for name, versions in rows:
            major = _major(versions[0] if versions else "")
            if name.startswith("Neo4j") and major < 5:
                raise unavailable(
                    f"graph server {self.target} runs {name} {versions[0]}: "
                    "lineagegraph needs Neo4j 5 or newer",
                    retryable=False,
                )

    def close(self) -> None:
        with self._errors():
            self._driver.close()


# ---- RESP (falkordb client) -----------------------------------------------------------


def translate_redis(exc: Exception, target: str) -> LineageGraphError:
    """The one translation of ``falkordb``/``redis`` client errors."""
    import redis.exceptions as re
    from falkordb.exceptions import SchemaVersionMismatchException

    if isinstance(exc, re.AuthenticationError | re.AuthorizationError):
        return unavailable(f"graph server {target} refused the credentials", retryable=False)
    if isinstance(exc, re.ConnectionError | re.TimeoutError | SchemaVersionMismatchException):
        return unavailable(f"graph server {target} unavailable: {exc}")
    if isinstance(exc, re.ResponseError):
        message = str(exc)
        if "constraint violation" in message:
            return Conflict(f"graph server {target}: {message}")
        if message.startswith(("LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN")):
            return unavailable(f"graph server {target} busy: {message}")
        return LineageGraphError(f"graph server {target} refused a query: {message}")
    if isinstance(exc, re.RedisError | OSError):
        return unavailable(f"graph server {target} connection failed: {exc}")
    return LineageGraphError(f"graph server {target}: {type(exc).__name__}: {exc}")


class _RespRunner:
    def __init__(self, graph: Any, *, read_only: bool) -> None:
        self._graph = graph
        self._read_only = read_only

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        import redis

        run = self._graph.ro_query if self._read_only else self._graph.query
        try:
            result = run(query, dict(params) if params else None)
        except redis.ResponseError as exc:
            # A graph is created by its first write; until then reading it is an error.
            if self._read_only and "empty key" in str(exc):
                return []
            raise
        return [list(row) for row in result.result_set]


class RespConnector:
    """The ``falkordb`` client (see the module docstring).

    ``falkordb://host:port/graph`` (graph default:
    ``lineagegraph``). Options: ``user``, ``password``, ``timeout`` (seconds,
    for connecting and for each reply). The client connects on first use, so
    a store opens while the server is down and serves once it is back.
    """

    def __init__(
        self,
        uri: str,
        *,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(uri)
        if parts.scheme.lower() not in RESP_SCHEMES:
            raise InvalidInput(f"not a FalkorDB URI: {parts.scheme}://...", path="store_uri")
        if parts.query:
            raise InvalidInput("a falkordb:// URI takes no query options", path="store_uri")
        try:
            port = parts.port or 6379
        except ValueError:
            raise InvalidInput(
                "the port of the store URI is not a number", path="store_uri"
            ) from None
        self.host = parts.hostname or "localhost"
        self.port = port
        self.graph_name = unquote(parts.path.strip("/")) or DEFAULT_GRAPH
        if "/" in self.graph_name:
            raise InvalidInput(
                f"a FalkorDB graph name is one path segment, got {self.graph_name!r}",
                path="store_uri",
            )
        _no_credentials(parts.username, parts.password)
        self.user = user
        self.password = password
        self.timeout = timeout
        self.dialect = FALKORDB
        self.target = f"falkordb://{self.host}:{self.port}/{self.graph_name}"
        self._lock = threading.Lock()
        self._client: Any = None
        self._graph: Any = None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        from falkordb.exceptions import SchemaVersionMismatchException
        from redis import RedisError

        try:
            yield
        except (RedisError, SchemaVersionMismatchException, OSError) as exc:  # the client's
            raise translate_redis(exc, self.target) from exc

    def _connect(self) -> Any:
        with self._lock:
            if self._graph is None:
                from falkordb import FalkorDB

                # The constructor asks the server whether it is a cluster or a sentinel.
                self._client = FalkorDB(
                    host=self.host,
                    port=self.port,
                    username=self.user,
                    password=self.password,
                    socket_timeout=self.timeout,
                    socket_connect_timeout=min(self.timeout, 5.0),
                )
                self._graph = self._client.select_graph(self.graph_name)
            return self._graph

    def read(self, work: Callable[[Runner], T]) -> T:
        with self._errors():
            return work(_RespRunner(self._connect(), read_only=True))

    def write(self, work: Callable[[Runner], T]) -> T:
        with self._errors():
            return work(_RespRunner(self._connect(), read_only=False))

    def ensure_unique(self, index: Index) -> bool:
        """``GRAPH.CONSTRAINT CREATE`` (needs the property's index, created first)."""
        with self._errors():
            self._connect()
            try:
                self._client.execute_command(
                    "GRAPH.CONSTRAINT", "CREATE", self.graph_name, "UNIQUE", "NODE",
                    index.label, "PROPERTIES", "1", index.prop,
                )  # fmt: skip
            except Exception as exc:
                if "already exists" not in str(exc):
                    raise
        return True

    def ping(self) -> None:
        self.read(lambda r: r.run("RETURN 1"))

    def module_version(self) -> int:
        """FalkorDB's version as one number, e.g. 41603 for 4.16.3 (0: not loaded)."""
        with self._errors():
            self._connect()
            for module in self._client.connection.module_list():
                if module.get("name") == "graph":
                    return int(module.get("ver", 0))
        return 0

    def check_version(self) -> None:
        """FalkorDB 4 or newer."""
        version = self.module_version()
        if version < 40000:
            found = f"{version // 10000}.{version // 100 % 100}.{version % 100}"
            raise unavailable(
                f"graph server {self.target} runs FalkorDB {found if version else '(none)'}: "
                "lineagegraph needs FalkorDB 4 or newer",
                retryable=False,
            )

    def drop_graph(self) -> None:
        """Delete this store's graph with everything in it (tests, ``replay --force``)."""
        with self._errors():
            try:
                self._connect().delete()
            except Exception as exc:
                if "empty key" not in str(exc):
                    raise

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.connection.close()
                except Exception as exc:  # closing a dead connection is not an error
                    log.debug("closing %s: %s", self.target, exc)
                self._client = self._graph = None


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def open_connector(uri: str, **options: Any) -> BoltConnector | RespConnector:
    """The connector for a URI's scheme (see the module docstring for the options)."""
    scheme = urlsplit(uri).scheme.lower()
    if scheme in BOLT_SCHEMES:
        return BoltConnector(uri, **options)
    if scheme in RESP_SCHEMES:
        if "dialect" in options or "database" in options:
            raise InvalidInput("falkordb:// takes no dialect or database option", path="store_uri")
        return RespConnector(uri, **options)
    raise InvalidInput(
        f"no Cypher connector for scheme {scheme!r} "
        f"(known: {', '.join(sorted(BOLT_SCHEMES | RESP_SCHEMES))})",
        path="store_uri",
    )
