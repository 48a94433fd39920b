"""The one typed settings object, read from the environment (prefix ``LINEAGEGRAPH_``).

Precedence, highest first: arguments passed to ``Settings(...)`` (the CLI does
this for its flags), environment variables, a ``.env`` file in the working
directory, then the defaults below. Nested values use ``__`` (for example
``LINEAGEGRAPH_CORS_ORIGINS='["http://localhost:5173"]'``). Settings are built
once at start-up and passed down; no module reads the environment itself.
Secrets are ``SecretStr``: they never appear in logs or reprs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lineagegraph.ingest.identity import AliasRule
from lineagegraph.ingest.mlflow.deployments import DeploymentRule, default_rules


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LINEAGEGRAPH_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    # ---- storage ----------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".lineagegraph"),
        description="Where the embedded store and the SQLite event log live.",
    )
    store_uri: str = Field(
        default="",
        description="Graph store: sqlite:///path.db (embedded, default), "
        "bolt:// neo4j:// neo4j+s:// (Neo4j), falkordb://host:port/graph.",
    )
    store_user: str | None = Field(default=None, description="User for a server store.")
    store_password: SecretStr | None = Field(
        default=None, description="Password for a server store."
    )
    log_url: str = Field(
        default="",
        description="Event log database (SQLAlchemy URL): sqlite:///path.db (default) "
        "or postgresql+psycopg://user@host/db.",
    )
    projection_mode: Literal["inline", "background", "process"] = Field(
        default="inline",
        description="inline: project each accepted input before answering (embedded default); "
        "background: a worker thread projects from the log (server stores, replicas); "
        "process: `serve` runs projection in a process of its own, the store's only writer "
        "(the most single-event POSTs a second; one-shot commands project inline).",
    )
    projection_batch: int = Field(
        default=500,
        ge=1,
        description="Inputs projected per batch at most (unset in process mode: 2,000, where "
        "a bigger batch does not compete with requests).",
    )
    projection_linger_ms: int = Field(
        default=25,
        ge=0,
        le=10_000,
        description="background: after projecting fewer inputs than a batch, wait this long "
        "so that inputs arriving one by one are merged and applied together (cheaper per "
        "input); the store lags the log by about this much more. 0: no wait.",
    )

    # ---- HTTP service -----------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    anonymous_read: bool = Field(
        default=False, description="Allow reads without a token (reader role for everyone)."
    )
    token_cache_ttl_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long the server trusts a token it has verified without asking the "
        "database again. A revocation by this server's process applies at once; one from "
        "another process (the CLI, another replica) within this time. 0: no cache.",
    )
    max_query_depth: int = Field(default=12, ge=1)
    max_query_aliases: int = Field(default=30, ge=1)
    max_query_cost: int = Field(default=50_000, ge=1)
    max_lineage_nodes: int = Field(default=5_000, ge=1)

    # ---- identity ---------------------------------------------------------------
    dataset_aliases: list[AliasRule] = Field(
        default_factory=list,
        description="Rules that rename datasets so two spellings become one node "
        "(see lineagegraph.ingest.identity.AliasRule).",
    )
    table_namespace: str = Field(
        default="",
        description="Namespace for bare table names (an MLflow Delta or Spark table), "
        "e.g. hive://metastore:9083 or databricks://workspace.",
    )

    # ---- MLflow -------------------------------------------------------------
    mlflow_tracking_uri: str | None = None
    mlflow_namespace: str = Field(
        default="mlflow", description="Namespace of experiments and models harvested from MLflow."
    )
    mlflow_webhook_secret: SecretStr | None = None

    # ---- MLflow harvester (lineagegraph.ingest.mlflow) -------------------------
    mlflow_deployments: list[DeploymentRule] = Field(
        default_factory=default_rules,
        description="Which aliases, tags or stages mean that a model version serves an "
        "environment (see lineagegraph.ingest.mlflow.deployments.DeploymentRule); "
        "default: alias champion -> production.",
    )
    mlflow_feature_namespace: str = Field(
        default="",
        description="Namespace of Feature nodes made from model signatures; empty: one "
        "namespace per model, '<mlflow_namespace>/<model name>'.",
    )
    mlflow_sync_overlap_seconds: int = Field(
        default=300,
        ge=0,
        description="An incremental sync re-reads runs started or ended this long before "
        "the stored cursor (clock skew between harvester and MLflow).",
    )
    mlflow_page_size: int = Field(
        default=1000, ge=1, le=50_000, description="Objects per MLflow search request."
    )
    mlflow_webhook_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        description="Webhook deliveries whose signed timestamp is further from now are rejected.",
    )

    # ---- API server: limits, UI, logs (lineagegraph.api) -----------------------
    max_query_tokens: int = Field(
        default=5_000, ge=1, description="Most tokens a GraphQL document may hold."
    )
    graphql_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Bytes of serialized GraphQL query answers kept (LRU); 0 turns the "
        "cache off. Used only with a store that reports a revision (the embedded one).",
    )
    max_graphql_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest GraphQL request body (query, variables, events to ingest).",
    )
    ui_dir: Path | None = Field(
        default=None,
        description="The built front end (GraphiQL and the UI): `npm run build` in ui/ "
        "writes ui/dist, the default when this is unset.",
    )
    log_level: str = Field(default="INFO", description="Level of the server's logs.")
    log_json: bool = Field(
        default=True, description="Server logs as JSON lines (false: plain text for a terminal)."
    )

    # ---- OpenLineage endpoint (lineagegraph.api.openlineage) --------------------
    openlineage_max_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        description="Largest body POST /api/v1/lineage reads (after gzip inflation); "
        "a larger one gets 413.",
    )
    openlineage_max_batch: int = Field(
        default=10_000, ge=1, description="Most events one POST /api/v1/lineage may carry (413)."
    )
    ingest_workers: int | None = Field(
        default=None,
        ge=0,
        description="Worker processes that parse, validate and map large POST /api/v1/lineage "
        "bodies beside the server (unset: one when the machine has a second core; 0: none).",
    )

    def store_credentials(self) -> dict[str, str]:
        """``open_store``'s options of a server store's user and password, when set."""
        options = {}
        if self.store_user is not None:
            options["user"] = self.store_user
        if self.store_password is not None:
            options["password"] = self.store_password.get_secret_value()
        return options

    @model_validator(mode="after")
    def _defaults_under_data_dir(self) -> Settings:
        if not self.store_uri:
            self.store_uri = f"sqlite:///{self.data_dir / 'graph.db'}"
        if not self.log_url:
            self.log_url = f"sqlite:///{self.data_dir / 'events.db'}"
        if self.projection_mode == "process":
            for name, uri in (("store_uri", self.store_uri), ("log_url", self.log_url)):
                if uri.startswith("memory:") or uri.rstrip("/").endswith((":memory:", "sqlite:")):
                    raise ValueError(
                        f"projection_mode 'process' needs a {name} another process can open, "
                        f"not the private in-memory {uri!r}"
                    )
        return self
