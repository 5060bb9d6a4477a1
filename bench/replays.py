"""Forty replays at once by one account with a large home feed: the cap of
MAX_STREAMS_PER_USER streams holds, the streams it ends stop within a
second, in the middle of a replay too, and the rest of the site stays quick
meanwhile (`GET /groups`, against its time with nothing else going on).

    python -m bench.replays [--rows 20000]

Two cases, forty `GET /sse?cursor=…` each, all sent at once:
- the longest replay allowed: a cursor exactly MAX_REPLAY events behind;
- from zero: a cursor further behind than that, which the server answers
  with `event: reset` and no replay (feed.sse.plan_start).

The server ends a person's oldest stream when they open one too many
(feed.events.Bus.subscribe), and says nothing of it on the wire: when it
happened is read from the first frames (see `ended_by_the_cap`).
"""

import argparse
import asyncio
import secrets
import statistics
import threading
import time
from dataclasses import dataclass

import httpx
import sqlalchemy as sa

from bench import targets
from bench.common import (
    CpuMeter,
    Server,
    median_and_max_ms,
    milliseconds,
    percentile,
    prepare_client,
    print_table,
)
from db import AppDatabase, current_epoch
from feed.events import MAX_STREAMS_PER_USER, create_bus
from feed.models import event_table, feed_table
from feed.service import Feed
from feed.sse import MAX_REPLAY
from post.present import Presenter
from relationship.models import follow
from tests.live import expect_streams_on_the_server, streams_on_the_server
from user.models import feed_counter_table, hash_password, insert_user, user_by_name

REPLAYS = 40
STORMS = 3  # times each case is run: a storm is over within a second or so
FEED_ROWS = 20_000
ROWS_PER_INSERT = 1_000
IDLE_S = 1  # how long GET /groups is timed with nothing else going on
ENDED_WITHIN_S = 1.0  # the target: a stream the cap ends is gone within this
# Bounds on every wait, so that the bench always finishes.
SETTLE_TIMEOUT_S = 30  # for the forty streams to be ended or fully replayed
HTTP_TIMEOUT_S = SETTLE_TIMEOUT_S + 5


# --- The account -------------------------------------------------------------


@dataclass
class Replayer:
    reader_id: int  # whose home feed has `newest` events
    author_id: int  # whom the reader follows: every event is one of their posts
    epoch: str
    newest: int


async def seed_replayer(rows: int) -> Replayer:
    """A reader whose home feed holds `rows` events, new each run (the bench
    may run again on the same database).

    The author's first post is written by the app's feed service, so its
    event is described and stored as the app stores it; the other `rows - 1`
    are copies of that event, each a row of its own, inserted in bulk: a
    post at a time would take minutes.
    """
    database = AppDatabase(targets.DATABASE_URL)
    await database.connect()
    suffix = secrets.token_hex(3)
    password_hash = await hash_password(secrets.token_hex(8))  # nobody logs in as them
    reader_id = await insert_user(database, f"replay{suffix}", password_hash)
    author_id = await insert_user(database, f"replayby{suffix}", password_hash)
    await follow(database, reader_id, author_id)
    author = await user_by_name(database, f"replayby{suffix}")
    feed = Feed(database, create_bus("memory://"), Presenter(targets.MEDIA_URL))
    await feed.create_post(author, "x" * 280)  # as long as a post may be
    await copy_the_first_event(database, reader_id, rows - 1)
    epoch = await database.fetch_val(sa.select(current_epoch()))
    await database.disconnect()
    return Replayer(reader_id, author_id, epoch, rows)


