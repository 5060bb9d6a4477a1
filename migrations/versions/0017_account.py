"""account: display names, bios, closed accounts

- `user.display_name` and `user.bio`: what people say of themselves on
  their settings page (NULL when they said nothing).
- `user.deleted`: when the person deleted their account. The row stays,
  emptied, because the rows that still name it (deleted posts, whose uids
  tell reconnecting pages what to remove; the event logs) need it.
- An index of `event` by who did it: deleting an account forgets the data
  of every event the person wrote, found through it.
- `removal`: the closed accounts whose rows the fan-out workers are still
  forgetting, a batch at a time (an outbox, as `fanout` is).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import Timestamp

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_DISPLAY_NAME_LENGTH = 50
MAX_BIO_LENGTH = 160


def upgrade() -> None:
    op.add_column(
        "user", sa.Column("display_name", sa.String(MAX_DISPLAY_NAME_LENGTH), nullable=True)
    )
    op.add_column("user", sa.Column("bio", sa.String(MAX_BIO_LENGTH), nullable=True))
    op.add_column("user", sa.Column("deleted", Timestamp, nullable=True))
    op.create_index("ix_event_fm_user_id", "event", ["fm_user_id"])
    op.create_table(
        "removal",
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("created", Timestamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("removal")
    op.drop_index("ix_event_fm_user_id", table_name="event")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("deleted")
        batch.drop_column("bio")
        batch.drop_column("display_name")
