"""One-time values for `broadcast check`'s request to itself through PUBLIC_BASE_URL.

Revision ID: 0009_check_echo
Revises: 0008_encrypt_gateway_secrets
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_check_echo"
down_revision: str | None = "0008_encrypt_gateway_secrets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_echo",
        sa.Column("nonce", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("check_echo")
