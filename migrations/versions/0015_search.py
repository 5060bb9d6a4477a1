"""search: an index of the words of posts and comments

Each database has its own kind of index, so this revision makes the one of
the database it runs on (see search/models.py for how each is queried):

- MySQL/MariaDB: an InnoDB FULLTEXT index on `post.body`. The first one on
  a table rebuilds it, and writes to `post` wait meanwhile: on a large
  database, run this revision when few people post.
- SQLite: an FTS5 table, `post_search`, that indexes `post.body` without a
  copy of it (external content: its rowid is the post's id), kept up to date
  by triggers on every insert, change and deletion of a post. It is filled
  with the posts already there.

Neither is in the models' metadata (an FTS5 table is no ordinary table,
and a FULLTEXT index exists on MySQL only): search.models.is_search_index
keeps both out of autogenerate's comparisons.

A later revision that rebuilds `post` on SQLite (batch mode copies the
table, drops it and renames the copy) drops these triggers with it, and must
create them again as this one does (TRIGGERS); tests/test_search.py fails
when an index no longer follows a post's text.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The names search/models.py queries by; written out here, as a revision
# must keep meaning what it meant when the models change.
FULLTEXT_INDEX = "ix_post_body_words"
SEARCH_TABLE = "post_search"

# "remove_diacritics 2" folds accents ("café" is found by "cafe"), as
# MySQL's default collation does; unicode61 folds case too.
CREATE_SEARCH_TABLE = f"""
CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(
    body, content='post', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
)"""
# An external-content FTS5 table forgets a row by being told its old text
# (the 'delete' command), so a change is a deletion and an insertion.
INDEX_NEW_BODY = f"INSERT INTO {SEARCH_TABLE} (rowid, body) VALUES (new.id, new.body);"
FORGET_OLD_BODY = (
    f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, body)"
    " VALUES ('delete', old.id, old.body);"
)
TRIGGERS = {
    f"{SEARCH_TABLE}_after_insert": ("AFTER INSERT ON post", INDEX_NEW_BODY),
    f"{SEARCH_TABLE}_after_update": (
        "AFTER UPDATE OF body ON post",
        FORGET_OLD_BODY + INDEX_NEW_BODY,
    ),
    f"{SEARCH_TABLE}_after_delete": ("AFTER DELETE ON post", FORGET_OLD_BODY),
}


def _on_mysql() -> bool:
    return op.get_bind().dialect.name == "mysql"


def create_sqlite_triggers() -> None:
    for name, (event, statements) in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {statements} END")


def upgrade() -> None:
    if _on_mysql():
        op.create_index(FULLTEXT_INDEX, "post", ["body"], mysql_prefix="FULLTEXT")
        return
    op.execute(CREATE_SEARCH_TABLE)
    op.execute(f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}) VALUES ('rebuild')")
    create_sqlite_triggers()


def downgrade() -> None:
    if _on_mysql():
        op.drop_index(FULLTEXT_INDEX, "post")
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute(f"DROP TABLE {SEARCH_TABLE}")
