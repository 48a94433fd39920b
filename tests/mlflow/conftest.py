"""Fixtures of the MLflow tests: one real ``mlflow server`` for the session.

The server is required: when it cannot start, the tests error (they never
skip), under CI=true and everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mlflow.mlflow_server import MlflowServer, running_mlflow_server


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server
