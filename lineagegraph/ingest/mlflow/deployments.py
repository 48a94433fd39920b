"""Deployments read from the MLflow registry: which version serves where, since when.

MLflow has no deployment records, but teams encode them in the registry: the
version holding alias ``champion`` is what production serves, a version
tagged ``deploy.env=staging`` runs in staging, the (deprecated) stage
``Production``. :class:`DeploymentRule` s (setting
``LINEAGEGRAPH_MLFLOW_DEPLOYMENTS``) say which of these mean a deployment,
and in which environment and endpoint.

MLflow keeps no time for alias or tag changes, so the harvester keeps the
serving set it saw last (``state.py``) and :func:`reconcile` compares: an
entry seen before keeps its ``since``; a new one starts at the observation
time (or at a webhook's event time); one that is gone has ended. The
registered model's snapshot carries both lists, so the graph gets an ended
SERVES edge (a tombstone at ``until``) and a new one, and as-of queries show
the history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, model_validator

from lineagegraph.ingest.mlflow.snapshots import Serving

_TEMPLATE_FIELDS = {
    "model": "m",
    "version": "1",
    "namespace": "mlflow",
    "alias": "a",
    "tag_value": "v",
    "stage": "s",
}


class DeploymentRule(BaseModel):
    """A registry fact that means "this version serves there".

    Exactly one of ``alias``, ``tag`` or ``stage`` selects versions. The
    ``environment`` and ``endpoint`` templates may use ``{model}``,
    ``{version}``, ``{namespace}``, ``{alias}``, ``{tag_value}`` and ``{stage}``,
    for example::

        {"alias": "champion", "environment": "production",
         "endpoint": "https://serving.internal/{model}"}
        {"tag": "deploy.env", "environment": "{tag_value}"}
    """

    alias: str | None = Field(default=None, description="versions holding this alias")
    tag: str | None = Field(default=None, description="versions with this tag")
    tag_value: str | None = Field(default=None, description="only when the tag has this value")
    stage: str | None = Field(default=None, description="versions in this (deprecated) stage")
    environment: str = Field(description="environment template, e.g. production")
    endpoint: str = Field(default="{model}", description="endpoint template")
    traffic: float | None = Field(default=None, ge=0, le=1, description="share of traffic")

    @model_validator(mode="after")
    def _check(self) -> DeploymentRule:
        chosen = [n for n in ("alias", "tag", "stage") if getattr(self, n)]
        if len(chosen) != 1:
            raise ValueError(
                "a deployment rule selects versions by exactly one of alias, tag or stage"
                f" (got {', '.join(chosen) or 'none'})"
            )
        for name in ("environment", "endpoint"):
            try:
                getattr(self, name).format(**_TEMPLATE_FIELDS)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"{name} template {getattr(self, name)!r} is not valid: {exc}"
                    f" (fields: {', '.join(sorted(_TEMPLATE_FIELDS))})"
                ) from None
        return self


def default_rules() -> list[DeploymentRule]:
    """The default: the version holding alias ``champion`` serves production."""
    return [DeploymentRule(alias="champion", environment="production")]


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What the rules look at in a model version."""

    version: str
    tags: Mapping[str, str]
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    environment: str
    endpoint: str
    version: str
    via: str
    traffic: float | None

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.environment, self.endpoint, self.version)


def assignments(
    rules: Sequence[DeploymentRule],
    *,
    namespace: str,
    model: str,
    aliases: Mapping[str, str],
    versions: Sequence[VersionFacts],
) -> list[Assignment]:
    """Which version serves which (environment, endpoint) under ``rules``; the first
    rule that places a version in a deployment wins."""
    out: dict[tuple[str, str, str], Assignment] = {}

    def add(rule: DeploymentRule, version: str, via: str, **fields: str) -> None:
        values = {**_TEMPLATE_FIELDS, "model": model, "version": version, "namespace": namespace}
        values.update({"alias": "", "tag_value": "", "stage": ""})
        values.update(fields)
        a = Assignment(
            rule.environment.format(**values),
            rule.endpoint.format(**values),
            version,
            via,
            rule.traffic,
        )
        out.setdefault(a.ident, a)

    for rule in rules:
        if rule.alias:
            version = aliases.get(rule.alias)
            if version is not None:
                add(rule, version, f"alias:{rule.alias}", alias=rule.alias)
            continue
        for v in versions:
            if rule.tag:
                value = v.tags.get(rule.tag)
                if value is not None and rule.tag_value in (None, value):
                    add(rule, v.version, f"tag:{rule.tag}", tag_value=value)
            elif rule.stage and v.stage and v.stage.lower() == rule.stage.lower():
                add(rule, v.version, f"stage:{v.stage}", stage=v.stage)
    return sorted(out.values(), key=lambda a: a.ident)


def reconcile(
    current: Sequence[Assignment],
    previous: Sequence[Mapping[str, Any]],
    *,
    observed_at: int,
    hints: Mapping[tuple[str, str], int] | None = None,
) -> tuple[list[Serving], list[Serving]]:
    """Compare the serving set now with the one seen last.

    ``previous`` is the stored list of :class:`Serving` documents. ``hints``
    maps (via, version) to a better start time than ``observed_at`` (a
    webhook's event time). Returns (serving now, ended now).
    """
    before = {(p["environment"], p["endpoint"], p["version"]): p for p in previous}
    serving: list[Serving] = []
    for a in current:
        old = before.pop(a.ident, None)
        if old is not None:
            since = int(old["since"])
        else:
            since = (hints or {}).get((a.via, a.version), observed_at)
        serving.append(
            Serving(
                environment=a.environment,
                endpoint=a.endpoint,
                version=a.version,
                since=since,
                via=a.via,
                traffic=a.traffic,
            )
        )
    ended = [
        Serving.model_validate({**p, "until": max(observed_at, int(p["since"]))})
        for p in before.values()
    ]
    ended.sort(key=lambda s: (s.environment, s.endpoint, s.version))
    return serving, ended
