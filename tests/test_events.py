"""The event bus and the stream, in-process: ordering, overflow, clean-up,
and how events are split into shards (tests/test_shards.py sends them
through Redis)."""

import asyncio
import re
import weakref
from datetime import datetime, timedelta

import pytest

from application import create_app
from db import utc_now
from feed import sse
from feed.channels import GROUP, HOME, PROFILE, Channel
from feed.describe import post_event
from feed.events import (
    DELIVERY_SLICE,
    DROPPED,
    HEARTBEAT,
    HOME_SHARD_SIZE,
    LOGGED_OUT,
    MAX_MESSAGE_BYTES,
    QUEUE_SIZE,
    FeedEvent,
    SessionEnded,
    channel_of,
    create_bus,
    read_message,
    shard_of,
)
from feed.models import StoredEvent
from feed.service import Feed
from feed.sse import InOrder, Start
from feed.wire import encode_data, frame_tail
from group.models import MAX_NAME_LENGTH, MAX_SLUG_LENGTH
from post.models import MAX_BODY_LENGTH
from post.present import Presenter
from tests.conftest import REDIS_URL, bus_prefix, empty_tables, redis_available
from tests.helpers import register_and_login
from tests.live import EVENT_DEADLINE_S
from user.models import MAX_DISPLAY_NAME_LENGTH


def event_for(event_ids: dict[int, int], action: str = "post") -> FeedEvent:
    """An event told to the home channels of these readers: {user id: event id}."""
    return FeedEvent(action, '{"n":1}', {home(user_id): seq for user_id, seq in event_ids.items()})


def home(user_id: int) -> Channel:
    return Channel(HOME, user_id)


def subscribe(bus, user_id: int, *channels: Channel, session: str = "session"):
    """A stream of this person's home channel (and any others)."""
    return bus.subscribe([home(user_id), *channels], user_id, session)


def tail(action: str = "post", channel: str = "home") -> bytes:
    return frame_tail(action, '{"n":1}', channel)


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
        bus = create_bus(REDIS_URL, prefix=bus_prefix())
    await bus.start()
    yield bus
    await bus.close()


async def test_event_reaches_only_its_readers(bus):
    async with (
        subscribe(bus, 1) as reader,
        subscribe(bus, 2) as other,
        subscribe(bus, 3) as stranger,
    ):
        await bus.publish(event_for({1: 10, 2: 11}))
        assert await reader.next_all() == [(home(1), 10, tail())]
        assert await other.next_all() == [(home(2), 11, tail())]
        assert stranger.queue.empty()


async def test_one_stream_hears_each_of_its_channels(bus):
    book_club = Channel(GROUP, 7)
    async with subscribe(bus, 1, book_club) as stream, subscribe(bus, 2) as other:
        await bus.publish(FeedEvent("post", '{"n":1}', {home(1): 3, book_club: 9}))
        items = await receive(stream, 2)
        assert set(items) == {(book_club, 9, tail(channel="group:7")), (home(1), 3, tail())}
        assert other.queue.empty()


async def test_two_tabs_of_one_reader_both_receive(bus):
    async with subscribe(bus, 1) as first_tab, subscribe(bus, 1) as second_tab:
        await bus.publish(event_for({1: 5}))
        assert (await first_tab.next_all())[0][1] == (await second_tab.next_all())[0][1] == 5


async def test_reader_last_in_a_big_event_gets_it_before_the_next(bus):
    """Streams are woken a slice of channels at a time; a reader in the last
    slice of one event and the first of the next still sees them in order."""
    crowd = {user_id: user_id for user_id in range(2, 2 + 3 * DELIVERY_SLICE)}
    async with subscribe(bus, 1) as reader:
        await bus.publish(event_for({**crowd, 1: 1000}))
        await bus.publish(event_for({1: 1001}))
        received = await receive(reader, 2)
        assert [event_id for _, event_id, _ in received] == [1000, 1001]


