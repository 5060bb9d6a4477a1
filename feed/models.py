"""The `feed` table: one row per (reader, action), fanned out on write.

Each reader numbers their own rows 1, 2, 3, … (`seq`), and that number is
the id of the Server-Sent Event that tells them about the row, so a browser
that reconnects with `Last-Event-ID` is sent exactly the rows it missed.

The numbers come from a counter per reader (`feed_counter`), which the
fan-out raises by one for each reader in the same transaction as it writes
their rows. The database locks a counter from that UPDATE until the commit,
so for any one reader, row n is committed before row n+1 is numbered:
writers never wait for each other unless they write to the same reader, and
then only for that reader's counter. See docs/architecture.md.

This module holds the fan-out, the home page query and the replay query of
the event stream.
"""

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from databases.interfaces import Record

from db import AppDatabase, BigId, Timestamp, json_pairs, metadata, one_transaction
from group.models import check_member, group_counter_table, group_table, membership_table
from post.models import (
    NOT_DELETED,
    POST_COLUMNS,
    add_like,
    comments_and_likers,
    delete_post,
    insert_post,
    likers_of,
    lock_live_post,
    post_table,
    posts_with_authors,
    remove_like,
)
from relationship.models import follower_ids_query
from user.models import feed_counter_table, user_table

PAGE_SIZE = 10
REPLAY_BATCH = 200

feed_table = sa.Table(
    "feed",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the reader's event id
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
    sa.Index("uq_feed_to_user_id_seq", "to_user_id", "seq", unique=True),
    sa.Index("ix_feed_to_user_action_updated", "to_user_id", "action", "updated"),
    # Finds everyone who has a post in their feed, when it is commented or liked.
    sa.Index("ix_feed_post_id_action", "post_id", "action"),
)

