"""One live connection per browser: the tabs of one person share one event
stream, whichever pages they show (home, profiles, groups), hand it over
when the tab that holds it closes, and all say so when the person logs out.

A browser opens at most six HTTP/1.1 connections to a site, so twelve tabs
that each held a stream would never all load: every test here opens more.
"""

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import BrowserContext, Page, Request, Route, expect

from tests.browser import BROWSER_TESTS
from tests.browser.visitor import Visitor
from tests.live import Person, expect_streams_on_the_server

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


def rendering(path: str, change: Callable[[str], str]):
    """Prepares a tab to `change` the HTML of `path` the first time it loads."""

    async def change_the_page(route: Route) -> None:
        page = await route.fetch()
        await route.fulfill(response=page, body=change(await page.text()))

    async def prepare(page: Page) -> None:
        await page.route(lambda url: urlsplit(url).path == path, change_the_page, times=1)

    return prepare


def rendered_earlier(html: str) -> str:
    """The page as if rendered before its channels' first events: as if the
    events since came while it loaded."""
    return re.sub(
        r'data-stream-cursor="[^"]*"', lambda cursor: re.sub(r"=\d+", "=0", cursor[0]), html
    )


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
    await streams.until(
        lambda: len(streams.open) == 1 and len(streams.channels(streams.open[0])) == 5,
        "one stream for home, two profiles, a group and the notices",
    )
    await expect_streams_on_the_server(server, 1)

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

    # Posting and liking from a tab are not held up behind streams, and
    # reach the other tabs.
    home = tabs_showing(tabs, "/")[0]
    await home.write_post("Bob writes from a tab")
    await home.like("Hello, every tab")
    for tab in tabs_showing(tabs, "/"):
        await expect(tab.post("Bob writes from a tab")).to_have_count(1)
    for tab in tabs_showing(tabs, "/", "/user/alice"):
        await expect(tab.likes_of("Hello, every tab")).to_have_text("1 like · Liked by bob")

    # A tab that joins behind the stream has it replay what it missed; the
    # tabs that had it already show nothing twice.
    made_before = len(streams.made)
    behind = await bob.open_tab("/user/alice", rendering("/user/alice", rendered_earlier))
    tabs.append(behind)
    await streams.until(
        lambda: len(streams.made) > made_before and 0 in streams.start(streams.made[-1]).values(),
        "a stream that replays",
    )
    await alice.post("After the replay")
    for tab in tabs_showing(tabs, "/", "/user/alice"):
        await expect(tab.delivered_post_bodies.first).to_have_text("After the replay")
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
    await expect_streams_on_the_server(server, 1)
    await alice.post("After the handover")
    for tab in tabs_showing(tabs, "/", "/user/alice"):
        await expect(
            tab.delivered_post_bodies.filter(has_text=re.compile("holder|handover"))
        ).to_have_text(["After the handover", "While the holder is gone"])
    for tab in tabs:
        await expect_each_event_once(tab)
        await expect(tab.page.locator("#stream-status")).to_be_empty()
    await alice.close()
    await carol.close()


async def another_browser_of(people, visitor: Visitor) -> Visitor:
    """The same person, logged in in a browser of their own (another device)."""
    (other,) = await people(visitor.username, signed_up=False)
    await other.log_in()
    return other


async def test_two_browsers_of_one_person_with_twelve_tabs_each_open_no_more_streams(
    people, server
):
    bob, alice, _, slug = await a_world_for_bob(people, server)
    bob_on_a_phone = await another_browser_of(people, bob)
    devices = []
    for device in (bob, bob_on_a_phone):
        await device.page.goto("/")
        streams = StreamRequests(device.page.context)
        tabs = await open_tabs(device, page_paths(slug, 12)[1:])
        devices.append((streams, tabs))
    for streams, _ in devices:
        await streams.until(
            lambda streams=streams: (
                len(streams.open) == 1 and len(streams.channels(streams.open[0])) == 5
            ),
            "one stream for every channel (the notices' too)",
        )
    await expect_streams_on_the_server(server, 2)
    requests_so_far = [len(streams.made) for streams, _ in devices]

    # Neither browser's stream is dropped or opened again while events
    # reach all 24 tabs (the server ends a person's oldest stream when they
    # hold too many: with a stream per tab, they would take turns).
    for number in range(1, 4):
        await alice.post(f"Number {number}")
    for _, tabs in devices:
        for tab in tabs_showing(tabs, "/", "/user/alice"):
            await expect(tab.delivered_post_bodies.filter(has_text="Number")).to_have_text(
                ["Number 3", "Number 2", "Number 1"]
            )
            await expect_each_event_once(tab)
    assert [len(streams.made) for streams, _ in devices] == requests_so_far
    assert [len(streams.open) for streams, _ in devices] == [1, 1]
    await expect_streams_on_the_server(server, 2)
    await alice.close()