async def test_leaving_unsubscribes(bus):
    async with subscribe(bus, 1, Channel(GROUP, 2)):
        assert bus.subscriber_count() == 1
        assert bus.streams_of(1) == 1
    assert bus.subscriber_count() == 0
    assert bus.streams_of(1) == 0


async def test_slow_stream_is_dropped_without_slowing_others(caplog):
    bus = create_bus("memory://")
    await bus.start()
    async with subscribe(bus, 1) as slow, subscribe(bus, 2) as fast:
        caplog.set_level("INFO")
        for event_id in range(QUEUE_SIZE + 1):
            await bus.publish(event_for({1: event_id, 2: event_id}))
            assert (await fast.next_all())[0][1] == event_id
        assert await slow.next_all() == [None]  # told to go away and reconnect
        assert slow.ended == DROPPED
    assert f"Dropped a stream of user 1: {QUEUE_SIZE} events behind" in caplog.text
    await bus.close()


async def test_close_ends_every_stream(bus):
    async with subscribe(bus, 1) as stream:
        await bus.close()
        assert await stream.next_all() == [None]


async def test_a_session_that_ends_ends_its_streams_only(bus):
    async with (
        subscribe(bus, 1, session="laptop") as laptop,
        subscribe(bus, 1, session="phone") as phone,
    ):
        await bus.publish(SessionEnded(1, "laptop"))
        assert await receive(laptop, 1) == [None]
        assert laptop.ended == LOGGED_OUT
        await bus.publish(event_for({1: 1}))
        assert [event_id for _, event_id, _ in await receive(phone, 1)] == [1]


async def test_messages_survive_the_trip_through_json():
    event = FeedEvent("like", '{"n":1}', {home(1): 10, Channel(GROUP, 22): 33})
    assert read_message(event.to_json()) == event
    assert read_message(SessionEnded(1, "abc").to_json()) == SessionEnded(1, "abc")


async def test_a_group_stream_ends_with_its_session_too(bus):
    """A logout is told on its owner's home shard, which each of their
    streams holds, even one that carries no home channel."""
    async with bus.subscribe([Channel(GROUP, 7)], 3000, "laptop") as group_page:
        await bus.publish(SessionEnded(3000, "laptop"))
        assert await receive(group_page, 1) == [None]
    assert group_page.ended == LOGGED_OUT


# --- Shards -------------------------------------------------------------------


def test_home_channels_are_sharded_by_ranges_of_user_ids():
    assert shard_of(home(0)) == shard_of(home(HOME_SHARD_SIZE - 1)) == "home:0-1023"
    assert shard_of(home(HOME_SHARD_SIZE)) == "home:1024-2047"
    assert shard_of(Channel(GROUP, 5)) == "group:5"
    assert shard_of(Channel(PROFILE, 7)) == "profile:7"


def test_an_event_travels_once_per_shard_naming_that_shards_channels():
    """A batch of readers, consecutive ids, falls in one or two home shards;
    the group and the author's profile are a shard each."""
    batch = {home(user_id): 1 for user_id in range(900, 1900)}
    event = FeedEvent("post", '{"n":1}', {**batch, Channel(GROUP, 5): 3, Channel(PROFILE, 9): 4})
    messages = event.by_shard()
    assert set(messages) == {"home:0-1023", "home:1024-2047", "group:5", "profile:9"}
    assert [len(message.told) for message in messages.values()] == [124, 876, 1, 1]
    assert all(message.data == event.data for message in messages.values())
    told = {channel: seq for message in messages.values() for channel, seq in message.told.items()}
    assert told == event.told


