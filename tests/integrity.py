"""What a QuartFeed database holds true whatever ran at the same time.

`await assert_integrity(database)` after a race test: each invariant is a
query for the rows that break it, and every query must find none.
"""

import sqlalchemy as sa

from feed.models import NO_POST, channel_event_table, event_table, feed_table
from group.models import GROUP_CHANNEL, group_table
from post.models import like_table, post_table
from user.models import PROFILE_CHANNEL, channel_counter_table, feed_counter_table, user_table

parent = post_table.alias("parent")


def badly_numbered(
    events: sa.Table, owner: list[str], counter: sa.Table, counter_owner: list[str]
):
    """Channels (a reader's home; a group or a profile) with events numbered
    outside 1 to their counter: (owner…, counter, rows, lowest, highest).
    The (owner, seq) index keeps numbers unique. A number may be missing
    only where a like's rows were replaced by a later like or unlike of the
    same person (feed.models._forget_earlier_likes), or an edit's by a
    later edit of the same post or comment (feed.models.write_edit)."""
    owner_columns = [events.c[name] for name in owner]
    numbers = (
        sa.select(
            *(column.label(f"owner{n}") for n, column in enumerate(owner_columns)),
            sa.func.count().label("rows"),
            sa.func.min(events.c.seq).label("lowest"),
            sa.func.max(events.c.seq).label("highest"),
        )
        .group_by(*owner_columns)
        .subquery()
    )
    rows = sa.func.coalesce(numbers.c.rows, 0)
    counter_columns = [counter.c[name] for name in counter_owner]
    same_owner = sa.and_(
        *(numbers.c[f"owner{n}"] == column for n, column in enumerate(counter_columns))
    )
    return (
        sa.select(*counter_columns, counter.c.seq, rows, numbers.c.lowest, numbers.c.highest)
        .outerjoin(numbers, same_owner)
        .where(
            sa.or_(
                rows > counter.c.seq,
                sa.func.coalesce(numbers.c.highest, 0) > counter.c.seq,
                sa.func.coalesce(numbers.c.lowest, 1) < 1,
            )
        )
    )


def missing(column: sa.Column, table: sa.Table) -> sa.ColumnElement:
    """`column` names no row of `table` (the event tables have no foreign keys)."""
    return ~sa.exists().where(table.c.id == column)


def rows_of_no_actor_or_post(events: sa.Table, *others: sa.ColumnElement):
    """Rows whose actor or post (or any of `others`) does not exist."""
    return sa.select(events.c.id).where(
        sa.or_(
            *others,
            missing(events.c.fm_user_id, user_table),
            # A follow, a read, an account's farewell are about no post.
            sa.and_(events.c.post_id != NO_POST, missing(events.c.post_id, post_table)),
        )
    )


def without_counter(owners: sa.Table, counter: sa.Table, *matches: sa.ColumnElement):
    """Owners (people, groups) that have no counter where `matches` say."""
    return sa.select(owners.c.id).where(~sa.exists().where(*matches))


channel_counter = channel_counter_table.c
INVARIANTS = {
    "feed rows numbered up to the reader's counter": badly_numbered(
        feed_table, ["to_user_id"], feed_counter_table, ["user_id"]
    ),
    "channel events numbered up to the channel's counter": badly_numbered(
        channel_event_table, ["kind", "owner_id"], channel_counter_table, ["kind", "owner_id"]
    ),
    "a live comment on a deleted post": sa.select(post_table.c.id)
    .join(parent, parent.c.id == post_table.c.parent_post_id)
    .where(post_table.c.deleted.is_(None), parent.c.deleted.is_not(None)),
    "a like on a deleted post or comment": sa.select(like_table.c.id)
    .join(post_table, post_table.c.id == like_table.c.post_id)
    .where(post_table.c.deleted.is_not(None)),
    "a post without its author's own feed row": sa.select(post_table.c.id).where(
        post_table.c.parent_post_id.is_(None),
        ~sa.exists().where(
            feed_table.c.to_user_id == post_table.c.user_id,
            feed_table.c.post_id == post_table.c.id,
            feed_table.c.action == "post",
        ),
    ),
    "a comment in another group than its post": sa.select(post_table.c.id)
    .join(parent, parent.c.id == post_table.c.parent_post_id)
    .where(
        sa.or_(
            post_table.c.group_id != parent.c.group_id,
            post_table.c.group_id.is_(None) != parent.c.group_id.is_(None),
        )
    ),
    "a feed row of a reader, actor or post that does not exist": rows_of_no_actor_or_post(
        feed_table, missing(feed_table.c.to_user_id, user_table)
    ),
    "an event of an actor or post that does not exist": rows_of_no_actor_or_post(event_table),
    "a channel event of no event": sa.select(channel_event_table.c.id).where(
        missing(channel_event_table.c.event_id, event_table)
    ),
    "a user without a feed counter": without_counter(
        user_table, feed_counter_table, feed_counter_table.c.user_id == user_table.c.id
    ),
    "a user without a profile counter": without_counter(
        user_table,
        channel_counter_table,
        channel_counter.kind == PROFILE_CHANNEL,
        channel_counter.owner_id == user_table.c.id,
    ),
    "a group without a stream counter": without_counter(
        group_table,
        channel_counter_table,
        channel_counter.kind == GROUP_CHANNEL,
        channel_counter.owner_id == group_table.c.id,
    ),
}


async def broken_invariants(database) -> dict[str, list[tuple]]:
    """Each invariant that some rows break, with those rows."""
    broken = {}
    for invariant, query in INVARIANTS.items():
        if rows := await database.fetch_all(query):
            broken[invariant] = [tuple(row) for row in rows]
    return broken


async def assert_integrity(database) -> None:
    broken = await broken_invariants(database)
    assert not broken, f"invariants broken: {broken}"
