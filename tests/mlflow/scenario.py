"""A small, real model lifecycle in a real MLflow server: the MLflow tests' story.

Two experiments; runs that train scikit-learn models on small generated data
and log their datasets (a metastore table for training, an S3 holdout for
evaluation); two registered models with several versions; evaluation metrics
tied to the holdout; a parent run with a child; champion and challenger
aliases. :func:`second_act` then changes the registry and the runs the way a
team does: the champion alias moves, a version tag changes, a run is deleted,
a model is renamed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.spark_dataset_source import SparkDatasetSource
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

#: What the OpenLineage side calls the metastore; the harvest's ``table_namespace``.
METASTORE = "hive://metastore:9083"
TRAINING_TABLE = "shop.customers"
HOLDOUT_URI = "s3://ml-data/churn/holdout.parquet"
FRAUD_URI = "s3://ml-data/fraud/train.parquet"
FEATURES = ["age", "income", "tenure"]
CHURN = "churn-classifier"
FRAUD = "fraud-detector"
FRAUD_RENAMED = "fraud-detector-v2"
#: The OpenLineage run of the job that trains churn version 2 (carried as a run tag).
OPENLINEAGE_RUN = str(uuid.UUID("0191e1a2-7c4d-7a10-9e2b-3c4d5e6f7a8b"))


@dataclass
class Story:
    """Ids of what the scenario created, for the tests' assertions."""

    experiments: dict[str, str] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)  # label -> run id
    versions: dict[str, str] = field(default_factory=dict)  # label -> version number
    deleted_run: str = ""


def _data(seed: int, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.normal(50, 15, n),
            "tenure": rng.normal(5, 2, n),
            "region": rng.choice(["north", "south"], n),
        }
    )
    df["label"] = ((df.age / 40 + df.income / 50 - df.tenure / 5) > 1).astype(int)
    return df


def _train(
    name: str,
    model_name: str,
    train: mlflow.data.dataset.Dataset,
    holdout: mlflow.data.dataset.Dataset | None,
    df: pd.DataFrame,
    c: float,
    tags: dict[str, str] | None = None,
    nested: bool = False,
) -> tuple[str, str]:
    """One training run: log inputs, fit, log and register the model, evaluate."""
    with mlflow.start_run(run_name=name, nested=nested, tags=tags or {}) as run:
        mlflow.log_input(train, context="training")
        if holdout is not None:
            mlflow.log_input(holdout, context="evaluation")
        mlflow.log_params({"C": c, "features": ",".join(FEATURES)})
        x, y = df[FEATURES], df["label"]
        model = LogisticRegression(C=c, max_iter=200).fit(x, y)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x, y),
            registered_model_name=model_name,
            pip_requirements=["scikit-learn"],  # skips slow environment inference
        )
        mlflow.log_metric("train_accuracy", float(model.score(x, y)))
        if holdout is not None:
            acc = float(model.score(x.head(40), y.head(40)))
            mlflow.log_metric("accuracy", acc, model_id=info.model_id, dataset=holdout)
        version = str(info.registered_model_version)
    return run.info.run_id, version


def first_act(tracking_uri: str) -> Story:
    """Populate the server: experiments, runs, datasets, models, versions, aliases."""
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    story = Story()
    df = _data(0)
    train = mlflow.data.from_pandas(
        df,
        source=SparkDatasetSource(table_name=TRAINING_TABLE),
        name="customers",
        targets="label",
    )
    holdout = mlflow.data.from_pandas(
        _data(1, 40), source=HOLDOUT_URI, name="holdout", targets="label"
    )
    story.experiments["churn"] = mlflow.set_experiment("churn-training").experiment_id
    for label, c, tags in [
        ("churn-1", 0.1, {}),
        ("churn-2", 1.0, {"openlineage.runId": OPENLINEAGE_RUN}),
    ]:
        story.runs[label], story.versions[label] = _train(label, CHURN, train, holdout, df, c, tags)
    with mlflow.start_run(run_name="sweep") as sweep:
        story.runs["sweep"] = sweep.info.run_id
        story.runs["churn-3"], story.versions["churn-3"] = _train(
            "churn-3", CHURN, train, holdout, df, 10.0, nested=True
        )
    with mlflow.start_run(run_name="scratch") as scratch:
        mlflow.log_param("note", "to be deleted")
        story.deleted_run = scratch.info.run_id

    story.experiments["fraud"] = mlflow.set_experiment("fraud-training").experiment_id
    fraud_df = _data(2)
    fraud_train = mlflow.data.from_pandas(fraud_df, source=FRAUD_URI, name="transactions")
    for label, c in [("fraud-1", 0.5), ("fraud-2", 2.0)]:
        story.runs[label], story.versions[label] = _train(
            label, FRAUD, fraud_train, None, fraud_df, c
        )

    client.set_registered_model_alias(CHURN, "champion", story.versions["churn-1"])
    client.set_registered_model_alias(CHURN, "challenger", story.versions["churn-3"])
    client.set_registered_model_alias(FRAUD, "champion", story.versions["fraud-1"])
    client.set_model_version_tag(CHURN, story.versions["churn-2"], "validation", "pending")
    return story


def second_act(tracking_uri: str, story: Story) -> None:
    """Change things: move the champion, change a tag, delete a run, rename a model."""
    client = MlflowClient(tracking_uri)
    client.set_registered_model_alias(CHURN, "champion", story.versions["churn-2"])
    client.set_model_version_tag(CHURN, story.versions["churn-2"], "validation", "passed")
    client.delete_run(story.deleted_run)
    client.rename_registered_model(FRAUD, FRAUD_RENAMED)
