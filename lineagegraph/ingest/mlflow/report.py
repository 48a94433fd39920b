"""What a sync reports: progress while it runs, and counts when it is done."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol


class SyncProgress(Protocol):
    """Where a sync reports progress (the CLI shows it with rich)."""

    def start(self, phase: str, total: int | None = None) -> None: ...

    def advance(self, phase: str, count: int = 1) -> None: ...


class NoProgress:
    """Progress reported nowhere."""

    def start(self, phase: str, total: int | None = None) -> None:
        pass

    def advance(self, phase: str, count: int = 1) -> None:
        pass


@dataclass
class SyncReport:
    """What a sync read and logged, per snapshot type."""

    full: bool
    started_at: int  # epoch ms
    seconds: float = 0.0
    read: Counter[str] = field(default_factory=Counter)
    logged: Counter[str] = field(default_factory=Counter)  # new snapshots in the event log
    unchanged: Counter[str] = field(default_factory=Counter)  # already logged: nothing new
    last_position: int = 0  # the highest event log position written

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (for the API and scripts)."""
        return {
            "full": self.full,
            "seconds": round(self.seconds, 3),
            "read": dict(self.read),
            "logged": dict(self.logged),
            "unchanged": dict(self.unchanged),
            "last_position": self.last_position,
        }

    def summary(self) -> str:
        parts = [
            f"{t}: {self.read[t]} read, {self.logged[t]} new"
            for t in sorted(set(self.read) | set(self.logged))
        ]
        return f"{'full' if self.full else 'incremental'} sync in {self.seconds:.1f}s; " + (
            "; ".join(parts) or "nothing to read"
        )
