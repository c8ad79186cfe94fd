"""waiting_reason: why a queued delivery waits until its next_attempt_at (quiet hours, daily cap, calling
window, clip not rendered, retry backoff, gateway phone down)

Revision ID: 0011_waiting_reason
Revises: 0010_retention
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_waiting_reason"
down_revision: str | None = "0010_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The campaign index also covers why queued rows wait, so the waiting report reads no table rows.
WIDE = ["campaign_id", "status", "error_code", "channel", "waiting_reason", "next_attempt_at"]


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.add_column(sa.Column("waiting_reason", sa.String(length=16), nullable=True))
        batch_op.drop_index("ix_delivery_campaign_status")
        batch_op.create_index("ix_delivery_campaign_status", WIDE, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_index("ix_delivery_campaign_status")
        batch_op.create_index("ix_delivery_campaign_status", ["campaign_id", "status", "error_code"], unique=False)
        batch_op.drop_column("waiting_reason")
