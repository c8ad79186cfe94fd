"""gateway phones' passwords and signing keys encrypted at rest (Fernet tokens in wider columns)

Revision ID: 0008_encrypt_gateway_secrets
Revises: 0007_security

The keys are those of the settings the migration runs with (DATA_ENCRYPTION_KEY, else derived from
SECRET_KEY): the engine env.py makes carries them, see broadcast/crypto.py.
"""
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from broadcast.crypto import keyring_of

revision: str = "0008_encrypt_gateway_secrets"
down_revision: str | None = "0007_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("password", "signing_key")


def _rewrite(change: Callable[[str], str]) -> None:
    """Apply `change` to every non-empty stored password and signing key (read and written as stored)."""
    bind = op.get_bind()
    phones = sa.table("gateway_phone", sa.column("id"), *(sa.column(c) for c in COLUMNS))
    for row in bind.execute(sa.select(phones)).mappings().all():
        values = {c: change(row[c]) for c in COLUMNS if row[c]}
        if values:
            bind.execute(sa.update(phones).where(phones.c.id == row["id"]).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("gateway_phone") as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(name, existing_type=sa.String(length=200), type_=sa.Text(),
                                  existing_nullable=False, existing_server_default="")
    _rewrite(keyring_of(op.get_bind().dialect).encrypt)


def downgrade() -> None:
    _rewrite(keyring_of(op.get_bind().dialect).decrypt)
    with op.batch_alter_table("gateway_phone") as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(name, existing_type=sa.Text(), type_=sa.String(length=200),
                                  existing_nullable=False, existing_server_default="")
