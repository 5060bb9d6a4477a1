"""Fan-out on write: POST /post by an author with 1,000 and 10,000 followers,
its time, the server's CPU for it and its statements; then the model's
`write_post` alone, for the same authors.

python -m bench.fanout
"""

import asyncio
import statistics
import time

import httpx

from bench import targets
from bench.common import milliseconds, print_table
from db import AppDatabase, utc_now
from feed.models import write_post

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


async def write_alone(followers: int, repeats: int = 10) -> list:
    """`feed.models.write_post` called straight, with no server, no request
    and no bus around it: the write's own time, and its statements."""
    author_id = await targets.user_id(f"author{followers}")
    database = AppDatabase(targets.DATABASE_URL, count_statements=True)
    await database.connect()
    await write_post(database, author_id, "warm-up", utc_now())  # opens the connection
    statements_before = database.statements
    durations = []
    for number in range(repeats):
        started = time.perf_counter()
        await write_post(database, author_id, f"alone-{number}", utc_now())
        durations.append(time.perf_counter() - started)
    statements = (database.statements - statements_before) / repeats
    await database.disconnect()
    return [
        followers,
        milliseconds(min(durations)),
        milliseconds(statistics.median(durations)),
        statements,
    ]


def main(followers: int = FOLLOWERS) -> list[list]:
    sizes = (1000, followers)
    rows = [asyncio.run(measure(targets.quartfeed(), size)) for size in sizes]
    headers = ["followers", "min ms", "median ms", "max ms", "server CPU ms", "statements"]
    print_table("5. Fan-out: POST /post (no stream open), per POST", headers, rows)
    print("   Statements per POST: 1 to load the logged-in user, 3 for the post and its fan-out.")
    alone = [asyncio.run(write_alone(size)) for size in sizes]
    headers = ["followers", "min ms", "median ms", "statements"]
    print_table("   feed.models.write_post alone: no server, no request", headers, alone)
    return rows


if __name__ == "__main__":
    main()
