"""The event bus and the stream, in-process: ordering, overflow, clean-up."""

import asyncio

import pytest

from application import create_app
from feed import sse
from feed.events import (
    DELIVERY_SLICE,
    HEARTBEAT,
    QUEUE_SIZE,
    FeedEvent,
    RedisBackend,
    channel_of,
    create_bus,
)
from feed.sse import InOrder, live_chunk
from feed.wire import RETRY
from tests.conftest import REDIS_URL, empty_tables, redis_available
from tests.helpers import register_and_login
from tests.live import EVENT_DEADLINE_S


def event_for(event_ids: dict[int, int], action: str = "post") -> FeedEvent:
    return FeedEvent(action, '{"n":1}', event_ids)


async def receive(subscription, count: int) -> list:
    """The next `count` items of a subscription, however many reads they take
    (through Redis they may arrive apart), or a failure within the deadline."""
    items = []
    async with asyncio.timeout(EVENT_DEADLINE_S):
        while len(items) < count:
            items += await subscription.next_all()
    return items


@pytest.fixture(params=["memory", "redis"])
async def bus(request):
    if request.param == "memory":
        bus = create_bus("memory://")
    else:
        redis_available()
        bus = create_bus(REDIS_URL)
    await bus.start()
    yield bus
    await bus.close()


async def test_event_reaches_only_its_readers(bus):
    with bus.subscribe(1) as reader, bus.subscribe(2) as other, bus.subscribe(3) as stranger:
        await bus.publish(event_for({1: 10, 2: 11}))
        assert await reader.next_all() == [(10, b'event: post\ndata: {"n":1}\n\n')]
        assert await other.next_all() == [(11, b'event: post\ndata: {"n":1}\n\n')]
        assert stranger.queue.empty()


async def test_two_tabs_of_one_reader_both_receive(bus):
    with bus.subscribe(1) as first_tab, bus.subscribe(1) as second_tab:
        await bus.publish(event_for({1: 5}))
        assert (await first_tab.next_all())[0][0] == (await second_tab.next_all())[0][0] == 5


async def test_reader_last_in_a_big_event_gets_it_before_the_next(bus):
    """Streams are woken a slice of readers at a time; a reader in the last
    slice of one event and the first of the next still sees them in order."""
    crowd = {user_id: user_id for user_id in range(2, 2 + 3 * DELIVERY_SLICE)}
    with bus.subscribe(1) as reader:
        await bus.publish(event_for({**crowd, 1: 1000}))
        await bus.publish(event_for({1: 1001}))
        received = await receive(reader, 2)
        assert [feed_id for feed_id, _ in received] == [1000, 1001]


async def test_leaving_unsubscribes(bus):
    with bus.subscribe(1):
        assert bus.subscriber_count() == 1
    assert bus.subscriber_count() == 0


async def test_slow_stream_is_dropped_without_slowing_others():
    bus = create_bus("memory://")
    await bus.start()
    with bus.subscribe(1) as slow, bus.subscribe(2) as fast:
        for feed_id in range(QUEUE_SIZE + 1):
            await bus.publish(event_for({1: feed_id, 2: feed_id}))
            assert (await fast.next_all())[0][0] == feed_id
        assert await slow.next_all() == [None]  # told to go away and reconnect


async def test_close_ends_every_stream(bus):
    with bus.subscribe(1) as stream:
        await bus.close()
        assert await stream.next_all() == [None]


async def test_event_survives_the_trip_through_json():
    event = event_for({1: 10, 22: 33}, "like")
    assert FeedEvent.from_json(event.to_json()) == event


# --- The stream, through Quart's test client ---------------------------------


