"""The event bus: hands each new event to the open streams of its channels.

`Bus.publish(event)` delivers one `FeedEvent` to every channel it names;
`async with Bus.subscribe(channels, …)` gives one stream its own bounded
queue for the channels it carries. Where a message travels between
publishing and delivery is the bus's backend:

- `MemoryBackend` (memory://) hands it straight back: enough for one process.
- `RedisBackend` (redis://, or redis+cluster:// for a Redis Cluster, see
  `feed.broker`) sends it through Redis, to the bus of every process that
  holds a stream of one of its channels, and of no other process.

Messages travel on *shards*, pub/sub channels a process listens to only
while one of its streams needs them:

- Home channels are sharded by ranges of user ids, HOME_SHARD_SIZE to a
  shard (`home:0-1023`, `home:1024-2047`, …). The fan-out tells a post's
  readers in batches ordered by id (see `feed.models`), so a batch falls in
  one or two shards, and the event's data travels once per shard. A shard
  per reader would send the data once per reader; one shard for every
  reader would send every event to every process. Ranges, not `id %
  HOME_SHARD_SIZE`: a batch of consecutive ids would then touch every shard.
- A group's and a profile's channel is a shard of its own (`group:5`,
  `profile:7`): an event tells one of each at most.

`Bus.publish` splits an event into one message per shard it touches, each
naming that shard's channels only, so a process receives, and reads, the
messages of its own streams' shards and nothing else.

Besides events, the bus carries the end of a session (`SessionEnded`): a
logout in one process ends that session's streams in every process. It
travels on its owner's home shard, which every stream of theirs holds.

Writers publish without waiting for each other, so a channel's events may
arrive out of order; each stream puts them back in order (see `feed.sse`).
"""

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from feed.broker import RedisBackend
from feed.channels import HOME, Channel
from feed.wire import PING, frame_tail
from utilities.redis_client import REDIS_SCHEMES

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
HOME_SHARD_SIZE = 1024  # home channels per shard: a range of user ids (see above)
# No message is larger. A message names the channels of one shard: at most
# HOME_SHARD_SIZE home channels, however many readers an event tells, at
# most 40 bytes each; besides the event's data, where a post of 280 of the
# widest characters takes about 5 KB once escaped twice. tests/test_events.py
# checks that worst case (about 45 KB). Only a like can be larger: its data
# lists every liker of its post.
MAX_MESSAGE_BYTES = 64 * 1024


def home_shard(user_id: int) -> str:
    """The shard of a person's home channel: its range of user ids."""
    first = user_id - user_id % HOME_SHARD_SIZE
    return f"{HOME}:{first}-{first + HOME_SHARD_SIZE - 1}"


def shard_of(channel: Channel) -> str:
    """The shard that carries a channel's events."""
    return home_shard(channel.key) if channel.kind == HOME else channel.name()


@dataclass(frozen=True)
class FeedEvent:
    """One action (post, comment, like, unlike, edit, delete) and who must hear of it.

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

    def by_shard(self) -> dict[str, "FeedEvent"]:
        """This event once per shard it touches, telling that shard's channels only."""
        told: dict[str, dict[Channel, int]] = defaultdict(dict)
        for channel, seq in self.told.items():
            told[shard_of(channel)][channel] = seq
        return {shard: FeedEvent(self.action, self.data, its) for shard, its in told.items()}

    def to_json(self) -> str:
        told = [[channel.kind, channel.key, seq] for channel, seq in self.told.items()]
        fields = {"action": self.action, "data": self.data, "told": told}
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_fields(cls, fields: dict) -> "FeedEvent":
        told = {Channel(kind, int(key)): int(seq) for kind, key, seq in fields["told"]}
        return cls(str(fields["action"]), str(fields["data"]), told)


@dataclass(frozen=True)
class SessionEnded:
    """A session was logged out or revoked: its streams end, in every process."""

    user_id: int
    session_key: str

    def by_shard(self) -> dict[str, "SessionEnded"]:
        """Told on its owner's home shard, which each of their streams holds."""
        return {home_shard(self.user_id): self}

    def to_json(self) -> str:
        return json.dumps({"session_ended": self.session_key, "user_id": self.user_id})


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
        return SessionEnded(int(fields["user_id"]), str(fields["session_ended"]))
    return FeedEvent.from_fields(fields)


# Put on every queue each SSE_HEARTBEAT_S by one timer for all streams (a
# timer per stream would cost a timer handle per event).
HEARTBEAT = (None, 0, PING)

# Why a stream was ended (`Subscription.ended`).
DROPPED = "dropped"  # it fell too far behind: it reconnects and replays
REPLACED = "replaced"  # its owner opened one stream too many
LOGGED_OUT = "logged out"  # its session ended: it must not reconnect
SHUTDOWN = "shutdown"  # the server is stopping: reconnect soon, elsewhere
RESTARTED = "restarted"  # the broker was lost, or did not answer: reconnect and replay


