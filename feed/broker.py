"""Redis carries the bus's messages between processes (see `feed.events`).

Each shard of the bus is a *sharded* pub/sub channel (Redis 7: SSUBSCRIBE,
SPUBLISH) named after the database, e.g. `quartfeed:feed:quartfeed:home:0-1023`.
On one server (redis://) that is plain pub/sub. On a Redis Cluster
(redis+cluster://) each channel lives on the node that owns its hash slot,
so the shards spread over the nodes, and a message goes to that node alone
(a PUBLISH would go to every node of the cluster).

A process listens on one pub/sub connection per server (`Link`): one for
redis://, one per primary node of a cluster, since a node serves only the
channels it owns. It subscribes to a shard when its first stream needs it,
and leaves it when its last stream ends (`Bus.subscribe` counts them).

Failures. Pub/sub keeps nothing: what is published while a process is not
subscribed never reaches it. So when a connection fails (Redis restarts, a
cluster node fails, a slot moves to another node), every stream of the
process ends, and the bus connects again every REDIS_RETRY_S. Once Redis is
back, it subscribes again to every shard its streams need, and ends the
streams opened meanwhile too. Each browser reconnects, and replays what it
missed from the database. The app starts, and serves, while Redis is down.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import RedisClusterException

from utilities.redis_client import node_url, redis_client

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 2  # connecting, or waiting for an answer, before Redis counts as down
REDIS_RETRY_S = 1  # between attempts to connect again
# What ends the listening: Redis gone or hung, or a cluster that has moved
# a channel to another node.
LINK_ERRORS = (redis.RedisError, RedisClusterException)


class Message(Protocol):
    """What the bus publishes: an event, or the end of a session (`feed.events`)."""

    def to_json(self) -> str: ...


class Listener(Protocol):
    """What the backend asks of the bus (`feed.events.Bus`)."""

    def receive_json(self, message: bytes) -> None: ...

    def close_streams(self) -> None: ...


def pubsub_channel(prefix: str, shard: str) -> str:
    """The Redis channel of a shard: its app's prefix (see `channel_of`), then its name."""
    return f"{prefix}:{shard}"


class ShardMoved(redis.RedisError):
    """Redis ended a subscription by itself: the channel's slot moved to another node."""


@dataclass(frozen=True)
class NodeMap:
    """Which server holds each pub/sub channel. A cluster's map may change:
    the bus keeps the one its connections were made with."""

    urls: list[str]  # every server: the one of redis://, or each primary node
    slot_owners: list[str] | None = None  # the URL of each hash slot's node, in a cluster

    def url_of(self, channel: str) -> str:
        if self.slot_owners is None:
            return self.urls[0]
        return self.slot_owners[key_slot(channel.encode())]


async def node_map(client: redis.Redis | RedisCluster, url: str) -> NodeMap:
    """The servers behind BROKER_URL, as they are now."""
    if not isinstance(client, RedisCluster):
        return NodeMap([url])
    nodes = client.nodes_manager
    await nodes.initialize()
    urls = {node.name: node_url(url, node.host, node.port) for node in client.get_primaries()}
    owners = [nodes.get_node_from_slot(slot).name for slot in range(REDIS_CLUSTER_HASH_SLOTS)]
    return NodeMap(list(urls.values()), [urls[owner] for owner in owners])


class Link:
    """One pub/sub connection, to one server (a primary node, in a cluster).

    Commands go out one after the other, from one task, whichever stream
    asked for them, and Redis answers a connection's commands in order. So
    replies are matched to commands, channel by channel: a stream waits for
    the reply to the SSUBSCRIBE sent for it, not to one sent before an
    SUNSUBSCRIBE of the same channel.
    """

    def __init__(self, url: str) -> None:
        # No read timeout: it waits for messages as long as it takes. No
        # retries either: a connection that fails must say so, rather than
        # come back by itself having missed what was published meanwhile.
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_S, retry=Retry(NoBackoff(), 0)
        )
        self._pubsub = self._client.pubsub()
        self._commands: asyncio.Queue[tuple[Callable, str] | None] = asyncio.Queue()
        # Each channel's replies still to come, in order: a future for an
        # SSUBSCRIBE (done once it is answered), None for an SUNSUBSCRIBE.
        self._owed: dict[bytes, deque[asyncio.Future | None]] = defaultdict(deque)

    async def connect(self) -> None:
        await self._pubsub.connect()

    def subscribe(self, channel: str) -> asyncio.Future:
        """Send SSUBSCRIBE; the future is done once Redis has answered it
        (or the link has closed)."""
        confirmed = asyncio.get_running_loop().create_future()
        self._send(self._pubsub.ssubscribe, channel, confirmed)
        return confirmed

    def unsubscribe(self, channel: str) -> None:
        self._send(self._pubsub.sunsubscribe, channel, None)

    def _send(self, command: Callable, channel: str, reply: asyncio.Future | None) -> None:
        self._owed[channel.encode()].append(reply)
        self._commands.put_nowait((command, channel))

    async def listen(self, receive: Callable[[bytes], None]) -> None:
        """Send the commands in their turn and hand each message to
        `receive`, until the connection fails (raises)."""
        sending = asyncio.create_task(self._send_commands())
        reading = asyncio.create_task(self._read(receive))
        try:
            done, _ = await asyncio.wait((sending, reading), return_when=asyncio.FIRST_COMPLETED)
            done.pop().result()
        finally:
            reading.cancel()
            # redis-py may ignore a cancellation that comes while it sends a
            # command, so the sender is asked to stop after the one it sends.
            self._commands.put_nowait(None)
            await asyncio.wait((sending,), timeout=REDIS_TIMEOUT_S)

    async def _send_commands(self) -> None:
        while (command := await self._commands.get()) is not None:
            send, channel = command
            await send(channel)

    async def _read(self, receive: Callable[[bytes], None]) -> None:
        while True:
            message = await self._pubsub.get_message(timeout=None)
            if message is None:
                continue
            if message["type"] == "smessage":
                receive(message["data"])
            else:
                self._answered(message["type"], message["channel"])

    def _answered(self, kind: str, channel: bytes) -> None:
        """A reply to an SSUBSCRIBE or an SUNSUBSCRIBE; ShardMoved if it
        answers no command of this link's, which means Redis unsubscribed
        it by itself."""
        owed = self._owed.get(channel)
        if not owed or (owed[0] is None) != (kind == "sunsubscribe"):
            raise ShardMoved(f"Redis ended the subscription to {channel.decode()}")
        confirmed = owed.popleft()
        if not owed:
            del self._owed[channel]
        if confirmed is not None:
            confirmed.set_result(None)

    async def close(self) -> None:
        """Close the connection. Streams waiting for a confirmation stop
        waiting: losing the connection has ended them already."""
        for owed in self._owed.values():
            for confirmed in owed:
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
        await self._pubsub.aclose()
        await self._client.aclose()


