"""mlflow cursor: the mlflow_sync_state table (the MLflow harvester's cursor and memory)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
# (0001 -> 0003 -> 0002) and `upgrade head` keeps working in the shared checkout. The
# intended chain is 0001 -> 0002 -> 0003: set this to "0001" and 0003's to "0002".
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlflow_sync_state",
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("item", sa.String(700), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "item", name="pk_mlflow_sync_state"),
    )


def downgrade() -> None:
    op.drop_table("mlflow_sync_state")
