"""feed_counter and feed.seq: each reader's own event ids, 1, 2, 3, …

A feed row's SSE event id used to be its table-wide id, which only grows on
a stream if writers take turns. Now each reader counts their own rows
(`feed_counter.seq`, the newest) and each row keeps its number (`feed.seq`).

Existing rows keep their ids as their numbers: they already grow for each
reader, so every Last-Event-ID a browser holds stays valid.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_counter",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    user = sa.table("user", sa.column("id"))
    feed = sa.table("feed", sa.column("id"), sa.column("to_user_id"), sa.column("seq"))
    counter = sa.table("feed_counter", sa.column("user_id"), sa.column("seq"))
    newest = sa.select(sa.func.max(feed.c.id)).where(feed.c.to_user_id == user.c.id)
    counts = sa.select(user.c.id, sa.func.coalesce(newest.scalar_subquery(), 0))
    op.execute(counter.insert().from_select(["user_id", "seq"], counts))
    op.add_column("feed", sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"))
    op.execute(feed.update().values(seq=feed.c.id))
    with op.batch_alter_table("feed") as batch:
        batch.alter_column("seq", server_default=None)
        batch.drop_index("ix_feed_to_user_id_id")
        batch.create_index("uq_feed_to_user_id_seq", ["to_user_id", "seq"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("feed") as batch:
        batch.drop_index("uq_feed_to_user_id_seq")
        batch.create_index("ix_feed_to_user_id_id", ["to_user_id", "id"])
        batch.drop_column("seq")
    op.drop_table("feed_counter")
