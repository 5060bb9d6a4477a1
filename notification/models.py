"""The `notification` table and its queries: what each person is told of.

A person is told when someone else follows them, likes their post or
comment, comments on their post or on a post they commented on, or
mentions them. Each notification is also an event of their `notices`
channel (feed.channels), numbered by it (`seq`): the bell on every open page
hears of it at once, and a page that reconnects replays what it missed.

The rows are written by feed.models, in the transaction of the action, with
one INSERT … SELECT from the channel rows that numbered them, however many
people are told. They go when what they are about does (a like taken back,
a comment deleted, an unfollow), so no one is told of what is no longer so.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from databases import Database
from databases.interfaces import Record

from db import BigId, Timestamp, current_epoch, metadata
from group.models import membership_table
from post.models import post_table
from user.models import NOTICES_CHANNEL, channel_counter_table, user_table

# Kinds of notification, by what happened.
FOLLOW = "follow"  # someone followed you
LIKE = "like"  # someone liked your post or comment
COMMENT = "comment"  # someone commented on your post
REPLY = "reply"  # someone commented on a post you commented on
MENTION = "mention"  # someone named you with @name in a post or comment

PAGE_SIZE = 30

notification_table = sa.Table(
    "notification",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),  # who is told
    sa.Column("seq", sa.BigInteger, nullable=False),  # its number in their notices channel
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=False),  # who did it
    # The post or comment it is about (liked, written, mentioning), and the
    # post of its thread, where it links; NULL for a follow.
    sa.Column("post_id", sa.Integer, nullable=True),
    sa.Column("thread_id", sa.Integer, nullable=True),
    sa.Column("event_id", sa.BigInteger, nullable=False),  # the action's event
    sa.Column("unread", sa.Boolean, nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    # No foreign keys, as in `feed`: only the fan-out writes them, for
    # people and posts that exist.
    sa.Index("uq_notification_user_id_seq", "user_id", "seq", unique=True),
    sa.Index("ix_notification_user_id_unread", "user_id", "unread"),
    # A follow taken back: the follower's notification of the person followed.
    sa.Index("ix_notification_user_id_actor_id", "user_id", "actor_id"),
    # Everything about a post or comment, when it is deleted or unliked.
    sa.Index("ix_notification_post_id", "post_id"),
)


# --- Who is told -------------------------------------------------------------


def may_hear(user_id: sa.ColumnElement, group_id: int | None) -> sa.ColumnElement[bool]:
    """Whether `user_id` may be told of what happens in a thread: anyone,
    outside groups; in a group, its members now (as its events reach only
    them: someone who left hears of nothing new)."""
    if group_id is None:
        return sa.true()
    return sa.exists().where(
        membership_table.c.group_id == group_id, membership_table.c.user_id == user_id
    )


def participants(thread_id: int, group_id: int | None, excluded: list[int]) -> sa.Select:
    """Everyone with a comment on the thread, but `excluded`, as `user_id`:
    one range of the index of comments by post."""
    author = post_table.c.user_id
    return (
        sa.select(author.label("user_id"))
        .where(post_table.c.parent_post_id == thread_id, post_table.c.deleted.is_(None))
        .where(author.not_in(excluded), may_hear(author, group_id))
        .distinct()
    )


def people(user_ids: list[int], group_id: int | None) -> sa.Select:
    """These people, as `user_id`, those who may hear of the thread."""
    user_id = user_table.c.id
    return sa.select(user_id.label("user_id")).where(
        user_id.in_(user_ids), may_hear(user_id, group_id)
    )


def author_of(post_id: int, group_id: int | None, excluded: int) -> sa.Select:
    """The author of a post or comment, as `user_id`, unless it is `excluded`
    or may no longer hear of its thread."""
    author = post_table.c.user_id
    return sa.select(author.label("user_id")).where(
        post_table.c.id == post_id, author != excluded, may_hear(author, group_id)
    )


def notified_about(post_ids: list[int]) -> sa.Select:
    """Everyone told of something about these posts or comments, as `user_id`."""
    return (
        sa.select(notification_table.c.user_id)
        .where(notification_table.c.post_id.in_(post_ids))
        .distinct()
    )


@dataclass(frozen=True)
class Notice:
    """What a notification is about: who did it, to which post or comment
    of which thread (none for a follow)."""

    actor_id: int
    post_id: int | None = None
    thread_id: int | None = None


async def note(database: Database, told: sa.Select, notice: Notice, event_id: int, now) -> None:
    """Add a notification for each row (owner_id, seq, kind) of `told`: the
    rows that numbered the action's event in the notices channels, with the
    kind of each. One statement, however many there are."""
    told = told.subquery()
    rows = sa.select(
        told.c.owner_id,
        told.c.seq,
        told.c.kind,
        sa.literal(notice.actor_id),
        sa.literal(notice.post_id, sa.Integer),
        sa.literal(notice.thread_id, sa.Integer),
        sa.literal(event_id, sa.BigInteger),
        sa.true(),
        sa.literal(now, Timestamp),
    )
    columns = ["user_id", "seq", "kind", "actor_id", "post_id", "thread_id", "event_id"]
    insert = notification_table.insert().from_select([*columns, "unread", "created"], rows)
    await database.execute(insert)


async def forget(database: Database, condition: sa.ColumnElement[bool]) -> None:
    """Delete the notifications that meet `condition`: found first, then
    deleted by id (a DELETE that searched would lock the gaps around them
    too, and deadlock with writers adding others there)."""
    found = await database.fetch_all(sa.select(notification_table.c.id).where(condition))
    ids = [row[0] for row in found]
    if ids:
        await database.execute(notification_table.delete().where(notification_table.c.id.in_(ids)))


def about(post_ids: list[int]) -> sa.ColumnElement[bool]:
    return notification_table.c.post_id.in_(post_ids)


def like_by(liker_id: int, post_ids: list[int]) -> sa.ColumnElement[bool]:
    """The notifications of `liker_id`'s likes of these posts or comments."""
    table = notification_table.c
    return sa.and_(table.post_id.in_(post_ids), table.actor_id == liker_id, table.kind == LIKE)


