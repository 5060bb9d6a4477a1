"""group_counter and group_event: each group's own event stream

A group's page has a stream of its own, numbered 1, 2, 3, … by the group's
counter as a reader's home stream is by theirs (see 0007).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import BigId, Timestamp

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "group_counter",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("group.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    group = sa.table("group", sa.column("id"))
    counter = sa.table("group_counter", sa.column("group_id"), sa.column("seq"))
    op.execute(
        counter.insert().from_select(["group_id", "seq"], sa.select(group.c.id, sa.literal(0)))
    )
    op.create_table(
        "group_event",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        # No foreign keys, as on `feed`: written only by the fan-out.
        sa.Column("group_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("fm_user_id", sa.Integer, nullable=False),
        sa.Column("post_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
    )
    op.create_index("uq_group_event_group_id_seq", "group_event", ["group_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_table("group_event")
    op.drop_table("group_counter")
