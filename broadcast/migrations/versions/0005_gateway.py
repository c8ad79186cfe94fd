"""gateway phones (SMS Gateway for Android), per-commune SMS routes, sends per phone index

Revision ID: 0005_gateway
Revises: 0004_event_rollup
Create Date: 2026-12-03 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_gateway"
down_revision: str | None = "0004_event_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_phone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("base_url", sa.String(length=300), nullable=False),
        sa.Column("login", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("password", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("signing_key", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("commune_code", sa.String(length=5), sa.ForeignKey("commune.code", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("rate_per_minute", sa.Float(), nullable=False, server_default="6"),
        sa.Column("daily_limit", sa.Integer(), nullable=False, server_default="300"),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("status", sa.String(length=8), nullable=False, server_default="up"),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "commune_route",
        sa.Column("commune_code", sa.String(length=5), sa.ForeignKey("commune.code", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("route", sa.String(length=60), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("commune_code"),
    )
    # Throughput per phone (sent in the last hour / today) and its daily limit.
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.create_index("ix_delivery_provider_sent", ["provider", "sent_at"])


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_index("ix_delivery_provider_sent")
    op.drop_table("commune_route")
    op.drop_table("gateway_phone")
