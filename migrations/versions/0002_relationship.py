"""relationship table: who follows whom

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import Timestamp

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relationship",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fm_user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("to_user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.UniqueConstraint("fm_user_id", "to_user_id", name="uq_relationship_fm_to"),
    )
    op.create_index("ix_relationship_to_user_id", "relationship", ["to_user_id"])


def downgrade() -> None:
    op.drop_table("relationship")
