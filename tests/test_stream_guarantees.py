"""The stream's promises, each forced to happen rather than hoped for:
an event committed while a stream replays reaches it exactly once, a replay
longer than one batch is whole, a like that changes nothing tells no one,
and the Redis bus carries events between processes.

These run in-process, with the real database and bus: the moment an event is
committed is chosen by the test, not left to the scheduler.
"""

import asyncio
import json

import pytest
import redis

from feed.channels import HOME, Channel
from feed.events import FeedEvent, create_bus
from feed.models import feed_table
from feed.service import Feed
from feed.sse import REPLAY_BATCH, Start, event_stream
from post.models import post_by_uid
from relationship.models import follow
from tests.conftest import REDIS_URL, bus_prefix, unavailable
from tests.helpers import create_users
from tests.live import EVENT_DEADLINE_S, positions_of
from user.models import feed_counter_table, user_by_name


def parse_frames(chunk: bytes) -> list[tuple[int, str, dict]]:
    """(id in the home channel, event name, data) of every event frame in a
    chunk of a home stream."""
    events = []
    for block in chunk.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            event_id = positions_of(fields["id"])["home"]
            events.append((event_id, fields["event"], json.loads(fields["data"])))
    return events


def home_stream(bus, feed: Feed, reader_id: int, missed=None):
    """A stream of `reader_id`'s home channel from its first event."""
    start = Start("E", {Channel(HOME, reader_id): 0}, [])
    subscribe = lambda: bus.subscribe([Channel(HOME, reader_id)], reader_id, "session")  # noqa: E731
    return event_stream(subscribe, start, missed or feed.missed_events, 3600)


async def read_events(stream, count: int, expected: str) -> list[tuple[int, str, dict]]:
    """The next `count` events of an `event_stream`, or a failure naming `expected`."""
    events: list[tuple[int, str, dict]] = []
    try:
        async with asyncio.timeout(EVENT_DEADLINE_S):
            while len(events) < count:
                events += parse_frames(await anext(stream))
    except TimeoutError:
        raise AssertionError(f"{expected} never arrived; the stream sent {events}") from None
    return events


@pytest.fixture
async def alice_and_bob(database):
    """alice, and bob who follows her: (alice's user row, bob's id)."""
    ids = await create_users(database, ["alice", "bob"])
    await follow(database, ids["bob"], ids["alice"])
    return await user_by_name(database, "alice"), ids["bob"]


@pytest.mark.parametrize("committed", ["before the replay reads", "after the replay reads"])
async def test_an_event_committed_during_the_replay_is_sent_exactly_once(
    database, feed, alice_and_bob, committed
):
    """Before the replay's query, the post is in the replay and on the queue
    (the stream must skip the copy); after it, only on the queue (the stream
    must have subscribed before replaying, or it is lost)."""
    alice, bob_id = alice_and_bob
    bus = create_bus("memory://")
    # The app's feed service, on a bus of this test's own.
    stream_feed = Feed(database, bus, feed.present)
    await stream_feed.publish_post(alice, "before the stream")

    async def post_during_replay():
        # The bus hands an event to streams on a later turn of the event loop;
        # a witness of bob's returns once that is done, so the stream had
        # either subscribed by then or missed it for good.
        async with bus.subscribe([Channel(HOME, bob_id)], bob_id, "witness") as witness:
            await stream_feed.publish_post(alice, "during the replay")
            await witness.next_all()

    async def missed_events(channel, after: int, limit: int):
        if committed == "before the replay reads":
            await post_during_replay()
        events = await stream_feed.missed_events(channel, after, limit)
        if committed == "after the replay reads":
            await post_during_replay()
        return events

    stream = home_stream(bus, stream_feed, bob_id, missed_events)
    try:
        await anext(stream)  # retry: 3000, and where it starts
        events = await read_events(stream, 2, "the post committed during the replay")
        await stream_feed.publish_post(alice, "after the replay")
        events += await read_events(stream, 1, "the post after the replay")
    finally:
        await stream.aclose()
    bodies = [data["post"]["body"] for _, _, data in events]
    assert bodies == ["before the stream", "during the replay", "after the replay"]
    assert [event_id for event_id, _, _ in events] == [1, 2, 3]


async def test_a_replay_longer_than_one_batch_is_whole(database, feed, alice_and_bob):
    alice, bob_id = alice_and_bob
    missed = 2 * REPLAY_BATCH + 5
    await feed.create_post(alice, "told again and again")
    told = await database.fetch_one(feed_table.select().where(feed_table.c.to_user_id == bob_id))
    copies = [{**told._mapping, "id": None, "seq": seq} for seq in range(2, missed + 1)]
    await database.execute_many(feed_table.insert(), copies)
    this_reader = feed_counter_table.c.user_id == bob_id
    await database.execute(feed_counter_table.update().where(this_reader).values(seq=missed))
    stream = home_stream(create_bus("memory://"), feed, bob_id)
    try:
        await anext(stream)  # retry: 3000, and where it starts
        replayed = await read_events(stream, missed, "the whole replay")
    finally:
        await stream.aclose()
    assert [event_id for event_id, _, _ in replayed] == list(range(1, missed + 1))


async def test_a_like_that_changes_nothing_tells_no_one(database, feed, alice_and_bob):
    alice, _ = alice_and_bob
    post, _ = await feed.create_post(alice, "like me once")
    row = await post_by_uid(database, post["uid"])
    bob = await user_by_name(database, "bob")
    first = await feed.change_like(bob, row, like=True)
    again = await feed.change_like(bob, row, like=True)
    assert first[1] is not None and again[1] is None
    assert await actions_told(feed, alice["id"]) == ["post", "like"]
    unlike_twice = [await feed.change_like(bob, row, like=False) for _ in range(2)]
    assert [event is None for _, event in unlike_twice] == [False, True]
    # The unlike replaced bob's like: a replay tells the post's state as it is.
    assert await actions_told(feed, alice["id"]) == ["post", "unlike"]


async def actions_told(feed: Feed, reader_id: int) -> list[str]:
    return [event.action for event in await feed.missed_events(Channel(HOME, reader_id), 0, 10)]


@pytest.fixture
async def two_redis_buses():
    """Two buses on one Redis, as two processes have: nothing shared but Redis."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")
    prefix = bus_prefix()
    buses = create_bus(REDIS_URL, prefix=prefix), create_bus(REDIS_URL, prefix=prefix)
    for bus in buses:
        await bus.start()
    yield buses
    for bus in buses:
        await bus.close()


async def test_an_event_published_on_one_redis_bus_reaches_a_reader_on_another(two_redis_buses):
    publisher, other_process = two_redis_buses
    seven = [Channel(HOME, 7)]
    async with (
        other_process.subscribe(seven, 7, "one") as reader,
        publisher.subscribe(seven, 7, "other") as local_reader,
    ):
        await publisher.publish(FeedEvent("post", '{"n":1}', {Channel(HOME, 7): 42}))
        async with asyncio.timeout(EVENT_DEADLINE_S):
            remote = await reader.next_all()
            local = await local_reader.next_all()
    assert [event_id for _, event_id, _ in remote] == [42]
    assert [event_id for _, event_id, _ in local] == [42]
