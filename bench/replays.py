"""Forty full replays at once by one account: the stream cap holds, the
streams it ends stop at once, replay or not, and the rest of the site stays
quick meanwhile.

    python -m bench.replays
"""

import asyncio
import secrets
import statistics
import time

import httpx
import sqlalchemy as sa

from bench import targets
from bench.common import prepare_client, print_table
from db import AppDatabase, epoch_table, utc_now
from feed.events import MAX_STREAMS_PER_USER
from feed.models import feed_table, write_post
from feed.sse import MAX_REPLAY
from user.models import feed_counter_table, insert_user

REPLAYS = 40
LATENCY_PROBES = 40


def described(uid: str) -> dict:
    """A post's event of a realistic size (280 characters of text)."""
    return {"post": {"uid": uid, "body": "x" * 280, "comments": [], "likes": 0, "likers": []}}


async def seed_replayer() -> tuple[int, str]:
    """A reader whose feed holds as many events as a stream may replay;
    returns the cursor of a browser that saw only the first."""
    database = AppDatabase(targets.DATABASE_URL)
    await database.connect()
    # A new reader each run: the bench may run again on the same database.
    reader_id = await insert_user(database, f"replay{secrets.token_hex(4)}", "!")
    await write_post(database, reader_id, "first", utc_now(), described)
    first = await database.fetch_one(
        feed_table.select().where(feed_table.c.to_user_id == reader_id)
    )
    copy = {key: value for key, value in first._mapping.items() if key not in ("id", "seq")}
    rows = [{**copy, "seq": seq} for seq in range(2, MAX_REPLAY + 2)]
    await database.execute(feed_table.insert().values(rows))
    reader = feed_counter_table.c.user_id == reader_id
    await database.execute(feed_counter_table.update().where(reader).values(seq=MAX_REPLAY + 1))
    epoch = await database.fetch_val(sa.select(epoch_table.c.value))
    await database.disconnect()
    return reader_id, f"{epoch}/home=1"


async def replay(http: httpx.AsyncClient, cursor: str) -> int:
    """Open a stream from `cursor` and read it to its end: the events it sent."""
    headers = {"Accept": "text/event-stream", "Last-Event-ID": cursor}
    events = 0
    async with http.stream("GET", "/sse", headers=headers) as response:
        async for line in response.aiter_lines():
            events += line.startswith("event: ")
            if events > MAX_REPLAY:  # the whole replay and more: a stream left open
                break
    return events


async def latency(http: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    await http.get("/groups")
    return time.perf_counter() - started


async def latencies_until(http: httpx.AsyncClient, until: asyncio.Event) -> list[float]:
    """GET /groups again and again (at least once) until `until` is set."""
    measured = [await latency(http)]
    while not until.is_set():
        measured.append(await latency(http))
    return measured


async def watch_streams(http: httpx.AsyncClient, until: asyncio.Event) -> int:
    """The most streams the server held open at once, polled every 20 ms."""
    most = 0
    while not until.is_set():
        most = max(most, (await http.get("/healthz")).json()["streams"])
        await asyncio.sleep(0.02)
    return most


async def measure(cookie: str, cursor: str, port: int) -> list:
    base = f"http://127.0.0.1:{port}"
    cookies = {"session": cookie}
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60) as http:
        idle = [await latency(http) for _ in range(LATENCY_PROBES)]
        replaying, watching = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(watch_streams(http, watching))
        prober = asyncio.create_task(latencies_until(http, replaying))
        started = time.perf_counter()
        clients = [
            httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60) for _ in range(REPLAYS)
        ]
        sent = await asyncio.gather(*(replay(client, cursor) for client in clients))
        took = time.perf_counter() - started
        replaying.set()
        watching.set()
        during, most_open = await prober, await watcher
        for client in clients:
            await client.aclose()
    whole = sum(count >= MAX_REPLAY for count in sent)
    return [
        REPLAYS,
        most_open,
        whole,
        REPLAYS - whole,
        took,
        statistics.median(idle) * 1000,
        statistics.median(during) * 1000,
        max(during) * 1000,
    ]


def main() -> list:
    prepare_client()
    reader_id, cursor = asyncio.run(seed_replayer())
    (cookie,) = asyncio.run(targets.session_cookies([reader_id]))
    server = targets.quartfeed_server()
    with server:
        row = asyncio.run(measure(cookie, cursor, server.port))
    headers = [
        "replays",
        f"most open (cap {MAX_STREAMS_PER_USER})",
        "whole replays",
        "ended early",
        "all done s",
        "GET /groups idle ms",
        "meanwhile median ms",
        "meanwhile max ms",
    ]
    print_table(f"Replays of {MAX_REPLAY} events, all at once by one account", headers, [row])
    return row


if __name__ == "__main__":
    main()
