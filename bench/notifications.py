"""Notifications: POST /comment on a thread with 1 and with 1,000 people who
commented on it before (each of whom it notifies), and the bell's latency:
from sending a comment to its notification arriving on the stream of the
post's author.

python -m bench.notifications [--comments 20]
"""

import argparse
import asyncio
import json
import secrets
import statistics
import time

import httpx

from bench import targets
from bench.common import milliseconds, print_table
from db import AppDatabase, utc_now
from post.models import insert_post
from user.models import insert_user

PARTICIPANTS = (1, 1000)


async def seed_thread(database: AppDatabase, prefix: str, participants: int) -> str:
    """A post by `<prefix>a`, with a comment by each of `participants`
    people; its uid."""
    author_id = await insert_user(database, f"{prefix}a", "!")
    post_id, uid = await insert_post(database, author_id, "a thread", utc_now())
    for number in range(participants):
        person = await insert_user(database, f"{prefix}p{number}", "!")
        await insert_post(database, person, "me too", utc_now(), parent_post_id=post_id)
    return uid


async def seed() -> tuple[dict[int, str], int, int]:
    """A thread for each size, and the commenter: ({size: post uid},
    commenter id, the first thread's author id)."""
    run = secrets.token_hex(3)  # fresh names each run, in the shared bench database
    database = AppDatabase(targets.DATABASE_URL)
    await database.connect()
    threads = {size: await seed_thread(database, f"n{run}{size}", size) for size in PARTICIPANTS}
    commenter = await insert_user(database, f"n{run}c", "!")
    await database.disconnect()
    author = await targets.user_id(f"n{run}{PARTICIPANTS[0]}a")
    return threads, commenter, author


async def comment_times(http: httpx.AsyncClient, headers: dict, uid: str, count: int) -> list:
    durations = []
    for number in range(count):
        started = time.perf_counter()
        answer = await http.post(
            "/comment", json={"post_uid": uid, "comment": f"c{number}"}, headers=headers
        )
        durations.append(time.perf_counter() - started)
        answer.raise_for_status()
    return durations


async def bell_latencies(
    http: httpx.AsyncClient, commenter: dict, author: dict, uid: str, count: int
) -> list[float]:
    """Seconds from sending each comment to its event on the author's notices."""
    latencies = []
    stream_headers = {**author, "Accept": "text/event-stream"}
    params = {"channels": "notices"}
    async with http.stream("GET", "/sse", headers=stream_headers, params=params) as stream:
        lines = stream.aiter_lines()
        async for line in lines:  # subscribed once the first id: comes
            if line.startswith("id: "):
                break
        for number in range(count):
            started = time.perf_counter()
            payload = {"post_uid": uid, "comment": f"bell {number}"}
            sending = asyncio.create_task(http.post("/comment", json=payload, headers=commenter))
            async for line in lines:
                if line.startswith("data: ") and json.loads(line[6:]).get("comment"):
                    break
            latencies.append(time.perf_counter() - started)
            (await sending).raise_for_status()
    return latencies


async def measure(comments: int) -> None:
    threads, commenter_id, author_id = await seed()
    commenter_cookie, author_cookie = await targets.session_cookies([commenter_id, author_id])
    commenter = targets.logged_in_headers(commenter_cookie)
    author = targets.logged_in_headers(author_cookie)
    rows = []
    with targets.quartfeed_server() as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await comment_times(http, commenter, threads[1], 2)  # warm the server up
            for size, uid in threads.items():
                durations = await comment_times(http, commenter, uid, comments)
                rows.append([size, *_summary(durations)])
            latencies = await bell_latencies(http, commenter, author, threads[1], comments)
    print_table(
        f"POST /comment, {comments} comments per thread (each notifies everyone who commented)",
        ["people who commented", "min ms", "median ms", "max ms"],
        rows,
    )
    ratio = rows[1][2] / rows[0][2]
    print(f"median with {PARTICIPANTS[1]:,} / with {PARTICIPANTS[0]}: {ratio:.2f}× (target ≤ 2×)")
    print_table(
        "The bell: from sending a comment to its notification on the author's stream",
        ["min ms", "median ms", "max ms"],
        [_summary(latencies)],
    )


def _summary(seconds: list[float]) -> list[float]:
    """Min, median and max, in milliseconds."""
    return [
        milliseconds(value) for value in (min(seconds), statistics.median(seconds), max(seconds))
    ]


def main(comments: int = 20) -> None:
    targets.prepare_database(fresh=False)
    asyncio.run(measure(comments))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=20)
    main(parser.parse_args().comments)
