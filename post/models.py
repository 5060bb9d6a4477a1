"""The `post` and `like` tables and their queries.

A comment is a post whose `parent_post_id` names the post it answers. The
queries return rows; `post.present` turns them into what pages, the JSON
API and the live events show.
"""

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from databases import Database
from databases.interfaces import Record

from db import INTEGRITY_ERRORS, ExactString, Timestamp, metadata, prepared_insert
from user.models import user_table

MAX_BODY_LENGTH = 280

post_table = sa.Table(
    "post",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", ExactString(36), nullable=False),
    sa.Column("parent_post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=True, index=True),
    sa.Column("body", sa.String(MAX_BODY_LENGTH), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False, index=True),
    # The group it was posted in (see group.models), a comment's being its
    # post's; NULL outside groups.
    sa.Column(
        "group_id", sa.Integer, sa.ForeignKey("group.id", name="fk_post_group_id"), index=True
    ),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("updated", Timestamp, nullable=False),
    # When its author deleted it. The row stays, its text does not: its uid
    # is what tells open pages, and streams that reconnect, what to remove.
    sa.Column("deleted", Timestamp, nullable=True),
    # When its author last changed its text; NULL if they never did.
    sa.Column("edited", Timestamp, nullable=True),
    sa.UniqueConstraint("uid", name="uq_post_uid"),
)

like_table = sa.Table(
    "like",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.UniqueConstraint("post_id", "user_id", name="uq_like_post_user"),
)

# The people a post or comment names with @name (utilities.richtext), who
# existed when it was written: their names are links wherever it is shown.
mention_table = sa.Table(
    "mention",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
    sa.UniqueConstraint("post_id", "user_id", name="uq_mention_post_user"),
)
_mentioned = user_table.alias("mentioned")
# Their names, as they are now, "alice,bob" (usernames hold no comma): read
# in the statement that reads the posts, so that links cost no statement.
MENTIONS = (
    sa.select(sa.func.group_concat(_mentioned.c.username))
    .select_from(mention_table.join(_mentioned, _mentioned.c.id == mention_table.c.user_id))
    .where(mention_table.c.post_id == post_table.c.id)
    .scalar_subquery()
    .label("mentions")
)

# The columns every post or comment query selects, author included.
POST_COLUMNS = (
    post_table.c.id,
    post_table.c.uid,
    post_table.c.parent_post_id,
    post_table.c.body,
    post_table.c.created,
    post_table.c.edited,
    user_table.c.username,
    user_table.c.display_name,
    user_table.c.image,
    MENTIONS,
)
posts_with_authors = post_table.join(user_table, user_table.c.id == post_table.c.user_id)
NOT_DELETED = post_table.c.deleted.is_(None)
# What pages show, of rows joined with their authors: not deleted, by an
# account that is not. A closed account's posts are hidden at once, and
# deleted after, a batch at a time (feed.models.write_account_closed).
OPEN_ACCOUNT = user_table.c.deleted.is_(None)
SHOWN = sa.and_(NOT_DELETED, OPEN_ACCOUNT)
parent_table = post_table.alias("parent")


# NUL and lone surrogates (JSON can send "\ud800") are nothing anyone types,
# and the database drivers fail on them: UTF-8 cannot encode a lone surrogate.
UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_TEXT_RULE = "Text cannot contain NUL characters or unpaired surrogates."


def is_storable_text(text: str) -> bool:
    return UNSTORABLE_CHARACTERS.search(text) is None


def character_count(text: str) -> int:
    """QuartFeed's one rule for the length of a post or comment, the same as
    the page's (characterCount in static/js/broadcast.js): the Unicode code
    points of the text without the spaces around it. "😀" is one character,
    "é" written as "e" and a combining accent is two."""
    return len(text.strip())


def clean_body(text: object) -> str | None:
    """The text of a post or comment, trimmed, or None if it is not 1–280 chars."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    return text if 0 < character_count(text) <= MAX_BODY_LENGTH else None


INSERT_POST = prepared_insert(
    post_table, "uid", "user_id", "body", "parent_post_id", "group_id", "created", "updated"
)


async def insert_post(
    database: Database,
    user_id: int,
    body: str,
    now: datetime,
    parent_post_id: int | None = None,
    group_id: int | None = None,
) -> tuple[int, str]:
    """Insert a post (or a comment, with `parent_post_id`), in a group or not;
    return (id, uid)."""
    uid = str(uuid.uuid4())
    query = INSERT_POST.bound(
        uid=uid,
        user_id=user_id,
        body=body,
        parent_post_id=parent_post_id,
        group_id=group_id,
        created=now,
        updated=now,
    )
    return await database.execute(query), uid


async def add_mentions(database: Database, post_id: int, user_ids: Iterable[int]) -> None:
    """Note whom a new post or comment mentions, in one statement."""
    rows = [{"post_id": post_id, "user_id": user_id} for user_id in user_ids]
    if rows:
        await database.execute(mention_table.insert().values(rows))


async def add_new_mentions(database: Database, post_id: int, user_ids: Iterable[int]) -> list[int]:
    """Note whom an edited post or comment mentions that it did not before;
    return their ids. The names it no longer mentions stay noted: they were
    told once, and mentioning them again tells them nothing new."""
    noted = sa.select(mention_table.c.user_id).where(mention_table.c.post_id == post_id)
    already = {row[0] for row in await database.fetch_all(noted)}
    new = [user_id for user_id in user_ids if user_id not in already]
    await add_mentions(database, post_id, new)
    return new


async def replace_body(database: Database, post_id: int, body: str, now: datetime) -> None:
    """Give a post or comment new text, edited `now`. The caller holds its
    lock (`lock_live_post`), so it is not deleted meanwhile."""
    edited = post_table.update().where(post_table.c.id == post_id)
    await database.execute(edited.values(body=body, edited=now))


async def post_by_uid(database: Database, uid: str) -> Record | None:
    """A post or comment that is not deleted: its id, uid, author (id and
    username) and group, and for a comment the post it answers (id, uid,
    author)."""
    query = (
        sa.select(
            post_table.c.id,
            post_table.c.uid,
            post_table.c.user_id,
            user_table.c.username.label("author"),
            post_table.c.group_id,
            post_table.c.parent_post_id,
            parent_table.c.uid.label("parent_uid"),
            parent_table.c.user_id.label("parent_user_id"),
        )
        .select_from(
            post_table.join(user_table, user_table.c.id == post_table.c.user_id).outerjoin(
                parent_table, parent_table.c.id == post_table.c.parent_post_id
            )
        )
        .where(post_table.c.uid == uid, SHOWN)
    )
    return await database.fetch_one(query)


class PostGone(Exception):
    """The post or comment a write depends on is deleted, or never was."""


async def lock_live_post(database: Database, post_id: int) -> None:
    """Lock a post's or comment's row until the transaction ends; PostGone
    if it is deleted.

    Every write to a thread (a comment, a like, a deletion) locks its post
    first, inside its transaction: writes to one thread take turns, and each
    sees the ones committed before it, so no comment or like lands on a post
    deleted a moment earlier. SQLite ignores FOR UPDATE; there a writing
    transaction holds the whole database from its start (see db.py).
    """
    query = sa.select(post_table.c.id).where(post_table.c.id == post_id, NOT_DELETED)
    if await database.fetch_val(query.with_for_update()) is None:
        raise PostGone


async def delete_posts(database: Database, post_ids: list[int], now: datetime) -> list[int]:
    """Delete posts with their comments, or comments: their text and their
    likes. Returns the ids of what it deleted.

    Those are read first, then changed by id: a statement that searched with
    a subquery would lock every row it looked at, and deadlock with writers
    elsewhere. None is added meanwhile: the caller holds the posts' locks
    (`lock_live_post`, `lock_live_posts_by`), which every writer to one
    takes first."""
    threads = sa.or_(post_table.c.id.in_(post_ids), post_table.c.parent_post_id.in_(post_ids))
    deleted_ids = [
        row[0] for row in await database.fetch_all(sa.select(post_table.c.id).where(threads))
    ]
    await database.execute(like_table.delete().where(like_table.c.post_id.in_(deleted_ids)))
    deleted = post_table.update().where(post_table.c.id.in_(deleted_ids))
    await database.execute(deleted.values(deleted=now, body=""))
    return deleted_ids


async def lock_live_posts_by(
    database: Database, user_id: int, after_id: int, limit: int
) -> list[int]:
    """Lock the next `limit` posts and comments of a person that are not
    deleted, with ids above `after_id`, in the order of their ids (one
    range of the index by author); their ids."""
    query = (
        sa.select(post_table.c.id)
        .where(post_table.c.user_id == user_id, post_table.c.id > after_id, NOT_DELETED)
        .order_by(post_table.c.id)
        .limit(limit)
    )
    return [row[0] for row in await database.fetch_all(query.with_for_update())]


async def add_like(database: Database, post_id: int, user_id: int, now: datetime) -> bool:
    """Like a post or comment; False if this user already liked it (liking is idempotent)."""
    query = like_table.insert().values(post_id=post_id, user_id=user_id, created=now)
    try:
        await database.execute(query)
    except INTEGRITY_ERRORS:
        return False
    return True


async def remove_like(database: Database, post_id: int, user_id: int) -> bool:
    """Unlike a post or comment; False if this user did not like it."""
    where = (like_table.c.post_id == post_id, like_table.c.user_id == user_id)
    liked = await database.fetch_val(sa.select(like_table.c.id).where(*where))
    if liked is None:
        return False
    await database.execute(like_table.delete().where(*where))
    return True


async def likers_of(database: Database, post_ids: Iterable[int]) -> dict[int, list[str]]:
    """The usernames who liked each post or comment, first liker first."""
    query = (
        sa.select(like_table.c.post_id, user_table.c.username)
        .join(user_table, user_table.c.id == like_table.c.user_id)
        .where(like_table.c.post_id.in_(list(post_ids)), OPEN_ACCOUNT)
        .order_by(like_table.c.id)
    )
    likers = defaultdict(list)
    for row in await database.fetch_all(query):
        likers[row["post_id"]].append(row["username"])
    return likers


async def comments_of(database: Database, post_ids: Iterable[int]) -> dict[int, list[Record]]:
    """The comments on each post (rows of POST_COLUMNS), oldest first."""
    query = (
        sa.select(*POST_COLUMNS)
        .select_from(posts_with_authors)
        .where(post_table.c.parent_post_id.in_(list(post_ids)), SHOWN)
        .order_by(post_table.c.id)
    )
    comments = defaultdict(list)
    for row in await database.fetch_all(query):
        comments[row["parent_post_id"]].append(row)
    return comments


async def comments_and_likers(
    database: Database, post_rows: list[Record]
) -> tuple[dict[int, list[Record]], dict[int, list[str]]]:
    """The comments of every post in `post_rows`, and the likers of the posts
    and their comments (by id), in two statements however many there are."""
    post_ids = [row["id"] for row in post_rows]
    if not post_ids:
        return {}, {}
    comments = await comments_of(database, post_ids)
    comment_ids = [comment["id"] for thread in comments.values() for comment in thread]
    return comments, await likers_of(database, post_ids + comment_ids)


async def post_with_author(database: Database, uid: str) -> Record | None:
    """A post (not a comment) that is not deleted, as a row of POST_COLUMNS."""
    query = (
        sa.select(*POST_COLUMNS)
        .select_from(posts_with_authors)
        .where(post_table.c.uid == uid, post_table.c.parent_post_id.is_(None), SHOWN)
    )
    return await database.fetch_one(query)
