"""MLflow dataset sources in OpenLineage naming: the MLflow side of identity resolution.

An MLflow dataset (``mlflow.log_input``) names where its data came from by a
*source*: a ``source_type`` and a JSON document. :func:`source_to_openlineage`
turns every kind into the (namespace, name) an OpenLineage producer reports
for the same data, so the two meet in one Dataset node:

========================  ==================================  ===============================
source_type               source document                     OpenLineage (namespace, name)
========================  ==================================  ===============================
local, s3, gs, http(s),   ``{"uri": "s3://bucket/key"}``      :func:`~lineagegraph.ingest.
hdfs, dbfs, wasbs, ...                                          identity.from_uri` of the URI
delta_table               ``{"path": ...}``                   ``from_uri(path)``
delta_table               ``{"delta_table_name": "db.t"}``    (``table_namespace``, ``db.t``)
spark                     ``{"path"|"table_name": ...}``      as for delta_table
uc_volume                 ``{"path": "/Volumes/..."}``        (``dbfs``, path)
hugging_face              ``{"path": "org/data", ...}``       (``huggingface``, ``org/data``)
code, sql, anything else  --                                  (MLflow namespace, dataset name)
========================  ==================================  ===============================

Bare table names carry no location, so their namespace comes from the
``table_namespace`` setting (the metastore the OpenLineage producers report,
e.g. ``hive://metastore:9083``); without it they land in namespace ``table``.
A dataset with no usable source is named inside the MLflow namespace by its
MLflow name (or, for the unnamed default ``dataset``, by its digest). After
this translation the :class:`~lineagegraph.ingest.identity.IdentityResolver`
applies the user's alias rules, exactly as it does for OpenLineage names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from lineagegraph.errors import InvalidInput
from lineagegraph.ingest.identity import AliasRule, IdentityResolver, from_uri

#: The namespace of bare table names when no ``table_namespace`` is configured.
DEFAULT_TABLE_NAMESPACE = "table"
#: The namespace of Hugging Face Hub datasets (the OpenLineage spec names none).
HUGGINGFACE_NAMESPACE = "huggingface"
#: MLflow's name for a dataset the user did not name.
UNNAMED = "dataset"
#: Dataset contexts (input tag ``mlflow.data.context``) that mean the data was not trained on.
NON_TRAINING_CONTEXTS = frozenset(
    {"evaluation", "eval", "validation", "valid", "val", "test", "testing", "holdout", "inference"}
)


def is_training(context: str | None) -> bool:
    """A dataset logged with no context, or with a training one, is training data."""
    return context is None or context.strip().lower() not in NON_TRAINING_CONTEXTS


def parse_source(source: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The source document of an MLflow dataset (MLflow stores it as a JSON string)."""
    if source is None or source == "":
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    try:
        doc = orjson.loads(source)
    except orjson.JSONDecodeError:
        # some sources are a bare URI rather than a JSON document
        return {"uri": source}
    return dict(doc) if isinstance(doc, dict) else {"uri": str(doc)}


def source_to_openlineage(
    source_type: str,
    source: str | Mapping[str, Any] | None,
    *,
    dataset_name: str,
    digest: str,
    namespace: str,
    table_namespace: str = "",
) -> tuple[str, str]:
    """The OpenLineage (namespace, name) of an MLflow dataset (see the module table).

    ``namespace`` is the MLflow harvest namespace, used for datasets that have
    no location of their own.
    """
    doc = parse_source(source)
    kind = (source_type or "").lower()
    tables = table_namespace or DEFAULT_TABLE_NAMESPACE
    try:
        if kind == "hugging_face" and doc.get("path"):
            return HUGGINGFACE_NAMESPACE, str(doc["path"])
        if kind == "uc_volume" and doc.get("path"):
            return "dbfs", str(doc["path"])
        for table_key in ("delta_table_name", "table_name"):
            if doc.get(table_key):
                return tables, str(doc[table_key]).strip()
        for uri_key in ("uri", "path", "url"):
            if doc.get(uri_key):
                return from_uri(str(doc[uri_key]))
    except InvalidInput:
        pass  # a source we cannot read as a location: name it inside MLflow below
    return namespace, _fallback_name(dataset_name, digest)


def _fallback_name(dataset_name: str, digest: str) -> str:
    name = (dataset_name or "").strip()
    if name and name != UNNAMED:
        return name
    return f"{UNNAMED}-{digest}" if digest else UNNAMED


def resolve_dataset(
    source_type: str,
    source: str | Mapping[str, Any] | None,
    *,
    dataset_name: str,
    digest: str,
    namespace: str,
    table_namespace: str = "",
    aliases: Sequence[AliasRule] = (),
) -> tuple[str, str]:
    """The canonical (namespace, name) of an MLflow dataset: translation, then alias rules."""
    ns, name = source_to_openlineage(
        source_type,
        source,
        dataset_name=dataset_name,
        digest=digest,
        namespace=namespace,
        table_namespace=table_namespace,
    )
    return IdentityResolver(tuple(aliases)).resolve(ns, name)
