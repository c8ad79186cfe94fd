"""voice calls: call outcome on deliveries, voice settings on campaigns

Revision ID: 0003_voice
Revises: 0002_engagement
Create Date: 2026-12-02 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_voice"
down_revision: str | None = "0002_engagement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.add_column(sa.Column("call_duration_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("answered_by", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("listened_share", sa.Float(), nullable=True))
    with op.batch_alter_table("campaign") as batch_op:
        batch_op.add_column(sa.Column("voice_machine_detection", sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column("voice_max_retries", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("voice_retry_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("voice_window_start", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("voice_window_end", sa.String(length=5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign") as batch_op:
        for name in ("voice_window_end", "voice_window_start", "voice_retry_seconds", "voice_max_retries",
                     "voice_machine_detection"):
            batch_op.drop_column(name)
    with op.batch_alter_table("delivery") as batch_op:
        for name in ("listened_share", "answered_by", "call_duration_seconds"):
            batch_op.drop_column(name)
