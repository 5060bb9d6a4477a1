"""Fan-out in batches: an action whose audience is larger than FANOUT_BATCH
is written with its first batch of readers and a row in `fanout`; workers
tell the rest a batch per transaction (feed.models, feed.fanout).

FANOUT_BATCH is made small here, so that ten followers take several batches.
"""

import asyncio
import contextlib

import pytest
import sqlalchemy as sa

from db import utc_now
from feed import models
from feed.channels import HOME, PROFILE, Channel
from feed.models import Thread, fanout_table, feed_table
from post.models import post_table
from relationship.models import follow
from tests.helpers import create_users
from tests.integrity import assert_integrity
from user.models import user_by_id

BATCH = 4
FOLLOWERS = 10  # with the author, eleven readers: batches of 4, 4 and 3


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """Batches of four, in one lane but where a test asks for more."""
    monkeypatch.setattr(models, "FANOUT_BATCH", BATCH)
    monkeypatch.setattr(models, "FANOUT_LANES", 1)


@pytest.fixture
async def audience(database) -> tuple[int, list[int]]:
    """(the author, their followers, lowest id first)."""
    ids = await create_users(database, ["author"] + [f"fan{n}" for n in range(FOLLOWERS)])
    followers = sorted(ids[f"fan{n}"] for n in range(FOLLOWERS))
    for follower in followers:
        await follow(database, follower, ids["author"])
    return ids["author"], followers


def describe(uid: str) -> dict:
    return {"post": {"uid": uid}}


async def post(database, author_id: int) -> models.Written:
    return await models.write_post(database, author_id, "to everyone", utc_now(), describe)


async def post_id_of(database, written: models.Written) -> int:
    uid = written.payload["post"]["uid"]
    return await database.fetch_val(sa.select(post_table.c.id).where(post_table.c.uid == uid))


async def finish(database) -> list[models.Batch]:
    """Every batch left, as a worker does them (a fan-out that never ends
    fails the test rather than hang it)."""
    batches = []
    while (batch := await models.fan_out_next_batch(database)) is not None:
        batches.append(batch)
        assert len(batches) < 100, "the fan-out does not end"
    return batches


def homes(told: dict[Channel, int]) -> list[int]:
    return sorted(channel.key for channel in told if channel.kind == HOME)


async def fanouts_left(database) -> int:
    return await database.fetch_val(sa.select(sa.func.count()).select_from(fanout_table))


async def events_of(database, reader_id: int) -> list[tuple[int, str, int]]:
    """A reader's home rows: (event id, action, post), in their order."""
    query = (
        sa.select(feed_table.c.seq, feed_table.c.action, feed_table.c.post_id)
        .where(feed_table.c.to_user_id == reader_id)
        .order_by(feed_table.c.seq)
    )
    return [tuple(row.values()) for row in await database.fetch_all(query)]


async def assert_each_has(database, readers: list[int], actions: list[str]) -> None:
    """Each reader's home rows are these actions, in order, and the database holds together."""
    for reader in readers:
        assert [action for _, action, _ in await events_of(database, reader)] == actions
    await assert_integrity(database)


async def test_a_large_audience_is_told_a_batch_per_transaction(database, audience):
    author, followers = audience
    readers = sorted([author, *followers])
    written = await post(database, author)
    # The request told the lowest readers, and the profile, and left the rest.
    assert written.fanning_out
    assert homes(written.told) == readers[:BATCH]
    assert Channel(PROFILE, author) in written.told
    assert await fanouts_left(database) == 1

    batches = await finish(database)
    assert [homes(batch.told) for batch in batches] == [readers[4:8], readers[8:]]
    assert all(batch.data == written.data and batch.action == "post" for batch in batches)
    assert await fanouts_left(database) == 0
    for reader in readers:
        assert await events_of(database, reader) == [
            (1, "post", await post_id_of(database, written))
        ]
    await assert_integrity(database)


async def test_an_audience_of_one_batch_is_told_at_once(database):
    ids = await create_users(database, ["author", "fan"])
    await follow(database, ids["fan"], ids["author"])
    written = await post(database, ids["author"])
    assert not written.fanning_out
    assert homes(written.told) == sorted(ids.values())
    assert await fanouts_left(database) == 0
    assert await finish(database) == []


async def test_an_audience_of_exactly_one_batch_ends_with_an_empty_one(database):
    ids = await create_users(database, ["author"] + [f"fan{n}" for n in range(BATCH - 1)])
    for name, user_id in ids.items():
        if name != "author":
            await follow(database, user_id, ids["author"])
    written = await post(database, ids["author"])
    assert len(homes(written.told)) == BATCH
    # The request cannot tell that no one is left; the worker finds nobody.
    assert [batch.told for batch in await finish(database)] == [{}]
    assert await fanouts_left(database) == 0


async def test_a_comment_waits_for_the_fanout_of_its_post(database, audience):
    author, followers = audience
    written = await post(database, author)
    post_id = await post_id_of(database, written)
    thread = Thread(post_id, author)
    # A follower who already has the post comments while it is still on its way.
    comment = await models.write_comment(
        database, followers[0], thread, "first!", utc_now(), describe
    )
    # Its readers are everyone who has the post, once the post has reached
    # them all: it waits behind the post's fan-out.
    assert comment.fanning_out
    assert homes(comment.told) == []
    await finish(database)
    await assert_each_has(database, [author, *followers], ["post", "comment"])


