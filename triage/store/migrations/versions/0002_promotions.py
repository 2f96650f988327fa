"""promotions: the audit trail of champion changes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("registry_version", sa.String(32)),
        sa.Column("model_dir", sa.Text(), nullable=False),
        sa.Column("previous_version", sa.String(64)),
        sa.Column("promoted_by", sa.String(100), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("metrics", sa.JSON()),
    )


def downgrade() -> None:
    op.drop_table("promotions")
