"""Indexes for run completion checks and reachable-audience counts.

Revision ID: 0006_reach_indexes
Revises: 0005_gateway
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0006_reach_indexes"
down_revision: str | None = "0005_gateway"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.create_index("ix_delivery_run_status", ["run_id", "status"], unique=False)
    with op.batch_alter_table("contact") as batch_op:
        batch_op.create_index("ix_contact_reach", ["commune_code", "sms_opted_out", "language", "erased_at",
                                                   "phone"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact") as batch_op:
        batch_op.drop_index("ix_contact_reach")
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_index("ix_delivery_run_status")
