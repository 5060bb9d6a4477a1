"""Channels: events described once, one table pair for every kind but home, an epoch

- `event`: one row per action, with the data every stream sends for it.
  Feed rows point at it (`feed.event_id`).
- `channel_counter` and `channel_event` hold the streams of group pages (the
  rows of `group_counter`, which they replace, keep their numbers) and of
  profile pages (new, from 0), and of any later kind.
- `epoch`: a new random token. Rows written before this revision have no
  event and are never replayed; a new epoch makes every browser that holds
  an older position start over, rather than resume from one of them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import BigId, Timestamp

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

user = sa.table("user", sa.column("id"))
group_counter = sa.table("group_counter", sa.column("group_id"), sa.column("seq"))
channel_counter = sa.table(
    "channel_counter", sa.column("kind"), sa.column("owner_id"), sa.column("seq")
)


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("post_id", sa.Integer, nullable=False),
        sa.Column("fm_user_id", sa.Integer, nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("data", sa.Text, nullable=True),
    )
    op.create_index("ix_event_post_id", "event", ["post_id"])
    op.add_column("feed", sa.Column("event_id", sa.BigInteger, nullable=True))
    op.create_index("ix_feed_event_id", "feed", ["event_id"])

    op.create_table(
        "channel_counter",
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("owner_id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    columns = ["kind", "owner_id", "seq"]
    groups = sa.select(sa.literal("group"), group_counter.c.group_id, group_counter.c.seq)
    op.execute(channel_counter.insert().from_select(columns, groups))
    profiles = sa.select(sa.literal("profile"), user.c.id, sa.literal(0))
    op.execute(channel_counter.insert().from_select(columns, profiles))
    op.create_table(
        "channel_event",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("owner_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "uq_channel_event_kind_owner_seq",
        "channel_event",
        ["kind", "owner_id", "seq"],
        unique=True,
    )
    op.create_index("ix_channel_event_event_id", "channel_event", ["event_id"])
    op.drop_table("group_event")
    op.drop_table("group_counter")

    epoch = op.create_table(
        "epoch",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("value", sa.String(32), nullable=False),
    )
    op.bulk_insert(epoch, [{"id": 1, "value": secrets.token_urlsafe(6)}])


def downgrade() -> None:
    op.drop_table("epoch")
    op.create_table(
        "group_counter",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("group.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    groups = sa.select(channel_counter.c.owner_id, channel_counter.c.seq).where(
        channel_counter.c.kind == "group"
    )
    op.execute(group_counter.insert().from_select(["group_id", "seq"], groups))
    op.create_table(
        "group_event",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("group_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("fm_user_id", sa.Integer, nullable=False),
        sa.Column("post_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
    )
    op.create_index("uq_group_event_group_id_seq", "group_event", ["group_id", "seq"], unique=True)
    op.drop_table("channel_event")
    op.drop_table("channel_counter")
    with op.batch_alter_table("feed") as batch:
        batch.drop_index("ix_feed_event_id")
        batch.drop_column("event_id")
    op.drop_table("event")
