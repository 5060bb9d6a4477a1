"""The event bus: hands each new event to the open streams of its channels.

`Bus.publish(event)` delivers one `FeedEvent` to every channel it names;
`Bus.subscribe(channels, …)` gives one stream its own bounded queue for
the channels it carries. Where a message travels between publishing and
delivery is the bus's backend:

- `MemoryBackend` (memory://) hands it straight back: enough for one process.
- `RedisBackend` (redis://) sends it through Redis pub/sub so that the bus
  of every process serving streams receives it. Each process holds ONE
  pub/sub connection, whatever the number of streams.

Besides events, the bus carries the end of a session (`SessionEnded`): a
logout in one process ends that session's streams in every process.

Writers publish without waiting for each other, so a channel's events may
arrive out of order; each stream puts them back in order (see `feed.sse`).
"""

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis.asyncio as redis
from sqlalchemy.engine import make_url

from feed.channels import Channel
from feed.wire import PING, frame_tail

logger = logging.getLogger(__name__)

QUEUE_SIZE = 256  # events a stream may fall behind by before it is dropped
# Streams (connections) one person may hold open in one process: every tab
# of a browser shares one, so ten is several browsers. Another one ends
# their oldest (most likely a forgotten browser, which reconnects if it is
# still open): neither someone's devices nor a script with their cookie can
# fill the server.
MAX_STREAMS_PER_USER = 10
DELIVERY_SLICE = 100  # channels whose streams are woken per turn of the event loop
CHANNEL = "quartfeed:feed"  # with the database's name after it (see `channel_of`)
REDIS_TIMEOUT_S = 2  # connecting, or waiting for an answer, before Redis counts as down
REDIS_RETRY_S = 1  # between attempts to subscribe again


@dataclass(frozen=True)
class FeedEvent:
    """One action (post, comment, like, unlike, delete) and who must hear of it.

    `told` maps each channel that hears of it to the event's id in that
    channel (see `feed.models`). The rest of the frame is encoded once per
    channel name (`tail`), not once per stream.
    """

    action: str
    data: str  # one line of JSON
    told: dict[Channel, int]
    _tails: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def tail(self, channel: Channel) -> bytes:
        """The frame without its `id:` line, for streams of `channel`."""
        name = channel.name()
        if name not in self._tails:
            self._tails[name] = frame_tail(self.action, self.data, name)
        return self._tails[name]

    def to_json(self) -> str:
        told = [[channel.kind, channel.key, seq] for channel, seq in self.told.items()]
        return json.dumps({"action": self.action, "data": self.data, "told": told})

    @classmethod
    def from_fields(cls, fields: dict) -> "FeedEvent":
        told = {Channel(kind, int(key)): int(seq) for kind, key, seq in fields["told"]}
        return cls(str(fields["action"]), str(fields["data"]), told)


@dataclass(frozen=True)
class SessionEnded:
    """A session was logged out or revoked: its streams end, in every process."""

    session_key: str

    def to_json(self) -> str:
        return json.dumps({"session_ended": self.session_key})


