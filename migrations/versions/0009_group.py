"""group and membership tables; post.group_id

Groups are FriendFeed's rooms: a page each, with members who post into it.
A post made in a group names it in `post.group_id` (NULL for the others).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import Timestamp

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "group",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("slug", sa.String(60), nullable=False),
        sa.Column("description", sa.String(280), nullable=False, server_default=""),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.UniqueConstraint("slug", name="uq_group_slug"),
    )
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("group.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.UniqueConstraint("group_id", "user_id", name="uq_membership_group_user"),
    )
    op.create_index("ix_membership_user_id", "membership", ["user_id"])
    # SQLite cannot add a foreign key to a table in place: batch mode rebuilds
    # it. The index comes first, so that MySQL's foreign key uses it rather
    # than make one of its own.
    with op.batch_alter_table("post") as batch:
        batch.add_column(sa.Column("group_id", sa.Integer, nullable=True))
        batch.create_index("ix_post_group_id", ["group_id"])
        batch.create_foreign_key("fk_post_group_id", "group", ["group_id"], ["id"])


def downgrade() -> None:
    # MySQL drops a column only once no foreign key or index needs it.
    with op.batch_alter_table("post") as batch:
        batch.drop_constraint("fk_post_group_id", type_="foreignkey")
        batch.drop_index("ix_post_group_id")
        batch.drop_column("group_id")
    op.drop_table("membership")
    op.drop_table("group")
