"""engagement: event rollup (clicks, downloads, opt-outs per campaign × commune × kind × day)

Revision ID: 0004_event_rollup
Revises: 0003_voice
Create Date: 2026-12-01 11:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_event_rollup"
down_revision: str | None = "0003_voice"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_rollup",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("n", BigId, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("event_rollup") as batch_op:
        batch_op.create_index("ix_event_rollup_campaign", ["campaign_id", "commune_code"])
    with op.batch_alter_table("engagement_event") as batch_op:
        batch_op.create_index("ix_event_occurred", ["occurred_at"])


def downgrade() -> None:
    with op.batch_alter_table("engagement_event") as batch_op:
        batch_op.drop_index("ix_event_occurred")
    with op.batch_alter_table("event_rollup") as batch_op:
        batch_op.drop_index("ix_event_rollup_campaign")
    op.drop_table("event_rollup")
