"""One live connection per browser: the tabs of one person share one event
stream, whichever pages they show (home, profiles, groups), hand it over
when the tab that holds it closes, and all say so when the person logs out.

A browser opens at most six HTTP/1.1 connections to a site, so twelve tabs
that each held a stream would never all load: every test here opens more.
"""

import asyncio
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import BrowserContext, Page, Request, expect

from tests.browser import BROWSER_TESTS
from tests.browser.visitor import Visitor
from tests.live import Person

pytestmark = BROWSER_TESTS

# How long the test waits for the streams of a browser to settle (a tab
# that joins makes the holder open the stream again for its channel).
SETTLE_TIMEOUT_S = 10

# Every event a page shows, as broadcast.js tells it: (name, channel, seq).
RECORD_LIVE_EVENTS = """
window.liveEvents = [];
document.addEventListener("quartfeed:live-event", (event) => {
  const { name, channel, seq } = event.detail;
  window.liveEvents.push([name, channel, seq]);
});
"""


class StreamRequests:
    """The /sse requests the pages of one browser context make, and which
    of them are still open (an EventSource that closes fails its request)."""

    # TODO: count the open streams on the server, once it says how many.

    def __init__(self, context: BrowserContext) -> None:
        self.made: list[Request] = []
        self.ended: set[Request] = set()
        self.changed = asyncio.Event()
        context.on("request", self._note_made)
        context.on("requestfailed", self._note_ended)
        context.on("requestfinished", self._note_ended)
        for page in context.pages:
            self._note_closing(page)
        context.on("page", self._note_closing)

    def _note_closing(self, page: Page) -> None:
        page.on("close", lambda _: self.changed.set())

    @staticmethod
    def is_stream(request: Request) -> bool:
        return urlsplit(request.url).path == "/sse"

    def _note_made(self, request: Request) -> None:
        if self.is_stream(request):
            self.made.append(request)
            self.changed.set()

    def _note_ended(self, request: Request) -> None:
        if self.is_stream(request):
            self.ended.add(request)
            self.changed.set()

    @property
    def open(self) -> list[Request]:
        """The streams still open; a closed tab's ended with it."""
        return [
            request
            for request in self.made
            if request not in self.ended and not request.frame.page.is_closed()
        ]

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait for the requests to meet `condition` (checked at each change)."""
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            opened = [(request.url, request in self.ended) for request in self.made]
            raise AssertionError(f"{what}: the /sse requests were {opened}") from None

    async def one_open(self) -> Request:
        """Wait until exactly one stream is open; the request of that one."""
        await self.until(lambda: len(self.open) == 1, "one open stream")
        return self.open[0]

    @staticmethod
    def channels(request: Request) -> set[str]:
        return set(parse_qs(urlsplit(request.url).query)["channels"][0].split(","))

    @staticmethod
    def start(request: Request) -> dict[str, int]:
        """Where the stream starts each channel: its ?cursor=E/home=3/..."""
        _, *positions = parse_qs(urlsplit(request.url).query)["cursor"][0].split("/")
        return {name: int(seq) for name, _, seq in (part.rpartition("=") for part in positions)}


async def open_tabs(first: Visitor, paths: list[str]) -> list[Visitor]:
    """`first` and a new tab for each of `paths`, in `first`'s browser."""
    await first.page.context.add_init_script(RECORD_LIVE_EVENTS)
    await first.page.reload()
    return [first, *[await first.open_tab(path) for path in paths]]


async def live_events(tab: Visitor) -> list[tuple[str, str, int]]:
    return [tuple(event) for event in await tab.page.evaluate("window.liveEvents")]


async def expect_each_event_once(tab: Visitor) -> None:
    events = await live_events(tab)
    shown = [(channel, seq) for _, channel, seq in events]
    assert len(shown) == len(set(shown)), f"{tab.page.url} showed an event twice: {events}"


async def open_tab_rendered_earlier(first: Visitor, path: str) -> Visitor:
    """A tab of `path` whose page says it was rendered before any event of
    its channel: as if the events since came while it loaded."""

    async def render_earlier(route) -> None:
        page = await route.fetch()
        html = re.sub(r'(data-stream-cursor="[^"]*=)\d+"', r'\g<1>0"', await page.text())
        await route.fulfill(response=page, body=html)

    tab = Visitor(first.username, await first.page.context.new_page())
    first.tabs.append(tab)
    await tab.page.route(f"**{path}", render_earlier, times=1)
    await tab.page.goto(path)
    return tab