async def copy_the_first_event(database: AppDatabase, reader_id: int, copies: int) -> None:
    """Give the reader `copies` more events, 2, 3, …, each with its own
    event row, copied from their first; then raise their counter to match."""
    first = await database.fetch_one(
        sa.select(feed_table, event_table.c.data)
        .join(event_table, event_table.c.id == feed_table.c.event_id)
        .where(feed_table.c.to_user_id == reader_id, feed_table.c.seq == 1)
    )
    event = {
        "action": first["action"],
        "post_id": first["post_id"],
        "fm_user_id": first["fm_user_id"],
        "created": first["created"],
        "data": first["data"],
    }
    for start in range(0, copies, ROWS_PER_INSERT):
        count = min(ROWS_PER_INSERT, copies - start)
        await database.execute(event_table.insert().values([event] * count))
    # Nothing else is about the new post: its events are the first and the copies.
    copied = sa.select(event_table.c.id).where(
        event_table.c.post_id == first["post_id"], event_table.c.id != first["event_id"]
    )
    event_ids = [row[0] for row in await database.fetch_all(copied.order_by(event_table.c.id))]
    home_row = {
        "to_user_id": reader_id,
        "fm_user_id": first["fm_user_id"],
        "post_id": first["post_id"],
        "action": first["action"],
        "created": first["created"],
        "updated": first["updated"],
    }
    numbered = [
        {**home_row, "seq": seq, "event_id": event_id}
        for seq, event_id in enumerate(event_ids, start=2)
    ]
    for start in range(0, len(numbered), ROWS_PER_INSERT):
        chunk = numbered[start : start + ROWS_PER_INSERT]
        await database.execute(feed_table.insert().values(chunk))
    counter = feed_counter_table
    await database.execute(
        counter.update().where(counter.c.user_id == reader_id).values(seq=len(numbered) + 1)
    )


# --- One stream, as the client sees it ---------------------------------------


@dataclass
class Replay:
    """One of the concurrent streams; times from time.perf_counter()."""

    status: int | None = None
    first_frame: float | None = None  # the server had subscribed it just before
    events: int = 0
    complete: float | None = None  # when all the events it should send had come
    ended: float | None = None  # when the server ended it
    error: str | None = None

    @property
    def refused(self) -> bool:
        return self.status is not None and self.status != 200


async def follow_stream(http: httpx.AsyncClient, cursor: str, expected: int, replay: Replay):
    """Open /sse from `cursor` and note what comes, until the server ends the
    stream (or the caller cancels this, once the forty have settled)."""
    headers = {"Accept": "text/event-stream"}
    try:
        async with http.stream(
            "GET", "/sse", params={"cursor": cursor}, headers=headers
        ) as answer:
            replay.status = answer.status_code
            if replay.refused:
                await answer.aread()
            else:
                await read_events(answer, expected, replay)
    except httpx.HTTPError as error:
        replay.error = repr(error)
    replay.ended = time.perf_counter()


# Every frame's `event:` line comes after its `id:` line. Counting these
# bytes as they come, rather than parsing lines in Python, keeps this client
# light: it shares the two cores with the server it measures.
EVENT_LINE = b"\nevent: "


async def read_events(answer: httpx.Response, expected: int, replay: Replay) -> None:
    tail = b""  # the end of the last chunk, where an event line may have begun
    async for chunk in answer.aiter_bytes():
        now = time.perf_counter()
        replay.first_frame = replay.first_frame or now
        seen = tail + chunk
        replay.events += seen.count(EVENT_LINE)
        tail = seen[1 - len(EVENT_LINE) :]  # too short to hold a whole one again
        if replay.complete is None and replay.events >= expected:
            replay.complete = now


def settled(replays: list[Replay]) -> bool:
    """Every stream has been answered, and the server's cap would end no
    more of them: at most the cap still open, each with all it should send."""
    answered = all(replay.first_frame or replay.ended for replay in replays)
    still_open = [replay for replay in replays if replay.ended is None]
    return (
        answered
        and len(still_open) <= MAX_STREAMS_PER_USER
        and all(replay.complete for replay in still_open)
    )


# --- Meanwhile ---------------------------------------------------------------


