"""A small model lifecycle built as a ChangeSet, shared by the lineage and impact tests.

src.orders ─► [extract run r1 / job J1] ─► raw.orders ─► [dbt run r2 / job J2] ─► stg.orders
stg.orders ─► [train run r3 / job J3] ─► model m@1 ─► deployment prod
raw.orders.amount ─► stg.orders.amount_usd ─► feature amount ─► m@1
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lineagegraph.graph.changeset import ChangeSet, Provenance
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind

T0 = datetime(2026, 3, 1, tzinfo=UTC)
P = Provenance("test", "fixture")

SRC = NodeKey.dataset_key("postgres://shop:5432", "shop.public.orders")
RAW = NodeKey.dataset_key("postgres://wh:5432", "raw.orders")
STG = NodeKey.dataset_key("postgres://wh:5432", "stg.orders")
J1, J2, J3 = (NodeKey.job("airflow", n) for n in ("extract", "dbt_stg", "train"))
R1, R2, R3 = (NodeKey.run(n) for n in ("r1", "r2", "r3"))
MV = NodeKey.model_version("mlflow", "m", "1")
MODEL = NodeKey.model_key("mlflow", "m")
PROD = NodeKey.deployment("production", "https://serve/m")
RAW_AMOUNT = NodeKey.field("postgres://wh:5432", "raw.orders", "amount")
RAW_ID = NodeKey.field("postgres://wh:5432", "raw.orders", "id")
STG_AMOUNT = NodeKey.field("postgres://wh:5432", "stg.orders", "amount_usd")
FEATURE = NodeKey.feature("mlflow/m", "amount")


def build() -> ChangeSet:
    cs = ChangeSet()
    t = T0
    for key in (SRC, RAW, STG, J1, J2, J3, R1, R2, R3, MODEL, PROD, RAW_ID, FEATURE):
        cs.node(key, t, P)
    cs.node(RAW, t, P, {"owners": [{"name": "team:platform"}]})
    cs.node(STG, t, P, {"owners": ["team:analytics"]})
    cs.node(MV, t, P, {"owners": ["team:ml"]})
    cs.node(RAW_AMOUNT, t, P)
    cs.node(STG_AMOUNT, t, P)
    for run, job, src, dst in ((R1, J1, SRC, RAW), (R2, J2, RAW, STG)):
        cs.edge(run, EdgeKind.INSTANCE_OF, job, t, P)
        cs.edge(src, EdgeKind.CONSUMED, run, t, P)
        cs.edge(run, EdgeKind.PRODUCED, dst, t, P)
        cs.edge(src, EdgeKind.CONSUMED, job, t, P)
        cs.edge(job, EdgeKind.PRODUCED, dst, t, P)
    cs.edge(R3, EdgeKind.INSTANCE_OF, J3, t, P)
    cs.edge(STG, EdgeKind.CONSUMED, R3, t, P)
    cs.edge(STG, EdgeKind.CONSUMED, J3, t, P)
    cs.edge(R3, EdgeKind.TRAINED, MV, t, P)
    cs.edge(J3, EdgeKind.TRAINED, MV, t, P)
    cs.edge(MV, EdgeKind.VERSION_OF, MODEL, t, P)
    cs.edge(MV, EdgeKind.SERVES, PROD, t + timedelta(days=2), P)
    cs.edge(RAW, EdgeKind.HAS_FIELD, RAW_AMOUNT, t, P)
    cs.edge(RAW, EdgeKind.HAS_FIELD, RAW_ID, t, P)
    cs.edge(STG, EdgeKind.HAS_FIELD, STG_AMOUNT, t, P)
    cs.edge(RAW_AMOUNT, EdgeKind.DERIVES, STG_AMOUNT, t, P, {"transformations": ["DIRECT"]})
    cs.edge(STG_AMOUNT, EdgeKind.FEEDS, FEATURE, t, P)
    cs.edge(FEATURE, EdgeKind.INPUT_TO, MV, t, P)
    return cs
