"""Search among 100,000 posts on MariaDB: the app's own search
(`search.models.found_posts`, through the FULLTEXT index) and one HTTP
`GET /search` at a time, beside a `LIKE '%…%'` scan of the same table in
the same run.

The posts are seeded once, in bulk, in a database of their own
(quartfeed_search, kept between runs): ten words each, drawn from a
vocabulary of 5,000, by 100 authors. Some words are planted at known rates,
so each search finds a known share of the table.

python -m bench.search [--repeats 20] [--posts 100000]
"""

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import timedelta

import httpx
import sqlalchemy as sa

from bench import targets
from bench.common import milliseconds, print_table
from db import AppDatabase, utc_now
from post.models import post_table
from search.models import RECENT_POSTS_SCANNED, found_posts, search_terms
from user.models import insert_user
from utilities.like import containing
from utilities.pagination import PAGE_SIZE

DATABASE_URL = targets.DATABASE_URL.rsplit("/", 1)[0] + "/quartfeed_search"
POSTS = 100_000
AUTHORS = 100
WORDS_PER_POST = 10
VOCABULARY = 5_000
CHUNK = 5_000  # posts per INSERT
TARGET_MS = 100
# Words planted in every Nth post: (the word, N).
PLANTED = [("zebra", 1_000), ("#pond", 100), ("duck", 10), ("go", 20)]
# What each search is, and what it shows about the index.
SEARCHES = [
    ("zebra", "a rare word (0.1 % of posts)"),
    ("duck", "a common word (10 %)"),
    ("duck zebra", "two words, both required"),
    ("#pond", "a hashtag (1 %): the index, then LIKE among what it found"),
    ("go", f"a short word (5 %): LIKE among the newest {RECENT_POSTS_SCANNED:,}"),
]
# The same page of the same rows as the app's search, found by a LIKE scan
# instead of the index: what searching would cost without one.
LIKE_SCAN = sa.text(
    "SELECT post.id, post.uid, post.body, user.username FROM post"
    " JOIN user ON user.id = post.user_id"
    " WHERE post.body LIKE :pattern AND post.deleted IS NULL AND post.group_id IS NULL"
    " ORDER BY post.id DESC LIMIT :limit"
)


def syllable_words(count: int, rng: random.Random) -> list[str]:
    """`count` distinct made-up words of two to four syllables."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    return sorted(words)


def post_body(number: int, vocabulary: list[str], rng: random.Random) -> str:
    words = rng.choices(vocabulary, k=WORDS_PER_POST)
    words += [word for word, every in PLANTED if number % every == 0]
    return " ".join(words)


async def seed(database: AppDatabase, posts: int) -> None:
    """The authors through the app's own function; the posts in chunks of
    one multi-row INSERT each (the FULLTEXT index takes them as they come)."""
    rng = random.Random(20261204)
    vocabulary = syllable_words(VOCABULARY, rng)
    author_ids = [await insert_user(database, f"searcher{n}", "!") for n in range(AUTHORS)]
    start = utc_now() - timedelta(seconds=posts)
    for first in range(0, posts, CHUNK):
        rows = [
            {
                "uid": str(uuid.uuid4()),
                "user_id": author_ids[number % AUTHORS],
                "body": post_body(number, vocabulary, rng),
                "created": start + timedelta(seconds=number),
                "updated": start + timedelta(seconds=number),
            }
            for number in range(first, min(first + CHUNK, posts))
        ]
        await database.execute(post_table.insert().values(rows))


async def post_count(database: AppDatabase) -> int:
    return await database.fetch_val(sa.select(sa.func.count()).select_from(post_table))


async def timings(work, repeats: int) -> tuple[list[float], int]:
    """Seconds for each of `repeats` calls of `work()` after one to warm up,
    and how many rows the last one returned."""
    await work()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        rows = await work()
        durations.append(time.perf_counter() - started)
    return durations, len(rows)


def summary(name: str, what: str, durations: list[float], rows: int) -> list:
    return [
        name,
        what,
        rows,
        milliseconds(statistics.median(durations)),
        milliseconds(max(durations)),
    ]


async def measure_model(database: AppDatabase, repeats: int) -> list[list]:
    """The app's search and the LIKE scan, a page each (PAGE_SIZE + 1 rows,
    as the page asks), in turn."""
    rows = []
    for text, what in SEARCHES:
        terms = search_terms(text)
        durations, found = await timings(
            lambda terms=terms: found_posts(database, terms, limit=PAGE_SIZE + 1), repeats
        )
        rows.append(summary(text, what, durations, found))
    for word in ("zebra", "duck"):
        scan = LIKE_SCAN.bindparams(pattern=containing(word), limit=PAGE_SIZE + 1)
        durations, found = await timings(lambda scan=scan: database.fetch_all(scan), repeats)
        rows.append(
            summary(f"LIKE '%{word}%'", "a scan of the table, newest first", durations, found)
        )
    return rows


async def measure_http(repeats: int) -> list:
    """One GET /search at a time, from another process, for the rare word."""
    with targets.quartfeed_server(database_url=DATABASE_URL) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:

            async def page() -> list[str]:
                response = await http.get("/search", params={"q": "zebra"})
                response.raise_for_status()
                return response.text.split('class="card shadow-sm mb-2 found-post"')[1:]

            durations, found = await timings(page, repeats)
    return summary("GET /search?q=zebra", "the whole page, through HTTP", durations, found)


async def run(posts: int, repeats: int) -> None:
    database = AppDatabase(DATABASE_URL, timeout_s=60)
    await database.connect()
    rows = await measure_model(database, repeats)
    await database.disconnect()
    rows.append(await measure_http(repeats))
    print_table(
        f"Search among {posts:,} posts on MariaDB, first page; {repeats} times each",
        ["search", "what it shows", "rows", "median ms", "max ms"],
        rows,
    )
    slowest = max(row[3] for row in rows if not row[0].startswith("LIKE"))
    verdict = "met" if slowest < TARGET_MS else "missed"
    print(f"The app's slowest median: {slowest:.1f} ms (target < {TARGET_MS} ms): {verdict}")


async def seeded(posts: int) -> bool:
    database = AppDatabase(DATABASE_URL)
    await database.connect()
    count = await post_count(database)
    await database.disconnect()
    return count == posts


async def seed_all(posts: int) -> None:
    database = AppDatabase(DATABASE_URL, timeout_s=60)
    await database.connect()
    started = time.perf_counter()
    await seed(database, posts)
    print(f"Seeded {posts:,} posts in {time.perf_counter() - started:.1f} s", flush=True)
    await database.disconnect()


def main(repeats: int = 20, posts: int = POSTS) -> None:
    """Seed the posts once (the database is kept between runs), then measure."""
    targets.prepare_database(fresh=False, url=DATABASE_URL)
    if not asyncio.run(seeded(posts)):
        targets.prepare_database(fresh=True, url=DATABASE_URL)
        print(f"Seeding {posts:,} posts in bulk…", flush=True)
        asyncio.run(seed_all(posts))
    asyncio.run(run(posts, repeats))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--posts", type=int, default=POSTS)
    arguments = parser.parse_args()
    main(arguments.repeats, arguments.posts)
