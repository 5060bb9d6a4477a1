"""A popular author: fan-out in batches, beside the floor of writing the
same rows in one statement.

An author with N followers (10,000, 100,000, 1,000,000, seeded in bulk in a
database of their own) posts; the first FANOUT_BATCH readers are told in
the post's own transaction, the rest by the fan-out worker, a batch per
transaction. Measured: the write itself (what the author waits for), the
whole fan-out, and a second writer who shares readers with it, alone and
during the fan-out; the floor is one INSERT … SELECT of the same rows into
the feed table, sent straight to MariaDB. Then the same through HTTP, with
1,000 of the followers holding their home stream open on four processes
over Redis: when the last of them has the post, and the bytes the bus
publishes and each process receives.

python -m bench.popular [--sizes 10000 100000]
"""

import argparse
import asyncio
import contextlib
import itertools
import statistics
import time
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa

from bench import targets
from bench.client import Stream, close_all, open_streams
from bench.common import Server, milliseconds, prepare_client, print_table
from db import AppDatabase, utc_now
from feed.events import create_bus
from feed.fanout import WORKERS
from feed.models import FANOUT_BATCH, fanout_table
from feed.service import Feed
from post.present import Presenter
from relationship.models import follower_ids
from user.models import user_by_name, user_table

DATABASE_URL = targets.DATABASE_URL.rsplit("/", 1)[0] + "/quartfeed_popular"
SIZES = [10_000, 100_000, 1_000_000]
# The second writer's followers, all also the author's: with the writer,
# fewer than a batch, so that their post needs no fan-out after it.
SHARED_READERS = FANOUT_BATCH - 2


def author_name(size: int) -> str:
    return f"author{size}"


# --- Seeding in bulk: MariaDB's sequence tables give the numbers. ------------

SEED_FANS = """
INSERT INTO user (username, username_key, password, created)
SELECT CONCAT('fan', seq), CONCAT('fan', seq), '!', NOW(6) FROM seq_1_to_{count}
"""
SEED_COUNTERS = [
    "INSERT INTO feed_counter (user_id, seq) SELECT id, 0 FROM user",
    "INSERT INTO channel_counter (kind, owner_id, seq) SELECT 'profile', id, 0 FROM user",
]
# The author of size N is followed by fan1 … fanN, which are users 1 … N.
SEED_FOLLOWERS = """
INSERT INTO relationship (fm_user_id, to_user_id, created)
SELECT seq, {author_id}, NOW(6) FROM seq_1_to_{count}
"""


async def seed(database: AppDatabase, sizes: list[int]) -> None:
    """fan1 … fan{max(sizes)}, an author per size followed by the first N
    fans, and `second`, followed by the SHARED_READERS fans that the
    author's first batch after the post's own reaches."""
    await database.execute(SEED_FANS.format(count=max(sizes)))
    names = [author_name(size) for size in sizes] + ["second"]
    for name in names:
        await database.execute(
            user_table.insert().values(
                username=name, username_key=name, password="!", created=utc_now()
            )
        )
    for statement in SEED_COUNTERS:
        await database.execute(statement)
    for size in sizes:
        author = await user_by_name(database, author_name(size))
        await database.execute(SEED_FOLLOWERS.format(author_id=author["id"], count=size))
    second = await user_by_name(database, "second")
    first_shared = FANOUT_BATCH + 1  # the batch the worker starts with
    last_shared = first_shared + SHARED_READERS - 1
    await database.execute(
        "INSERT INTO relationship (fm_user_id, to_user_id, created) "
        f"SELECT seq, {second['id']}, NOW(6) FROM seq_{first_shared}_to_{last_shared}"
    )


# --- Measuring ---------------------------------------------------------------

# The same rows as the author's post gives its followers (numbered from
# their counters), in one statement, into the feed table itself; post 0 is
# no post, so they are told apart and removed afterwards.
FLOOR = """
INSERT INTO feed (seq, to_user_id, fm_user_id, post_id, action, created, updated, event_id)
SELECT feed_counter.seq + 1, fm_user_id, {author_id}, 0, 'post', NOW(6), NOW(6), NULL
FROM relationship JOIN feed_counter ON feed_counter.user_id = relationship.fm_user_id
WHERE to_user_id = {author_id}
"""


async def floor_seconds(database: AppDatabase, author_id: int) -> float:
    """One INSERT … SELECT of a row per follower: what no fan-out beats."""
    started = time.perf_counter()
    await database.execute(FLOOR.format(author_id=author_id))
    seconds = time.perf_counter() - started
    await database.execute("DELETE FROM feed WHERE post_id = 0")
    return seconds


