"""Demo data: a small, realistic model lifecycle, ingested through the normal paths.

Two source systems feed a churn model: an Airflow DAG extracts shop tables into
a warehouse, dbt builds staging and feature tables (with column lineage), an
MLflow-style training job trains two versions of ``churn-classifier``, version 2
is promoted to production, and a nightly scoring job uses it. Everything goes
through the event log like real input: OpenLineage events for the pipelines,
ChangeSets (as the API's mutations write them) for the MLflow side. Times are
fixed, so running the demo twice changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from lineagegraph.graph.changeset import ChangeSet, Provenance, changeset_to_json
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.runtime import Services

PRODUCER = "https://github.com/lineagegraph/lineagegraph/demo"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
BASE = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
SHOP = "postgres://orders-db:5432"
WH = "postgres://warehouse:5432"

_NS = uuid.UUID("6f1f7c3e-2b7a-4c55-9a43-6d3f0b2a9e10")


def _facet(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": f"{SPEC}#/$defs/{name}", **body}


def _schema(*cols: tuple[str, str]) -> dict[str, Any]:
    return _facet("SchemaDatasetFacet", {"fields": [{"name": c, "type": t} for c, t in cols]})


def _dataset(ns: str, name: str, cols: list[tuple[str, str]], **facets: Any) -> dict[str, Any]:
    return {"namespace": ns, "name": name, "facets": {"schema": _schema(*cols), **facets}}


def _column_lineage(mapping: dict[str, list[tuple[str, str, str, str]]]) -> dict[str, Any]:
    """output column -> [(input namespace, input name, input field, transformation type)]"""
    fields = {
        out: {
            "inputFields": [
                {
                    "namespace": ns,
                    "name": name,
                    "field": f,
                    "transformations": [
                        {"type": t, "subtype": "IDENTITY" if t == "DIRECT" else "AGGREGATION"}
                    ],
                }
                for ns, name, f, t in ins
            ]
        }
        for out, ins in mapping.items()
    }
    return _facet("ColumnLineageDatasetFacet", {"fields": fields})


def _run_events(
    job_ns: str,
    job: str,
    day: int,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    *,
    state: str = "COMPLETE",
    parent: tuple[str, str, str] | None = None,
    error: str | None = None,
    job_facets: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    run_id = str(uuid.uuid5(_NS, f"{job_ns}/{job}/{day}"))
    start = BASE + timedelta(days=day)
    run_facets: dict[str, Any] = {
        "nominalTime": _facet("NominalTimeRunFacet", {"nominalStartTime": start.isoformat()})
    }
    if parent:
        run_facets["parent"] = _facet(
            "ParentRunFacet",
            {"run": {"runId": parent[2]}, "job": {"namespace": parent[0], "name": parent[1]}},
        )
    if error:
        run_facets["errorMessage"] = _facet(
            "ErrorMessageRunFacet", {"message": error, "programmingLanguage": "python"}
        )
    job_doc = {"namespace": job_ns, "name": job, "facets": job_facets or {}}
    common = {"producer": PRODUCER, "schemaURL": f"{SPEC}#/$defs/RunEvent", "job": job_doc}
    return [
        {
            **common,
            "eventType": "START",
            "eventTime": start.isoformat(),
            "run": {"runId": run_id, "facets": run_facets},
            "inputs": inputs,
            "outputs": [],
        },
        {
            **common,
            "eventType": state,
            "eventTime": (start + timedelta(minutes=7)).isoformat(),
            "run": {"runId": run_id, "facets": run_facets},
            "inputs": inputs,
            "outputs": outputs,
        },
    ]


def openlineage_events() -> list[dict[str, Any]]:
    """The pipeline side: Airflow extracts, dbt models, nightly scoring."""
    orders_cols = [
        ("order_id", "bigint"),
        ("customer_id", "bigint"),
        ("amount", "numeric"),
        ("ordered_at", "timestamp"),
    ]
    cust_cols = [
        ("customer_id", "bigint"),
        ("email", "text"),
        ("country", "text"),
        ("signed_up_at", "timestamp"),
    ]
    owners = _facet("OwnershipDatasetFacet", {"owners": [{"name": "team:data-platform"}]})
    feat_owners = _facet("OwnershipDatasetFacet", {"owners": [{"name": "team:ml-churn"}]})
    airflow = _facet(
        "JobTypeJobFacet", {"processingType": "BATCH", "integration": "AIRFLOW", "jobType": "TASK"}
    )
    dbt = _facet(
        "JobTypeJobFacet", {"processingType": "BATCH", "integration": "DBT", "jobType": "MODEL"}
    )
    events: list[dict[str, Any]] = []
    for day in range(3):
        dag_run = str(uuid.uuid5(_NS, f"shop_daily/{day}"))
        parent = ("airflow-prod", "shop_daily", dag_run)
        events += _run_events(
            "airflow-prod",
            "shop_daily.extract_orders",
            day,
            [_dataset(SHOP, "shop.public.orders", orders_cols)],
            [_dataset(WH, "analytics.raw.orders", orders_cols, ownership=owners)],
            parent=parent,
            job_facets={"jobType": airflow},
        )
        failed = day == 1
        events += _run_events(
            "airflow-prod",
            "shop_daily.extract_customers",
            day,
            [_dataset(SHOP, "shop.public.customers", cust_cols)],
            []
            if failed
            else [_dataset(WH, "analytics.raw.customers", cust_cols, ownership=owners)],
            state="FAIL" if failed else "COMPLETE",
            parent=parent,
            job_facets={"jobType": airflow},
            error="psycopg.OperationalError: connection to orders-db timed out" if failed else None,
        )
        stg_cols = [
            ("order_id", "bigint"),
            ("customer_id", "bigint"),
            ("amount_usd", "numeric"),
            ("order_date", "date"),
        ]
        events += _run_events(
            "dbt-prod",
            "analytics.staging.stg_orders",
            day,
            [_dataset(WH, "analytics.raw.orders", orders_cols)],
            [
                _dataset(
                    WH,
                    "analytics.staging.stg_orders",
                    stg_cols,
                    columnLineage=_column_lineage(
                        {
                            "order_id": [(WH, "analytics.raw.orders", "order_id", "DIRECT")],
                            "customer_id": [(WH, "analytics.raw.orders", "customer_id", "DIRECT")],
                            "amount_usd": [(WH, "analytics.raw.orders", "amount", "DIRECT")],
                            "order_date": [(WH, "analytics.raw.orders", "ordered_at", "DIRECT")],
                        }
                    ),
                )
            ],
            job_facets={"jobType": dbt},
        )
        feat_cols = [
            ("customer_id", "bigint"),
            ("order_count_90d", "int"),
            ("avg_order_value", "numeric"),
            ("days_since_last_order", "int"),
            ("country", "text"),
            ("churned", "boolean"),
        ]
        events += _run_events(
            "dbt-prod",
            "analytics.features.customer_features",
            day,
            [
                _dataset(WH, "analytics.staging.stg_orders", stg_cols),
                _dataset(WH, "analytics.raw.customers", cust_cols),
            ],
            [
                _dataset(
                    WH,
                    "analytics.features.customer_features",
                    feat_cols,
                    ownership=feat_owners,
                    columnLineage=_column_lineage(
                        {
                            "customer_id": [
                                (WH, "analytics.raw.customers", "customer_id", "DIRECT")
                            ],
                            "order_count_90d": [
                                (WH, "analytics.staging.stg_orders", "order_id", "INDIRECT")
                            ],
                            "avg_order_value": [
                                (WH, "analytics.staging.stg_orders", "amount_usd", "INDIRECT")
                            ],
                            "days_since_last_order": [
                                (WH, "analytics.staging.stg_orders", "order_date", "INDIRECT")
                            ],
                            "country": [(WH, "analytics.raw.customers", "country", "DIRECT")],
                            "churned": [
                                (WH, "analytics.staging.stg_orders", "order_date", "INDIRECT")
                            ],
                        }
                    ),
                )
            ],
            job_facets={"jobType": dbt},
        )
    events += _run_events(
        "airflow-prod",
        "churn_scoring.score_customers",
        2,
        [_dataset(WH, "analytics.features.customer_features", [("customer_id", "bigint")])],
        [
            _dataset(
                WH,
                "analytics.marts.churn_scores",
                [("customer_id", "bigint"), ("churn_probability", "double")],
            )
        ],
        job_facets={"jobType": airflow},
    )
    return events


def model_changesets() -> list[ChangeSet]:
    """The MLflow side: training runs, two model versions, features, evaluation, deployment."""
    prov = Provenance("demo", "churn-model")
    feats = NodeKey.dataset_key(WH, "analytics.features.customer_features")
    holdout = NodeKey.dataset_key(WH, "analytics.features.customer_features_holdout")
    model = NodeKey.model_key("mlflow", "churn-classifier")
    job = NodeKey.job("mlflow", "churn-training")
    exp = NodeKey.experiment("mlflow", "1")
    prod = NodeKey.deployment("production", "https://serving.internal/churn")
    scoring = NodeKey.job("airflow-prod", "churn_scoring.score_customers")
    features = ["order_count_90d", "avg_order_value", "days_since_last_order", "country"]
    out: list[ChangeSet] = []
    cs = ChangeSet()
    t0 = BASE + timedelta(days=1, hours=6)
    cs.node(exp, t0, prov, {"name": "churn", "lifecycle_stage": "active"})
    cs.node(job, t0, prov, {"type": "training", "integration": "MLFLOW"})
    cs.node(model, t0, prov, {"description": "Predicts 90-day churn", "owners": ["team:ml-churn"]})
    cs.node(feats, t0, prov)
    cs.node(holdout, t0, prov, {"owners": ["team:ml-churn"]})
    cs.node(
        prod, t0, prov, {"environment": "production", "endpoint": "https://serving.internal/churn"}
    )
    cs.edge(feats, EdgeKind.CONSUMED, job, t0, prov, {"context": "training"})
    for i, (version, auc) in enumerate([("1", 0.81), ("2", 0.86)]):
        t = t0 + timedelta(days=i)
        run = NodeKey.run(uuid.uuid5(_NS, f"mlflow-run-{version}").hex)
        mv = NodeKey.model_version("mlflow", "churn-classifier", version)
        evaluation = NodeKey.evaluation("mlflow", f"churn-classifier-v{version}-holdout")
        cs.node(
            run,
            t,
            prov,
            {
                "status": "FINISHED",
                "params": {"max_depth": 4 + i},
                "metrics": {"val_auc": auc},
                "start_time": t.isoformat(),
            },
        )
        cs.node(
            mv,
            t,
            prov,
            {
                "status": "READY",
                "source": f"models:/m-{version}",
                "aliases": ["champion"] if version == "2" else [],
            },
        )
        cs.node(evaluation, t, prov, {"metrics": {"roc_auc": auc - 0.01}})
        cs.edge(run, EdgeKind.INSTANCE_OF, job, t, prov)
        cs.edge(run, EdgeKind.IN_EXPERIMENT, exp, t, prov)
        cs.edge(feats, EdgeKind.CONSUMED, run, t, prov, {"context": "training"})
        cs.edge(run, EdgeKind.TRAINED, mv, t, prov)
        cs.edge(job, EdgeKind.TRAINED, mv, t, prov)
        cs.edge(mv, EdgeKind.VERSION_OF, model, t, prov)
        cs.edge(mv, EdgeKind.EVALUATED, evaluation, t, prov)
        cs.edge(holdout, EdgeKind.EVALUATED, evaluation, t, prov)
        for name in features:
            feature = NodeKey.feature("mlflow/churn-classifier", name)
            cs.node(feature, t, prov)
            cs.node(NodeKey.field(WH, "analytics.features.customer_features", name), t, prov)
            cs.edge(
                NodeKey.field(WH, "analytics.features.customer_features", name),
                EdgeKind.FEEDS,
                feature,
                t,
                prov,
            )
            cs.edge(feature, EdgeKind.INPUT_TO, mv, t, prov)
        cs.edge(mv, EdgeKind.SERVES, prod, t, prov, {"alias": "champion", "traffic": 1.0})
    # version 2 replaced version 1 in production a day later
    cs.edge_tombstones.append(
        _end_serving(
            NodeKey.model_version("mlflow", "churn-classifier", "1"),
            prod,
            t0 + timedelta(days=1),
            prov,
        )
    )
    cs.edge(
        NodeKey.model_version("mlflow", "churn-classifier", "2"),
        EdgeKind.CONSUMED,
        scoring,
        t0 + timedelta(days=1),
        prov,
    )
    out.append(cs)
    return out


def _end_serving(mv: NodeKey, dep: NodeKey, at: datetime, prov: Provenance) -> Any:
    from lineagegraph.graph.changeset import EdgeTombstone

    return EdgeTombstone(mv, EdgeKind.SERVES, dep, at, prov)


def load_demo(services: Services) -> dict[str, int]:
    """Ingest the demo through the event log; returns counts of new and repeated inputs."""
    events = openlineage_events()
    first = services.ingest.submit("openlineage", events)
    second = services.ingest.submit(
        "changeset", [changeset_to_json(cs) for cs in model_changesets()]
    )
    appended = first.appended + second.appended
    services.ingest.wait_for_projection(max(a.seq for a in appended))
    return {
        "inputs": len(appended),
        "new": sum(not a.duplicate for a in appended),
        "repeated": sum(a.duplicate for a in appended),
    }
