"""The event bus: hands each new feed event to the open streams of its readers.

`Bus.publish(event)` delivers one `FeedEvent` to every reader it names;
`Bus.subscribe(user_id)` gives one stream its own bounded queue. Where an
event travels between publishing and delivery is the bus's backend:

- `MemoryBackend` (memory://) hands it straight back: enough for one process.
- `RedisBackend` (redis://) sends it through Redis pub/sub so that the bus
  of every process serving streams receives it. Each process holds ONE
  pub/sub connection, whatever the number of streams.

Writers publish without waiting for each other, so a reader's events may
arrive out of order; each stream puts them back in order (see `feed.sse`).
"""

import asyncio
import contextlib
import itertools
import json
import logging
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass

import redis.asyncio as redis
from sqlalchemy.engine import make_url

from feed.wire import PING, frame_tail

logger = logging.getLogger(__name__)

QUEUE_SIZE = 256  # events a stream may fall behind by before it is dropped
# Streams one person may hold open in one process, home and group pages
# alike. Another one ends their oldest (most likely a forgotten tab, which
# reconnects if it is still open): neither someone's tabs nor a script with
# their cookie can fill the server.
MAX_STREAMS_PER_USER = 10
DELIVERY_SLICE = 100  # readers whose streams are woken per turn of the event loop
CHANNEL = "quartfeed:feed"  # with the database's name after it (see `channel_of`)
REDIS_TIMEOUT_S = 2  # connecting, or waiting for an answer, before Redis counts as down
REDIS_RETRY_S = 1  # between attempts to subscribe again


@dataclass(frozen=True)
class FeedEvent:
    """One action (post, comment, like, unlike) and who must hear of it.

    `event_ids` maps each reader's user id to the event id of their own feed
    row (see `feed.models`); `group_event` is (group id, event id) when the
    action happened in a group, whose own stream hears of it too. The rest
    of the frame is encoded once here, not once per stream.
    """

    action: str
    data: str  # one line of JSON
    event_ids: dict[int, int]
    group_event: tuple[int, int] | None = None

    def frame_tail(self) -> bytes:
        return frame_tail(self.action, self.data)

    def channels(self) -> list[tuple["Channel", int]]:
        """(channel, event id) of every stream channel that hears of it."""
        told: list[tuple[Channel, int]] = list(self.event_ids.items())
        if self.group_event is not None:
            group_id, event_id = self.group_event
            told.append((group_channel(group_id), event_id))
        return told

    def to_json(self) -> str:
        fields = {"action": self.action, "data": self.data, "event_ids": self.event_ids}
        return json.dumps({**fields, "group_event": self.group_event})

    @classmethod
    def from_json(cls, message: str | bytes) -> "FeedEvent":
        fields = json.loads(message)
        event_ids = {int(user_id): event_id for user_id, event_id in fields["event_ids"].items()}
        group_event = fields.get("group_event")
        return cls(fields["action"], fields["data"], event_ids, group_event and tuple(group_event))


# What a stream listens to: a person's home feed (their user id), or a group.
Channel = int | tuple[str, int]


def group_channel(group_id: int) -> tuple[str, int]:
    return ("group", group_id)


# Put on every queue each SSE_HEARTBEAT_S by one timer for all streams (a
# timer per stream would cost a timer handle per event); event ids start at 1.
HEARTBEAT = (0, PING)


