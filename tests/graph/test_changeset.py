"""ChangeSet validation and its JSON form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lineagegraph.errors import InvalidChangeSet
from lineagegraph.graph.changeset import (
    ChangeSet,
    Provenance,
    changeset_from_json,
    changeset_to_json,
)
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind

T = datetime(2026, 1, 1, tzinfo=UTC)
P = Provenance("test", "e1")
DS = NodeKey.dataset_key("s3://b", "in")
RUN = NodeKey.run("r1")


def test_valid_changeset_round_trips_through_json() -> None:
    cs = ChangeSet()
    cs.node(DS, T, P, {"owners": ["ana"], "n": 1.5, "nested": {"a": [1, None]}})
    cs.node(RUN, T, P)
    cs.edge(DS, EdgeKind.CONSUMED, RUN, T, P, {"context": "training"})
    cs.validate()
    back = changeset_from_json(changeset_to_json(cs))
    assert back.nodes == cs.nodes
    assert back.edges == cs.edges
    assert len(back) == 3


def test_edge_between_wrong_kinds_names_the_edge() -> None:
    cs = ChangeSet()
    cs.edge(RUN, EdgeKind.CONSUMED, DS, T, P)  # backwards: consumed goes Dataset -> Run
    with pytest.raises(InvalidChangeSet) as info:
        cs.validate()
    assert info.value.path == "edges[0].kind"
    assert "run -> dataset" in info.value.message
    assert "dataset->run" in info.value.message


def test_naive_time_is_rejected() -> None:
    cs = ChangeSet()
    cs.node(DS, datetime(2026, 1, 1), P)  # naive on purpose
    with pytest.raises(InvalidChangeSet) as info:
        cs.validate()
    assert info.value.path == "nodes[0].event_time"


@pytest.mark.parametrize("bad", [float("nan"), object(), {1: "x"}, {b"k"}])
def test_non_json_props_are_rejected(bad: object) -> None:
    cs = ChangeSet()
    cs.node(DS, T, P, {"ok": 1, "bad": bad})
    with pytest.raises(InvalidChangeSet) as info:
        cs.validate()
    assert info.value.path is not None and info.value.path.startswith("nodes[0].props")


def test_json_form_errors_name_the_entry() -> None:
    doc = changeset_to_json(ChangeSet())
    doc["edges"] = [
        {
            "src": str(DS),
            "kind": "consumed",
            "dst": "run:r1",
            "event_time": T.isoformat(),
            "provenance": {"source": "x", "event_id": "y"},
        },
        {
            "src": str(DS),
            "kind": "flows",
            "dst": "run:r1",
            "event_time": T.isoformat(),
            "provenance": {"source": "x", "event_id": "y"},
        },
    ]
    with pytest.raises(InvalidChangeSet) as info:
        changeset_from_json(doc)
    assert info.value.path == "edges[1].kind"
    doc["edges"] = [{"src": "dataset:only", "kind": "consumed", "dst": "run:r1"}]
    with pytest.raises(InvalidChangeSet) as info:
        changeset_from_json(doc)
    assert info.value.path == "edges[0].src"
