"""fanout: the fan-outs still to finish, and indexes to walk readers in order

- `fanout`: the actions whose audience was too large for the transaction
  that wrote them (a transactional outbox), a row for each lane of readers.
  Workers hand the event to the lane a batch at a time and delete the row
  when done.
- `feed (post_id, action, to_user_id)` replaces `(post_id, action)`: everyone
  who has a post, in reader order, a batch at a time.
- `feed (event_id, to_user_id)` replaces `(event_id)`: the last reader a
  fan-out has reached is the greatest reader of its event's rows.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import BigId, Timestamp

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old index, new index, new columns) on feed.
FEED_INDEXES = [
    (
        "ix_feed_post_id_action",
        "ix_feed_post_id_action_to_user_id",
        ["post_id", "action", "to_user_id"],
    ),
    ("ix_feed_event_id", "ix_feed_event_id_to_user_id", ["event_id", "to_user_id"]),
]


def upgrade() -> None:
    op.create_table(
        "fanout",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("thread_id", sa.Integer, nullable=False),
        sa.Column("audience", sa.String(10), nullable=False),
        sa.Column("audience_id", sa.Integer, nullable=False),
        sa.Column("raises", sa.Boolean, nullable=False),
        sa.Column("after_id", sa.Integer, nullable=False),
        sa.Column("through_id", sa.Integer, nullable=True),
        sa.Column("created", Timestamp, nullable=False),
    )
    op.create_index("ix_fanout_thread_id", "fanout", ["thread_id"])
    op.create_index("ix_fanout_event_id", "fanout", ["event_id"])
    for old, new, columns in FEED_INDEXES:
        op.create_index(new, "feed", columns)
        op.drop_index(old, "feed")


def downgrade() -> None:
    for old, new, columns in FEED_INDEXES:
        op.create_index(old, "feed", columns[:-1])
        op.drop_index(new, "feed")
    op.drop_table("fanout")