class Subscription:
    """One open stream's queue of (event id, encoded frame tail), or HEARTBEAT.

    `None` in the queue means "stop": the stream fell too far behind (it will
    reconnect and catch up from the database) or the server is shutting down.
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(QUEUE_SIZE)

    def offer(self, item: tuple[int, bytes]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # One slow client must not slow the others or grow without bound.
            self.close()

    def close(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def next_all(self) -> list[tuple[int, bytes] | None]:
        """Everything waiting in the queue; waits for one item if there is none."""
        items = [await self.queue.get()]
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items


class Bus:
    """Hands events to the streams of this process; its backend carries them
    between processes (or, for memory://, straight back to this bus)."""

    def __init__(self, backend: "MemoryBackend | RedisBackend", heartbeat_s: float = 15) -> None:
        self.backend = backend
        backend.attach(self)
        self.heartbeat_s = heartbeat_s
        # Each channel's subscriptions, and each person's (oldest first, with
        # their channel): dicts as ordered sets.
        self._subscriptions: dict[Channel, dict[Subscription, None]] = defaultdict(dict)
        self._streams_of: dict[int, dict[Subscription, Channel]] = defaultdict(dict)
        self._heartbeat: asyncio.Task | None = None
        # Events being handed to streams: (frame tail, channels not yet woken).
        self._undelivered: deque[tuple[bytes, Iterator[tuple[Channel, int]]]] = deque()

    async def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat())
        await self.backend.start()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            for subscription in self._every_subscription():
                subscription.offer(HEARTBEAT)

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self.close_streams()
        await self.backend.close()

    def _every_subscription(self) -> list[Subscription]:
        return [sub for subscriptions in self._subscriptions.values() for sub in subscriptions]

    def close_streams(self) -> None:
        """End every stream: each reconnects and replays what it missed."""
        for subscription in self._every_subscription():
            subscription.close()

    def subscribe(self, user_id: int) -> contextlib.AbstractContextManager[Subscription]:
        """A stream of this person's home feed."""
        return self._subscribe(user_id, user_id)

    def subscribe_group(
        self, group_id: int, user_id: int
    ) -> contextlib.AbstractContextManager[Subscription]:
        """A stream of a group's page, opened by this person."""
        return self._subscribe(group_channel(group_id), user_id)

    @contextlib.contextmanager
    def _subscribe(self, channel: Channel, user_id: int) -> Iterator[Subscription]:
        subscription = Subscription()
        streams = self._streams_of[user_id]
        if len(streams) >= MAX_STREAMS_PER_USER:
            oldest, its_channel = next(iter(streams.items()))
            self._unsubscribe(its_channel, user_id, oldest)  # now: it ends at its next turn
            oldest.close()
        self._subscriptions[channel][subscription] = None
        streams[subscription] = channel
        try:
            yield subscription
        finally:
            self._unsubscribe(channel, user_id, subscription)

    def _unsubscribe(self, channel: Channel, user_id: int, subscription: Subscription) -> None:
        for table, key in ((self._subscriptions, channel), (self._streams_of, user_id)):
            subscriptions = table.get(key)
            if subscriptions is not None:
                subscriptions.pop(subscription, None)
                if not subscriptions:
                    del table[key]

    async def ping(self) -> None:
        """Raise if the broker does not answer."""
        await self.backend.ping()

    def subscriber_count(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._subscriptions.values())

    async def publish(self, event: FeedEvent) -> None:
        await self.backend.publish(event)

    def deliver(self, event: FeedEvent) -> None:
        """Queue the event for its readers' streams, which are woken soon after.

        The writer returns at once, and its request ends, while this event
        is written to streams.
        """
        self._undelivered.append((event.frame_tail(), iter(event.channels())))
        if len(self._undelivered) == 1:
            asyncio.get_running_loop().call_soon(self._wake_next_slice)

    def _wake_next_slice(self) -> None:
        # Wake the streams of DELIVERY_SLICE readers, then let the loop turn:
        # a database reply that arrived meanwhile waits behind a hundred
        # stream writes, not thousands. Events go out one after the other,
        # whole, in the order they were published.
        tail, channels = self._undelivered[0]
        batch = list(itertools.islice(channels, DELIVERY_SLICE))
        for channel, event_id in batch:
            for subscription in self._subscriptions.get(channel, ()):
                subscription.offer((event_id, tail))
        if len(batch) < DELIVERY_SLICE:  # that was the event's last slice
            self._undelivered.popleft()
        if self._undelivered:
            asyncio.get_running_loop().call_soon(self._wake_next_slice)


class MemoryBackend:
    """memory://: one process, so publishing an event is delivering it."""

    def attach(self, bus: Bus) -> None:
        self._bus = bus

    async def start(self) -> None:
        """Nothing to connect to."""

    async def publish(self, event: FeedEvent) -> None:
        self._bus.deliver(event)

    async def ping(self) -> None:
        """The process itself always answers."""

    async def close(self) -> None:
        """Nothing to release."""


class RedisBackend:
    """redis://: events go through Redis pub/sub to the bus of every process.

    Each process holds ONE pub/sub connection, whatever the number of
    streams. The app starts, and keeps serving, while Redis is down: the
    listener subscribes again and again until it answers. Streams cannot
    hear of other processes' events meanwhile, so each time the subscription
    comes back after a loss, every stream is ended: browsers reconnect and
    replay what they missed from the database.
    """

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self._channel = channel
        # Publishing and pinging must fail promptly when Redis hangs; the
        # subscription waits for messages as long as it takes, so it has no
        # read timeout, only one for connecting.
        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
        )
        self._subscriber = redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_S)
        self._pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        self._listener: asyncio.Task | None = None
        self._subscribed = asyncio.Event()

    def attach(self, bus: Bus) -> None:
        self._bus = bus

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(self._bus))
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                await self._subscribed.wait()
        except TimeoutError:
            logger.warning("Redis is not answering at start-up; serving, and retrying")

    async def _listen(self, bus: Bus) -> None:
        lost = False
        while True:
            try:
                await self._pubsub.subscribe(self._channel)
                self._subscribed.set()
                if lost:
                    bus.close_streams()  # those opened while Redis was away
                    lost = False
                async for message in self._pubsub.listen():
                    self._deliver(bus, message["data"])
            except (redis.ConnectionError, redis.TimeoutError) as error:
                if not lost:
                    logger.warning("Redis connection lost, retrying: %s", error)
                    bus.close_streams()
                lost = True
                await asyncio.sleep(REDIS_RETRY_S)

    @staticmethod
    def _deliver(bus: Bus, message: bytes) -> None:
        try:
            event = FeedEvent.from_json(message)
        except (ValueError, KeyError, TypeError, AttributeError):
            # Not ours, or from a version that spoke differently: one bad
            # message must not end the listener, and with it every stream.
            logger.warning("Ignored a message on the feed channel: %.200r", message)
            return
        bus.deliver(event)

    async def publish(self, event: FeedEvent) -> None:
        await self._redis.publish(self._channel, event.to_json())

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._pubsub.aclose()
        await self._subscriber.aclose()
        await self._redis.aclose()


def channel_of(database_url: str) -> str:
    """The pub/sub channel for the events of one database's feed: apps that
    share a Redis but not a database (say, two test runs) do not hear each
    other's events."""
    return f"{CHANNEL}:{make_url(database_url).database}"


def create_bus(url: str, heartbeat_s: float = 15, channel: str = CHANNEL) -> Bus:
    """The bus named by BROKER_URL: `memory://` or `redis://host:port/db`."""
    if url.startswith("memory://"):
        return Bus(MemoryBackend(), heartbeat_s)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return Bus(RedisBackend(url, channel), heartbeat_s)
    raise ValueError(f"BROKER_URL must be memory:// or redis://..., not {url!r}")
