"""quiz: a campaign's questions (campaign.quiz), residents' sessions and answers, closed contests

Revision ID: 0012_quiz
Revises: 0011_waiting_reason
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_quiz"
down_revision: str | None = "0011_waiting_reason"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("campaign") as batch_op:
        batch_op.add_column(sa.Column("quiz", sa.JSON(), nullable=True))
    op.create_table(
        "quiz_session",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False),
        sa.Column("contact_id", BigId, sa.ForeignKey("contact.id", ondelete="SET NULL"), nullable=True),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hinted", sa.Boolean(), nullable=False),
        sa.Column("asked_delivery_id", BigId, nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "contact_id", name="uq_quiz_session_campaign_contact"),
    )
    with op.batch_alter_table("quiz_session") as batch_op:
        batch_op.create_index("ix_quiz_session_contact_status", ["contact_id", "status"])
        batch_op.create_index("ix_quiz_session_status_asked", ["status", "asked_at"])
    op.create_table(
        "quiz_answer",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", BigId, sa.ForeignKey("quiz_session.id", ondelete="CASCADE"), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "position", name="uq_quiz_answer_session_position"),
    )
    with op.batch_alter_table("quiz_answer") as batch_op:
        batch_op.create_index("ix_quiz_answer_campaign", ["campaign_id", "position"])
    op.create_table(
        "quiz_contest_closing",
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id"),
    )


def downgrade() -> None:
    op.drop_table("quiz_contest_closing")
    with op.batch_alter_table("quiz_answer") as batch_op:
        batch_op.drop_index("ix_quiz_answer_campaign")
    op.drop_table("quiz_answer")
    with op.batch_alter_table("quiz_session") as batch_op:
        batch_op.drop_index("ix_quiz_session_status_asked")
        batch_op.drop_index("ix_quiz_session_contact_status")
    op.drop_table("quiz_session")
    with op.batch_alter_table("campaign") as batch_op:
        batch_op.drop_column("quiz")
