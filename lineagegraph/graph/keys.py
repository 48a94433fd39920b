"""Typed node keys and their one string form.

Inside the code a node is named by a :class:`NodeKey`: its kind plus a tuple of
parts (namespace and name for datasets and jobs, a run id, a model's registry
namespace, name and version, ...). At the boundaries (GraphQL ids, URLs, CLI
arguments) a key has exactly one string form, produced by ``str(key)`` and
read back by :func:`parse_key`::

    <kind>:<part>|<part>|...

    dataset:postgres://db.example.com:5432|analytics.public.orders
    field:s3://lake|/raw/events.parquet|payload|user id
    run:3f1c2d5e-8b7a-4d0c-9e21-1a2b3c4d5e6f
    model_version:mlflow|churn-classifier|7

Only three things are escaped inside a part, as ``%XX`` (uppercase hex):
``%`` itself, the separator ``|``, and control characters. Everything else,
including ``://``, ports, IPv6 brackets, ``/``, ``:``, ``#`` and any unicode,
stands as it is, so keys stay readable and no guessing is ever needed: the
kind ends at the first ``:`` (kinds never hold one) and parts are split on
``|`` alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lineagegraph.errors import InvalidKey
from lineagegraph.graph.kinds import NodeKind

#: The named parts of each kind's key, in order. A trailing ``*`` marks a part
#: that repeats one or more times (a field's column path, e.g. nested fields).
KEY_PARTS: dict[NodeKind, tuple[str, ...]] = {
    NodeKind.DATASET: ("namespace", "name"),
    NodeKind.DATASET_VERSION: ("namespace", "name", "version"),
    NodeKind.FIELD: ("namespace", "name", "path*"),
    NodeKind.JOB: ("namespace", "name"),
    NodeKind.RUN: ("run_id",),
    NodeKind.EXPERIMENT: ("namespace", "experiment_id"),
    NodeKind.FEATURE: ("namespace", "name"),
    NodeKind.MODEL: ("namespace", "name"),
    NodeKind.MODEL_VERSION: ("namespace", "name", "version"),
    NodeKind.EVALUATION: ("namespace", "evaluation_id"),
    NodeKind.DEPLOYMENT: ("environment", "endpoint"),
    NodeKind.GATE_DECISION: ("decision_id",),
}

_SEP = "|"
_ESCAPE_RE = re.compile(r"[%|\x00-\x1f\x7f]")
_UNESCAPE_RE = re.compile(r"%([0-9A-F]{2})")
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-F]{2})")


def _escape(part: str) -> str:
    return _ESCAPE_RE.sub(lambda m: f"%{ord(m.group()):02X}", part)


def _unescape(part: str, where: str) -> str:
    bad = _BAD_PERCENT_RE.search(part)
    if bad:
        raise InvalidKey(
            f"'%' must start an escape %XX with two uppercase hex digits, at offset {bad.start()}",
            path=where,
        )
    return _UNESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), part)


@dataclass(frozen=True, slots=True, order=True)
class NodeKey:
    """The identity of a node: its kind and its parts (see :data:`KEY_PARTS`)."""

    kind: NodeKind
    parts: tuple[str, ...]
    # The hash, computed once: keys are hashed on every dict/set operation of a
    # traversal, and the generated dataclass __hash__ costs ~0.4 us a call.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.parts, list):
            object.__setattr__(self, "parts", tuple(self.parts))
        if not isinstance(self.kind, NodeKind):
            try:
                object.__setattr__(self, "kind", NodeKind(self.kind))
            except ValueError:
                raise InvalidKey(f"unknown node kind {self.kind!r}", path="kind") from None
        names = KEY_PARTS[self.kind]
        repeats = names[-1].endswith("*")
        n = len(self.parts)
        if (repeats and n < len(names)) or (not repeats and n != len(names)):
            want = f"at least {len(names)}" if repeats else str(len(names))
            raise InvalidKey(
                f"a {self.kind} key has {want} parts ({', '.join(names)}), got {n}",
                path="parts",
            )
        for i, p in enumerate(self.parts):
            if not isinstance(p, str):
                raise InvalidKey(
                    f"key parts are strings, got {type(p).__name__}", path=f"parts[{i}]"
                )
        object.__setattr__(self, "_hash", hash((self.kind, self.parts)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        # str hashes differ between processes: rebuild (and rehash) when unpickled.
        return (NodeKey, (self.kind, self.parts))

    # ---- string form -----------------------------------------------------
    def __str__(self) -> str:
        return f"{self.kind.value}:{_SEP.join(_escape(p) for p in self.parts)}"

    def __repr__(self) -> str:
        return f"NodeKey({str(self)!r})"

    # ---- readable accessors ----------------------------------------------
    def part(self, name: str) -> str:
        names = KEY_PARTS[self.kind]
        if name not in names:
            raise KeyError(f"a {self.kind} key has no part {name!r}")
        return self.parts[names.index(name)]

    @property
    def namespace(self) -> str | None:
        """The namespace-like first part, for kinds that have one."""
        first = KEY_PARTS[self.kind][0]
        return self.parts[0] if first in ("namespace", "environment") else None

    @property
    def name(self) -> str:
        """A human display name: the last identifying part(s)."""
        k = self.kind
        if k is NodeKind.FIELD:
            return ".".join(self.parts[2:])
        if k in (NodeKind.DATASET_VERSION, NodeKind.MODEL_VERSION):
            return f"{self.parts[1]}@{self.parts[2]}"
        return self.parts[-1]

    @property
    def dataset(self) -> NodeKey:
        """The dataset a field or dataset version belongs to."""
        if self.kind not in (NodeKind.FIELD, NodeKind.DATASET_VERSION):
            raise ValueError(f"a {self.kind} key has no dataset")
        return NodeKey(NodeKind.DATASET, self.parts[:2])

    @property
    def model(self) -> NodeKey:
        if self.kind is not NodeKind.MODEL_VERSION:
            raise ValueError(f"a {self.kind} key has no model")
        return NodeKey(NodeKind.MODEL, self.parts[:2])

    # ---- constructors ----------------------------------------------------
    @classmethod
    def dataset_key(cls, namespace: str, name: str) -> NodeKey:
        return cls(NodeKind.DATASET, (namespace, name))

    @classmethod
    def dataset_version(cls, namespace: str, name: str, version: str) -> NodeKey:
        return cls(NodeKind.DATASET_VERSION, (namespace, name, version))

    @classmethod
    def field(cls, namespace: str, name: str, *path: str) -> NodeKey:
        return cls(NodeKind.FIELD, (namespace, name, *path))

    @classmethod
    def job(cls, namespace: str, name: str) -> NodeKey:
        return cls(NodeKind.JOB, (namespace, name))

    @classmethod
    def run(cls, run_id: str) -> NodeKey:
        return cls(NodeKind.RUN, (run_id,))

    @classmethod
    def experiment(cls, namespace: str, experiment_id: str) -> NodeKey:
        return cls(NodeKind.EXPERIMENT, (namespace, experiment_id))

    @classmethod
    def feature(cls, namespace: str, name: str) -> NodeKey:
        return cls(NodeKind.FEATURE, (namespace, name))

    @classmethod
    def model_key(cls, namespace: str, name: str) -> NodeKey:
        return cls(NodeKind.MODEL, (namespace, name))

    @classmethod
    def model_version(cls, namespace: str, name: str, version: str | int) -> NodeKey:
        return cls(NodeKind.MODEL_VERSION, (namespace, name, str(version)))

    @classmethod
    def evaluation(cls, namespace: str, evaluation_id: str) -> NodeKey:
        return cls(NodeKind.EVALUATION, (namespace, evaluation_id))

    @classmethod
    def deployment(cls, environment: str, endpoint: str) -> NodeKey:
        return cls(NodeKind.DEPLOYMENT, (environment, endpoint))

    @classmethod
    def gate_decision(cls, decision_id: str) -> NodeKey:
        return cls(NodeKind.GATE_DECISION, (decision_id,))


_new_key = object.__new__
# The slots' own descriptors: a frozen dataclass's __setattr__ refuses writes.
_set_kind = NodeKey.__dict__["kind"].__set__
_set_parts = NodeKey.__dict__["parts"].__set__
_set_hash = NodeKey.__dict__["_hash"].__set__


def trusted_key(kind: NodeKind, parts: tuple[str, ...]) -> NodeKey:
    """A key from parts that were validated when first written (a store reading
    its own rows back): none of ``NodeKey``'s checks run, a million times faster
    to load. Anything from outside goes through ``NodeKey(...)`` or ``parse_key``."""
    key: NodeKey = _new_key(NodeKey)
    _set_kind(key, kind)
    _set_parts(key, parts)
    _set_hash(key, hash((kind, parts)))
    return key


def parse_key(text: str) -> NodeKey:
    """Parse the one string form of a key; the inverse of ``str(key)``.

    Raises :class:`~lineagegraph.errors.InvalidKey` naming what is wrong.
    """
    if not isinstance(text, str):
        raise InvalidKey(f"a key is a string, got {type(text).__name__}")
    kind_text, colon, rest = text.partition(":")
    if not colon:
        raise InvalidKey(
            f"a key looks like '<kind>:<part>|<part>', and {text[:80]!r} has no ':' after the kind",
            path="kind",
        )
    try:
        kind = NodeKind(kind_text)
    except ValueError:
        known = ", ".join(k.value for k in NodeKind)
        raise InvalidKey(f"unknown node kind {kind_text!r} (known: {known})", path="kind") from None
    raw_parts = rest.split(_SEP)
    parts = tuple(_unescape(p, f"parts[{i}]") for i, p in enumerate(raw_parts))
    return NodeKey(kind, parts)