class RedisBackend:
    """redis:// and redis+cluster://: each message goes through Redis to the
    processes whose streams need its shard, and to no other."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        # Publishing and pinging must fail promptly when Redis hangs.
        self._redis = redis_client(
            url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
        )
        # Each shard this process's streams need, with the confirmation of
        # its SSUBSCRIBE on the current connection (None while there is none).
        self._shards: dict[str, asyncio.Future | None] = {}
        self._map = NodeMap([])
        self._links: dict[str, Link] = {}  # by server URL, while connected
        self._connected = asyncio.Event()
        self._listener: asyncio.Task | None = None

    def attach(self, bus: Listener) -> None:
        self._bus = bus

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._keep_listening())
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                await self._connected.wait()
        except TimeoutError:
            logger.warning("Redis is not answering at start-up; serving, and retrying")

    # --- What the bus asks for ----------------------------------------------

    async def publish(self, messages: dict[str, Message]) -> int:
        """Send each message on its shard; return the bytes sent."""
        sent = 0
        # One round trip for them all (a cluster's pipeline sends each node its own).
        async with self._redis.pipeline(transaction=False) as pipeline:
            for shard, message in messages.items():
                text = message.to_json()
                sent += len(text)
                pipeline.spublish(self._channel(shard), text)
            await pipeline.execute()
        return sent

    def subscribe(self, shards: list[str]) -> None:
        for shard in shards:
            self._shards[shard] = self._subscribe(shard) if self._connected.is_set() else None

    def unsubscribe(self, shards: list[str]) -> None:
        for shard in shards:
            del self._shards[shard]
            if self._connected.is_set():
                self._link_of(shard).unsubscribe(self._channel(shard))

    async def confirmed(self, shards: set[str]) -> bool:
        """Whether Redis confirms each shard's subscription within REDIS_TIMEOUT_S.

        While Redis is away there is nothing to wait for: the streams opened
        meanwhile end once it is back (see `_keep_listening`).
        """
        waiting = [self._shards[shard] for shard in shards if self._shards[shard] is not None]
        if not waiting:
            return True
        _, unconfirmed = await asyncio.wait(waiting, timeout=REDIS_TIMEOUT_S)
        return not unconfirmed

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()

    # --- Connections --------------------------------------------------------

    def _channel(self, shard: str) -> str:
        return pubsub_channel(self._prefix, shard)

    def _link_of(self, shard: str) -> Link:
        return self._links[self._map.url_of(self._channel(shard))]

    def _subscribe(self, shard: str) -> asyncio.Future:
        return self._link_of(shard).subscribe(self._channel(shard))

    async def _keep_listening(self) -> None:
        """Connect, listen until a connection fails, and start again.

        Streams cannot hear what is published while the bus is away: each
        stream ends when a connection is lost, and those opened meanwhile
        end once it is back. Each reconnects, and replays what it missed.
        """
        lost = False
        while True:
            try:
                await self._connect()
                if lost:
                    self._bus.close_streams()
                    lost = False
                await self._listen()
            except* LINK_ERRORS as failure:
                if not lost:
                    logger.warning("Redis connection lost, retrying: %s", failure.exceptions[0])
                    self._bus.close_streams()
                lost = True
            finally:
                await self._disconnect()
            await asyncio.sleep(REDIS_RETRY_S)

    async def _connect(self) -> None:
        """Connect to every server, then subscribe to every shard the streams need."""
        self._map = await node_map(self._redis, self._url)
        self._links = {url: Link(url) for url in self._map.urls}
        for link in self._links.values():
            await link.connect()
        self._connected.set()
        for shard in self._shards:
            self._shards[shard] = self._subscribe(shard)

    async def _listen(self) -> None:
        """Send and read on every connection, until one fails (raises)."""
        async with asyncio.TaskGroup() as links:
            for link in self._links.values():
                links.create_task(link.listen(self._bus.receive_json))

    async def _disconnect(self) -> None:
        self._connected.clear()
        self._shards = dict.fromkeys(self._shards)  # subscribed on no connection now
        for link in self._links.values():
            await link.close()
        self._links = {}
