"""event log: the event and projection_error tables and the dead_letter view

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("source", "idempotency_key", name="uq_event_source_key"),
    )
    op.create_index("ix_event_source", "event", ["source"])
    op.create_index("ix_event_status", "event", ["status"])
    op.create_table(
        "projection_error",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(300), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_projection_error_seq", "projection_error", ["seq"])
    op.execute(
        "CREATE VIEW dead_letter AS "
        "SELECT seq, source, received_at, 'rejected' AS reason, error, payload "
        "FROM event WHERE status = 'rejected' "
        "UNION ALL "
        "SELECT e.seq, e.source, p.failed_at AS received_at, 'projection' AS reason, "
        "p.error, e.payload FROM projection_error p JOIN event e ON e.seq = p.seq"
    )


def downgrade() -> None:
    op.execute("DROP VIEW dead_letter")
    op.drop_table("projection_error")
    op.drop_table("event")
