"""messages, corrections, api_keys

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("external_id", sa.String(200)),
        sa.Column("author", sa.String(200)),
        sa.Column("posted_at", sa.DateTime(timezone=True)),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("redactions", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON()),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("topic", sa.String(64)),
        sa.Column("topic_confidence", sa.Float()),
        sa.Column("authority", sa.String(64)),
        sa.Column("authority_confidence", sa.Float()),
        sa.Column("urgency", sa.String(32)),
        sa.Column("urgency_confidence", sa.Float()),
        sa.Column("district", sa.String(64)),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("prediction", sa.JSON(), nullable=False),
        sa.Column("review_reason", sa.String(16)),
        sa.Column("review_priority", sa.Float(), nullable=False),
        sa.Column("in_queue", sa.Boolean(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
    )
    op.create_index("ix_messages_queue", "messages", ["in_queue", "review_priority"])
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_table(
        "corrections",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("message_id", Id, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(64)),
        sa.Column("authority", sa.String(64)),
        sa.Column("urgency", sa.String(32)),
        sa.Column("district", sa.String(64)),
        sa.Column("comment", sa.Text()),
    )
    op.create_index("ix_corrections_message_id", "corrections", ["message_id", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_corrections_message_id", table_name="corrections")
    op.drop_table("corrections")
    op.drop_index("ix_messages_created_at", table_name="messages")
    op.drop_index("ix_messages_queue", table_name="messages")
    op.drop_table("messages")
