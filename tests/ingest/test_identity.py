"""Identity resolution: the same data, named by OpenLineage and by MLflow, is one node.

Each case names one dataset twice: as an OpenLineage producer reports it
(namespace, name, maybe symlinks) and as an MLflow run logs it (a dataset
source, built with MLflow's own source classes where they run without Spark
or Databricks). Both sides must resolve to the same canonical name.
"""

from __future__ import annotations

from typing import Any

import pytest
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource
from mlflow.data.spark_dataset_source import SparkDatasetSource

from lineagegraph.errors import InvalidInput
from lineagegraph.ingest.identity import (
    AliasRule,
    IdentityResolver,
    from_uri,
    normalize,
    prefer_symlink,
)
from lineagegraph.ingest.mlflow.sources import (
    DEFAULT_TABLE_NAMESPACE,
    is_training,
    parse_source,
    resolve_dataset,
    source_to_openlineage,
)

METASTORE = "hive://metastore:9083"


def _uri_source(uri: str) -> tuple[str, str]:
    """(source_type, source JSON) as ``mlflow.data.from_pandas(df, source=uri)`` logs them."""
    source = resolve_dataset_source(uri)
    return source._get_source_type(), source.to_json()


def mlflow_side(source_type: str, source: Any, **kw: Any) -> tuple[str, str]:
    defaults: dict[str, Any] = {
        "dataset_name": "dataset",
        "digest": "abc123",
        "namespace": "mlflow",
    }
    return resolve_dataset(source_type, source, **{**defaults, **kw})


def openlineage_side(
    namespace: str, name: str, symlinks: Any = (), rules: Any = ()
) -> tuple[str, str]:
    return IdentityResolver(tuple(rules)).resolve_with_symlinks(namespace, name, symlinks)


# ---- one dataset, two producers ---------------------------------------------------------

STORAGE_CASES = [
    # (OpenLineage namespace, name), the URI an MLflow user passes as the dataset source
    (("s3://ml-data", "churn/holdout.parquet"), "s3://ml-data/churn/holdout.parquet"),
    (("gs://lake", "events/2026/11/part-0.parquet"), "gs://lake/events/2026/11/part-0.parquet"),
    (
        ("wasbs://raw@acct.blob.core.windows.net", "clicks/day=1"),
        "wasbs://raw@acct.blob.core.windows.net/clicks/day=1",
    ),
    (
        ("hdfs://namenode:8020", "/warehouse/sales/orders"),
        "hdfs://namenode:8020/warehouse/sales/orders",
    ),
    (("file", "/data/train.csv"), "/data/train.csv"),
    (("file", "/data/train.csv"), "file:///data/train.csv"),
]


@pytest.mark.parametrize(("openlineage", "uri"), STORAGE_CASES)
def test_storage_uris_meet(openlineage: tuple[str, str], uri: str) -> None:
    source_type, source = _uri_source(uri)
    assert mlflow_side(source_type, source) == openlineage_side(*openlineage)


def test_http_sources_meet() -> None:
    url = "https://data.example.com/exports/customers.csv?day=2026-11-01"
    source = HTTPDatasetSource(url)
    assert mlflow_side("http", source.to_json()) == openlineage_side(
        "https://data.example.com", "/exports/customers.csv?day=2026-11-01"
    )


def test_tables_meet_through_the_table_namespace() -> None:
    spark = SparkDatasetSource(table_name="sales.orders").to_json()
    delta = '{"delta_table_name": "sales.orders", "delta_table_version": 3}'
    ol = openlineage_side(METASTORE, "sales.orders")
    assert mlflow_side("spark", spark, table_namespace=METASTORE) == ol
    assert mlflow_side("delta_table", delta, table_namespace=METASTORE) == ol
    # without a configured metastore, bare tables share one namespace of their own
    assert mlflow_side("spark", spark) == (DEFAULT_TABLE_NAMESPACE, "sales.orders")


def test_delta_paths_and_dbfs_meet() -> None:
    assert mlflow_side("delta_table", '{"path": "s3://lake/delta/orders"}') == openlineage_side(
        "s3://lake", "delta/orders"
    )
    # OpenLineage names DBFS locations (namespace "dbfs", the path as name)
    assert mlflow_side("delta_table", '{"path": "dbfs:/mnt/lake/orders"}') == openlineage_side(
        "dbfs", "/mnt/lake/orders"
    )


