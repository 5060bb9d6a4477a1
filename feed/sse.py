"""One event stream: replay what a browser missed, then go live.

A stream carries one or more channels (see feed.channels). Each channel's
event ids count 1, 2, 3, … with no holes, and event n is committed before
event n+1 is numbered (see feed.models). Writers do not wait for each
other, so event n+1 may still be *published* first. The stream therefore
sends each channel's ids strictly one after the other:

- It subscribes to the bus *first*, and waits until the broker has
  confirmed the subscription; then it replays each channel's events after
  its start from the database, then sends live events. An event committed
  during the replay is in the replay, on the queue, or both, never in
  neither.
- A live event it has sent already is skipped: nothing is sent twice.
- A live event that comes early (its predecessor has not arrived) waits.
  Its predecessor is committed already, so it is either on its way, or its
  writer died before publishing it: after GAP_WAIT_S the stream reads the
  missing events from the database. Nothing is lost, and ids only grow.

Every frame's `id:` is the stream's whole cursor, so a browser that
reconnects with `Last-Event-ID` resumes every channel where it was.
"""

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from feed.channels import Channel, Cursor
from feed.events import HEARTBEAT, LOGGED_OUT, SHUTDOWN, Subscription
from feed.models import StoredEvent
from feed.wire import PING, RETRY_MS, frame, frame_tail, id_frame, retry_frame

MissedEvents = Callable[[Channel, int, int], Awaitable[list[StoredEvent]]]
Subscribe = Callable[[], contextlib.AbstractAsyncContextManager[Subscription]]

REPLAY_BATCH = 200  # events read from the database at a time
# A channel further behind than this starts over (`event: reset`): the page
# reloads, which costs one page, where a replay would cost every event.
MAX_REPLAY = 1000
# How long an early event waits for the one before it, which was committed
# before it was numbered and is almost always a few milliseconds behind.
GAP_WAIT_S = 0.5
# When the server stops, its streams end and browsers come back after this
# many milliseconds (to another process): soon, but not all at once.
SHUTDOWN_RETRY_MS = (100, 1000)
LOGOUT = b"event: logout\ndata: {}\n\n"


@dataclass(frozen=True)
class Start:
    """Where a stream starts: the epoch, each channel's last event id, and
    the channels that start over from their newest event (`event: reset`)."""

    epoch: str
    positions: dict[Channel, int]
    reset: list[Channel]


def plan_start(
    epoch: str,
    newest: dict[Channel, int],
    resumed: Cursor | None,
    rendered: Cursor | None,
) -> Start:
    """Where each channel of a stream starts.

    `resumed` is the browser's Last-Event-ID, `rendered` the cursor the page
    was rendered with; the first that names a channel gives its position.
    A channel named by neither starts at its newest event. A position from
    another epoch, ahead of the channel, or more than MAX_REPLAY behind
    starts over, as does every channel when Last-Event-ID itself comes from
    another epoch: nothing that browser holds can be trusted.
    """
    positions, reset = {}, []
    for channel, last in newest.items():
        asked = _asked_position(channel, resumed, rendered, epoch)
        if asked is None:  # no position: start now
            positions[channel] = last
        elif asked is False or not last - MAX_REPLAY <= asked <= last:
            positions[channel] = last
            reset.append(channel)
        else:
            positions[channel] = asked
    return Start(epoch, positions, reset)


def _asked_position(
    channel: Channel, resumed: Cursor | None, rendered: Cursor | None, epoch: str
) -> int | bool | None:
    """The position a client asks for a channel: None for none, False for
    one that cannot be trusted (another epoch)."""
    if resumed is not None and resumed.epoch != epoch:
        return False
    for cursor in (resumed, rendered):
        if cursor is not None and channel in cursor.positions:
            return cursor.positions[channel] if cursor.epoch == epoch else False
    return None


class InOrder:
    """Which of a channel's events may be sent now, in id order, each once."""

    def __init__(self, last_sent: int) -> None:
        self.last_sent = last_sent
        self.early: dict[int, bytes] = {}  # event id -> frame tail, waiting for their turn
        self.gap_opened: float | None = None  # when the oldest wait began (monotonic clock)

    def gap_wait_left(self) -> float | None:
        """How much longer early events may wait for the ones before them;
        None when nothing waits."""
        if self.gap_opened is None:
            return None
        return max(0.0, GAP_WAIT_S - (time.monotonic() - self.gap_opened))

    def receive(self, event_id: int, tail: bytes) -> list[tuple[int, bytes]]:
        """The (event id, frame tail) a live event lets the stream send now, in order."""
        if event_id > self.last_sent:  # otherwise sent already, e.g. by the replay
            self.early[event_id] = tail
        return self.release()

    def replayed(self, event_id: int) -> None:
        """The replay sent this event, and every one before it."""
        self.last_sent = event_id
        self.early = {id_: tail for id_, tail in self.early.items() if id_ > event_id}

    def skip_missing(self) -> None:
        """Once the database has been read after the early events arrived,
        whatever it did not have before them does not exist: stop waiting.

        The locks taken by the fan-out make such a hole impossible; should
        one appear anyway, the stream moves on rather than wait for ever.
        """
        if self.early:
            self.last_sent = max(self.last_sent, min(self.early) - 1)

    def release(self) -> list[tuple[int, bytes]]:
        """The early events whose turn has come."""
        released = []
        while self.last_sent + 1 in self.early:
            self.last_sent += 1
            released.append((self.last_sent, self.early.pop(self.last_sent)))
        if not self.early:
            self.gap_opened = None
        elif self.gap_opened is None:
            self.gap_opened = time.monotonic()
        return released


