"""notifications: mentions, each person's notifications, and their channel

- `mention`: the people a post or comment names with @name, as it is
  written (pages link the names of people who exist).
- `notification`: what each person is told of (a follower, a like, a
  comment, a mention), numbered in their `notices` channel.
- A `notices` counter in `channel_counter` for everyone who has registered
  already; registration creates it for everyone after.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import BigId, Timestamp

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTICES = "notices"
user = sa.table("user", sa.column("id"))
channel_counter = sa.table(
    "channel_counter", sa.column("kind"), sa.column("owner_id"), sa.column("seq")
)
channel_event = sa.table("channel_event", sa.column("kind"))
NOTIFICATION_INDEXES = {
    "uq_notification_user_id_seq": (["user_id", "seq"], True),
    "ix_notification_user_id_unread": (["user_id", "unread"], False),
    "ix_notification_user_id_actor_id": (["user_id", "actor_id"], False),
    "ix_notification_post_id": (["post_id"], False),
}


def upgrade() -> None:
    op.create_table(
        "mention",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.UniqueConstraint("post_id", "user_id", name="uq_mention_post_user"),
    )
    op.create_table(
        "notification",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=False),
        sa.Column("post_id", sa.Integer, nullable=True),
        sa.Column("thread_id", sa.Integer, nullable=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("unread", sa.Boolean, nullable=False),
        sa.Column("created", Timestamp, nullable=False),
    )
    for name, (columns, unique) in NOTIFICATION_INDEXES.items():
        op.create_index(name, "notification", columns, unique=unique)
    counters = sa.select(sa.literal(NOTICES), user.c.id, sa.literal(0))
    op.execute(channel_counter.insert().from_select(["kind", "owner_id", "seq"], counters))


def downgrade() -> None:
    op.execute(channel_event.delete().where(channel_event.c.kind == NOTICES))
    op.execute(channel_counter.delete().where(channel_counter.c.kind == NOTICES))
    op.drop_table("notification")
    op.drop_table("mention")
