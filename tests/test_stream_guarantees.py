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

from db import utc_now
from feed.events import FeedEvent, create_bus
from feed.models import REPLAY_BATCH, feed_table
from feed.service import Feed
from feed.sse import event_stream, replay
from post.models import post_by_uid, post_table
from relationship.models import follow
from tests.conftest import REDIS_URL, unavailable
from tests.helpers import create_users
from tests.live import EVENT_DEADLINE_S
from user.models import user_by_name


def parse_frames(chunk: bytes) -> list[tuple[int, str, dict]]:
    """(id, event name, data) of every event frame in a chunk of the stream."""
    events = []
    for block in chunk.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


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
        with bus.subscribe(bob_id) as witness:
            await stream_feed.publish_post(alice, "during the replay")
            await witness.next_all()

    async def missed_events(after: int):
        if committed == "before the replay reads":
            await post_during_replay()
        events = await stream_feed.events_after(bob_id, after)
        if committed == "after the replay reads":
            await post_during_replay()
        return events

    stream = event_stream(lambda: bus.subscribe(bob_id), 0, missed_events)
    try:
        await anext(stream)  # retry: 3000
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
    now = utc_now()
    await database.execute_many(
        post_table.insert(),
        [
            {"uid": f"uid-{n}", "user_id": alice["id"], "body": f"post {n}",
             "created": now, "updated": now}
            for n in range(missed)
        ],
    )  # fmt: skip
    post_ids = [row["id"] for row in await database.fetch_all(post_table.select())]
    await database.execute_many(
        feed_table.insert(),
        [
            {"to_user_id": bob_id, "seq": seq, "fm_user_id": alice["id"], "post_id": post_id,
             "action": "post", "created": now, "updated": now}
            for seq, post_id in enumerate(post_ids, start=1)
        ],
    )  # fmt: skip
    replayed = [
        event_id async for event_id, _ in replay(lambda after: feed.events_after(bob_id, after), 0)
    ]
    assert replayed == list(range(1, missed + 1))


async def test_a_like_that_changes_nothing_tells_no_one(database, feed, alice_and_bob):
    alice, _ = alice_and_bob
    post, _ = await feed.create_post(alice, "like me once")
    row = await post_by_uid(database, post["uid"])
    bob = await user_by_name(database, "bob")
    first = await feed.change_like(bob, row, like=True)
    again = await feed.change_like(bob, row, like=True)
    assert first[1] is not None and again[1] is None
    replayed = await feed.events_after(alice["id"], 0)
    assert [action for _, action, _ in replayed] == ["post", "like"]
    unlike_twice = [await feed.change_like(bob, row, like=False) for _ in range(2)]
    assert [event is None for _, event in unlike_twice] == [False, True]
    replayed = await feed.events_after(alice["id"], 0)
    assert [action for _, action, _ in replayed] == ["post", "like", "unlike"]


@pytest.fixture
async def two_redis_buses():
    """Two buses on one Redis, as two processes have: nothing shared but Redis."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")
    buses = create_bus(REDIS_URL), create_bus(REDIS_URL)
    for bus in buses:
        await bus.start()
    yield buses
    for bus in buses:
        await bus.close()


async def test_an_event_published_on_one_redis_bus_reaches_a_reader_on_another(two_redis_buses):
    publisher, other_process = two_redis_buses
    with other_process.subscribe(7) as reader, publisher.subscribe(7) as local_reader:
        await publisher.publish(FeedEvent("post", '{"n":1}', {7: 42}))
        async with asyncio.timeout(EVENT_DEADLINE_S):
            remote = await reader.next_all()
            local = await local_reader.next_all()
    assert [feed_id for feed_id, _ in remote] == [42]
    assert [feed_id for feed_id, _ in local] == [42]
