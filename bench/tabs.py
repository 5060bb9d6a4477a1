"""Twelve tabs of one person in one headless Chromium, home, profile and
group pages mixed, served over plain HTTP/1.1 as `make run` serves it: how
many load, how soon each shows a new post, how many streams the server holds
for that browser, and how fast a post and a like sent from a tab are
answered meanwhile.

    python -m bench.tabs [--rounds 5]

A browser opens at most six HTTP/1.1 connections to a site. With a stream
per tab, the seventh tab would never load; the tabs share one stream
instead (static/js/broadcast.js), which this piece measures.
"""

import argparse
import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Request,
    Response,
    async_playwright,
    expect,
)
from playwright.async_api import Error as PlaywrightError

from bench import targets
from bench.common import Server, median_and_max_ms, milliseconds, prepare_client, print_table
from tests.browser.chromium import VIEWPORT, launch_chromium
from tests.browser.visitor import Visitor
from tests.live import Person, expect_streams_on_the_server, streams_on_the_server

TABS = 12
ROUNDS = 5
SHOWN_WITHIN_S = 1.0  # the target: a new post shows in every tab within this
ANSWERED_WITHIN_S = 0.5  # the target: a post or a like sent from a tab is answered within this
# Bounds on every wait, so that the bench always finishes: a tab not loaded,
# or a post not shown, by then counts as such.
PAGE_TIMEOUT_MS = 15_000
POST_TIMEOUT_MS = 5_000
BENCH_TIMEOUT_S = 300

# Notes when each post's text first shows on the page, by the browser's
# clock: milliseconds since the epoch, the clock Python's time.time() reads.
# Reading it in the page, not by polling from here, keeps Playwright's round
# trips to twelve tabs out of the delays.
NOTE_SHOWN_POSTS = """
window.shownAt = {};
new MutationObserver(() => {
  for (const body of document.querySelectorAll("#posts .post-body")) {
    window.shownAt[body.textContent.trim()] ??= Date.now();
  }
}).observe(document, { childList: true, subtree: true });
"""


@dataclass
class World:
    reader: Visitor  # in the browser, their first tab
    author: Person  # over HTTP: someone the reader follows, who started a group
    slug: str  # the group's

    def paths(self) -> list[str]:
        """TABS pages: home, the author's profile and the group's page in turn."""
        kinds = ["/", f"/user/{self.author.username}", f"/groups/{self.slug}"]
        return [kinds[number % len(kinds)] for number in range(TABS)]


async def a_world(browser: Browser, server: Server) -> World:
    """A reader, signed up in a browser context of their own, who follows an
    author. New names each run: the bench may run again on the same database."""
    suffix = secrets.token_hex(3)
    author = await Person(server.url, f"tabsby{suffix}").sign_up()
    slug = await author.start_group(f"Tabs {suffix}")
    context = await browser.new_context(base_url=server.url, viewport=VIEWPORT)
    context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    reader = Visitor(f"tabs{suffix}", await context.new_page())
    await reader.sign_up()
    await reader.follow(author)
    return World(reader, author, slug)


async def seconds_to_load(tab: Visitor, path: str) -> float | None:
    """Show `path` in `tab`: the seconds until its page has loaded, or None
    if it did not within PAGE_TIMEOUT_MS."""
    started = time.perf_counter()
    try:
        await tab.page.goto(path)
        await expect(tab.page.locator("#posts")).to_be_attached()
    except (PlaywrightError, AssertionError):
        return None
    return time.perf_counter() - started


async def open_tabs(world: World) -> tuple[list[Visitor], list[float | None]]:
    """The reader's first tab and TABS - 1 more, one after another, each
    page loaded before the next opens: every tab, and each one's load time."""
    reader = world.reader
    await reader.page.context.add_init_script(NOTE_SHOWN_POSTS)
    first, *others = world.paths()
    load_times = [await seconds_to_load(reader, first)]
    for path in others:
        tab = Visitor(reader.username, await reader.page.context.new_page())
        reader.tabs.append(tab)  # so that its console errors are reported too
        load_times.append(await seconds_to_load(tab, path))
    return [reader, *reader.tabs], load_times


def stream_requests_of(context: BrowserContext) -> list[Request]:
    """The /sse requests the pages of `context` make from now on (the list grows)."""
    made = []

    def note(request: Request) -> None:
        if urlsplit(request.url).path == "/sse":
            made.append(request)

    context.on("request", note)
    return made


async def count_streams(server: Server, counts: list[int]) -> None:
    """Note how many streams the server holds, every 100 ms, until cancelled."""
    while True:
        counts.append(await streams_on_the_server(server))
        await asyncio.sleep(0.1)


def expected_post(world: World, tab: Visitor, number: int) -> str:
    """What round `number` posts that `tab`'s page shows: the group's page
    its post in the group; home and the author's profile the author's own."""
    in_the_group = urlsplit(tab.page.url).path == f"/groups/{world.slug}"
    return f"Round {number} in the group" if in_the_group else f"Round {number} for followers"


async def seconds_until_shown(tab: Visitor, text: str, sent_ms: float) -> float | None:
    """From `sent_ms` (epoch milliseconds) until `text` showed in `tab`;
    None if it did not within POST_TIMEOUT_MS."""
    try:
        # A timer, not animation frames: a tab in the background has none.
        await tab.page.wait_for_function(
            "text => text in window.shownAt", arg=text, polling=100, timeout=POST_TIMEOUT_MS
        )
    except PlaywrightError:
        return None
    shown_ms = await tab.page.evaluate("text => window.shownAt[text]", text)
    return (shown_ms - sent_ms) / 1000


