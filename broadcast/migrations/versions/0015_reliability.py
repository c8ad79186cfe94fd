"""reliability: ids of journaled webhook events already applied (replays apply each once), dispatcher
heartbeats (readiness)

Revision ID: 0015_reliability
Revises: 0014_budget_shares
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_reliability"
down_revision: str | None = "0014_budget_shares"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journal_applied",
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("journal_applied") as batch_op:
        batch_op.create_index("ix_journal_applied_applied_at", ["applied_at"])
    op.create_table(
        "dispatcher_heartbeat",
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker"),
    )


def downgrade() -> None:
    op.drop_table("dispatcher_heartbeat")
    with op.batch_alter_table("journal_applied") as batch_op:
        batch_op.drop_index("ix_journal_applied_applied_at")
    op.drop_table("journal_applied")
