"""The one string form of node keys: round trips, odd names, and clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineagegraph.errors import InvalidKey
from lineagegraph.graph.keys import KEY_PARTS, NodeKey, parse_key
from lineagegraph.graph.kinds import NodeKind

# Text that deliberately mixes the characters naive formats trip on.
tricky = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(":/|%#@[]?&=.,;\\ \t\n\x00\x7f")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=40,
)


@st.composite
def keys(draw: st.DrawFn) -> NodeKey:
    kind = draw(st.sampled_from(list(NodeKind)))
    names = KEY_PARTS[kind]
    n = len(names) + (draw(st.integers(0, 3)) if names[-1].endswith("*") else 0)
    return NodeKey(kind, tuple(draw(tricky) for _ in range(n)))


@given(keys())
def test_string_form_round_trips(key: NodeKey) -> None:
    text = str(key)
    assert parse_key(text) == key
    assert str(parse_key(text)) == text  # one canonical form


@given(keys())
def test_string_form_is_one_line_without_raw_separator_in_parts(key: NodeKey) -> None:
    text = str(key)
    assert "\n" not in text and "\x00" not in text
    assert text.split(":", 1)[0] == key.kind.value
    assert len(text.split(":", 1)[1].split("|")) == len(key.parts)


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (
            NodeKey.dataset_key("postgres://db.example.com:5432", "analytics.public.orders"),
            "dataset:postgres://db.example.com:5432|analytics.public.orders",
        ),
        (
            NodeKey.dataset_key("postgres://[2001:db8::1]:5432", "db.s.t"),
            "dataset:postgres://[2001:db8::1]:5432|db.s.t",
        ),
        (
            NodeKey.dataset_key("s3://lake", "/raw/a#b:c.parquet"),
            "dataset:s3://lake|/raw/a#b:c.parquet",
        ),
        (
            NodeKey.field("kafka://b:9092", "topic", "payload", "user id"),
            "field:kafka://b:9092|topic|payload|user id",
        ),
        (NodeKey.dataset_key("file", "weird|name%"), "dataset:file|weird%7Cname%25"),
        (NodeKey.model_version("mlflow", "churn", 7), "model_version:mlflow|churn|7"),
        (
            NodeKey.dataset_key("bigquery", "projet.données.表"),
            "dataset:bigquery|projet.données.表",
        ),
    ],
)
def test_readable_examples(key: NodeKey, text: str) -> None:
    assert str(key) == text
    assert parse_key(text) == key


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("dataset", "kind", "no ':'"),
        ("table:ns|n", "kind", "unknown node kind 'table'"),
        ("dataset:only-one-part", "parts", "2 parts"),
        ("dataset:a|b|c", "parts", "2 parts"),
        ("field:ns|name", "parts", "at least 3"),
        ("dataset:a%zz|b", "parts[0]", "escape"),
        ("dataset:a|b%7c", "parts[1]", "uppercase hex"),
    ],
)
def test_malformed_keys_name_the_problem(text: str, path: str, fragment: str) -> None:
    with pytest.raises(InvalidKey) as info:
        parse_key(text)
    assert info.value.path == path
    assert fragment in info.value.message


def test_accessors() -> None:
    f = NodeKey.field("s3://b", "t", "a", "b")
    assert f.dataset == NodeKey.dataset_key("s3://b", "t")
    assert f.name == "a.b"
    mv = NodeKey.model_version("mlflow", "m", "3")
    assert mv.model == NodeKey.model_key("mlflow", "m")
    assert mv.part("version") == "3"
    assert NodeKey.run("r1").namespace is None
    with pytest.raises(ValueError):
        _ = NodeKey.run("r1").dataset


def test_constructor_rejects_wrong_parts() -> None:
    with pytest.raises(InvalidKey):
        NodeKey(NodeKind.RUN, ("a", "b"))
    with pytest.raises(InvalidKey):
        NodeKey("nope", ("a",))  # type: ignore[arg-type]
