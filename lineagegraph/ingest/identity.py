"""Identity resolution: the same dataset, however a source names it, becomes one node.

OpenLineage producers name datasets by (namespace, name) following the
OpenLineage naming spec (``postgres://host:5432`` + ``db.schema.table``,
``s3://bucket`` + ``path/to/obj``, ``file`` + ``/abs/path``, ...). MLflow
names them by a dataset *source* (a URI, a Delta table, a Spark table, an HTTP
URL, a Hugging Face dataset). This module turns every such name into the one
canonical (namespace, name) pair, in three steps:

1. a source-specific translation into OpenLineage naming (:func:`from_uri`,
   and the MLflow source mapping in ``lineagegraph.ingest.mlflow``);
2. OpenLineage ``symlinks``: a dataset that declares a TABLE symlink is named
   by that table (:func:`prefer_symlink`), so a Spark job that reads the files
   and a dbt model that reads the table meet in one node;
3. user alias rules (:class:`AliasRule`), applied last, for what the first
   two cannot know (a warehouse path that *is* a metastore table, two host
   names of one database).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from lineagegraph.errors import InvalidInput


class AliasRule(BaseModel):
    """Rewrite a dataset name: when both patterns match, the templates give the new name.

    Patterns are Python regular expressions matched against the whole
    namespace and name; templates use their named groups, for example::

        {"namespace": "hdfs://nn:8020", "name": "/warehouse/(?P<db>[^/]+)\\.db/(?P<table>[^/]+)",
         "to_namespace": "hive://metastore:9083", "to_name": "{db}.{table}"}
    """

    namespace: str = Field(description="regex for the namespace (whole match)")
    name: str = Field(default=".*", description="regex for the name (whole match)")
    to_namespace: str = Field(description="template for the new namespace")
    to_name: str = Field(default="{name}", description="template for the new name")

    @cached_property
    def _ns_re(self) -> re.Pattern[str]:
        return re.compile(self.namespace)

    @cached_property
    def _name_re(self) -> re.Pattern[str]:
        return re.compile(self.name)

    def apply(self, namespace: str, name: str) -> tuple[str, str] | None:
        m_ns = self._ns_re.fullmatch(namespace)
        if not m_ns:
            return None
        m_name = self._name_re.fullmatch(name)
        if not m_name:
            return None
        groups: dict[str, Any] = {"namespace": namespace, "name": name}
        groups.update({k: v for k, v in m_ns.groupdict().items() if v is not None})
        groups.update({k: v for k, v in m_name.groupdict().items() if v is not None})
        try:
            return self.to_namespace.format(**groups), self.to_name.format(**groups)
        except (KeyError, IndexError) as exc:
            raise InvalidInput(
                f"alias rule template names a group its patterns do not have: {exc}",
                path="dataset_aliases",
            ) from None


@dataclass(frozen=True)
class IdentityResolver:
    """Applies symlink preference and alias rules to dataset names."""

    rules: Sequence[AliasRule] = ()

    def resolve(self, namespace: str, name: str) -> tuple[str, str]:
        """The canonical (namespace, name) of a dataset; the first matching rule wins."""
        namespace, name = normalize(namespace, name)
        for rule in self.rules:
            hit = rule.apply(namespace, name)
            if hit is not None:
                return normalize(*hit)
        return namespace, name

    def resolve_with_symlinks(
        self, namespace: str, name: str, symlinks: Iterable[Mapping[str, Any]] = ()
    ) -> tuple[str, str]:
        """Like :meth:`resolve`, but a TABLE symlink names the dataset when there is one."""
        ns, nm = prefer_symlink(namespace, name, symlinks)
        return self.resolve(ns, nm)


def normalize(namespace: str, name: str) -> tuple[str, str]:
    """Small spellings that mean the same dataset, made one.

    The scheme and host of a URI namespace are case-insensitive, and a
    trailing slash on the namespace means nothing. Ports stay as given: the
    OpenLineage naming spec includes them (``postgres://host:5432``).
    """
    ns = namespace.strip()
    if "://" in ns:
        scheme, _, rest = ns.partition("://")
        authority, slash, path = rest.partition("/")
        userinfo, at, hostport = authority.rpartition("@")
        if hostport.startswith("["):  # IPv6 literal: [addr]:port
            host, close, port = hostport.partition("]")
            hostport = host.lower() + close + port
        else:
            host, colon, port = hostport.partition(":")
            hostport = host.lower() + colon + port
        ns = f"{scheme.lower()}://{userinfo}{at}{hostport}{slash}{path}".rstrip("/")
    return ns, name.strip()


def prefer_symlink(
    namespace: str, name: str, symlinks: Iterable[Mapping[str, Any]] = ()
) -> tuple[str, str]:
    """The name of the first TABLE symlink, else the dataset's own name."""
    for link in symlinks:
        if (
            str(link.get("type", "")).upper() == "TABLE"
            and link.get("namespace")
            and link.get("name")
        ):
            return str(link["namespace"]), str(link["name"])
    return namespace, name


def from_uri(uri: str) -> tuple[str, str]:
    """A storage URI in OpenLineage naming: ``s3://b/k`` -> (``s3://b``, ``k``).

    Local paths and ``file:`` URIs become namespace ``file`` with the absolute
    path as name; ``http(s)`` URLs keep scheme and host as namespace and the
    path (with query) as name; a URI without an authority (``dbfs:/mnt/x``)
    has its scheme as namespace and its path as name.
    """
    text = uri.strip()
    if not text:
        raise InvalidInput("a dataset URI is empty", path="source")
    if text.startswith("/"):
        return "file", text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidInput(
            f"a dataset URI needs a scheme or an absolute path: {uri!r}", path="source"
        )
    if scheme == "file":
        return "file", parts.path or "/"
    if not parts.netloc and scheme not in ("http", "https"):
        # no authority (``dbfs:/mnt/x``): the scheme alone is the namespace, as the
        # OpenLineage naming spec has it for DBFS
        return scheme, parts.path or "/"
    if scheme in ("http", "https"):
        name = parts.path or "/"
        if parts.query:
            name = f"{name}?{parts.query}"
        return normalize(f"{scheme}://{parts.netloc}", name)
    # object stores and file systems: bucket or authority is the namespace, the key the name
    buckets = ("s3", "s3a", "s3n", "gs", "gcs", "wasbs", "abfss")
    name = parts.path.lstrip("/") if scheme in buckets else parts.path
    if scheme in ("s3a", "s3n"):
        scheme = "s3"
    if scheme == "gcs":
        scheme = "gs"
    return normalize(f"{scheme}://{parts.netloc}", name)