# Counts the streams a tab opens, at once (Playwright hears of requests a
# little later).
COUNT_STREAMS_OPENED = """
window.streamsOpened = 0;
window.EventSource = class extends window.EventSource {
  constructor(...args) {
    super(...args);
    window.streamsOpened += 1;
  }
};
"""


async def streams_opened(tabs: list[Visitor]) -> int:
    return sum([await tab.page.evaluate("window.streamsOpened") for tab in tabs])


async def expect_logged_out(tabs: list[Visitor]) -> None:
    """Each tab says so, with a link to log in and come back to it."""
    for tab in tabs:
        status = tab.page.locator("#stream-status")
        await expect(status).to_contain_text("You are logged out.")
        path = urlsplit(tab.page.url).path
        link = status.get_by_role("link", name="Log in")
        await expect(link).to_have_attribute("href", f"/login?next={path}")


async def test_logging_out_in_one_tab_ends_the_stream_and_every_tab_says_so(people, server):
    bob, alice, _, slug = await a_world_for_bob(people, server)
    bob_on_a_phone = await another_browser_of(people, bob)
    paths = ["/user/alice", f"/groups/{slug}"]
    laptop, phone = [], []
    laptop_streams = StreamRequests(bob.page.context)
    for device, tabs in ((bob, laptop), (bob_on_a_phone, phone)):
        # The page's timers run as the test says (they do, unless it says otherwise).
        await device.page.context.clock.install()
        await device.page.context.add_init_script(COUNT_STREAMS_OPENED)
        await device.page.goto("/")
        device.tolerate("401", about="/sse")  # the stream refused, the HEAD that asks why
        tabs.extend(await open_tabs(device, paths))

    # Logging out in a tab that does not hold the stream: the server ends
    # it (event: logout), and the tab that held it tells the others.
    await laptop_streams.until(lambda: len(laptop_streams.open) == 1, "one stream")
    await expect(laptop[2].page.locator("#posts")).to_be_attached()
    await laptop[2].log_out()
    await expect_logged_out(laptop[:2])
    await laptop_streams.until(lambda: not laptop_streams.open, "no stream")
    await expect_streams_on_the_server(server, 1)  # the phone's
    opened = await streams_opened(laptop[:2])
    # No tab tries again, however long it waits.
    await bob.page.context.clock.run_for(60_000)
    assert await streams_opened(laptop[:2]) == opened
    await expect_logged_out(laptop[:2])

    # The phone's own session goes on.
    await alice.post("Still there, phone?")
    await expect(phone[0].post("Still there, phone?")).to_have_count(1)

    # Logging out while the phone opens its stream again (for a tab that
    # joins): the stream is refused (401), a HEAD asks why, and the tabs say so.
    phone_streams = StreamRequests(bob_on_a_phone.page.context)
    logged_out = asyncio.Event()

    async def until_logged_out(route: Route) -> None:
        if route.request.method == "GET":
            await logged_out.wait()
        await route.continue_()

    await bob_on_a_phone.page.context.route("**/sse?*", until_logged_out)
    phone.append(await bob_on_a_phone.open_tab("/user/carol"))
    await phone_streams.until(lambda: not phone_streams.open, "the old stream closed")
    await phone[0].log_out()
    logged_out.set()
    await expect_logged_out(phone[1:])
    opened = await streams_opened(phone[1:])
    await bob_on_a_phone.page.context.clock.run_for(60_000)
    assert await streams_opened(phone[1:]) == opened
    await expect_logged_out(phone[1:])
    await expect_streams_on_the_server(server, 0)
    await alice.close()


