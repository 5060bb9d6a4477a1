"""Twelve tabs of one person in one Chromium, over HTTP/1.1: how long each
takes to load, how soon a new post reaches all of them, how many streams
the server holds for that browser, and how fast a post and a like are
answered meanwhile.

    python -m bench.tabs
"""

import asyncio
import secrets
import statistics
import time

import httpx
from playwright.async_api import async_playwright

from bench import targets
from bench.common import prepare_client, print_table
from db import AppDatabase
from relationship.models import follow
from user.models import insert_user

TABS = 12
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROUNDS = 5


async def two_people() -> tuple[int, int, str]:
    """A reader who follows an author, both new (the bench may run again):
    their ids, and the author's name."""
    database = AppDatabase(targets.DATABASE_URL)
    await database.connect()
    suffix = secrets.token_hex(3)
    reader = await insert_user(database, f"tabs{suffix}", "!")
    author_name = f"tabsby{suffix}"
    author = await insert_user(database, author_name, "!")
    await follow(database, reader, author)
    await database.disconnect()
    return reader, author, author_name


async def timed_post(http: httpx.AsyncClient, headers: dict, text: str) -> tuple[str, float]:
    started = time.perf_counter()
    answer = await http.post("/post", json={"post": text}, headers=headers)
    return answer.json()["uid"], time.perf_counter() - started


async def measure(server_url: str) -> list:
    reader_id, author_id, author_name = await two_people()
    reader_cookie, author_cookie = await targets.session_cookies([reader_id, author_id])
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = await browser.new_context(base_url=server_url)
        host = server_url.split("//")[1].split(":")[0]
        await context.add_cookies(
            [{"name": "session", "value": reader_cookie, "domain": host, "path": "/"}]
        )
        pages, loads = [], []
        for number in range(TABS):
            page = await context.new_page()
            started = time.perf_counter()
            # Home pages and the author's profile, each live on its own channel.
            await page.goto("/" if number % 2 == 0 else f"/user/{author_name}")
            loads.append(time.perf_counter() - started)
            pages.append(page)
        async with httpx.AsyncClient(base_url=server_url, timeout=30) as http:
            streams = (await http.get("/healthz")).json()["streams"]
            author = targets.logged_in_headers(author_cookie)
            reader = targets.logged_in_headers(reader_cookie)
            reach, posting, liking = [], [], []
            for round_ in range(ROUNDS):
                uid, took = await timed_post(http, author, f"round {round_}")
                posting.append(took)
                started = time.perf_counter()
                await asyncio.gather(
                    *(page.wait_for_selector(f"#post-{uid}", state="attached") for page in pages)
                )
                reach.append(time.perf_counter() - started)
                started = time.perf_counter()
                await http.post("/like", json={"post_uid": uid}, headers=reader)
                liking.append(time.perf_counter() - started)
        await browser.close()
    ms = 1000
    return [
        TABS,
        max(loads) * ms,
        streams,
        statistics.median(reach) * ms,
        max(reach) * ms,
        max(posting) * ms,
        max(liking) * ms,
    ]


def main() -> list:
    prepare_client()
    server = targets.quartfeed_server(workers=0)
    with server:
        row = asyncio.run(measure(server.url))
    headers = [
        "tabs",
        "slowest load ms",
        "streams on the server",
        "post reaches all tabs, median ms",
        "max ms",
        "POST /post max ms",
        "POST /like max ms",
    ]
    print_table(f"{TABS} tabs of one person in one browser ({ROUNDS} posts)", headers, [row])
    return row


if __name__ == "__main__":
    main()
