"""Fixtures shared by every test area.

``shared_dir`` is the read-only ``shared/`` folder beside the repository
(OpenLineage fixtures). A user's clone has none: tests that need it skip with
a clear message, except under ``CI=true``, where a missing input is a failure.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip (outside CI) or fail (under CI=true) when a test's input is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: nothing may be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    require(SHARED.is_dir(), f"{SHARED} is absent: the OpenLineage fixtures live there")
    return SHARED


@pytest.fixture(scope="session")
def openlineage_fixtures(shared_dir: Path) -> Path:
    path = shared_dir / "fixtures" / "openlineage"
    require(path.is_dir(), f"{path} is absent")
    return path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
