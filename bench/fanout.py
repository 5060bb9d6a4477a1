"""Fan-out on write: POST /post by an author with 1,000 and 10,000 followers,
its time, the server's CPU for it and its statements; then the model's
`write_post` alone, for the same authors: the post and its event, told to the
home channels of the author and every follower, and to the author's profile.

python -m bench.fanout
"""

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import datetime

import httpx

from bench import targets
from bench.common import milliseconds, print_table
from db import AppDatabase, utc_now
from feed.describe import post_event
from feed.models import write_post
from post.present import Presenter
from user.models import user_by_name

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


def describing(author: dict, body: str, now: datetime) -> Callable[[str], dict]:
    """The `describe` callback `write_post` asks for: the new post's event
    data, as the feed service builds it (`feed.service.Feed.create_post`).
    `author` has the author's username, display name and image."""
    present = Presenter(targets.MEDIA_URL)

    def describe(uid: str) -> dict:
        row = {
            "uid": uid,
            "body": body,
            "created": now,
            "edited": None,
            "mentions": None,
            **author,
        }
        return post_event(present.post(row, [], []))

    return describe


async def write_alone(followers: int, repeats: int = 10) -> list:
    """`feed.models.write_post` called straight, with no server, no request
    and no bus around it: the write's own time, and its statements."""
    database = AppDatabase(targets.DATABASE_URL, count_statements=True)
    await database.connect()
    row = await user_by_name(database, f"author{followers}")
    author = {key: row[key] for key in ("username", "display_name", "image")}

    async def write(body: str) -> None:
        now = utc_now()
        await write_post(database, row["id"], body, now, describing(author, body, now))

    await write("warm-up")  # opens the connection
    statements_before = database.statements
    durations = []
    for number in range(repeats):
        started = time.perf_counter()
        await write(f"alone-{number}")
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
    print(
        "   Statements per POST: 1 to load the logged-in user, 8 for the post: its row, its"
        " event, 3 for the home channels' fan-out, 3 for the author's profile channel."
    )
    alone = [asyncio.run(write_alone(size)) for size in sizes]
    headers = ["followers", "min ms", "median ms", "statements"]
    print_table("   feed.models.write_post alone: no server, no request", headers, alone)
    return rows


if __name__ == "__main__":
    main()
