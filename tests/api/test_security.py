"""Roles, tokens and anonymous reads: each role allowed and refused where it should be.

The matrix uses requests that change nothing when allowed (an unknown model
version, an invalid event), so "allowed" is a typed error or a 400 and
"refused" is a permission error: the outcome tells the two apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lineagegraph.auth import Role
from lineagegraph.cli.main import app as cli
from tests.api.conftest import Api
from tests.api.server import LiveServer, gql, live_server

QUERY = "{ stats { nodeCount } }"
INGEST = """mutation { ingestOpenLineage(events: []) { __typename } }"""
DEPLOY = """mutation { registerDeployment(input: {
  modelVersion: {name: "no-such-model", version: "1"}, environment: "prod", endpoint: "e"
}) { __typename } }"""
APPROVE = """mutation { recordApproval(input: {
  modelVersion: {name: "no-such-model", version: "1"}
}) { __typename } }"""

#: operation -> (query, the least role, the typed result an allowed caller gets)
OPERATIONS = {
    "query": (QUERY, Role.READER, None),
    "ingest": (INGEST, Role.INGESTER, "InvalidInputError"),
    "deploy": (DEPLOY, Role.PROMOTER, "NotFoundError"),
    "approve": (APPROVE, Role.PROMOTER, "NotFoundError"),
}


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_is_allowed_and_refused_where_it_should_be(api: Api, role: Role) -> None:
    with api.client(role) as client:
        for name, (query, needed, allowed_type) in OPERATIONS.items():
            body = gql(client, query, ok=False)
            if role.allows(needed):
                assert not body.get("errors"), (name, body)
                if allowed_type:
                    assert next(iter(body["data"].values()))["__typename"] == allowed_type
            else:
                (error,) = body["errors"]
                assert error["extensions"]["code"] == "forbidden", (name, body)
                assert needed.value in error["message"] and role.value in error["message"]


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_the_rest_ingest_endpoint_needs_the_ingester_role(api: Api, role: Role) -> None:
    with api.client(role) as client:
        response = client.post("/api/v1/lineage", json={"eventType": "START"})
    if role.allows(Role.INGESTER):
        assert response.status_code == 400  # let in; the event itself is invalid
        assert response.json()["error"]["code"] == "validation_failed"
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_no_token_or_a_bad_one_is_refused(api: Api) -> None:
    with api.server.client() as anonymous:
        query = gql(anonymous, QUERY, ok=False)
        rest = anonymous.post("/api/v1/lineage", json={})
        bad = anonymous.post(
            "/graphql", json={"query": QUERY}, headers={"Authorization": "Bearer lgt_nope"}
        )
        forged = anonymous.post(
            "/api/v1/lineage",
            json={},
            headers={"Authorization": f"Bearer {api.tokens[Role.ADMIN][:-4]}AAAA"},
        )
        basic = anonymous.post(
            "/graphql", json={"query": QUERY}, headers={"Authorization": "Basic dXNlcg=="}
        )
    assert query["errors"][0]["extensions"]["code"] == "unauthenticated"
    assert "Authorization: Bearer" in query["errors"][0]["message"]
    assert rest.status_code == 401 and rest.headers["www-authenticate"] == "Bearer"
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["extensions"]["code"] == "unauthenticated"
    assert "malformed" in bad.json()["errors"][0]["message"]
    assert forged.status_code == 401
    assert forged.json()["error"]["message"] == "unknown or invalid API token"
    assert basic.status_code == 401 and "Bearer" in basic.json()["errors"][0]["message"]


@pytest.fixture(scope="module")
def anonymous_server(api: Api) -> Iterator[LiveServer]:
    from lineagegraph.api.app import create_app

    settings = api.services.settings.model_copy(update={"anonymous_read": True})
    with live_server(create_app(settings, services=api.services)) as server:
        yield server


def test_anonymous_reads_only_when_configured(api: Api, anonymous_server: LiveServer) -> None:
    with anonymous_server.client() as client:
        read = gql(client, QUERY, ok=False)
        write = gql(client, DEPLOY, ok=False)
        rest = client.post("/api/v1/lineage", json={})
    with api.server.client() as client:
        closed = gql(client, QUERY, ok=False)
    assert "errors" not in read and read["data"]["stats"]["nodeCount"] >= 0
    assert write["errors"][0]["extensions"]["code"] == "forbidden"
    assert "'anonymous' has reader" in write["errors"][0]["message"]
    assert rest.status_code == 403
    assert closed["errors"][0]["extensions"]["code"] == "unauthenticated"


def test_tokens_made_and_revoked_with_the_cli_work_at_once(api: Api) -> None:
    data_dir = str(api.services.settings.data_dir)
    runner = CliRunner()
    created = runner.invoke(
        cli, ["token", "create", "--role", "ingester", "--name", "cli-bot", "--data-dir", data_dir]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("lgt_")
    with api.server.client(token) as client:
        ok = client.post("/api/v1/lineage", json={"eventType": "START"})
        listed = runner.invoke(cli, ["token", "list", "--data-dir", data_dir])
        revoked = runner.invoke(cli, ["token", "revoke", "cli-bot", "--data-dir", data_dir])
        refused = client.post("/api/v1/lineage", json={"eventType": "START"})
        again = runner.invoke(cli, ["token", "revoke", "cli-bot", "--data-dir", data_dir])
    assert ok.status_code == 400  # authenticated; the event is invalid
    assert listed.exit_code == 0 and "cli-bot" in listed.stdout and token not in listed.stdout
    assert revoked.exit_code == 0
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert again.exit_code == 2 and "no active token" in again.output
    # stored hashed: the token text is nowhere in the log database
    db = Path(api.services.settings.log_url.split("///", 1)[1]).read_bytes()
    assert token.encode() not in db and token.rsplit("_", 1)[-1].encode() not in db


def test_cli_refuses_an_unknown_role_and_a_bad_name(api: Api) -> None:
    data_dir = str(api.services.settings.data_dir)
    runner = CliRunner()
    role = runner.invoke(
        cli, ["token", "create", "--role", "root", "--name", "x", "--data-dir", data_dir]
    )
    name = runner.invoke(
        cli, ["token", "create", "--role", "reader", "--name", "\n", "--data-dir", data_dir]
    )
    assert role.exit_code == 2 and "root" in role.output
    assert name.exit_code == 2 and "name" in name.output
