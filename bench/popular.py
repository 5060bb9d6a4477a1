"""A popular author: fan-out in batches, beside the floor of writing the
same rows in one statement.

An author with N followers (10,000, 100,000, 1,000,000, seeded in bulk in a
database of their own) posts; the first FANOUT_BATCH readers are told in
the post's own transaction, the rest by the fan-out worker, a batch per
transaction. Measured: the write itself (what the author waits for), the
whole fan-out, and a second writer who shares readers with it, alone and
during the fan-out; the floor is one INSERT … SELECT of the same rows into
the feed table, sent straight to MariaDB.

python -m bench.popular [--sizes 10000 100000]
"""

import argparse
import asyncio
import statistics
import time

from bench import targets
from bench.common import milliseconds, print_table
from db import AppDatabase, utc_now
from feed.events import create_bus
from feed.fanout import WORKERS
from feed.models import FANOUT_BATCH
from feed.service import Feed
from post.present import Presenter
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


async def connected() -> AppDatabase:
    database = AppDatabase(DATABASE_URL)
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
    targets.prepare_database(fresh=False, url=DATABASE_URL)
    if not asyncio.run(seeded(sizes)):
        targets.prepare_database(fresh=True, url=DATABASE_URL)
        print(f"Seeding {max(sizes):,} followers in bulk…", flush=True)
        asyncio.run(seed_all(sizes))
    asyncio.run(run(sizes))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    main(parser.parse_args().sizes)
