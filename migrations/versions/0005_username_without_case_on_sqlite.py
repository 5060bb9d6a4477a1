"""user.username: one name whatever its case, on SQLite too

MySQL's collations already make "Alice" and "alice" the same name, for the
unique index and for every lookup. SQLite compares bytes unless the column
is declared COLLATE NOCASE, which needs the table rebuilt (batch mode).
Names that differ only in case and were both registered stop this migration
with SQLite's UNIQUE error: rename one of them first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_username_type(new_type: sa.types.TypeEngine, old_type: sa.types.TypeEngine) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # MySQL already compares names without regard to case
    with op.batch_alter_table("user") as batch:
        batch.alter_column(
            "username", type_=new_type, existing_type=old_type, existing_nullable=False
        )


def upgrade() -> None:
    _set_username_type(sqlite.VARCHAR(15, collation="NOCASE"), sa.String(15))


def downgrade() -> None:
    _set_username_type(sa.String(15), sqlite.VARCHAR(15, collation="NOCASE"))