async def forget_posts(database: AppDatabase) -> None:
    """Remove the posts' feed rows, so that each run starts as the last did."""
    await database.execute("DELETE FROM feed")
    await database.execute("DELETE FROM channel_event")


async def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = await work
    return time.perf_counter() - started, result


async def measure(feed: Feed, size: int) -> list:
    database = feed.database
    author = await user_by_name(database, author_name(size))
    second = await user_by_name(database, "second")
    alone = [(await timed(feed.create_post(second, "alone")))[0] for _ in range(5)]
    started = time.perf_counter()
    post_s, _ = await timed(feed.create_post(author, f"to my {size} followers"))
    # The workers of one process, as the app runs them (feed.fanout).
    workers = [asyncio.create_task(feed.finish_fanouts()) for _ in range(WORKERS)]
    await asyncio.sleep(0)  # their first batches have started
    during_s, _ = await timed(feed.create_post(second, "during"))
    batches = sum(await asyncio.gather(*workers))
    everyone_s = time.perf_counter() - started
    await forget_posts(database)
    floor_s = await floor_seconds(database, author["id"])
    return [
        size,
        milliseconds(post_s),
        batches,
        milliseconds(everyone_s),
        milliseconds(floor_s),
        everyone_s / floor_s,
        milliseconds(statistics.median(alone)),
        milliseconds(during_s),
    ]


# --- Through HTTP, with streams open on four processes -----------------------

STREAMS = 1_000  # followers holding their home stream open
SLOW_STATEMENT_S = 600
PROCESSES = 4


@dataclass
class Processes:
    """PROCESSES QuartFeed servers over one Redis, each holding a quarter of
    the streams: followers with neighbouring ids, so that their shards of
    the bus differ (see feed.events)."""

    servers: list[Server]
    streams: list[list[Stream]] = field(default_factory=list)
    recording: list[asyncio.Task] = field(default_factory=list)

    def close(self) -> None:
        for share in self.streams:
            close_all(share)
        for task in self.recording:
            task.cancel()

    async def bytes_through_redis(self) -> list[tuple[int, int]]:
        """(published, received) by each process's bus so far."""
        async with httpx.AsyncClient() as http:
            answers = [(await http.get(f"{server.url}/healthz")).json() for server in self.servers]
        return [(answer["published_bytes"], answer["received_bytes"]) for answer in answers]