async def read_until(connection, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        received += await connection.receive()
    return received


async def test_logged_out_stream_is_401(client):
    # What EventSource sends: it asks for an event stream, not a page.
    response = await client.get("/sse", headers={"Accept": "text/event-stream"})
    assert response.status_code == 401
    assert await response.get_json() == {"error": "Please log in first."}


async def test_stream_headers_and_retry_then_clean_disconnect(app, client):
    await register_and_login(client, "alice")
    bus = app.extensions["bus"]
    async with client.request("/sse") as connection:
        await connection.send_complete()
        first = await connection.receive()
        assert bus.subscriber_count() == 1
        await connection.disconnect()
    assert first == b"retry: 3000\n\n"
    assert connection.headers["Content-Type"] == "text/event-stream"
    assert connection.headers["Cache-Control"] == "no-cache"
    assert connection.headers["X-Accel-Buffering"] == "no"
    assert bus.subscriber_count() == 0, "a closed stream must leave no subscriber behind"


# Idle for as long as these pings take, two seconds: a stream that polled
# the database every half second, or at each ping, would show it.
IDLE_PINGS = 2
IDLE_HEARTBEAT_S = 1


async def test_idle_stream_pings_and_runs_no_queries(app_config):
    app = create_app({**app_config, "SSE_HEARTBEAT_S": IDLE_HEARTBEAT_S})
    async with app.test_app():
        client = app.test_client()
        database = app.extensions["database"]
        await register_and_login(client, "alice")
        async with client.request("/sse?last_event_id=0") as connection:
            await connection.send_complete()
            await read_until(connection, b": ping\n\n")  # connected and replayed
            statements_when_idle = database.statements
            received = b""
            while received.count(b": ping\n\n") < IDLE_PINGS:
                received += await connection.receive()
            await connection.disconnect()
        statements_after_pings = database.statements
        await empty_tables(database)
    assert statements_after_pings == statements_when_idle


@pytest.mark.parametrize("cursor", ["abc", "-5", "1e3"])
async def test_bad_cursor_is_400(client, cursor):
    await register_and_login(client, "alice")
    response = await client.get(
        f"/sse?last_event_id={cursor}", headers={"Accept": "text/event-stream"}
    )
    assert response.status_code == 400
    assert "last_event_id" in (await response.get_json())["error"]


TAIL = b"event: post\ndata: {}\n\n"


def test_events_that_piled_up_go_out_in_one_chunk():
    order = InOrder(last_sent=4)
    chunk, stopped = live_chunk([(5, TAIL), HEARTBEAT, (4, TAIL), (6, TAIL)], order)
    assert chunk == b"id: 5\n" + TAIL + b": ping\n\n" + b"id: 6\n" + TAIL
    assert (order.last_sent, stopped) == (6, False)


def test_stop_marker_ends_the_stream_after_what_came_before():
    order = InOrder(last_sent=0)
    assert live_chunk([(1, b"x"), None], order) == (b"id: 1\nx", True)


def test_an_early_event_waits_for_the_one_before_it():
    order = InOrder(last_sent=4)
    assert order.receive(6, b"six") == []
    assert order.gap_wait_left() is not None
    assert order.receive(5, b"five") == [b"id: 5\nfive", b"id: 6\nsix"]
    assert order.gap_wait_left() is None
    assert order.receive(6, b"six") == []  # a copy of one sent already


def test_without_a_cursor_the_first_live_event_starts_the_stream():
    assert InOrder(last_sent=None).receive(41, b"x") == [b"id: 41\nx"]


async def test_a_gap_that_does_not_close_is_read_from_the_database(bus, monkeypatch):
    """Event 1 was committed but never published (its writer died): once
    event 2 has waited GAP_WAIT_S, the stream reads 1 from the database."""
    monkeypatch.setattr(sse, "GAP_WAIT_S", 0.05)
    in_database = []

    async def missed_events(after: int):
        return [event for event in in_database if event[0] > after]

    stream = sse.event_stream(lambda: bus.subscribe(1), 0, missed_events)
    assert await anext(stream) == RETRY  # subscribed, and nothing to replay yet
    in_database += [(1, "post", {"n": 1}), (2, "post", {"n": 2})]
    await bus.publish(event_for({1: 2}))
    chunks = [await anext(stream)]
    while b"id: 2" not in chunks[-1]:
        chunks.append(await anext(stream))
    await stream.aclose()
    sent = b"".join(chunks)
    assert sent.index(b"id: 1\n") < sent.index(b"id: 2\n")
    assert sent.count(b"id: 2\n") == 1


async def test_a_message_the_bus_cannot_read_is_ignored(bus):
    with bus.subscribe(1) as stream:
        RedisBackend._deliver(bus, b'{"action": "post", "data": "{}", "feed_ids": {"1": 5}}')
        RedisBackend._deliver(bus, b"not json")
        RedisBackend._deliver(bus, event_for({1: 6}).to_json().encode())
        assert [event_id for event_id, _ in await receive(stream, 1)] == [6]


def test_each_database_has_its_own_channel():
    first = channel_of("mysql+aiomysql://user:pw@db:3306/quartfeed")
    second = channel_of("mysql+aiomysql://user:pw@db:3306/quartfeed_staging")
    assert first != second
    assert first == channel_of("mysql+aiomysql://other:secret@db:3306/quartfeed")
