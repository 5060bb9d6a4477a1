"""The `feed` table: one row per (reader, action), fanned out on write.

Each row's id is also the id of the Server-Sent Event that tells the reader
about it, so a browser that reconnects with `Last-Event-ID` is sent exactly
the rows it missed. This module holds the fan-out, the home page query and
the replay query of the event stream.
"""

import json
from datetime import datetime

import sqlalchemy as sa
from databases.interfaces import Record

from db import AppDatabase, BigId, Timestamp, json_pairs, metadata, utc_now
from feed.events import FeedEvent, encode_data
from post.models import (
    POST_COLUMNS,
    add_like,
    comment_dict,
    insert_post,
    likers_of,
    post_dict,
    post_table,
    posts_with_authors,
    remove_like,
    with_comments_and_likes,
)
from relationship.models import follower_ids_query
from user.models import user_table

PAGE_SIZE = 10
REPLAY_BATCH = 200

feed_table = sa.Table(
    "feed",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # No foreign keys: the fan-out inserts a row per follower, and checking
    # three keys (and keeping their indexes) for each row cost about a fifth
    # of the insert. The rows are written only by the fan-out, from users and
    # posts that exist.
    sa.Column("to_user_id", sa.Integer, nullable=False),
    sa.Column("fm_user_id", sa.Integer, nullable=False),
    sa.Column("post_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("updated", Timestamp, nullable=False),
    sa.Index("ix_feed_to_user_id_id", "to_user_id", "id"),
    sa.Index("ix_feed_to_user_action_updated", "to_user_id", "action", "updated"),
    # Finds everyone who has a post in their feed, when it is commented or liked.
    sa.Index("ix_feed_post_id_action", "post_id", "action"),
)


# --- Writing: each action is one transaction, and returns its event. --------


def _insert_feed_rows(readers: sa.Subquery, actor_id: int, post_id: int, action: str, now):
    """One INSERT … SELECT giving a feed row to every reader in `readers`.

    However many followers, the database does the loop: one statement.
    """
    rows = sa.select(
        readers.c.reader_id,
        sa.literal(actor_id),
        sa.literal(post_id),
        sa.literal(action),
        sa.literal(now, Timestamp),
        sa.literal(now, Timestamp),
    )
    columns = ["to_user_id", "fm_user_id", "post_id", "action", "created", "updated"]
    return feed_table.insert().from_select(columns, rows)


def _author_and_followers(author_id: int) -> sa.Subquery:
    author = sa.select(sa.literal(author_id).label("reader_id"))
    return sa.union_all(author, follower_ids_query(author_id)).subquery("readers")


def _readers_of(post_id: int) -> sa.Subquery:
    """Everyone who has this post in their feed."""
    return (
        sa.select(feed_table.c.to_user_id.label("reader_id"))
        .where(feed_table.c.post_id == post_id, feed_table.c.action == "post")
        .subquery()
    )


async def _fan_out(
    database: AppDatabase, readers: sa.Subquery, actor_id: int, post_id: int, action: str, now
) -> dict[int, int]:
    """Insert the feed rows of one action; return {reader id: their feed id}."""
    await database.execute(_insert_feed_rows(readers, actor_id, post_id, action, now))
    # The rows of this action share post, action and timestamp (to the
    # microsecond), which no earlier like or unlike of the same post does.
    # (post_id, action) is indexed; the actor is left out on purpose, so the
    # planner has no other index to be tempted by.
    query = sa.select(json_pairs(feed_table.c.to_user_id, feed_table.c.id)).where(
        feed_table.c.post_id == post_id,
        feed_table.c.action == action,
        feed_table.c.created == now,
    )
    pairs = await database.fetch_val(query)
    return dict(json.loads(pairs)) if pairs else {}


async def _bump(database: AppDatabase, post_id: int, now: datetime) -> None:
    """Raise a post to the top of every feed that has it (FriendFeed's way)."""
    query = (
        feed_table.update()
        .where(feed_table.c.post_id == post_id, feed_table.c.action == "post")
        .values(updated=now)
    )
    await database.execute(query)


def _event(action: str, data: dict, feed_ids: dict[int, int]) -> FeedEvent:
    return FeedEvent(action, encode_data(data), feed_ids)


async def create_post(database: AppDatabase, author: Record, body: str) -> tuple[dict, FeedEvent]:
    """Publish a post to its author and every follower: three statements."""
    now = utc_now()
    async with database.transaction():
        post_id, uid = await insert_post(database, author["id"], body, now)
        readers = _author_and_followers(author["id"])
        feed_ids = await _fan_out(database, readers, author["id"], post_id, "post", now)
    post = post_dict(_written(uid, body, now, author), likers=[], comments=[])
    return post, _event("post", post_event_data(post), feed_ids)


async def create_comment(
    database: AppDatabase, author: Record, parent: Record, parent_uid: str, body: str
) -> tuple[dict, FeedEvent]:
    """Comment on a post: everyone who has the post hears of it, and it rises."""
    now = utc_now()
    async with database.transaction():
        comment_id, uid = await insert_post(database, author["id"], body, now, parent["id"])
        readers = _readers_of(parent["id"])
        feed_ids = await _fan_out(database, readers, author["id"], comment_id, "comment", now)
        await _bump(database, parent["id"], now)
    comment = comment_dict(_written(uid, body, now, author))
    return comment, _event("comment", comment_event_data(parent_uid, comment), feed_ids)


async def change_like(
    database: AppDatabase, user: Record, post: Record, post_uid: str, like: bool
) -> tuple[dict, FeedEvent | None]:
    """Like or unlike a post; the event is None when nothing changed."""
    now = utc_now()
    async with database.transaction():
        if like:
            changed = await add_like(database, post["id"], user["id"], now)
        else:
            changed = await remove_like(database, post["id"], user["id"])
        feed_ids = {}
        if changed:
            action = "like" if like else "unlike"
            readers = _readers_of(post["id"])
            feed_ids = await _fan_out(database, readers, user["id"], post["id"], action, now)
            if like:
                await _bump(database, post["id"], now)
        likers = (await likers_of(database, [post["id"]]))[post["id"]]
    state = {"liked": user["username"] in likers, "likes": len(likers), "likers": likers}
    if not changed:
        return state, None
    data = like_event_data(post_uid, user["username"], likers)
    return state, _event("like" if like else "unlike", data, feed_ids)


def _written(uid: str, body: str, now: datetime, author: Record) -> dict:
    """The fields of a just-written post, shaped like a row of POST_COLUMNS."""
    return {
        "uid": uid,
        "body": body,
        "created": now,
        "username": author["username"],
        "image": author["image"],
    }


# --- Event data: the same for a live event and for its replay. -------------


def post_event_data(post: dict) -> dict:
    return {"post": post}


def comment_event_data(post_uid: str, comment: dict) -> dict:
    return {"post_uid": post_uid, "comment": comment}


def like_event_data(post_uid: str, username: str, likers: list[str]) -> dict:
    return {"post_uid": post_uid, "user": username, "likes": len(likers), "likers": likers}


# --- Reading ----------------------------------------------------------------


def _newest_feed_id(user_id: int):
    return (
        sa.select(sa.func.max(feed_table.c.id))
        .where(feed_table.c.to_user_id == user_id)
        .scalar_subquery()
    )


def _older_than(user_id: int, before: int):
    """Rows after feed row `before` in the home page's order (updated, id)."""
    cursor = (
        sa.select(feed_table.c.updated)
        .where(feed_table.c.id == before, feed_table.c.to_user_id == user_id)
        .scalar_subquery()
    )
    return sa.or_(
        feed_table.c.updated < cursor,
        sa.and_(feed_table.c.updated == cursor, feed_table.c.id < before),
    )


async def home_page(database: AppDatabase, user_id: int, before: int | None = None) -> dict:
    """One page of a person's home feed, most recently active post first.

    Three statements whatever the page shows: the posts, their comments and
    their likers. Returns the posts, the feed id to ask for the next page
    (None at the end), and the newest feed id, where the event stream starts.
    """
    query = (
        sa.select(
            feed_table.c.id.label("feed_id"),
            _newest_feed_id(user_id).label("newest_feed_id"),
            *POST_COLUMNS,
        )
        .select_from(feed_table.join(posts_with_authors, post_table.c.id == feed_table.c.post_id))
        .where(feed_table.c.to_user_id == user_id, feed_table.c.action == "post")
        .order_by(feed_table.c.updated.desc(), feed_table.c.id.desc())
        .limit(PAGE_SIZE + 1)  # one more than shown tells whether there is a next page
    )
    if before is not None:
        query = query.where(_older_than(user_id, before))
    rows = await database.fetch_all(query)
    shown = rows[:PAGE_SIZE]
    return {
        "posts": await with_comments_and_likes(database, shown),
        "next_before": shown[-1]["feed_id"] if len(rows) > PAGE_SIZE else None,
        "newest_feed_id": rows[0]["newest_feed_id"] if rows else 0,
    }


author = user_table.alias("author")
actor = user_table.alias("actor")
parent = post_table.alias("parent")

REPLAY_QUERY = sa.select(
    feed_table.c.id.label("feed_id"),
    feed_table.c.action,
    feed_table.c.post_id,
    post_table.c.uid,
    post_table.c.body,
    post_table.c.created,
    author.c.username,
    author.c.image,
    parent.c.uid.label("parent_uid"),
    actor.c.username.label("actor_name"),
).select_from(
    feed_table.join(post_table, post_table.c.id == feed_table.c.post_id)
    .join(author, author.c.id == post_table.c.user_id)
    .join(actor, actor.c.id == feed_table.c.fm_user_id)
    .outerjoin(parent, parent.c.id == post_table.c.parent_post_id)
)


async def events_after(
    database: AppDatabase, user_id: int, after: int, limit: int = REPLAY_BATCH
) -> list[tuple[int, str, dict]]:
    """(feed id, action, data) of a reader's feed rows after `after`, oldest first.

    What a reconnecting stream missed, shaped exactly like the live events.
    """
    query = (
        REPLAY_QUERY.where(feed_table.c.to_user_id == user_id, feed_table.c.id > after)
        .order_by(feed_table.c.id)
        .limit(limit)
    )
    rows = await database.fetch_all(query)
    liked_ids = {row["post_id"] for row in rows if row["action"] in ("like", "unlike")}
    likers = await likers_of(database, liked_ids) if liked_ids else {}
    return [(row["feed_id"], row["action"], _replayed_data(row, likers)) for row in rows]


def _replayed_data(row: Record, likers: dict[int, list[str]]) -> dict:
    if row["action"] == "post":
        return post_event_data(post_dict(row, likers=[], comments=[]))
    if row["action"] == "comment":
        return comment_event_data(row["parent_uid"], comment_dict(row))
    return like_event_data(row["uid"], row["actor_name"], likers.get(row["post_id"], []))