def stream_holders(fans: list[int]) -> list[int]:
    """STREAMS followers spread evenly over all of them, lowest id first."""
    step = max(1, len(fans) // STREAMS)
    return fans[::step][:STREAMS]


async def open_on_processes(processes: Processes, holders: list[int]) -> None:
    """A quarter of the holders' streams on each process, each recording
    what arrives."""
    cookies = await targets.session_cookies(holders, DATABASE_URL)
    share = len(cookies) // len(processes.servers)
    for number, server in enumerate(processes.servers):
        mine = cookies[number * share : (number + 1) * share]
        processes.streams.append(await open_streams(server.port, "/sse", mine))
    processes.recording = [
        asyncio.create_task(stream.record()) for share in processes.streams for stream in share
    ]


def changes(before: list[tuple[int, ...]], after: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    return [
        tuple(now - then for now, then in zip(late, early, strict=True))
        for early, late in zip(before, after, strict=True)
    ]


async def until_fanned_out() -> None:
    """Until no fan-out is left in the database (the last streams may be
    reached before the last readers are)."""
    database = await connected()
    left = sa.select(sa.func.count()).select_from(fanout_table)
    async with asyncio.timeout(600):
        while await database.fetch_val(left):  # noqa: ASYNC110 (the database tells no one)
            await asyncio.sleep(0.1)
    await database.disconnect()


async def post_as(http: httpx.AsyncClient, cookie: str, marker: int) -> float:
    """POST /post with `bench-<marker>`; its time."""
    headers = targets.logged_in_headers(cookie)
    started = time.perf_counter()
    response = await http.post("/post", json={"post": f"bench-{marker}"}, headers=headers)
    response.raise_for_status()
    return time.perf_counter() - started


async def until_every_stream_has(processes: Processes, marker: int, patience_s: float) -> float:
    """When the last open stream saw `marker` (perf_counter); raise if one never does."""
    streams = [stream for share in processes.streams for stream in share]
    deadline = time.perf_counter() + patience_s
    while time.perf_counter() < deadline:
        arrivals = [next((t for m, t in s.received if m == marker), None) for s in streams]
        if None not in arrivals:
            return max(arrivals)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{arrivals.count(None)} streams never got the post")


async def measure_live(processes: Processes, size: int, markers) -> list:
    database = await connected()
    author = await user_by_name(database, author_name(size))
    second = await user_by_name(database, "second")
    await database.disconnect()
    author_cookie, second_cookie = await targets.session_cookies(
        [author["id"], second["id"]], DATABASE_URL
    )
    first = processes.servers[0]
    async with httpx.AsyncClient(base_url=first.url, timeout=60) as http:
        alone = [await post_as(http, second_cookie, next(markers)) for _ in range(5)]
        before = await processes.bytes_through_redis()
        marker = next(markers)
        started = time.perf_counter()
        post_s = await post_as(http, author_cookie, marker)
        during_s = await post_as(http, second_cookie, next(markers))
        last_stream_s = await until_every_stream_has(processes, marker, 600) - started
        await until_fanned_out()
        after = await processes.bytes_through_redis()
    # Each process's workers publish batches of the fan-out.
    published = sum(sent for sent, _ in changes(before, after))
    received = [got for _, got in changes(before, after)]
    return [
        size,
        milliseconds(post_s),
        milliseconds(last_stream_s),
        milliseconds(statistics.median(alone)),
        milliseconds(during_s),
        published,
        max(received),
        max(received) / published,
    ]


async def run_live(sizes: list[int]) -> list[list]:
    database = await connected()
    author = await user_by_name(database, author_name(max(sizes)))
    fans = sorted(await follower_ids(database, author["id"]))
    await database.disconnect()
    markers = itertools.count()
    rows = []
    for size in sizes:
        # Followers spread over the author's, so the last is near the end.
        holders = stream_holders(fans[:size])
        with contextlib.ExitStack() as running:
            servers = [
                running.enter_context(
                    targets.quartfeed_server(
                        broker_url=targets.REDIS_URL, database_url=DATABASE_URL
                    )
                )
                for _ in range(PROCESSES)
            ]
            processes = Processes(servers)
            await open_on_processes(processes, holders)
            running.callback(processes.close)
            rows.append(await measure_live(processes, size, markers))
        database = await connected()
        await forget_posts(database)
        await database.disconnect()
    return rows


async def connected() -> AppDatabase:
    # Seeding a million rows, or writing them in one statement (the floor),
    # takes longer than an app's statement may.
    database = AppDatabase(DATABASE_URL, timeout_s=SLOW_STATEMENT_S)
    await database.connect()
    return database


async def seeded(sizes: list[int]) -> bool:
    database = await connected()
    authors = [await user_by_name(database, author_name(size)) for size in sizes]
    await database.disconnect()
    return all(authors)


async def seed_all(sizes: list[int]) -> None:
    database = await connected()
    await seed(database, sizes)
    await database.disconnect()


async def run(sizes: list[int]) -> None:
    database = await connected()
    feed = Feed(database, create_bus("memory://"), Presenter(targets.MEDIA_URL))
    rows = [await measure(feed, size) for size in sizes]
    await database.disconnect()
    print_table(
        f"A popular author's post (MariaDB, batches of {FANOUT_BATCH:,} readers)",
        [
            "followers",
            "post ms",
            "batches after",
            "everyone told ms",
            "floor ms",
            "× floor",
            "2nd writer alone ms",
            "2nd writer during ms",
        ],
        rows,
    )


def main(sizes: list[int] = SIZES) -> None:
    """Seed the followers once (the database is kept between runs), then measure."""
    prepare_client()
    targets.prepare_database(fresh=False, url=DATABASE_URL)
    if not asyncio.run(seeded(sizes)):
        targets.prepare_database(fresh=True, url=DATABASE_URL)
        print(f"Seeding {max(sizes):,} followers in bulk…", flush=True)
        asyncio.run(seed_all(sizes))
    asyncio.run(run(sizes))
    rows = asyncio.run(run_live(sizes))
    print_table(
        f"Through HTTP: {STREAMS:,} followers' streams open on {PROCESSES} processes over Redis",
        [
            "followers",
            "author's POST ms",
            "last stream has it ms",
            "2nd writer alone ms",
            "2nd writer during ms",
            "bytes published",
            "most bytes one process received",
            "share",
        ],
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    main(parser.parse_args().sizes)
