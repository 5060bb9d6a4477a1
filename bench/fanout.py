"""Fan-out on write: one POST /post by an author with 10,000 followers.

python -m bench.fanout
"""

import asyncio
import statistics
import time

import httpx

from bench import targets
from bench.common import milliseconds, print_table

FOLLOWERS = 10_000
POSTS = 5


async def measure(target: targets.Target, followers: int) -> list[list]:
    send = await target.sender(followers)
    durations, statements = [], []
    with target.server:
        async with httpx.AsyncClient(base_url=target.server.url, timeout=30) as http:
            for number in range(POSTS):
                before = await targets.statements_run(target)
                started = time.perf_counter()
                await send(http, number)
                durations.append(time.perf_counter() - started)
                # This question's own statement is not the post's.
                statements.append(await targets.statements_run(target) - before - 1)
    return [[
        followers,
        milliseconds(min(durations)),
        milliseconds(statistics.median(durations)),
        milliseconds(max(durations)),
        max(statements),
    ]]  # fmt: skip


def main(followers: int = FOLLOWERS) -> list[list]:
    rows = asyncio.run(measure(targets.quartfeed(), followers))
    headers = ["followers", "min ms", "median ms", "max ms", "statements per POST"]
    print_table(f"5. Fan-out: POST /post, {POSTS} times", headers, rows)
    print("   Statements per POST: 1 to load the logged-in user, 3 for the post and its fan-out.")
    return rows


if __name__ == "__main__":
    main()