def test_a_spark_job_reading_files_meets_the_table_through_its_symlink() -> None:
    symlinks = [{"namespace": METASTORE, "name": "sales.orders", "type": "TABLE"}]
    ol = openlineage_side("s3://warehouse", "sales.db/orders", symlinks)
    spark = SparkDatasetSource(table_name="sales.orders").to_json()
    assert (
        mlflow_side("spark", spark, table_namespace=METASTORE) == ol == (METASTORE, "sales.orders")
    )


def test_alias_rules_apply_to_both_sides() -> None:
    rule = AliasRule(
        namespace="hdfs://nn:8020",
        name="/warehouse/(?P<db>[^/]+)\\.db/(?P<table>[^/]+)",
        to_namespace=METASTORE,
        to_name="{db}.{table}",
    )
    ol = openlineage_side("hdfs://nn:8020", "/warehouse/sales.db/orders", rules=[rule])
    source_type, source = _uri_source("hdfs://nn:8020/warehouse/sales.db/orders")
    assert mlflow_side(source_type, source, aliases=[rule]) == ol == (METASTORE, "sales.orders")
    spark = SparkDatasetSource(table_name="sales.orders").to_json()
    assert mlflow_side("spark", spark, table_namespace=METASTORE, aliases=[rule]) == ol


def test_spelling_differences_are_one_dataset() -> None:
    # scheme and host are case-insensitive, a trailing slash on a namespace means nothing
    assert openlineage_side("S3://ML-Data/", "churn/x") == mlflow_side(
        "s3", '{"uri": "s3a://ml-data/churn/x"}'
    )
    assert normalize("POSTGRES://DB.Example.com:5432", " shop.public.orders ") == (
        "postgres://db.example.com:5432",
        "shop.public.orders",
    )
    assert normalize("https://[2001:DB8::1]:8443/", "/x") == ("https://[2001:db8::1]:8443", "/x")


# ---- MLflow-only sources ----------------------------------------------------------------


def test_hugging_face_and_sourceless_datasets() -> None:
    hf = HuggingFaceDatasetSource(path="stanfordnlp/imdb", split="train").to_json()
    assert mlflow_side("hugging_face", hf) == ("huggingface", "stanfordnlp/imdb")
    code = CodeDatasetSource(tags={"notebook": "x"}).to_json()
    assert mlflow_side("code", code, dataset_name="customers") == ("mlflow", "customers")
    # MLflow's default name says nothing: the digest names the data
    assert mlflow_side("code", code) == ("mlflow", "dataset-abc123")
    sql = SparkDatasetSource(sql="select * from t").to_json()
    assert mlflow_side("spark", sql, dataset_name="q") == ("mlflow", "q")


def test_unreadable_sources_fall_back_to_the_mlflow_name() -> None:
    assert parse_source("s3://bucket/key") == {"uri": "s3://bucket/key"}
    assert parse_source(None) == {}
    assert mlflow_side("s3", "s3://bucket/key") == ("s3://bucket", "key")
    assert source_to_openlineage(
        "local", '{"uri": "relative/path.csv"}', dataset_name="rel", digest="d", namespace="ml"
    ) == ("ml", "rel")


def test_training_contexts() -> None:
    assert is_training(None) and is_training("training") and is_training("train")
    assert not any(is_training(c) for c in ("evaluation", "eval", "Validation", "test"))


# ---- the core helpers -------------------------------------------------------------------


def test_from_uri() -> None:
    assert from_uri("s3n://b/k/x") == ("s3://b", "k/x")
    assert from_uri("gcs://b/k") == ("gs://b", "k")
    assert from_uri("dbfs:/mnt/x") == ("dbfs", "/mnt/x")
    assert from_uri("abfss://c@a.dfs.core.windows.net/p/q") == (
        "abfss://c@a.dfs.core.windows.net",
        "p/q",
    )
    for bad in ("", "   ", "relative/path"):
        with pytest.raises(InvalidInput):
            from_uri(bad)


def test_symlinks_and_rules() -> None:
    links = [
        {"namespace": "x", "name": "y", "type": "VIEW"},
        {"namespace": "a", "name": "b", "type": "table"},
    ]
    assert prefer_symlink("ns", "n", links) == ("a", "b")
    assert prefer_symlink("ns", "n", [{"type": "TABLE", "namespace": "a"}]) == ("ns", "n")
    rule = AliasRule(namespace="old://host", to_namespace="new://host")
    assert IdentityResolver([rule]).resolve("OLD://HOST", "t") == ("new://host", "t")
    broken = AliasRule(namespace="x", to_namespace="{nope}")
    with pytest.raises(InvalidInput, match="names a group"):
        IdentityResolver([broken]).resolve("x", "t")