class Subscription:
    """One open stream's queue of (channel, event id, frame tail), or HEARTBEAT.

    `None` in the queue means "stop"; `ended` says why.
    """

    def __init__(self, channels: list[Channel], user_id: int, session_key: str) -> None:
        self.channels = channels
        self.user_id = user_id
        self.session_key = session_key
        # The shards it listens to: its channels', and its owner's home
        # shard, where the end of their session is told (a group's stream
        # holds it too).
        self.shards = {shard_of(channel) for channel in channels} | {home_shard(user_id)}
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
        # How many open streams need each shard: the backend listens to
        # exactly these.
        self._streams_per_shard: Counter[str] = Counter()
        # What came through the broker: the cost that shards keep to this
        # process's own streams (/healthz reports it, for bench/).
        self.received_messages = 0
        self.received_bytes = 0
        self.published_bytes = 0

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

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channels: list[Channel], user_id: int, session_key: str
    ) -> AsyncIterator[Subscription]:
        """One stream of these channels, opened by this person in this session.

        It is handed over once the broker has confirmed that this process
        listens to every shard the stream needs: only then may the stream
        replay from the database (see `feed.sse`), or an event published
        between the replay's read and the subscription would reach it by
        neither. A stream the broker does not confirm in time ends at once
        (and reconnects).
        """
        subscription = Subscription(channels, user_id, session_key)
        self._add_stream(subscription)
        try:
            if not await self._hold(subscription.shards):
                logger.warning("The broker did not confirm a stream's shards: it reconnects")
                subscription.end(RESTARTED)
            yield subscription
        finally:
            self._remove_stream(subscription)
            self._release(subscription.shards)

    def _add_stream(self, subscription: Subscription) -> None:
        streams = self._streams_of[subscription.user_id]
        if len(streams) >= MAX_STREAMS_PER_USER:
            oldest = next(iter(streams))
            self._remove_stream(oldest)  # now: it ends at its next step
            oldest.end(REPLACED)
        for channel in subscription.channels:
            _add(self._subscriptions, channel, subscription)
        _add(self._streams_of, subscription.user_id, subscription)
        _add(self._streams_of_session, subscription.session_key, subscription)

    def _remove_stream(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            _remove(self._subscriptions, channel, subscription)
        _remove(self._streams_of, subscription.user_id, subscription)
        _remove(self._streams_of_session, subscription.session_key, subscription)

    async def _hold(self, shards: set[str]) -> bool:
        """Count a new stream in each of its shards, and subscribe to those
        no stream needed yet. True once the broker has confirmed them all."""
        self.backend.subscribe([shard for shard in shards if not self._streams_per_shard[shard]])
        self._streams_per_shard.update(shards)
        return await self.backend.confirmed(shards)

    def _release(self, shards: set[str]) -> None:
        """Uncount an ended stream, and unsubscribe from the shards no stream needs now."""
        self._streams_per_shard.subtract(shards)
        unneeded = [shard for shard in shards if not self._streams_per_shard[shard]]
        for shard in unneeded:
            del self._streams_per_shard[shard]
        self.backend.unsubscribe(unneeded)

    async def ping(self) -> None:
        """Raise if the broker does not answer."""
        await self.backend.ping()

    def subscriber_count(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._streams_of.values())

    def streams_of(self, user_id: int) -> int:
        """How many streams (connections) this person holds open here."""
        return len(self._streams_of.get(user_id, ()))

    async def publish(self, message: FeedEvent | SessionEnded) -> None:
        """Send a message on each shard it touches, naming that shard's channels only."""
        self.published_bytes += await self.backend.publish(message.by_shard())

    def receive_json(self, message: bytes) -> None:
        """A message that came through the broker, as `to_json` wrote it."""
        self.received_messages += 1
        self.received_bytes += len(message)
        try:
            received = read_message(message)
        except (ValueError, KeyError, TypeError, AttributeError):
            # Not ours, or from a version that spoke differently: one bad
            # message must not end the listener, and with it every stream.
            logger.warning("Ignored a message on the bus: %.200r", message)
            return
        self.receive(received)

    def receive(self, message: FeedEvent | SessionEnded) -> None:
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
    """memory://: one process, so publishing a message is delivering it,
    and there is nothing to subscribe to."""

    def attach(self, bus: Bus) -> None:
        self._bus = bus

    async def start(self) -> None:
        """Nothing to connect to."""

    async def publish(self, messages: dict[str, FeedEvent | SessionEnded]) -> int:
        """Deliver the messages here; return the bytes sent through a broker: none."""
        for message in messages.values():
            self._bus.receive(message)
        return 0

    def subscribe(self, shards: list[str]) -> None:
        """Every message is this process's already."""

    def unsubscribe(self, shards: list[str]) -> None:
        """Nothing to leave."""

    async def confirmed(self, shards: set[str]) -> bool:
        return True

    async def ping(self) -> None:
        """The process itself always answers."""

    async def close(self) -> None:
        """Nothing to release."""


def channel_of(database_url: str) -> str:
    """What the pub/sub channels for the events of one database's feed start
    with: apps that share a Redis but not a database (say, two test runs) do
    not hear each other's events."""
    return f"{CHANNEL}:{make_url(database_url).database}"


def create_bus(url: str, heartbeat_s: float = 15, prefix: str = CHANNEL) -> Bus:
    """The bus named by BROKER_URL: `memory://`, or Redis (`redis://host:6379/0`,
    `redis+cluster://host:7000`, see `utilities.redis_client`)."""
    if url.startswith("memory://"):
        return Bus(MemoryBackend(), heartbeat_s)
    if url.startswith(REDIS_SCHEMES):
        return Bus(RedisBackend(url, prefix), heartbeat_s)
    raise ValueError(f"BROKER_URL must be memory:// or redis://..., not {url!r}")