# A group's own stream: one row per action in the group, numbered by the
# group's counter (`group_counter`) as a reader's feed rows are by theirs.
group_event_table = sa.Table(
    "group_event",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("group_id", sa.Integer, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the group stream's event id
    sa.Column("fm_user_id", sa.Integer, nullable=False),
    sa.Column("post_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Index("uq_group_event_group_id_seq", "group_id", "seq", unique=True),
)


# --- Writing: each action is one transaction. ------------------------------


def _number_next_rows(readers: sa.Subquery) -> sa.Update:
    """Raise the counter of every reader in `readers` by one, in one UPDATE.

    Each counter stays locked until the transaction ends: another writer
    with the same reader waits for that, so the reader's rows are committed
    in the order of their numbers, and their numbers have no holes.
    """
    return (
        feed_counter_table.update()
        .where(feed_counter_table.c.user_id == readers.c.reader_id)
        .values(seq=feed_counter_table.c.seq + 1)
    )


def _insert_feed_rows(readers: sa.Subquery, actor_id: int, post_id: int, action: str, now):
    """One INSERT … SELECT giving a feed row to every reader in `readers`,
    numbered by their counter.

    However many followers, the database does the loop: one statement.
    """
    rows = sa.select(
        feed_counter_table.c.user_id,
        feed_counter_table.c.seq,
        sa.literal(actor_id),
        sa.literal(post_id),
        sa.literal(action),
        sa.literal(now, Timestamp),
        sa.literal(now, Timestamp),
    ).join_from(feed_counter_table, readers, feed_counter_table.c.user_id == readers.c.reader_id)
    columns = ["to_user_id", "seq", "fm_user_id", "post_id", "action", "created", "updated"]
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


def _members_of(group_id: int) -> sa.Subquery:
    """Everyone in a group, as readers."""
    return (
        sa.select(membership_table.c.user_id.label("reader_id"))
        .where(membership_table.c.group_id == group_id)
        .subquery("readers")
    )


async def _fan_out(
    database: AppDatabase, readers: sa.Subquery, actor_id: int, post_id: int, action: str, now
) -> dict[int, int]:
    """Number and insert the feed rows of one action, in three statements
    whatever the number of readers; return {reader id: their event id}."""
    await database.execute(_number_next_rows(readers))
    await database.execute(_insert_feed_rows(readers, actor_id, post_id, action, now))
    # The rows of this action share post, action and timestamp (to the
    # microsecond), which no earlier like or unlike of the same post does.
    # (post_id, action) is indexed; the actor is left out on purpose, so the
    # planner has no other index to be tempted by.
    query = sa.select(json_pairs(feed_table.c.to_user_id, feed_table.c.seq)).where(
        feed_table.c.post_id == post_id,
        feed_table.c.action == action,
        feed_table.c.created == now,
    )
    pairs = await database.fetch_val(query)
    return dict(json.loads(pairs)) if pairs else {}


async def _add_group_event(
    database: AppDatabase, group_id: int, actor_id: int, post_id: int, action: str, now
) -> tuple[int, int]:
    """The next event of a group's own stream, numbered by the group's
    counter as a reader's are by theirs. Returns (group id, its event id)."""
    counter = group_counter_table
    this_group = counter.c.group_id == group_id
    await database.execute(counter.update().where(this_group).values(seq=counter.c.seq + 1))
    event_id = await database.fetch_val(sa.select(counter.c.seq).where(this_group))
    event = dict(group_id=group_id, seq=event_id, fm_user_id=actor_id, post_id=post_id)
    await database.execute(group_event_table.insert().values(**event, action=action, created=now))
    return group_id, event_id


async def _bump(database: AppDatabase, post_id: int, now: datetime) -> None:
    """Raise a post to the top of every feed that has it (FriendFeed's way)."""
    query = (
        feed_table.update()
        .where(feed_table.c.post_id == post_id, feed_table.c.action == "post")
        .values(updated=now)
    )
    await database.execute(query)


@dataclass(frozen=True)
class Thread:
    """A post and its comments: where a comment, a like or a deletion
    happens, and so who hears of it."""

    post_id: int
    group_id: int | None = None  # the group it was posted in, if any

    def readers(self) -> sa.Subquery:
        # In a group, its members now: someone who left hears of nothing new.
        if self.group_id is not None:
            return _members_of(self.group_id)
        return _readers_of(self.post_id)


@dataclass(frozen=True)
class Told:
    """Who heard of one action: {reader id: their event id}, and the
    group's own stream, (group id, its event id), for an action in a group."""

    readers: dict[int, int]
    group: tuple[int, int] | None = None


async def _tell(
    database: AppDatabase, thread: Thread, actor_id: int, post_id: int, action: str, now
) -> Told:
    """Give every reader of the thread (and its group's stream) the action."""
    event_ids = await _fan_out(database, thread.readers(), actor_id, post_id, action, now)
    if thread.group_id is None:
        return Told(event_ids)
    group_event = await _add_group_event(database, thread.group_id, actor_id, post_id, action, now)
    return Told(event_ids, group_event)


async def _check_thread(
    database: AppDatabase, thread: Thread, post_id: int, member_id: int | None = None
) -> None:
    """What a write to a thread depends on, checked inside its transaction
    and held until it commits, so that concurrent writes end as if they had
    run one after the other: the thread's post, and `post_id` (the post or
    one of its comments), not deleted (PostGone); `member_id`, when given,
    a member of the thread's group (NotAMember). The thread's post is locked
    first by every writer, so they lock in one order."""
    await lock_live_post(database, thread.post_id)
    if post_id != thread.post_id:
        await lock_live_post(database, post_id)
    if member_id is not None and thread.group_id is not None:
        await check_member(database, thread.group_id, member_id)


@one_transaction
async def write_post(
    database: AppDatabase, author_id: int, body: str, now: datetime, group_id: int | None = None
) -> tuple[str, Told]:
    """Insert a post and give it to its author and every follower (or, in a
    group, to its members and the group's stream), in one transaction: four
    statements, three more in a group. Returns its uid and who was told."""
    if group_id is not None:
        await check_member(database, group_id, author_id)
    post_id, uid = await insert_post(database, author_id, body, now, group_id=group_id)
    if group_id is None:
        readers = _author_and_followers(author_id)
        return uid, Told(await _fan_out(database, readers, author_id, post_id, "post", now))
    return uid, await _tell(database, Thread(post_id, group_id), author_id, post_id, "post", now)


@one_transaction
async def write_comment(
    database: AppDatabase, author_id: int, thread: Thread, body: str, now: datetime
) -> tuple[str, Told]:
    """Comment on a post: everyone who has the post hears of it, and it rises.
    Returns the comment's uid and who was told."""
    await _check_thread(database, thread, thread.post_id, member_id=author_id)
    comment_id, uid = await insert_post(
        database, author_id, body, now, parent_post_id=thread.post_id, group_id=thread.group_id
    )
    told = await _tell(database, thread, author_id, comment_id, "comment", now)
    await _bump(database, thread.post_id, now)
    return uid, told


@one_transaction
async def write_like(
    database: AppDatabase, user_id: int, post_id: int, thread: Thread, like: bool, now: datetime
) -> tuple[list[str], Told | None]:
    """Like or unlike a post or a comment of `thread`. Returns its likers
    afterwards, and who was told, or None when nothing changed. Only
    members like in a group; anyone takes their like back, as anyone
    deletes what they wrote."""
    await _check_thread(database, thread, post_id, member_id=user_id if like else None)
    if like:
        changed = await add_like(database, post_id, user_id, now)
    else:
        changed = await remove_like(database, post_id, user_id)
    told = None
    if changed:
        told = await _tell(database, thread, user_id, post_id, "like" if like else "unlike", now)
        if like and post_id == thread.post_id:  # a liked post rises; a liked comment does not
            await _bump(database, post_id, now)
    likers = (await likers_of(database, [post_id]))[post_id]
    return likers, told


@one_transaction
async def write_delete(
    database: AppDatabase, user_id: int, post_id: int, thread: Thread, now: datetime
) -> Told:
    """Delete a post (with its comments and likes) or a comment, and tell
    everyone who has the post."""
    await _check_thread(database, thread, post_id)
    await delete_post(database, post_id, now)
    return await _tell(database, thread, user_id, post_id, "delete", now)


# --- Reading ----------------------------------------------------------------


def _newest_event_id(user_id: int):
    """The reader's counter: the event id of the newest row in their feed."""
    counter = feed_counter_table
    return sa.select(counter.c.seq).where(counter.c.user_id == user_id).scalar_subquery()


async def newest_event_id(database: AppDatabase, user_id: int) -> int:
    """Where a reader's event stream starts for a page rendered now (0 before
    their first event)."""
    return await database.fetch_val(sa.select(_newest_event_id(user_id))) or 0


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

    Three statements whatever the page shows: the posts (with the group of
    each made in one), their comments and their likers. Returns those rows,
    the feed id to ask for the next page (None at the end), and the newest
    event id, where the event stream starts.
    """
    query = (
        sa.select(
            feed_table.c.id.label("feed_id"),
            _newest_event_id(user_id).label("last_event_id"),
            *POST_COLUMNS,
            group_table.c.name.label("group_name"),
            group_table.c.slug.label("group_slug"),
        )
        .select_from(
            feed_table.join(posts_with_authors, post_table.c.id == feed_table.c.post_id).outerjoin(
                group_table, group_table.c.id == post_table.c.group_id
            )
        )
        .where(feed_table.c.to_user_id == user_id, feed_table.c.action == "post", NOT_DELETED)
        .order_by(feed_table.c.updated.desc(), feed_table.c.id.desc())
        .limit(PAGE_SIZE + 1)  # one more than shown tells whether there is a next page
    )
    if before is not None:
        query = query.where(_older_than(user_id, before))
    rows = await database.fetch_all(query)
    shown = rows[:PAGE_SIZE]
    comments, likers = await comments_and_likers(database, shown)
    return {
        "posts": shown,
        "comments": comments,
        "likers": likers,
        "next_before": shown[-1]["feed_id"] if len(rows) > PAGE_SIZE else None,
        "last_event_id": rows[0]["last_event_id"] if rows else 0,
    }


author = user_table.alias("author")
actor = user_table.alias("actor")
parent = post_table.alias("parent")


def _replay_query(events: sa.Table) -> sa.Select:
    """What a stream replays from a table of events (a reader's feed rows, or
    a group's events): each with its post, author, parent and actor."""
    return sa.select(
        events.c.seq.label("event_id"),
        events.c.action,
        events.c.post_id,
        post_table.c.uid,
        post_table.c.body,
        post_table.c.created,
        author.c.username,
        author.c.image,
        parent.c.uid.label("parent_uid"),
        actor.c.username.label("actor_name"),
        group_table.c.name.label("group_name"),
        group_table.c.slug.label("group_slug"),
    ).select_from(
        events.join(post_table, post_table.c.id == events.c.post_id)
        .join(author, author.c.id == post_table.c.user_id)
        .join(actor, actor.c.id == events.c.fm_user_id)
        .outerjoin(parent, parent.c.id == post_table.c.parent_post_id)
        .outerjoin(group_table, group_table.c.id == post_table.c.group_id)
    )


async def _events_after(
    database: AppDatabase, events: sa.Table, owner: sa.ColumnElement, after: int, limit: int
) -> tuple[list[Record], dict[int, list[str]]]:
    """The events of one stream after the event id `after`, oldest first,
    with the likers of what their likes and unlikes are about. What was
    deleted since is left out, all but the deletion itself."""
    still_there = sa.or_(NOT_DELETED, events.c.action == "delete")
    query = (
        _replay_query(events)
        .where(owner, events.c.seq > after, still_there)
        .order_by(events.c.seq)
        .limit(limit)
    )
    rows = await database.fetch_all(query)
    liked_ids = {row["post_id"] for row in rows if row["action"] in ("like", "unlike")}
    likers = await likers_of(database, liked_ids) if liked_ids else {}
    return rows, likers


async def events_after(
    database: AppDatabase, user_id: int, after: int, limit: int = REPLAY_BATCH
) -> tuple[list[Record], dict[int, list[str]]]:
    """What a reader's stream missed after the event id `after`."""
    owner = feed_table.c.to_user_id == user_id
    return await _events_after(database, feed_table, owner, after, limit)


async def group_events_after(
    database: AppDatabase, group_id: int, after: int, limit: int = REPLAY_BATCH
) -> tuple[list[Record], dict[int, list[str]]]:
    """What a group's stream missed after the event id `after`."""
    owner = group_event_table.c.group_id == group_id
    return await _events_after(database, group_event_table, owner, after, limit)
