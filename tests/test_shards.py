"""The bus through Redis, on one server and on a real Redis Cluster: a
process hears the shards of its own streams and nothing else, a logout
reaches the processes of its streams, a stream replays only once Redis has
confirmed its subscription, and on a cluster the shards spread over nodes.

Each bus here stands for a process: buses share nothing but Redis.
"""

import asyncio
import contextlib

import pytest
from redis.asyncio.cluster import RedisCluster
from sqlalchemy.engine import make_url

from feed import sse
from feed.broker import node_map, pubsub_channel
from feed.channels import GROUP, HOME, PROFILE, Channel
from feed.events import (
    HOME_SHARD_SIZE,
    LOGGED_OUT,
    RESTARTED,
    FeedEvent,
    SessionEnded,
    create_bus,
    shard_of,
)
from feed.models import StoredEvent
from tests.conftest import REDIS_URL, bus_prefix, redis_available, started_redis_cluster
from tests.live import EVENT_DEADLINE_S, Person, processes_over_redis
from tests.proxy import DatabaseProxy
from tests.test_channels import ended_with
from tests.test_events import receive
from utilities.errors import BROKER_ERRORS
from utilities.redis_client import is_cluster, redis_client

# Readers whose home channels are in three different shards.
IN_FIRST_SHARD, IN_SECOND_SHARD, IN_THIRD_SHARD = 5, HOME_SHARD_SIZE + 5, 2 * HOME_SHARD_SIZE + 5


def home(user_id: int) -> Channel:
    return Channel(HOME, user_id)


def told(*channels: Channel, event_id: int = 1) -> FeedEvent:
    return FeedEvent("post", '{"n":1}', dict.fromkeys(channels, event_id))


@pytest.fixture
def prefix() -> str:
    return bus_prefix()


@pytest.fixture
async def proxied_redis():
    """A proxy in front of the test's Redis, which a test can cut or
    freeze: (the proxy, its redis:// URL)."""
    redis_available()
    proxy = DatabaseProxy(make_url(REDIS_URL).port or 6379)
    await proxy.start()
    yield proxy, f"redis://127.0.0.1:{proxy.port}/0"
    await proxy.cut()


@pytest.fixture
async def two_processes(redis_broker_url, prefix):
    """Two buses on the broker, as two processes of one app have."""
    buses = tuple(create_bus(redis_broker_url, prefix=prefix) for _ in range(2))
    for bus in buses:
        await bus.start()
    yield buses
    for bus in buses:
        await bus.close()


async def subscribed_channels(broker_url: str, prefix: str) -> set[str]:
    """The pub/sub channels of this test that some process listens to, as
    Redis (every node of a cluster) tells it."""
    client = redis_client(broker_url)
    every_node = {"target_nodes": RedisCluster.ALL_NODES} if is_cluster(broker_url) else {}
    try:
        channels = await client.pubsub_shardchannels(f"{prefix}:*", **every_node)
    finally:
        await client.aclose()
    return {channel.decode().removeprefix(f"{prefix}:") for channel in channels}


async def test_a_process_hears_only_the_shards_of_its_streams(
    two_processes, redis_broker_url, prefix
):
    """It listens to its streams' shards, and to nothing once they end. The
    messages of other shards cost it nothing: it never receives them."""
    writer, reader = two_processes
    async with reader.subscribe([home(IN_FIRST_SHARD)], IN_FIRST_SHARD, "session") as stream:
        assert await subscribed_channels(redis_broker_url, prefix) == {"home:0-1023"}
        await writer.publish(told(home(IN_SECOND_SHARD), Channel(GROUP, 9), Channel(PROFILE, 5)))
        mine = told(home(IN_FIRST_SHARD))
        await writer.publish(mine)
        assert [event_id for _, event_id, _ in await receive(stream, 1)] == [1]
    # On one server the other shards' messages would have come first; on a
    # cluster they would come from other nodes, at about the same time.
    assert (reader.received_messages, reader.received_bytes) == (1, len(mine.to_json()))
    assert writer.received_messages == 0
    await until_nothing_is_subscribed(redis_broker_url, prefix)


