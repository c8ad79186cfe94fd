"""retention: what stays of runs whose per-resident rows were deleted (group and voice sums, event counts);
events indexed by delivery, so a run's events are found without a scan

Revision ID: 0010_retention
Revises: 0009_check_echo
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_retention"
down_revision: str | None = "0009_check_echo"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "retained_run",
        sa.Column("run_id", BigId, sa.ForeignKey("campaign_run.id", ondelete="CASCADE"), nullable=False,
                  autoincrement=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliveries", BigId, nullable=False),
        sa.Column("groups", sa.JSON(), nullable=True),
        sa.Column("voice", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("retained_run") as batch_op:
        batch_op.create_index("ix_retained_run_campaign", ["campaign_id"])
    op.create_table(
        "event_archive",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("n", BigId, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("event_archive") as batch_op:
        batch_op.create_index("ix_event_archive_campaign", ["campaign_id"])
    with op.batch_alter_table("engagement_event") as batch_op:
        batch_op.create_index("ix_event_delivery", ["delivery_id"])


def downgrade() -> None:
    with op.batch_alter_table("engagement_event") as batch_op:
        batch_op.drop_index("ix_event_delivery")
    with op.batch_alter_table("event_archive") as batch_op:
        batch_op.drop_index("ix_event_archive_campaign")
    op.drop_table("event_archive")
    with op.batch_alter_table("retained_run") as batch_op:
        batch_op.drop_index("ix_retained_run_campaign")
    op.drop_table("retained_run")