def test_no_message_is_larger_than_max_message_bytes():
    """The worst case: a whole shard of readers with the longest ids and
    event ids, told of a post in a group whose every character takes the
    most room once escaped (twice: in the event's data, then in the
    message), and which mentions as many people as can be."""
    widest = "\U0001f600"  # JSON writes it as two \\uXXXX escapes: 12 bytes
    row = {
        "uid": "u" * 36,
        "body": widest * MAX_BODY_LENGTH,
        "created": datetime.now(),
        "edited": datetime.now(),
        "username": "u" * 15,
        "display_name": widest * MAX_DISPLAY_NAME_LENGTH,
        "image": "i" * 45,
        # As many people as a post can mention ("@" and 15 letters each),
        # as if the body held them too: more than any post can.
        "mentions": ",".join(f"{n:015d}" for n in range(MAX_BODY_LENGTH // 16)),
    }
    label = Presenter("/media").group(widest * MAX_NAME_LENGTH, "s" * MAX_SLUG_LENGTH)
    data = encode_data(post_event(Presenter("/media").post(row, [], [], label)))
    last_shard = range(2**31 - HOME_SHARD_SIZE, 2**31)  # the largest user ids
    readers = {home(user_id): 10**18 - 1 for user_id in last_shard}
    (message,) = FeedEvent("post", data, readers).by_shard().values()
    assert len(message.to_json().encode()) <= MAX_MESSAGE_BYTES


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
    assert re.fullmatch(rb"retry: 3000\n\nid: [A-Za-z0-9_-]+/home=0\n\n", first)
    assert connection.headers["Content-Type"] == "text/event-stream"
    assert connection.headers["Cache-Control"] == "no-cache"
    assert connection.headers["X-Accel-Buffering"] == "no"
    assert bus.subscriber_count() == 0, "a closed stream must leave no subscriber behind"


async def test_head_answers_at_once_and_opens_no_stream(app, client):
    bus = app.extensions["bus"]
    logged_out = await client.head("/sse", headers={"Accept": "text/event-stream"})
    assert logged_out.status_code == 401
    await register_and_login(client, "alice")
    response = await client.head("/sse", headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert await response.get_data() == b""
    assert bus.subscriber_count() == 0


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
        async with client.request("/sse") as connection:
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


@pytest.mark.parametrize(
    "query, expected",
    [
        ("cursor=abc/home=x", "cursor"),
        ("cursor=a b/home=1", "cursor"),
        ("cursor=E/home=-5", "cursor"),
        ("cursor=E/elsewhere=5", "cursor"),
        ("channels=home,nowhere", "not a channel"),
        ("channels=group:x", "not a channel"),
        ("channels=home:5", "not a channel"),
        ("channels=" + ",".join(f"group:{n}" for n in range(40)), "at most 32"),
    ],
)
async def test_bad_channels_and_cursors_are_400(client, query, expected):
    await register_and_login(client, "alice")
    response = await client.get(f"/sse?{query}", headers={"Accept": "text/event-stream"})
    assert response.status_code == 400
    assert expected in (await response.get_json())["error"]


async def test_a_channel_of_no_group_or_person_is_404(client):
    await register_and_login(client, "alice")
    for channels in ("home,group:999", "profile:999"):
        response = await client.get(f"/sse?channels={channels}", headers=EVENT_STREAM)
        assert response.status_code == 404


EVENT_STREAM = {"Accept": "text/event-stream"}
HOME_1 = home(1)


def stored(event_id: int) -> StoredEvent:
    return StoredEvent(event_id, "post", '{"n":1}')


class Database:
    """The events a stream can read, and every read it makes."""

    def __init__(self, *event_ids: int) -> None:
        self.event_ids = list(event_ids)
        self.reads: list[int] = []
        self.while_reading = None  # a coroutine function run during the next read

    async def missed(self, channel: Channel, after: int, limit: int) -> list[StoredEvent]:
        self.reads.append(after)
        found = [stored(event_id) for event_id in self.event_ids if event_id > after][:limit]
        if self.while_reading is not None:
            during, self.while_reading = self.while_reading, None
            await during()
        return found


def open_stream(bus, database: Database, position: int = 0):
    start = sse.Start("E", {HOME_1: position}, [])
    return sse.event_stream(lambda: subscribe(bus, 1), start, database.missed, 3600)


async def frames_until(stream, marker: bytes) -> bytes:
    """Everything the stream sends until `marker`, within the deadline."""
    sent = b""
    async with asyncio.timeout(EVENT_DEADLINE_S):
        while marker not in sent:
            sent += await anext(stream)
    return sent


def frame_of(event_id: int) -> bytes:
    return b"id: E/home=%d\n" % event_id + tail()


def test_events_that_piled_up_go_out_in_one_chunk():
    stream = sse.Stream(sse.Start("E", {HOME_1: 4}, []), subscription=None, missed=None)
    items = [(HOME_1, 5, tail()), HEARTBEAT, (HOME_1, 4, tail()), (HOME_1, 6, tail())]
    assert stream.live_chunk(items) == frame_of(5) + b": ping\n\n" + frame_of(6)
    assert stream.cursor() == "E/home=6"


def test_each_frame_carries_the_whole_cursor():
    group = Channel(GROUP, 3)
    stream = sse.Stream(sse.Start("E", {HOME_1: 4, group: 9}, []), subscription=None, missed=None)
    chunk = stream.live_chunk([(group, 10, b"g\n\n"), (HOME_1, 5, b"h\n\n")])
    assert chunk == b"id: E/home=4/group:3=10\ng\n\nid: E/home=5/group:3=10\nh\n\n"


def test_an_early_event_waits_for_the_one_before_it():
    order = InOrder(last_sent=4)
    assert order.receive(6, b"six") == []
    assert order.gap_wait_left() is not None
    assert order.receive(5, b"five") == [(5, b"five"), (6, b"six")]
    assert order.gap_wait_left() is None
    assert order.receive(6, b"six") == []  # a copy of one sent already


async def test_each_live_event_is_sent_once(bus):
    database = Database()
    stream = open_stream(bus, database)
    await frames_until(stream, b"id: E/home=0\n\n")
    for event_id in (1, 1, 2, 1, 2, 3):  # copies, as a broker may deliver them
        await bus.publish(event_for({1: event_id}))
    sent = await frames_until(stream, frame_of(3))
    await stream.aclose()
    assert [sent.count(frame_of(event_id)) for event_id in (1, 2, 3)] == [1, 1, 1]


async def test_an_event_that_comes_early_during_the_replay_goes_out_in_its_turn(bus):
    """Event 3 is published while the replay reads 1; 2 comes live after the
    replay: 2 and 3 go out as soon as 2 arrives, without waiting for 4."""
    database = Database(1)

    async def publish_the_third():
        await bus.publish(event_for({1: 3}))

    database.while_reading = publish_the_third
    stream = open_stream(bus, database)
    assert frame_of(1) in await frames_until(stream, frame_of(1))
    await bus.publish(event_for({1: 2}))
    sent = await frames_until(stream, frame_of(3))
    await stream.aclose()
    assert sent.index(frame_of(2)) < sent.index(frame_of(3))
    assert database.reads == [0]  # no gap was read from the database


async def test_an_event_published_during_the_replay_goes_out_after_it(bus):
    database = Database(1, 2)

    async def publish_the_third():
        await bus.publish(event_for({1: 3}))

    database.while_reading = publish_the_third
    stream = open_stream(bus, database)
    sent = await frames_until(stream, frame_of(3))
    await stream.aclose()
    assert sent.index(frame_of(1)) < sent.index(frame_of(2)) < sent.index(frame_of(3))
    assert database.reads == [0]


async def test_a_duplicate_after_the_replay_reads_nothing_more(bus):
    database = Database(1, 2)
    stream = open_stream(bus, database)
    await frames_until(stream, frame_of(2))
    await bus.publish(event_for({1: 2}))  # already sent by the replay
    await bus.publish(event_for({1: 3}))
    sent = await frames_until(stream, frame_of(3))
    await stream.aclose()
    assert frame_of(2) not in sent
    assert database.reads == [0]


async def test_a_gap_that_does_not_close_is_read_from_the_database(bus, monkeypatch):
    """Event 1 was committed but never published (its writer died): once
    event 2 has waited GAP_WAIT_S, the stream reads 1 from the database."""
    monkeypatch.setattr(sse, "GAP_WAIT_S", 0.05)
    database = Database()
    stream = open_stream(bus, database)
    await frames_until(stream, b"id: E/home=0\n\n")  # subscribed, nothing to replay yet
    database.event_ids += [1, 2]
    await bus.publish(event_for({1: 2}))
    sent = await frames_until(stream, frame_of(2))
    await stream.aclose()
    assert sent.index(frame_of(1)) < sent.index(frame_of(2))
    assert sent.count(frame_of(2)) == 1


async def test_an_ended_stream_stops_in_the_middle_of_its_replay(bus):
    database = Database(*range(1, 3 * sse.REPLAY_BATCH))
    stream = open_stream(bus, database)
    await frames_until(stream, frame_of(sse.REPLAY_BATCH))  # the first batch
    (subscription,) = bus.every_subscription()
    subscription.end(DROPPED)
    rest = [chunk async for chunk in stream]
    assert rest == []  # not another batch
    assert database.reads == [0]


async def test_a_logged_out_stream_says_so_and_ends(bus):
    stream = open_stream(bus, Database())
    await frames_until(stream, b"id: E/home=0\n\n")
    await bus.publish(SessionEnded(1, "session"))
    async with asyncio.timeout(EVENT_DEADLINE_S):
        rest = b"".join([chunk async for chunk in stream])
    assert rest == b"event: logout\ndata: {}\n\n"


async def test_a_stream_ends_when_its_session_expires(bus):
    start = sse.Start("E", {HOME_1: 0}, [])
    database = Database()
    stream = sse.event_stream(lambda: subscribe(bus, 1), start, database.missed, 0.05)
    async with asyncio.timeout(EVENT_DEADLINE_S):
        sent = b"".join([chunk async for chunk in stream])
    assert sent.endswith(b"event: logout\ndata: {}\n\n")


async def test_a_message_the_bus_cannot_read_is_ignored(bus):
    async with subscribe(bus, 1) as stream:
        bus.receive_json(b'{"action": "post", "data": "{}", "feed_ids": {"1": 5}}')
        bus.receive_json(b"not json")
        bus.receive_json(b'"session_ended"')
        bus.receive_json(b'{"session_ended": "abc"}')
        bus.receive_json(event_for({1: 6}).to_json().encode())
        assert [event_id for _, event_id, _ in await receive(stream, 1)] == [6]


def test_each_database_has_its_own_channel():
    first = channel_of("mysql+aiomysql://user:pw@db:3306/quartfeed")
    second = channel_of("mysql+aiomysql://user:pw@db:3306/quartfeed_staging")
    assert first != second
    assert first == channel_of("mysql+aiomysql://other:secret@db:3306/quartfeed")


class Row(dict):
    """A row of the logged-in person, as the session's query gives it, that a
    weak reference can watch."""


async def test_an_open_stream_keeps_its_readers_id_not_their_row(bus):
    """A row holds the description of the result it came from: kept by every
    open stream, that is a few KiB each for as long as the stream lasts."""
    user = Row(id=7, session_expires=utc_now() + timedelta(days=1))
    row = weakref.ref(user)
    start = Start("epoch", {home(7): 0}, [])
    stream = Feed(None, bus, Presenter("/media")).stream(user, "session", start)
    del user
    assert row() is None
    assert await anext(stream) == b"retry: 3000\n\nid: epoch/home=0\n\n"
    await stream.aclose()
