"""post.edited: when its author last changed the text of a post or comment

NULL for what was never edited. Pages show "edited", with this time.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import Timestamp

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("post", sa.Column("edited", Timestamp, nullable=True))


def downgrade() -> None:
    # SQLite (3.35 and later) drops a column in place; a batch operation
    # would copy the table and lose the search triggers of 0015 with it.
    op.drop_column("post", "edited")
