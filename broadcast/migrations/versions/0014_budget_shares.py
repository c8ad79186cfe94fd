"""budget shares: every process's lease on part of each provider budget, so the budgets are global

Revision ID: 0014_budget_shares
Revises: 0013_publications
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_budget_shares"
down_revision: str | None = "0013_publications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_share",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("member", sa.String(length=120), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("period", sa.Float(), nullable=False),
        sa.Column("share", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "member"),
    )


def downgrade() -> None:
    op.drop_table("budget_share")
