"""Sign-in failures shared by every web process; approved audio scripts frozen at approval.

Revision ID: 0007_security
Revises: 0006_reach_indexes
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_security"
down_revision: str | None = "0006_reach_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_login_failure_key_at", "login_failure", ["key", "at"])
    op.create_index("ix_login_failure_address_at", "login_failure", ["address", "at"])
    with op.batch_alter_table("campaign_content") as batch_op:
        batch_op.add_column(sa.Column("spoken_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_content") as batch_op:
        batch_op.drop_column("spoken_text")
    op.drop_index("ix_login_failure_address_at", table_name="login_failure")
    op.drop_index("ix_login_failure_key_at", table_name="login_failure")
    op.drop_table("login_failure")
