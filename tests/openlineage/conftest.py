"""Fixtures of the OpenLineage ingestion tests (helpers in ``tests/openlineage/helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.openlineage.helpers import ReferenceValidator


@pytest.fixture(scope="session")
def reference(openlineage_fixtures: Path) -> ReferenceValidator:
    """The official JSON schemas of the fixtures, as a validator."""
    return ReferenceValidator(openlineage_fixtures / "schemas")