def follow_by(follower_id: int, followed_ids: list[int]) -> sa.ColumnElement[bool]:
    """The notifications of `follower_id`'s follows of these people."""
    table = notification_table.c
    return sa.and_(
        table.user_id.in_(followed_ids), table.actor_id == follower_id, table.kind == FOLLOW
    )


def told_to(user_id: int) -> sa.ColumnElement[bool]:
    """Every notification of one person."""
    return notification_table.c.user_id == user_id


# --- Read state ----------------------------------------------------------------


def _unread(user_id) -> sa.ColumnElement[bool]:
    table = notification_table.c
    return sa.and_(table.user_id == user_id, table.unread)


def unread_count(user_id) -> sa.ScalarSelect:
    """How many of a person's notifications are unread (a number, or a column
    of an outer query): one range of an index."""
    return sa.select(sa.func.count()).where(_unread(user_id)).scalar_subquery()


def notices_seq(user_id) -> sa.ScalarSelect:
    """The newest event id of a person's notices channel."""
    counter = channel_counter_table.c
    return (
        sa.select(counter.seq)
        .where(counter.kind == NOTICES_CHANNEL, counter.owner_id == user_id)
        .scalar_subquery()
    )


def bell_columns() -> tuple[sa.Label, ...]:
    """What every page of a logged-in person shows in its navbar and where
    its stream starts, as columns of the query that reads who they are
    (user.models.user_by_session): no statement of its own."""
    user_id = user_table.c.id
    return (
        unread_count(user_id).label("unread_notices"),
        notices_seq(user_id).label("notices_seq"),
        current_epoch().label("epoch"),
    )


async def bell(database: Database, user_id: int) -> Record:
    """(unread_notices, notices_seq) now: one statement, one snapshot."""
    query = sa.select(
        unread_count(user_id).label("unread_notices"), notices_seq(user_id).label("notices_seq")
    )
    return await database.fetch_one(query)


async def unread_through(database: Database, user_id: int, through: int) -> tuple[int, int]:
    """(unread notifications up to event `through` of the notices channel,
    all unread ones): one statement."""
    up_to = sa.select(sa.func.count()).where(_unread(user_id), notification_table.c.seq <= through)
    row = await database.fetch_one(sa.select(up_to.scalar_subquery(), unread_count(user_id)))
    return row[0], row[1]


async def mark_read(database: Database, user_id: int, through: int) -> None:
    """Mark a person's notifications up to event `through` read."""
    query = notification_table.update().where(
        _unread(user_id), notification_table.c.seq <= through
    )
    await database.execute(query.values(unread=False))


# --- The list ------------------------------------------------------------------

_actor = user_table.alias("actor")
_thread = post_table.alias("thread")
_thread_author = user_table.alias("thread_author")


async def notifications_page(
    database: Database, user_id: int, before: int | None = None
) -> list[Record]:
    """A person's notifications, newest first: PAGE_SIZE + 1 of them (one
    more tells whether there is a next page), with who did it, the post it
    links to and its author, and the comment it is about. One statement."""
    table = notification_table
    query = (
        sa.select(
            table.c.seq,
            table.c.kind,
            table.c.unread,
            table.c.created,
            _actor.c.username.label("actor"),
            _actor.c.image.label("actor_image"),
            _actor.c.display_name.label("actor_display_name"),
            _thread.c.uid.label("post_uid"),
            _thread_author.c.username.label("post_author"),
            sa.case((post_table.c.parent_post_id.is_not(None), post_table.c.uid)).label(
                "comment_uid"
            ),
        )
        .select_from(
            table.join(_actor, _actor.c.id == table.c.actor_id)
            .outerjoin(post_table, post_table.c.id == table.c.post_id)
            .outerjoin(_thread, _thread.c.id == table.c.thread_id)
            .outerjoin(_thread_author, _thread_author.c.id == _thread.c.user_id)
        )
        .where(table.c.user_id == user_id, _actor.c.deleted.is_(None))
        .order_by(table.c.seq.desc())
        .limit(PAGE_SIZE + 1)
    )
    if before is not None:
        query = query.where(table.c.seq < before)
    return await database.fetch_all(query)
