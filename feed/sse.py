"""The event stream of one reader: replay what they missed, then go live.

Order matters. The stream subscribes to the bus *first*, then replays feed
rows after the cursor from the database, then sends live events, skipping
ids it has already sent. An event committed during the replay is then in
the replay, on the queue, or both, never in neither: nothing is lost and
nothing is sent twice. Ids only grow because writers publish in id order
(see `feed.service`).
"""

from collections.abc import AsyncIterator, Awaitable, Callable

from feed.events import HEARTBEAT, Bus
from feed.models import REPLAY_BATCH
from feed.wire import PING, RETRY, encode_data, frame, frame_tail

MissedEvents = Callable[[int], Awaitable[list[tuple[int, str, dict]]]]


async def replay(missed_events: MissedEvents, cursor: int) -> AsyncIterator[tuple[int, bytes]]:
    """(feed id, frame) of every event after `cursor`, fetched in batches."""
    while True:
        events = await missed_events(cursor)
        for feed_id, action, data in events:
            yield feed_id, frame(feed_id, frame_tail(action, encode_data(data)))
            cursor = feed_id
        if len(events) < REPLAY_BATCH:
            return


async def event_stream(
    bus: Bus, user_id: int, cursor: int | None, missed_events: MissedEvents
) -> AsyncIterator[bytes]:
    """The bytes of one reader's stream, until they disconnect or are dropped.

    `missed_events(after)` reads the reader's feed rows after a feed id. With
    no cursor the stream starts live, with nothing to replay.
    """
    with bus.subscribe(user_id) as subscription:
        yield RETRY
        last_sent = cursor or 0
        if cursor is not None:
            async for feed_id, replayed in replay(missed_events, cursor):
                yield replayed
                last_sent = feed_id
        while True:
            # Whatever piled up while this stream waited for its turn goes out
            # in one write: a busy server makes fewer, larger writes.
            chunk, last_sent, stopped = live_chunk(await subscription.next_all(), last_sent)
            if chunk:
                yield chunk
            if stopped:
                # Dropped for falling behind, or shutting down: the browser
                # reconnects by itself and replays from the database.
                return


def live_chunk(events: list, last_sent: int) -> tuple[bytes, int, bool]:
    """(the bytes to send, the last id sent, whether the stream must stop)."""
    frames = []
    for event in events:
        if event is None:
            return b"".join(frames), last_sent, True
        if event is HEARTBEAT:
            frames.append(PING)
            continue
        feed_id, tail = event
        if feed_id > last_sent:  # already sent by the replay otherwise
            frames.append(frame(feed_id, tail))
            last_sent = feed_id
    return b"".join(frames), last_sent, False
