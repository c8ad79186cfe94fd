"""publications: answered questions officers publish on the public accountability page, once approved

Revision ID: 0013_publications
Revises: 0012_quiz
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_publications"
down_revision: str | None = "0012_quiz"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "publication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", BigId, sa.ForeignKey("conversation.id", ondelete="SET NULL"), nullable=True),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("topic", sa.String(length=60), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_comment", sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("publication") as batch_op:
        batch_op.create_index("ix_publication_conversation_id", ["conversation_id"])
        batch_op.create_index("ix_publication_status_published", ["status", "published_at"])


def downgrade() -> None:
    with op.batch_alter_table("publication") as batch_op:
        batch_op.drop_index("ix_publication_status_published")
        batch_op.drop_index("ix_publication_conversation_id")
    op.drop_table("publication")