def from_another_epoch(html: str) -> str:
    """The page as if rendered before the database was restored."""
    return re.sub(r'data-stream-cursor="[^/"]+/', 'data-stream-cursor="another-epoch/', html)


async def test_a_reset_reloads_the_page_and_keeps_what_was_being_typed(people, server):
    bob, alice, _, _ = await a_world_for_bob(people, server)
    await alice.post("Something to answer")
    # bob's home page comes from another epoch, and its stream waits until
    # bob has typed an edit of his post, a post and a comment.
    typed = asyncio.Event()

    async def hold_the_stream(route: Route) -> None:
        await typed.wait()
        await route.continue_()

    await bob.page.route("**/sse?*", hold_the_stream)
    await rendering("/", from_another_epoch)(bob.page)
    await bob.open_home()
    await bob.write_post("Mine to fix")
    await bob.post("Mine to fix").get_by_role("button", name="Edit bob's post").click()
    edit_box = bob.page.get_by_role("textbox", name="Edit bob's post")
    await edit_box.fill("Mine, half fixed")
    post_box = bob.page.get_by_label(re.compile(r"^What's new"))
    await post_box.fill("Half a thought")
    await bob.post("Something to answer").get_by_role("button", name="Comment").click()
    comment_box = bob.post("Something to answer").get_by_placeholder("Write a comment")
    await comment_box.fill("Half an answer")
    typed.set()

    # The server starts the stream over (event: reset): the page reloads,
    # with what bob typed where he typed it, and is live again.
    await expect(bob.page.locator("body")).not_to_have_attribute("data-opened-by-test", "yes")
    await expect(post_box).to_have_value("Half a thought")
    await expect(bob.page.locator("#post-chars")).to_have_text(re.compile(r"^\d+ characters left"))
    await expect(comment_box).to_have_value("Half an answer")
    await expect(comment_box).to_be_focused()
    await expect(edit_box).to_have_value("Mine, half fixed")
    await alice.post("After the reset")
    await expect(bob.post("After the reset")).to_have_count(1)
    await expect(post_box).to_have_value("Half a thought")
    await alice.close()


async def test_a_tab_without_web_locks_has_a_stream_of_its_own(people, server):
    bob, alice, _, _ = await a_world_for_bob(people, server)
    streams = StreamRequests(bob.page.context)
    await bob.page.context.add_init_script(RECORD_LIVE_EVENTS)
    await bob.page.goto("/")

    async def without_web_locks(page: Page) -> None:
        await page.add_init_script("delete Navigator.prototype.locks")

    alone = await bob.open_tab("/user/alice", without_web_locks)
    assert await alone.page.evaluate("'locks' in navigator") is False
    await streams.until(lambda: len(streams.open) == 2, "a stream for each tab")
    await expect_streams_on_the_server(server, 2)
    assert {request.frame.page for request in streams.open} == {bob.page, alone.page}
    await alice.post("To every kind of tab")
    for tab in (bob, alone):
        await expect(tab.post("To every kind of tab")).to_have_count(1)
        await expect_each_event_once(tab)
    await alice.close()


async def test_a_tab_that_joins_behind_gets_what_it_lacks_in_order(people, server):
    bob, alice, _, _ = await a_world_for_bob(people, server)
    context = bob.page.context
    await context.clock.install()
    await context.add_init_script(RECORD_LIVE_EVENTS)
    await bob.open_home()
    await alice.post("First")
    await expect(bob.post("First")).to_have_count(1)

    # A tab rendered before "First" joins. Before the tab holding the stream
    # opens it again for the new tab (its timers are stopped), "Second"
    # comes on the stream as it is: the new tab must not show it before
    # "First", which it lacks.
    await context.clock.pause_at(datetime.now() + timedelta(seconds=1))
    behind = await bob.open_tab("/", rendering("/", rendered_earlier))
    await alice.post("Second")
    await expect(bob.post("Second")).to_have_count(1)
    assert await live_events(behind) == []

    await context.clock.resume()
    await expect(behind.post("Second")).to_have_count(1)
    assert await live_events(behind) == [("post", "home", 1), ("post", "home", 2)]
    await expect_each_event_once(bob)
    await alice.close()