async def test_deleting_a_post_stops_its_fanout(database, audience):
    author, followers = audience
    written = await post(database, author)
    post_id = await post_id_of(database, written)
    reached = homes(written.told)
    deletion = await models.write_delete(
        database, author, post_id, Thread(post_id, author), utc_now(), {"uid": "x"}
    )
    # Only those the post reached hear of its deletion; nobody else hears of either.
    assert homes(deletion.told) == reached
    # The post's fan-out is gone: what is left tells nobody more.
    assert [homes(batch.told) for batch in await finish(database)] in ([], [[]])
    for reader in followers:
        expected = ["post", "delete"] if reader in reached else []
        assert [action for _, action, _ in await events_of(database, reader)] == expected
    await assert_integrity(database)


async def test_a_like_raises_the_post_in_every_batch(database, audience):
    author, followers = audience
    post_id = await post_id_of(database, await post(database, author))
    await finish(database)
    like = await models.write_like(
        database, followers[-1], post_id, Thread(post_id, author), True, utc_now(), describe_likers
    )
    assert like[1].fanning_out
    await finish(database)
    # Every reader's row of the post now has the like's time, not the post's.
    rows = sa.select(feed_table.c.created, feed_table.c.updated).where(
        feed_table.c.post_id == post_id, feed_table.c.action == "post"
    )
    times = await database.fetch_all(rows)
    assert len(times) == FOLLOWERS + 1
    assert len({updated for _, updated in times}) == 1
    assert all(updated > created for created, updated in times)


def describe_likers(likers: list[str]) -> dict:
    return {"likers": likers}


async def test_unliking_stops_the_fanout_of_the_like(database, audience):
    author, followers = audience
    post_id = await post_id_of(database, await post(database, author))
    await finish(database)
    thread = Thread(post_id, author)
    fan = followers[0]
    await models.write_like(database, fan, post_id, thread, True, utc_now(), describe_likers)
    await models.write_like(database, fan, post_id, thread, False, utc_now(), describe_likers)
    await finish(database)
    await assert_each_has(database, [author, *followers], ["post", "unlike"])


async def test_two_workers_share_fanouts_and_tell_each_reader_once(database, audience):
    author, followers = audience
    for _ in range(3):
        await post(database, author)
    await asyncio.gather(finish(database), finish(database))
    assert await fanouts_left(database) == 0
    for reader in sorted([author, *followers]):
        assert [seq for seq, _, _ in await events_of(database, reader)] == [1, 2, 3]
    await assert_integrity(database)


async def test_the_worker_finishes_a_fanout_and_each_batch_reaches_its_streams(
    feed, database, audience, monkeypatch
):
    author, followers = audience
    readers = sorted([author, *followers])
    published = []
    publish = feed.bus.publish

    async def keep_and_publish(message):
        published.append(message)
        await publish(message)

    monkeypatch.setattr(feed.bus, "publish", keep_and_publish)
    async with contextlib.AsyncExitStack() as streams:
        subscriptions = [
            await streams.enter_async_context(
                feed.bus.subscribe([Channel(HOME, reader)], reader, "session")
            )
            for reader in readers
        ]
        author_row = await user_by_id(database, author)
        await feed.publish_post(author_row, "to everyone")  # wakes the worker
        for subscription in subscriptions:
            async with asyncio.timeout(5):
                channel, event_id, _ = await subscription.queue.get()
            assert event_id == 1
            assert subscription.queue.empty()  # once
    # One message per batch, each naming at most a batch of readers.
    assert [homes(event.told) for event in published] == [
        readers[:4],
        readers[4:8],
        readers[8:],
    ]


async def test_lanes_share_a_fanout_and_together_tell_each_reader_once(
    database, audience, monkeypatch
):
    monkeypatch.setattr(models, "FANOUT_LANES", 3)
    monkeypatch.setattr(models, "FANOUT_BATCH", 2)  # lanes are at least a batch wide
    author, followers = audience
    written = await post(database, author)
    assert await fanouts_left(database) == 3
    # Three workers at once, as three processes would run them.
    batches = await asyncio.gather(*(finish(database) for _ in range(3)))
    told = [reader for worker in batches for batch in worker for reader in homes(batch.told)]
    assert sorted(told + homes(written.told)) == sorted([author, *followers])
    assert await fanouts_left(database) == 0
    await assert_integrity(database)


async def test_a_few_readers_left_over_are_one_lane(database, monkeypatch):
    monkeypatch.setattr(models, "FANOUT_LANES", 4)
    ids = await create_users(database, ["author"] + [f"fan{n}" for n in range(BATCH)])
    for name, user_id in ids.items():
        if name != "author":
            await follow(database, user_id, ids["author"])
    await post(database, ids["author"])  # one reader left after the first batch
    assert await fanouts_left(database) == 1
    assert sum(len(homes(batch.told)) for batch in await finish(database)) == 1