def holder_of(stream: Request, tabs: list[Visitor]) -> Visitor:
    """The tab whose page opened `stream`."""
    return next(tab for tab in tabs if tab.page == stream.frame.page)


async def a_world_for_bob(people, server) -> tuple[Visitor, Person, Person, str]:
    """bob (in a browser), who follows alice and carol (over HTTP); alice
    started a group, "Gardeners" (its slug)."""
    (bob,) = await people("bob")
    alice = await Person(server.url, "alice").sign_up()
    carol = await Person(server.url, "carol").sign_up()
    await bob.follow(alice)
    await bob.follow(carol)
    slug = await alice.start_group("Gardeners")
    return bob, alice, carol, slug


def page_paths(slug: str, count: int) -> list[str]:
    """`count` pages, home, profiles and a group in turn."""
    kinds = ["/", "/user/alice", f"/groups/{slug}", "/user/carol"]
    return [kinds[number % len(kinds)] for number in range(count)]


def tabs_showing(tabs: list[Visitor], *paths: str) -> list[Visitor]:
    return [tab for tab in tabs if urlsplit(tab.page.url).path in paths]


async def test_twelve_tabs_share_one_stream_and_a_closing_holder_hands_it_over(people, server):
    bob, alice, carol, slug = await a_world_for_bob(people, server)
    await bob.page.goto("/")
    streams = StreamRequests(bob.page.context)
    tabs = await open_tabs(bob, page_paths(slug, 12)[1:])

    # Every tab loaded (with a stream each, the seventh would not), and one
    # stream carries the channels of them all.
    for tab in tabs:
        await expect(tab.page.locator("#posts")).to_be_attached()
    stream = await streams.one_open()
    await streams.until(
        lambda: len(streams.open) == 1 and len(streams.channels(streams.open[0])) == 4,
        "one stream for home, two profiles and a group",
    )

    # Each tab shows what happens on its page, once.
    await alice.post("Hello, every tab")
    await alice.send("/post", {"post": "Hello, gardeners", "group": slug})
    await carol.post("Carol here")
    expected = {
        "/": ["Carol here", "Hello, every tab"],
        "/user/alice": ["Hello, every tab"],
        "/user/carol": ["Carol here"],
        f"/groups/{slug}": ["Hello, gardeners"],
    }
    for tab in tabs:
        for text in expected[urlsplit(tab.page.url).path]:
            await expect(tab.post(text)).to_have_count(1)
    for tab in tabs_showing(tabs, f"/groups/{slug}", "/user/carol"):
        await expect(tab.post("Hello, every tab")).to_have_count(0)
    for tab in tabs:
        await expect_each_event_once(tab)

    # A tab that joins behind the stream has it replay what it missed; the
    # tabs that had it already show nothing twice.
    behind = await open_tab_rendered_earlier(bob, "/user/alice")
    tabs.append(behind)
    await streams.until(
        lambda: 0 in streams.start(streams.made[-1]).values(), "a stream that replays"
    )
    await alice.post("After the replay")
    for tab in tabs_showing(tabs, "/", "/user/alice"):
        await expect(tab.post_bodies.first).to_have_text("After the replay")
    for tab in tabs:
        await expect_each_event_once(tab)
    # It got by replay what a tab open from the start got live.
    live_from_the_start = tabs_showing(tabs, "/user/alice")[0]
    assert await live_events(behind) == await live_events(live_from_the_start)

    # The tab that holds the stream closes; another takes it over, and
    # what is posted meanwhile reaches every tab left, once.
    stream = await streams.one_open()
    holder = holder_of(stream, tabs)
    await holder.page.close()
    tabs.remove(holder)
    await alice.post("While the holder is gone")
    await streams.until(
        lambda: len(streams.open) == 1 and streams.open[0] != stream, "a new holder's stream"
    )
    await alice.post("After the handover")
    for tab in tabs_showing(tabs, "/", "/user/alice"):
        await expect(tab.post_bodies.filter(has_text=re.compile("holder|handover"))).to_have_text(
            ["After the handover", "While the holder is gone"]
        )
    for tab in tabs:
        await expect_each_event_once(tab)
        await expect(tab.page.locator("#stream-status")).to_be_empty()
    await alice.close()
    await carol.close()