def session_key(session_id: str) -> str:
    """What the bus calls a session: a digest, so that the session's secret
    id never travels through the broker."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def read_message(message: str | bytes) -> FeedEvent | SessionEnded:
    """A message from the broker; ValueError, KeyError or TypeError if it is none."""
    fields = json.loads(message)
    if not isinstance(fields, dict):
        raise TypeError(f"a message is a JSON object, not {type(fields).__name__}")
    if "session_ended" in fields:
        return SessionEnded(str(fields["session_ended"]))
    return FeedEvent.from_fields(fields)


# Put on every queue each SSE_HEARTBEAT_S by one timer for all streams (a
# timer per stream would cost a timer handle per event).
HEARTBEAT = (None, 0, PING)

# Why a stream was ended (`Subscription.ended`).
DROPPED = "dropped"  # it fell too far behind: it reconnects and replays
REPLACED = "replaced"  # its owner opened one stream too many
LOGGED_OUT = "logged out"  # its session ended: it must not reconnect
SHUTDOWN = "shutdown"  # the server is stopping: reconnect soon, elsewhere
RESTARTED = "restarted"  # the broker came back: reconnect and replay


class Subscription:
    """One open stream's queue of (channel, event id, frame tail), or HEARTBEAT.

    `None` in the queue means "stop"; `ended` says why.
    """

    def __init__(self, channels: list[Channel], user_id: int, session_key: str) -> None:
        self.channels = channels
        self.user_id = user_id
        self.session_key = session_key
        self.queue: asyncio.Queue[tuple | None] = asyncio.Queue(QUEUE_SIZE)
        self.ended: str | None = None

    def offer(self, item: tuple) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # One slow client must not slow the others or grow without bound.
            logger.info("Dropped a stream of user %s: %d events behind", self.user_id, QUEUE_SIZE)
            self.end(DROPPED)

    def end(self, reason: str) -> None:
        """Stop the stream at its next step, replay included."""
        if self.ended is not None:
            return
        self.ended = reason
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def next_all(self) -> list[tuple | None]:
        """Everything waiting in the queue; waits for one item if there is none."""
        items = [await self.queue.get()]
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items


def _add(table: dict, key, subscription: Subscription) -> None:
    table[key][subscription] = None


def _remove(table: dict, key, subscription: Subscription) -> None:
    subscriptions = table.get(key)
    if subscriptions is not None:
        subscriptions.pop(subscription, None)
        if not subscriptions:
            del table[key]


class Bus:
    """Hands events to the streams of this process; its backend carries them
    between processes (or, for memory://, straight back to this bus)."""

    def __init__(self, backend: "MemoryBackend | RedisBackend", heartbeat_s: float = 15) -> None:
        self.backend = backend
        backend.attach(self)
        self.heartbeat_s = heartbeat_s
        # The subscriptions of each channel, of each person (oldest first) and
        # of each session: dicts as ordered sets.
        self._subscriptions: dict[Channel, dict[Subscription, None]] = defaultdict(dict)
        self._streams_of: dict[int, dict[Subscription, None]] = defaultdict(dict)
        self._streams_of_session: dict[str, dict[Subscription, None]] = defaultdict(dict)
        self._heartbeat: asyncio.Task | None = None
        # Events being handed to streams: (event, channels not yet woken).
        self._undelivered: deque[tuple[FeedEvent, Iterator[tuple[Channel, int]]]] = deque()

    async def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat())
        await self.backend.start()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            for subscription in self.every_subscription():
                subscription.offer(HEARTBEAT)

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self.close_streams(SHUTDOWN)
        await self.backend.close()

    def every_subscription(self) -> list[Subscription]:
        return [sub for subscriptions in self._streams_of.values() for sub in subscriptions]

    def close_streams(self, reason: str = RESTARTED) -> None:
        """End every stream: each reconnects and replays what it missed."""
        for subscription in self.every_subscription():
            subscription.end(reason)

    @contextlib.contextmanager
    def subscribe(
        self, channels: list[Channel], user_id: int, session_key: str
    ) -> Iterator[Subscription]:
        """One stream of these channels, opened by this person in this session."""
        subscription = Subscription(channels, user_id, session_key)
        streams = self._streams_of[user_id]
        if len(streams) >= MAX_STREAMS_PER_USER:
            oldest = next(iter(streams))
            self._unsubscribe(oldest)  # now: it ends at its next step
            oldest.end(REPLACED)
        for channel in channels:
            _add(self._subscriptions, channel, subscription)
        _add(self._streams_of, user_id, subscription)
        _add(self._streams_of_session, session_key, subscription)
        try:
            yield subscription
        finally:
            self._unsubscribe(subscription)

    def _unsubscribe(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            _remove(self._subscriptions, channel, subscription)
        _remove(self._streams_of, subscription.user_id, subscription)
        _remove(self._streams_of_session, subscription.session_key, subscription)

    async def ping(self) -> None:
        """Raise if the broker does not answer."""
        await self.backend.ping()

    def subscriber_count(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._streams_of.values())

    def streams_of(self, user_id: int) -> int:
        """How many streams (connections) this person holds open here."""
        return len(self._streams_of.get(user_id, ()))

    async def publish(self, message: "FeedEvent | SessionEnded") -> None:
        await self.backend.publish(message)

    def receive(self, message: "FeedEvent | SessionEnded") -> None:
        """A message from the backend: an event to deliver, or a session's end."""
        if isinstance(message, SessionEnded):
            for subscription in list(self._streams_of_session.get(message.session_key, ())):
                subscription.end(LOGGED_OUT)
        else:
            self.deliver(message)

    def deliver(self, event: FeedEvent) -> None:
        """Queue the event for its channels' streams, which are woken soon after.

        The writer returns at once, and its request ends, while this event
        is written to streams.
        """
        self._undelivered.append((event, iter(event.told.items())))
        if len(self._undelivered) == 1:
            asyncio.get_running_loop().call_soon(self._wake_next_slice)

    def _wake_next_slice(self) -> None:
        # Wake the streams of DELIVERY_SLICE channels, then let the loop turn:
        # a database reply that arrived meanwhile waits behind a hundred
        # stream writes, not thousands. Events go out one after the other,
        # whole, in the order they were published.
        event, channels = self._undelivered[0]
        batch = list(itertools.islice(channels, DELIVERY_SLICE))
        for channel, event_id in batch:
            subscriptions = self._subscriptions.get(channel)
            if subscriptions:
                item = (channel, event_id, event.tail(channel))
                for subscription in subscriptions:
                    subscription.offer(item)
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

    async def publish(self, message: FeedEvent | SessionEnded) -> None:
        self._bus.receive(message)

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
            received = read_message(message)
        except (ValueError, KeyError, TypeError, AttributeError):
            # Not ours, or from a version that spoke differently: one bad
            # message must not end the listener, and with it every stream.
            logger.warning("Ignored a message on the feed channel: %.200r", message)
            return
        bus.receive(received)

    async def publish(self, message: FeedEvent | SessionEnded) -> None:
        await self._redis.publish(self._channel, message.to_json())

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
