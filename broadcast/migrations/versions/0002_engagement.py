"""engagement: keyword rules, auto-replies, delivery rollup; indexes for metrics and link clicks

Revision ID: 0002_engagement
Revises: 0001
Create Date: 2026-12-01 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import broadcast.db

revision: str = "0002_engagement"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "keyword_rule",
        sa.Column("keyword", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("updated_at", broadcast.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("keyword"),
    )
    op.create_table(
        "auto_reply",
        sa.Column("key", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", broadcast.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "delivery_rollup",
        sa.Column("id", BigId, nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("n", BigId, nullable=False),
        sa.Column("segments", BigId, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("delivery_rollup") as batch_op:
        batch_op.create_index("ix_delivery_rollup_campaign", ["campaign_id", "commune_code"])
        batch_op.create_index("ix_delivery_rollup_run", ["run_id"])
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("watermark", broadcast.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", broadcast.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # Finding the runs whose deliveries changed since the last rollup refresh.
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.create_index("ix_delivery_updated", ["updated_at"])
    # Per-campaign engagement counts by kind and commune answered from the index alone.
    with op.batch_alter_table("engagement_event") as batch_op:
        batch_op.create_index("ix_event_campaign_kind_commune", ["campaign_id", "kind", "commune_code"])
    # The questions inbox: a resident's open conversation.
    with op.batch_alter_table("conversation") as batch_op:
        batch_op.create_index("ix_conversation_contact_status", ["contact_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("conversation") as batch_op:
        batch_op.drop_index("ix_conversation_contact_status")
    with op.batch_alter_table("engagement_event") as batch_op:
        batch_op.drop_index("ix_event_campaign_kind_commune")
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_index("ix_delivery_updated")
    op.drop_table("rollup_state")
    with op.batch_alter_table("delivery_rollup") as batch_op:
        batch_op.drop_index("ix_delivery_rollup_run")
        batch_op.drop_index("ix_delivery_rollup_campaign")
    op.drop_table("delivery_rollup")
    op.drop_table("auto_reply")
    op.drop_table("keyword_rule")
