"""Fan-out on write: POST /post by an author with 1,000 and 10,000 followers,
its time, the server's CPU for it and its statements.

python -m bench.fanout
"""

import asyncio
import statistics
import time

import httpx
from sqlalchemy.dialects import mysql

from bench import targets
from bench.common import milliseconds, print_table
from db import utc_now

# The app's own fan-out statement, to time it without the app around it.
from feed.models import _author_and_followers, _insert_feed_rows

FOLLOWERS = 10_000
POSTS = 5


async def measure(target: targets.Target, followers: int) -> list:
    # Enough posts for the CPU figure: /proc counts in hundredths of a second.
    posts = max(POSTS, 50_000 // followers)
    send = await target.sender(followers)
    durations = []
    with target.server:
        async with httpx.AsyncClient(base_url=target.server.url, timeout=30) as http:
            await send(http, -1)  # the first request of a server warms it up
            statements_before = await targets.statements_run(target)
            cpu_before = target.server.cpu_seconds()
            for number in range(posts):
                started = time.perf_counter()
                await send(http, number)
                durations.append(time.perf_counter() - started)
            cpu_spent = target.server.cpu_seconds() - cpu_before
            # The question about statements is itself one.
            statements = await targets.statements_run(target) - statements_before - 1
    return [
        followers,
        milliseconds(min(durations)),
        milliseconds(statistics.median(durations)),
        milliseconds(max(durations)),
        milliseconds(cpu_spent / posts),
        statements / posts,
    ]


async def statement_alone(followers: int, repeats: int = 10) -> list:
    """The fan-out INSERT … SELECT alone, sent straight to MySQL and rolled
    back: the floor under any post's delivery, which no server code changes."""
    author_id = await targets.user_id(f"author{followers}")
    readers = _author_and_followers(author_id)
    statement = _insert_feed_rows(readers, author_id, 0, "bench", utc_now())
    sql = str(statement.compile(dialect=mysql.dialect(), compile_kwargs={"literal_binds": True}))
    connection = await targets.mysql_connection(targets.DATABASE_URL)
    durations = []
    async with connection.cursor() as cursor:
        for _ in range(repeats):
            await connection.begin()
            started = time.perf_counter()
            await cursor.execute(sql)
            durations.append(time.perf_counter() - started)
            await connection.rollback()
    connection.close()
    return [followers, milliseconds(min(durations)), milliseconds(statistics.median(durations))]


def main(followers: int = FOLLOWERS) -> list[list]:
    sizes = (1000, followers)
    rows = [asyncio.run(measure(targets.quartfeed(), size)) for size in sizes]
    headers = ["followers", "min ms", "median ms", "max ms", "server CPU ms", "statements"]
    print_table("5. Fan-out: POST /post (no stream open), per POST", headers, rows)
    print("   Statements per POST: 1 to load the logged-in user, 3 for the post and its fan-out.")
    floors = [asyncio.run(statement_alone(size)) for size in sizes]
    headers = ["followers", "min ms", "median ms"]
    print_table("   The INSERT … SELECT alone, straight to MySQL (rolled back)", headers, floors)
    return rows


if __name__ == "__main__":
    main()