async def seconds_for_groups(http: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    (await http.get("/groups")).raise_for_status()
    return time.perf_counter() - started


class GroupsMeanwhile:
    """`GET /groups` as someone else, again and again, each as soon as the
    last is answered, for as long as the `async with` block runs: then
    `durations` holds the time of each (at least one).

    It runs in a thread with an event loop of its own: in the client's loop,
    each answer would wait to be read behind the forty streams' bytes, and
    the client's delay would be counted as the server's.
    """

    def __init__(self, server: Server, headers: dict) -> None:
        self.server = server
        self.headers = headers
        self.ready = threading.Event()  # its connection is open: the block may start
        self.done = threading.Event()  # the block has ended
        self.durations: list[float] = []

    async def __aenter__(self) -> "GroupsMeanwhile":
        self.thread = asyncio.create_task(asyncio.to_thread(asyncio.run, self._ask()))
        await asyncio.to_thread(self.ready.wait, HTTP_TIMEOUT_S)
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.done.set()  # whatever happened in the block: the thread must end
        self.durations = await self.thread

    async def _ask(self) -> list[float]:
        async with httpx.AsyncClient(
            base_url=self.server.url, headers=self.headers, timeout=HTTP_TIMEOUT_S
        ) as http:
            await seconds_for_groups(http)  # opens the connection
            self.ready.set()
            durations = [await seconds_for_groups(http)]
            while not self.done.is_set():
                durations.append(await seconds_for_groups(http))
            return durations


# --- The storm ---------------------------------------------------------------


@dataclass
class Storm:
    """REPLAYS streams sent at once, and what happened meanwhile."""

    replays: list[Replay]
    settled_after: float | None  # seconds from the requests to settling; None: never
    finished: float  # when the client stopped watching (perf_counter)
    groups: list[float]  # GET /groups meanwhile
    streams_once_settled: int  # as the server counts them
    cpu: dict[str, float]  # CpuMeter's seconds: server, database, client and wall


async def storm(server: Server, cookies: list[str], cursor: str, expected: int) -> Storm:
    """REPLAYS streams from `cursor` at once, with `GET /groups` as someone
    else meanwhile, until they settle (or SETTLE_TIMEOUT_S)."""
    reader, other = (targets.logged_in_headers(cookie) for cookie in cookies)
    limits = httpx.Limits(max_connections=REPLAYS)
    async with httpx.AsyncClient(
        base_url=server.url, headers=reader, limits=limits, timeout=HTTP_TIMEOUT_S
    ) as http:
        async with GroupsMeanwhile(server, other) as groups:
            replays = [Replay() for _ in range(REPLAYS)]
            meter = CpuMeter(server)
            meter.start()
            started = time.perf_counter()
            readers = [
                asyncio.create_task(follow_stream(http, cursor, expected, replay))
                for replay in replays
            ]
            settled_after = await seconds_until_settled(replays, started)
            finished = time.perf_counter()
            meter.stop()
        streams_once_settled = await streams_on_the_server(server)
        for task in readers:  # the streams left open, which their pages would keep
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    # The next storm starts from none: the server notices closed streams a moment after.
    await expect_streams_on_the_server(server, 0)
    return Storm(
        replays, settled_after, finished, groups.durations, streams_once_settled, meter.spent
    )


async def seconds_until_settled(replays: list[Replay], started: float) -> float | None:
    deadline = started + SETTLE_TIMEOUT_S
    # The streams offer no event to wait for: look again every 10 ms.
    while not settled(replays):  # noqa: ASYNC110
        if time.perf_counter() > deadline:
            return None
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


def ended_by_the_cap(replays: list[Replay]) -> list[float]:
    """For each stream the cap ended: seconds from the first frame of the
    stream that replaced it to its own end.

    The server subscribes streams in the order their first frames go out,
    and each one beyond the cap ends the oldest still open: the n-th stream
    to end was replaced by the (n + cap)-th to start. Pairing them by rank
    keeps first frames that came within a moment of each other, and were
    read in the other order, from pairing a stream with the wrong one.
    """
    starts = sorted(replay.first_frame for replay in replays if replay.first_frame)
    ended = sorted(
        (replay for replay in replays if replay.first_frame and replay.ended),
        key=lambda replay: replay.first_frame,
    )
    replacing = starts[MAX_STREAMS_PER_USER:]
    return [old.ended - new for old, new in zip(ended, replacing, strict=False)]


def most_open_at_the_client(storm: Storm) -> int:
    """The most streams open at once as the client saw them: each from its
    first frame to its end (or to when the client stopped watching)."""
    changes = []
    for replay in storm.replays:
        if replay.first_frame:
            changes += [(replay.first_frame, 1), (replay.ended or storm.finished, -1)]
    most = current = 0
    for _, change in sorted(changes):  # at the same moment, an end before a start
        current += change
        most = max(most, current)
    return most


# --- The figures -------------------------------------------------------------


def figures(storms: list[Storm], idle: list[float]) -> dict[str, object]:
    """The figures of a case's storms, taken together."""
    replays = [replay for storm in storms for replay in storm.replays]
    delays = [delay for storm in storms for delay in ended_by_the_cap(storm.replays)]
    left_open = [r for r in replays if r.first_frame and r.ended is None]
    whole = [r.complete - r.first_frame for r in left_open if r.complete]
    groups = [duration for storm in storms for duration in storm.groups]
    settled = [storm.settled_after for storm in storms]
    return {
        "streams sent": len(replays),
        "settled after, max s": "never" if None in settled else max(settled),
        "most open at once, at the client": max(map(most_open_at_the_client, storms)),
        "open on the server once settled, max": max(s.streams_once_settled for s in storms),
        "refused, or failed": sum(r.refused or r.error is not None for r in replays),
        "ended by the cap": len(delays),
        f"… of them within {ENDED_WITHIN_S:g} s of being replaced": sum(
            delay <= ENDED_WITHIN_S for delay in delays
        ),
        "… from being replaced to ended, median / max ms": median_and_max_ms(delays),
        "… events each had received, max": max(
            (r.events for r in replays if r.ended is not None), default=0
        ),
        "left open, with all they should send": len(whole),
        "… first frame to last event, median / max ms": median_and_max_ms(whole),
        "GET /groups idle, median ms": milliseconds(statistics.median(idle)),
        "GET /groups meanwhile, median / max ms": median_and_max_ms(groups),
        "… meanwhile, p90 ms": milliseconds(percentile(groups, 0.9)),
        "… median meanwhile ÷ median idle": statistics.median(groups) / statistics.median(idle),
        "… requests meanwhile": len(groups),
        "CPU, % of a core: server / database / client": cpu_shares(storms),
    }


def cpu_shares(storms: list[Storm]) -> str:
    """The CPU the server, the database and this client spent during the
    storms, each as a percentage of one core: "71 / 32 / 21"."""
    wall = sum(storm.cpu["wall"] for storm in storms)
    spent = (sum(storm.cpu[name] for storm in storms) for name in ("server", "database", "client"))
    return " / ".join(f"{100 * seconds / wall:.0f}" for seconds in spent)


def targets_of(storms: int) -> dict[str, str]:
    ended = storms * (REPLAYS - MAX_STREAMS_PER_USER)
    return {
        "most open at once, at the client": f"≤ {MAX_STREAMS_PER_USER}",
        "open on the server once settled, max": f"{MAX_STREAMS_PER_USER}",
        "ended by the cap": f"{ended}",
        f"… of them within {ENDED_WITHIN_S:g} s of being replaced": f"{ended}",
        "… median meanwhile ÷ median idle": "≤ 2",
    }


async def measure(server: Server, replayer: Replayer, storms: int) -> tuple[dict, dict]:
    cookies = await targets.session_cookies([replayer.reader_id, replayer.author_id])
    async with GroupsMeanwhile(server, targets.logged_in_headers(cookies[1])) as idle:
        await asyncio.sleep(IDLE_S)  # nothing else going on
    # The longest replay allowed, and a cursor too far behind for any.
    longest = f"{replayer.epoch}/home={replayer.newest - MAX_REPLAY}"
    from_zero = f"{replayer.epoch}/home=0"
    replaying = [await storm(server, cookies, longest, MAX_REPLAY) for _ in range(storms)]
    resetting = [await storm(server, cookies, from_zero, 1) for _ in range(storms)]  # the reset
    return figures(replaying, idle.durations), figures(resetting, idle.durations)


def main(rows: int = FEED_ROWS, storms: int = STORMS) -> list[list]:
    prepare_client()
    replayer = asyncio.run(seed_replayer(rows))
    with targets.quartfeed_server(workers=0) as server:  # `--workers 0`, as `make run`
        deadline = 2 * storms * (SETTLE_TIMEOUT_S + 15) + 30
        replaying, resetting = asyncio.run(
            asyncio.wait_for(measure(server, replayer, storms), deadline)
        )
    goals = targets_of(storms)
    table = [[name, replaying[name], resetting[name], goals.get(name, "")] for name in replaying]
    headers = ["figure", f"replay of {MAX_REPLAY:,}", "from zero (reset)", "target"]
    title = (
        f"10. {REPLAYS} streams at once by one account ({rows:,} events in its home feed);"
        f" runs of each case: {storms}"
    )
    print_table(title, headers, table)
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=FEED_ROWS, help="events in the home feed")
    parser.add_argument("--storms", type=int, default=STORMS, help="times each case is run")
    options = parser.parse_args()
    targets.prepare_database(fresh=False)  # alone, it may run before `python -m bench`
    main(options.rows, options.storms)
