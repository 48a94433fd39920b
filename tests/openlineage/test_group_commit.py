"""Group commit: concurrent single submissions share log transactions, each caller
gets its own result, and a failure reaches every caller of the group."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.errors import BackendUnavailable
from lineagegraph.ingest.group_commit import GroupCommitter
from lineagegraph.ingest.service import SubmitResult
from tests.openlineage.helpers import sink


def test_concurrent_submissions_are_committed_together_and_answered_apart(
    tmp_path: Path,
) -> None:
    with sink(tmp_path) as s:
        groups: list[int] = []
        release = threading.Event()

        def submit(
            source: str,
            payloads: Sequence[Any],
            keys: Sequence[str | None],
            texts: Sequence[bytes | None],
        ) -> SubmitResult:
            release.wait(10)  # hold the first group so that the others queue up
            groups.append(len(payloads))
            return s.service.submit(source, payloads, keys, texts)

        committer = GroupCommitter(submit)
        # empty ChangeSets told apart by a note; 20 repeat earlier documents
        docs = [{"nodes": [], "note": i % 40} for i in range(60)]
        futures = [committer.submit("changeset", [d]) for d in docs]
        release.set()
        results = [f.result(timeout=30).appended[0] for f in futures]
        committer.close()
    assert sum(groups) == 60 and len(groups) < 60
    firsts = {r.seq for r in results if not r.duplicate}
    assert len(firsts) == 40
    for i, r in enumerate(results):
        assert r.seq == results[i % 40].seq  # a repeat answers with the first position
        assert r.duplicate == (i >= 40)


def test_a_failed_commit_reaches_every_caller_and_the_committer_lives_on() -> None:
    calls = 0

    def submit(
        source: str, payloads: Sequence[Any], keys: Sequence[str | None], texts: Sequence[Any]
    ) -> SubmitResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise BackendUnavailable("event log database unavailable")
        return SubmitResult([], True)

    committer = GroupCommitter(submit)
    with pytest.raises(BackendUnavailable):
        committer.submit("x", [{"a": 1}]).result(timeout=10)
    assert committer.submit("x", []).result(timeout=10).projected
    committer.close()
    with pytest.raises(RuntimeError):
        committer.submit("x", [{"a": 1}])
