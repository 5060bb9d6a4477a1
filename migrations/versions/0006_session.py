"""session table: logins the server can end

The session cookie used to hold the user id itself, so a copy of it stayed
valid after logout. Now it holds the id of a row here, deleted at logout.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import Timestamp

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("expires", Timestamp, nullable=False),
    )
    op.create_index("ix_session_user_id", "session", ["user_id"])


def downgrade() -> None:
    op.drop_table("session")