async def until_nothing_is_subscribed(broker_url: str, prefix: str) -> None:
    """Unsubscribing is not waited for: the last stream of a shard ends at once."""
    async with asyncio.timeout(EVENT_DEADLINE_S):
        while await subscribed_channels(broker_url, prefix):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_processes_with_different_readers_each_hear_their_own(two_processes):
    """One event told to three shards: each process receives the message of
    its reader's shard, and that message names its reader and no other."""
    first, second = two_processes
    async with (
        first.subscribe([home(IN_FIRST_SHARD)], IN_FIRST_SHARD, "one") as first_reader,
        second.subscribe([home(IN_SECOND_SHARD)], IN_SECOND_SHARD, "two") as second_reader,
    ):
        event = told(home(IN_FIRST_SHARD), home(IN_SECOND_SHARD), home(IN_THIRD_SHARD))
        await first.publish(event)
        assert [item[:2] for item in await receive(first_reader, 1)] == [(home(5), 1)]
        assert [item[:2] for item in await receive(second_reader, 1)] == [(home(1029), 1)]
    messages = event.by_shard()
    assert first.received_bytes == len(messages[shard_of(home(IN_FIRST_SHARD))].to_json())
    assert second.received_bytes == len(messages[shard_of(home(IN_SECOND_SHARD))].to_json())
    assert first.received_messages == second.received_messages == 1
    # The publisher counts all three messages; the other published nothing.
    assert first.published_bytes == sum(len(message.to_json()) for message in messages.values())
    assert second.published_bytes == 0


async def test_a_logout_ends_the_sessions_streams_in_another_process(two_processes):
    """Told on its owner's home shard, which even a group's stream holds."""
    writer, reader = two_processes
    async with (
        reader.subscribe([home(3000)], 3000, "laptop") as home_page,
        reader.subscribe([Channel(GROUP, 4)], 3000, "laptop") as group_page,
        reader.subscribe([home(3000)], 3000, "phone") as phone,
    ):
        await writer.publish(SessionEnded(3000, "laptop"))
        assert await receive(home_page, 1) == await receive(group_page, 1) == [None]
        assert home_page.ended == group_page.ended == LOGGED_OUT
        assert phone.ended is None


async def test_a_stream_replays_only_once_redis_has_confirmed_its_subscription(
    proxied_redis, prefix
):
    """The stream's process is slow to reach Redis (a proxy holds its bytes),
    and an event is committed and published just as the stream opens: before
    Redis has its subscription, so it can only come by the replay. The stream
    must not read the database before Redis has confirmed the subscription,
    or the event would come by neither."""
    proxy, slow_url = proxied_redis
    slow = create_bus(slow_url, prefix=prefix)
    writer = create_bus(REDIS_URL, prefix=prefix)
    for bus in (slow, writer):
        await bus.start()
    committed: list[StoredEvent] = []

    async def missed(channel: Channel, after: int, limit: int) -> list[StoredEvent]:
        return [event for event in committed if event.event_id > after][:limit]

    start = sse.Start("E", {home(7): 0}, [])
    subscribe = lambda: slow.subscribe([home(7)], 7, "session")  # noqa: E731
    stream = sse.event_stream(subscribe, start, missed, 3600)
    proxy.freeze()
    opening = asyncio.create_task(anext(stream))  # sent once subscribed
    await asyncio.sleep(0.2)
    subscribed_too_soon = opening.done()
    committed.append(StoredEvent(1, "post", '{"n":1}'))
    await writer.publish(told(home(7)))
    proxy.thaw()
    try:
        assert not subscribed_too_soon, "the stream started before Redis had its subscription"
        async with asyncio.timeout(EVENT_DEADLINE_S):
            await opening
            first_event = await anext(stream)
    finally:
        await stream.aclose()
        for bus in (slow, writer):
            await bus.close()
    assert first_event.startswith(b"id: E/home=1\nevent: post\n")


async def test_a_stream_that_ends_as_redis_goes_away_ends_quietly(proxied_redis, prefix):
    """Its last stream leaving a shard unsubscribes the process, on a
    connection that has just failed: the stream must not hear of that."""
    proxy, url = proxied_redis
    bus = create_bus(url, prefix=prefix)
    await bus.start()
    try:
        async with bus.subscribe([home(7)], 7, "session"):
            await proxy.cut()
        await asyncio.sleep(0.1)  # the bus meets the failed connection
    finally:
        await bus.close()


# --- A Redis Cluster ---------------------------------------------------------


