"""user.username_key, group.slug and post.uid: compared exactly

MySQL's default collations ignore case, accents and trailing spaces, so
"caról", "ｃａｒｏｌ" and "carol " found carol, and "SECRET-CLUB" and
"sécret-club" the group secret-club. Names, slugs and uids are now compared
as their rules define them (db.ExactString: a binary collation on MySQL;
SQLite compares bytes already).

A username is still one name whatever its case ("Alice" is "alice"): that
is `username_key`, the name in lower case, which has the unique index the
name had. `username` keeps the name as written, for pages; on SQLite it no
longer needs COLLATE NOCASE (see 0005).

On MySQL the post table is rebuilt to change the collation of `uid`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

from db import ExactString

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns compared exactly from now on, but for the new username_key.
EXACT_COLUMNS = [("group", "slug", 60), ("post", "uid", 36)]
# The username's type before: without case on SQLite (0005).
NAME_WITHOUT_CASE = sa.String(15).with_variant(sqlite.VARCHAR(15, collation="NOCASE"), "sqlite")


def _on_mysql() -> bool:
    return op.get_bind().dialect.name == "mysql"


def _set_exact_columns(exact: bool) -> None:
    if not _on_mysql():
        return  # SQLite compares these columns' bytes already
    for table, column, length in EXACT_COLUMNS:
        new_type, old_type = ExactString(length), sa.String(length)
        if not exact:
            new_type, old_type = old_type, new_type
        op.alter_column(table, column, type_=new_type, existing_type=old_type, nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("username_key", ExactString(15), nullable=True))
    user = sa.table("user", sa.column("username"), sa.column("username_key"))
    op.execute(user.update().values(username_key=sa.func.lower(user.c.username)))
    with op.batch_alter_table("user") as batch:
        batch.alter_column("username_key", existing_type=ExactString(15), nullable=False)
        batch.create_index("ix_user_username_key", ["username_key"], unique=True)
        batch.drop_index("ix_user_username")
        batch.alter_column(
            "username", type_=sa.String(15), existing_type=NAME_WITHOUT_CASE, nullable=False
        )
    _set_exact_columns(True)


def downgrade() -> None:
    _set_exact_columns(False)
    with op.batch_alter_table("user") as batch:
        batch.alter_column(
            "username", type_=NAME_WITHOUT_CASE, existing_type=sa.String(15), nullable=False
        )
        batch.create_index("ix_user_username", ["username"], unique=True)
        batch.drop_index("ix_user_username_key")
        batch.drop_column("username_key")