async def deliver_round(world: World, tabs: list[Visitor], number: int) -> list[float | None]:
    """The author posts to their followers and in the group at once: how
    long each tab took to show the one its page shows."""
    author = world.author
    sent_ms = time.time() * 1000
    await asyncio.gather(
        author.post(f"Round {number} for followers"),
        author.send("/post", {"post": f"Round {number} in the group", "group": world.slug}),
    )
    return [
        await seconds_until_shown(tab, expected_post(world, tab, number), sent_ms) for tab in tabs
    ]


async def seconds_to_answer(tab: Visitor, path: str, action: Awaitable) -> float | None:
    """How long the POST to `path` that `action` makes in `tab` took, from the
    browser sending it to the last byte of the answer, by the browser's own
    timing (so through the browser's connections to the site, which the
    stream must not use up); None if it was not answered, or not shown."""

    def is_the_answer(response: Response) -> bool:
        return urlsplit(response.url).path == path and response.request.method == "POST"

    try:
        async with tab.page.expect_response(is_the_answer) as answer:
            await action
    except (PlaywrightError, AssertionError):
        return None
    response = await answer.value
    await response.finished()
    return response.request.timing["responseEnd"] / 1000


@dataclass
class Figures:
    load_times: list[float | None]  # one per tab
    delays: list[list[float | None]]  # one per round, one per tab in it
    streams: list[int]  # the server's, every 100 ms during the rounds
    stream_requests: int  # the /sse requests the browser made in all
    posting: list[float | None]  # a post sent from a tab, one per round
    liking: list[float | None]  # a like sent from a tab, one per round
    problems: list[str]  # console errors, uncaught errors, dialogs in the tabs


async def measure(server: Server, rounds: int) -> Figures:
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        world = await a_world(browser, server)
        stream_requests = stream_requests_of(world.reader.page.context)
        tabs, load_times = await open_tabs(world)
        with contextlib.suppress(AssertionError):  # if not, the figures will say so
            # The tab holding the stream reopens it for each tab that shows a new channel.
            await expect_streams_on_the_server(server, 1)
        streams: list[int] = []
        counting = asyncio.create_task(count_streams(server, streams))
        delays, posting, liking = [], [], []
        home = tabs[0]  # the first path is the home page, with its post form
        for number in range(rounds):
            delays.append(await deliver_round(world, tabs, number))
            written = home.write_post(f"Round {number} from a tab")
            posting.append(await seconds_to_answer(home, "/post", written))
            liked = home.like(f"Round {number} for followers")
            liking.append(await seconds_to_answer(home, "/like", liked))
        counting.cancel()
        await asyncio.gather(counting, return_exceptions=True)
        problems = [problem for tab in tabs for problem in tab.problems]
        await world.author.close()
        await browser.close()
    return Figures(load_times, delays, streams, len(stream_requests), posting, liking, problems)


def answered_rows(request: str, durations: list[float | None]) -> list[list]:
    answered = [took for took in durations if took is not None]
    in_time = sum(took <= ANSWERED_WITHIN_S for took in answered)
    return [
        [
            f"{request} from a tab answered within {milliseconds(ANSWERED_WITHIN_S):.0f} ms",
            f"{in_time} of {len(durations)}",
            f"{len(durations)} of {len(durations)}",
        ],
        ["… median / max ms", median_and_max_ms(answered), ""],
    ]


def rows(figures: Figures) -> list[list]:
    loaded = [took for took in figures.load_times if took is not None]
    shown = [delay for delays in figures.delays for delay in delays if delay is not None]
    by_tab = list(zip(*figures.delays, strict=True))
    in_time = sum(
        all(delay is not None and delay <= SHOWN_WITHIN_S for delay in tab) for tab in by_tab
    )
    missing = sum(delay is None for delays in figures.delays for delay in delays)
    # A round's first tab tells what the write and the stream took; the tabs
    # after it, how long the browser took to show it in twelve tabs at once.
    rounds = [[delay for delay in delays if delay is not None] for delays in figures.delays]
    firsts = [min(delays) for delays in rounds if delays]
    lasts = [max(delays) for delays in rounds if delays]
    streams = f"{min(figures.streams, default=0)}–{max(figures.streams, default=0)}"
    return [
        ["tabs loaded", f"{len(loaded)} of {TABS}", f"{TABS} of {TABS}"],
        ["load time, median / max ms", median_and_max_ms(loaded), ""],
        [
            f"tabs showing every post within {SHOWN_WITHIN_S:g} s",
            f"{in_time} of {TABS}",
            f"{TABS} of {TABS}",
        ],
        ["POST sent → shown in a tab, median / max ms", median_and_max_ms(shown), ""],
        ["… in the round's first tab, median / max ms", median_and_max_ms(firsts), ""],
        ["… in the round's last tab, median / max ms", median_and_max_ms(lasts), ""],
        ["posts never shown", missing, 0],
        ["streams on the server during the rounds (min–max)", streams, "1–1"],
        ["/sse requests the browser made in all", figures.stream_requests, ""],
        *answered_rows("POST /post", figures.posting),
        *answered_rows("POST /like", figures.liking),
    ]


def main(rounds: int = ROUNDS) -> list[list]:
    prepare_client()
    with targets.quartfeed_server(workers=0) as server:  # `--workers 0`, as `make run`
        figures = asyncio.run(asyncio.wait_for(measure(server, rounds), BENCH_TIMEOUT_S))
    table = rows(figures)
    title = f"9. {TABS} tabs of one person in one browser, {rounds} rounds of posts"
    print_table(title, ["figure", "measured", "target"], table)
    for problem in figures.problems:
        print(f"   The pages reported: {problem}")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="posts to time, one per round")
    options = parser.parse_args()
    targets.prepare_database(fresh=False)  # alone, it may run before `python -m bench`
    main(options.rounds)
