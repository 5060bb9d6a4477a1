"""The event stream of one reader: replay what they missed, then go live.

A reader's event ids count 1, 2, 3, … with no holes, and event n is
committed before event n+1 is numbered (see `feed.models`). Writers do not
wait for each other, so event n+1 may still be *published* first. The
stream therefore sends ids strictly one after the other:

- It subscribes to the bus *first*, then replays the events after the
  cursor from the database, then sends live events. An event committed
  during the replay is in the replay, on the queue, or both, never in
  neither.
- A live event it has sent already is skipped: nothing is sent twice.
- A live event that comes early (its predecessor has not arrived) waits.
  Its predecessor is committed already, so it is either on its way, or its
  writer died before publishing it: after GAP_WAIT_S the stream reads the
  missing events from the database. Nothing is lost, and ids only grow.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from feed.events import HEARTBEAT, Subscription
from feed.models import REPLAY_BATCH
from feed.wire import PING, RETRY, encode_data, frame, frame_tail

MissedEvents = Callable[[int], Awaitable[list[tuple[int, str, dict]]]]
Subscribe = Callable[[], contextlib.AbstractContextManager[Subscription]]

# How long an early event waits for the one before it, which was committed
# before it was numbered and is almost always a few milliseconds behind.
GAP_WAIT_S = 0.5


async def replay(missed_events: MissedEvents, cursor: int) -> AsyncIterator[tuple[int, bytes]]:
    """(event id, frame) of every event after `cursor`, fetched in batches."""
    while True:
        events = await missed_events(cursor)
        for event_id, action, data in events:
            yield event_id, frame(event_id, frame_tail(action, encode_data(data)))
            cursor = event_id
        if len(events) < REPLAY_BATCH:
            return


class InOrder:
    """Which of a reader's events may be sent now, in id order, each once."""

    def __init__(self, last_sent: int | None) -> None:
        self.last_sent = last_sent  # None: nothing yet, start with the first live event
        self.early: dict[int, bytes] = {}  # event id -> frame tail, waiting for their turn
        self.gap_opened: float | None = None  # when the oldest wait began (monotonic clock)

    def gap_wait_left(self) -> float | None:
        """How much longer early events may wait for the ones before them;
        None when nothing waits."""
        if self.gap_opened is None:
            return None
        return max(0.0, GAP_WAIT_S - (time.monotonic() - self.gap_opened))

    def receive(self, event_id: int, tail: bytes) -> list[bytes]:
        """The frames a live event lets the stream send now, in order."""
        if self.last_sent is None:
            self.last_sent = event_id - 1
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

    def release(self) -> list[bytes]:
        """The frames of the early events whose turn has come."""
        frames = []
        while self.last_sent + 1 in self.early:
            self.last_sent += 1
            frames.append(frame(self.last_sent, self.early.pop(self.last_sent)))
        if not self.early:
            self.gap_opened = None
        elif self.gap_opened is None:
            self.gap_opened = time.monotonic()
        return frames


async def event_stream(
    subscribe: Subscribe, cursor: int | None, missed_events: MissedEvents
) -> AsyncIterator[bytes]:
    """The bytes of one stream (a reader's home feed, or a group's page),
    until they disconnect or are dropped.

    `subscribe()` subscribes it to the bus; `missed_events(after)` reads its
    events after an event id. With no cursor the stream starts live, with
    nothing to replay.
    """
    with subscribe() as subscription:
        yield RETRY
        order = InOrder(cursor)
        if cursor is not None:
            async for replayed in catch_up(missed_events, order):
                yield replayed
        while True:
            items = await next_items(subscription, order)
            if items is None:  # the gap did not close by itself
                async for replayed in catch_up(missed_events, order):
                    yield replayed
                continue
            # Whatever piled up while this stream waited for its turn goes out
            # in one write: a busy server makes fewer, larger writes.
            chunk, stopped = live_chunk(items, order)
            if chunk:
                yield chunk
            if stopped:
                # Dropped for falling behind, or shutting down: the browser
                # reconnects by itself and replays from the database.
                return


async def catch_up(missed_events: MissedEvents, order: InOrder) -> AsyncIterator[bytes]:
    """Every event after the last one sent, from the database, then the
    early events that were waiting for them. (None arrives meanwhile: the
    stream reads its queue only between catch-ups.)"""
    async for event_id, replayed in replay(missed_events, order.last_sent):
        yield replayed
        order.replayed(event_id)
    order.skip_missing()
    released = order.release()
    if released:
        yield b"".join(released)


async def next_items(subscription: Subscription, order: InOrder) -> list | None:
    """The next items from the bus; None if an early event waited GAP_WAIT_S
    for the ones before it in vain (however many other items came meanwhile)."""
    try:
        async with asyncio.timeout(order.gap_wait_left()):
            return await subscription.next_all()
    except TimeoutError:
        return None


def live_chunk(items: list, order: InOrder) -> tuple[bytes, bool]:
    """(the bytes to send, whether the stream must stop) for items from the bus."""
    frames = []
    for item in items:
        if item is None:
            return b"".join(frames), True
        if item is HEARTBEAT:
            frames.append(PING)
        else:
            frames.extend(order.receive(*item))
    return b"".join(frames), False
