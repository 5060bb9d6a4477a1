"""The integrity check itself: clean on a database the app wrote, and each
invariant caught when a row breaks it."""

import pytest
import sqlalchemy as sa

from db import utc_now
from feed.models import (
    Thread,
    channel_event_table,
    event_table,
    feed_table,
    write_comment,
    write_like,
    write_post,
)
from group.models import GROUP_CHANNEL, create_group, group_table, join_group
from post.models import post_table
from tests.helpers import create_users
from tests.integrity import assert_integrity, broken_invariants
from user.models import PROFILE_CHANNEL, channel_counter_table, feed_counter_table


def described(fact) -> dict:
    """Event data for writes made straight through the models (what it says
    does not matter here)."""
    return {"uid": fact} if isinstance(fact, str) else {"likers": fact}


@pytest.fixture
async def written(database) -> dict[str, int]:
    """alice's post, liked by bob; her post with bob's comment; and her post
    in a group bob joined: their ids, and the people's and the group's."""
    ids = await create_users(database, ["alice", "bob"])
    now = utc_now()
    await create_group(database, ids["alice"], "Owls")
    ids["group"] = await database.fetch_val(sa.select(group_table.c.id))
    await join_group(database, ids["group"], ids["bob"])
    for name, group_id in [("liked", None), ("commented", None), ("in_group", ids["group"])]:
        written = await write_post(database, ids["alice"], name, now, described, group_id)
        ids[name] = await database.fetch_val(
            sa.select(post_table.c.id).where(post_table.c.uid == written.payload["uid"])
        )
    liked, commented = Thread(ids["liked"], ids["alice"]), Thread(ids["commented"], ids["alice"])
    await write_like(database, ids["bob"], ids["liked"], liked, True, now, described)
    await write_comment(database, ids["bob"], commented, "a comment", now, described)
    ids["comment"] = await database.fetch_val(sa.select(sa.func.max(post_table.c.id)))
    return ids


def post(post_id: int, **values) -> sa.Update:
    return post_table.update().where(post_table.c.id == post_id).values(**values)


BREAKAGES = {
    "feed rows numbered up to the reader's counter": lambda ids: (
        feed_counter_table.update()
        .where(feed_counter_table.c.user_id == ids["bob"])
        .values(seq=feed_counter_table.c.seq - 1)
    ),
    "channel events numbered up to the channel's counter": lambda ids: (
        channel_counter_table.update().values(seq=channel_counter_table.c.seq - 1)
    ),
    "a live comment on a deleted post": lambda ids: post(ids["commented"], deleted=utc_now()),
    "a like on a deleted post or comment": lambda ids: post(ids["liked"], deleted=utc_now()),
    "a post without its author's own feed row": lambda ids: feed_table.delete().where(
        feed_table.c.to_user_id == ids["alice"], feed_table.c.post_id == ids["liked"]
    ),
    "a comment in another group than its post": lambda ids: post(
        ids["comment"], group_id=ids["group"]
    ),
    "a feed row of a reader, actor or post that does not exist": lambda ids: (
        feed_table.update().where(feed_table.c.post_id == ids["liked"]).values(post_id=10**9)
    ),
    "an event of an actor or post that does not exist": lambda ids: event_table.update().values(
        fm_user_id=10**9
    ),
    "a channel event of no event": lambda ids: channel_event_table.update().values(event_id=0),
    "a user without a feed counter": lambda ids: feed_counter_table.delete().where(
        feed_counter_table.c.user_id == ids["alice"]
    ),
    "a user without a profile counter": lambda ids: channel_counter_table.delete().where(
        channel_counter_table.c.kind == PROFILE_CHANNEL
    ),
    "a group without a stream counter": lambda ids: channel_counter_table.delete().where(
        channel_counter_table.c.kind == GROUP_CHANNEL
    ),
}


async def test_what_the_app_writes_keeps_every_invariant(written, database):
    await assert_integrity(database)


@pytest.mark.parametrize("invariant", BREAKAGES)
async def test_a_row_that_breaks_an_invariant_is_caught(written, database, invariant):
    await database.execute(BREAKAGES[invariant](written))
    assert invariant in await broken_invariants(database)
    with pytest.raises(AssertionError, match=invariant):
        await assert_integrity(database)