class Stream:
    """The frames of one open stream, channel by channel, in order."""

    def __init__(self, start: Start, subscription: Subscription, missed: MissedEvents) -> None:
        self.epoch = start.epoch
        self.reset = start.reset
        self.orders = {channel: InOrder(seq) for channel, seq in start.positions.items()}
        self.names = {channel: channel.name() for channel in start.positions}
        self.subscription = subscription
        self.missed = missed

    def cursor(self) -> str:
        parts = (
            f"{self.names[channel]}={order.last_sent}" for channel, order in self.orders.items()
        )
        return "/".join((self.epoch, *parts))

    def frames(self, channel: Channel, released: list[tuple[int, bytes]]) -> list[bytes]:
        """Frames for a channel's events, each with the cursor as of itself."""
        order, frames = self.orders[channel], []
        for event_id, tail in released:
            order.last_sent = event_id
            frames.append(frame(self.cursor(), tail))
        return frames

    def opening(self) -> bytes:
        """The first frame: where the stream starts, and what starts over."""
        if not self.reset:
            return id_frame(self.cursor())
        names = [channel.name() for channel in self.reset]
        data = json.dumps({"channels": names}, separators=(",", ":"))
        return frame(self.cursor(), f"event: reset\ndata: {data}\n\n".encode())

    async def run(self) -> AsyncIterator[bytes]:
        yield retry_frame(RETRY_MS) + self.opening()
        for channel in self.orders:
            async for replayed in self.catch_up(channel):
                yield replayed
        while self.subscription.ended is None:
            items = await self.next_items()
            if items is None:  # a gap did not close by itself
                for channel in self.overdue():
                    async for replayed in self.catch_up(channel):
                        yield replayed
                continue
            # Whatever piled up while this stream waited for its turn goes out
            # in one write: a busy server makes fewer, larger writes.
            chunk = self.live_chunk(items)
            if chunk:
                yield chunk
        yield self.farewell()

    async def catch_up(self, channel: Channel) -> AsyncIterator[bytes]:
        """Every event of a channel after the last one sent, from the
        database, then its early events that were waiting for them. (None
        arrives meanwhile: the stream reads its queue only between catch-ups.)
        A stream that is ended stops at once, in the middle of a replay too."""
        order, name = self.orders[channel], self.names[channel]
        while self.subscription.ended is None:
            events = await self.missed(channel, order.last_sent, REPLAY_BATCH)
            if self.subscription.ended is not None:
                return
            if events:
                released = [(e.event_id, frame_tail(e.action, e.data, name)) for e in events]
                chunk = b"".join(self.frames(channel, released))
                order.replayed(events[-1].event_id)  # and forget what came early meanwhile
                yield chunk
            if len(events) < REPLAY_BATCH:
                break
        order.skip_missing()
        released = self.frames(channel, order.release())
        if released:
            yield b"".join(released)

    def overdue(self) -> list[Channel]:
        """The channels whose early events waited GAP_WAIT_S in vain."""
        return [channel for channel, order in self.orders.items() if order.gap_wait_left() == 0]

    async def next_items(self) -> list | None:
        """The next items from the bus; None if an early event waited
        GAP_WAIT_S for the ones before it in vain (however many other items
        came meanwhile)."""
        waits = [
            wait for order in self.orders.values() if (wait := order.gap_wait_left()) is not None
        ]
        try:
            async with asyncio.timeout(min(waits, default=None)):
                return await self.subscription.next_all()
        except TimeoutError:
            return None

    def live_chunk(self, items: list) -> bytes:
        """The bytes to send for items from the bus (None: the stream ends)."""
        frames = []
        for item in items:
            if item is None:
                break
            if item is HEARTBEAT:
                frames.append(PING)
                continue
            channel, event_id, tail = item
            frames.extend(self.frames(channel, self.orders[channel].receive(event_id, tail)))
        return b"".join(frames)

    def farewell(self) -> bytes:
        """The last frame, by why the stream ends: a logged-out page must not
        reconnect; after a shutdown, browsers come back soon, elsewhere."""
        if self.subscription.ended == LOGGED_OUT:
            return LOGOUT
        if self.subscription.ended == SHUTDOWN:
            return retry_frame(random.randint(*SHUTDOWN_RETRY_MS))
        return b""


async def event_stream(
    subscribe: Subscribe, start: Start, missed: MissedEvents, expires_in_s: float
) -> AsyncIterator[bytes]:
    """The bytes of one stream, until the browser disconnects, the stream is
    dropped, or its session ends (`expires_in_s` from now at the latest).

    `subscribe()` subscribes it to the bus (it returns once the broker has
    confirmed it); `missed(channel, after, limit)` reads a channel's events
    after an event id.
    """
    async with subscribe() as subscription:
        expiry = asyncio.get_running_loop().call_later(expires_in_s, subscription.end, LOGGED_OUT)
        try:
            async for chunk in Stream(start, subscription, missed).run():
                if chunk:
                    yield chunk
        finally:
            expiry.cancel()
