"""post, like and feed tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import BigId, Timestamp

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "post",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("parent_post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=True),
        sa.Column("body", sa.String(280), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("updated", Timestamp, nullable=False),
        sa.UniqueConstraint("uid", name="uq_post_uid"),
    )
    op.create_index("ix_post_parent_post_id", "post", ["parent_post_id"])
    op.create_index("ix_post_user_id", "post", ["user_id"])
    op.create_table(
        "like",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.UniqueConstraint("post_id", "user_id", name="uq_like_post_user"),
    )
    op.create_table(
        "feed",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        # No foreign keys on the fan-out table: see feed/models.py.
        sa.Column("to_user_id", sa.Integer, nullable=False),
        sa.Column("fm_user_id", sa.Integer, nullable=False),
        sa.Column("post_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("updated", Timestamp, nullable=False),
    )
    op.create_index("ix_feed_to_user_id_id", "feed", ["to_user_id", "id"])
    op.create_index("ix_feed_to_user_action_updated", "feed", ["to_user_id", "action", "updated"])
    op.create_index("ix_feed_post_id_action", "feed", ["post_id", "action"])


def downgrade() -> None:
    op.drop_table("feed")
    op.drop_table("like")
    op.drop_table("post")