def readers_on_different_nodes(nodes, prefix: str) -> list[Channel]:
    """Home channels of readers, and groups, whose shards live on three
    different nodes (the first found, in order)."""
    candidates = [home(shard * HOME_SHARD_SIZE) for shard in range(100)]
    candidates += [Channel(GROUP, group_id) for group_id in range(100)]
    by_node: dict[str, Channel] = {}
    for channel in candidates:
        node = nodes.url_of(pubsub_channel(prefix, shard_of(channel)))
        by_node.setdefault(node, channel)
    return list(by_node.values())


async def test_shards_spread_over_the_nodes_of_a_cluster(redis_cluster, prefix):
    """An event told to channels on every node reaches a process holding
    their streams, each message going to its own node."""
    reader, writer = (create_bus(redis_cluster, prefix=prefix) for _ in range(2))
    for bus in (reader, writer):
        await bus.start()
    client = redis_client(redis_cluster)
    channels = readers_on_different_nodes(await node_map(client, redis_cluster), prefix)
    await client.aclose()
    try:
        async with asyncio.TaskGroup() as streams:
            opened = [streams.create_task(hold(reader, channel)) for channel in channels]
            await until_subscribed(redis_cluster, prefix, len(channels))
            await writer.publish(told(*channels, event_id=3))
        received = [task.result() for task in opened]
    finally:
        for bus in (reader, writer):
            await bus.close()
    assert len(channels) >= 2, "the channels of this test live on one node only"
    assert received == [(channel, 3) for channel in channels]
    assert reader.received_messages == len(channels)


async def hold(bus, channel: Channel) -> tuple[Channel, int]:
    """A stream of one channel: the first event it receives."""
    owner = channel.key if channel.kind == HOME else 1
    async with bus.subscribe([channel], owner, "session") as stream:
        (item,) = await receive(stream, 1)
    return item[:2]


async def until_subscribed(broker_url: str, prefix: str, count: int) -> None:
    async with asyncio.timeout(EVENT_DEADLINE_S):
        while len(await subscribed_channels(broker_url, prefix)) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("database_url", ["mysql"], indirect=True)
async def test_two_app_processes_on_a_cluster(database_url, app, redis_cluster):
    """QuartFeed served by two processes whose broker is the cluster: a post
    written through one reaches a stream held by the other, and a logout in
    one ends the session's stream in the other."""
    with processes_over_redis(database_url, broker_url=redis_cluster) as (first, second):
        laptop = await Person(first.url, "alice").sign_up()
        other_tab = laptop.on(second.url)
        async with other_tab.stream() as there:
            await there.subscribed()
            post = await laptop.post("through the cluster")
            assert (await there.next()).data["post"]["uid"] == post["uid"]
            await laptop.http.post("/logout", data={"csrf_token": laptop.csrf})
            async with asyncio.timeout(1):
                assert await ended_with(there) == ("logout", {})
        health = (await other_tab.http.get("/healthz")).json()
        for person in (laptop, other_tab):
            await person.close()
    assert health["broker"] == "ok"


async def test_a_node_that_fails_ends_the_streams_until_it_is_back(tmp_path, prefix):
    """A cluster of its own, since one of its nodes stops. What is published
    while a node is away is heard by no one: every stream ends (its browser
    reconnects and replays). Once the node is back, streams hear events again."""
    cluster = started_redis_cluster(tmp_path)
    reader, writer = (create_bus(cluster.url, prefix=prefix) for _ in range(2))
    try:
        for bus in (reader, writer):
            await bus.start()
        async with reader.subscribe([home(5)], 5, "session") as stream:
            cluster.nodes[1].stop()
            assert await receive(stream, 1) == [None]
        cluster.nodes[1].start()
        async with asyncio.timeout(EVENT_DEADLINE_S):
            while not await heard_again(reader, writer):
                pass
    finally:
        for bus in (reader, writer):
            await bus.close()
        cluster.stop()
    assert stream.ended == RESTARTED


async def heard_again(reader, writer) -> bool:
    """Whether a new stream on `reader` hears an event from `writer` within
    half a second (not while the bus is away, nor if it ends as it comes back)."""
    async with reader.subscribe([home(5)], 5, "session") as stream:
        with contextlib.suppress(*BROKER_ERRORS):
            await writer.publish(told(home(5)))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                return (await stream.next_all())[0] is not None
    return False
