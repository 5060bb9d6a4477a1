"""One Chromium and one live server for the session; fresh people for each test.

`people("alice", "bob")` opens a browser context per person (two contexts
are two people who share nothing, not even cookies) and signs them up. When
the test ends, each person's last page is saved as a screenshot in
test-artifacts/browser/, and the test fails if any page logged an error,
broke a Content Security Policy rule, threw, or opened a dialog.
"""

import re
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import async_playwright

from tests.browser.chromium import CHROMIUM, VIEWPORT, launch_chromium
from tests.browser.visitor import Visitor
from tests.conftest import ROOT, unavailable
from tests.live import LiveServer, server_environment

ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium: Playwright's own browser downloads are not used."""
    if not CHROMIUM.is_file():
        unavailable(f"Chromium is not installed at {CHROMIUM}")
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium):  # the `chromium` fixture skips when it is missing
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def server_settings(database_url, tmp_path_factory) -> dict[str, str]:
    """The live server's environment; uploads go to a temporary folder."""
    media_root = tmp_path_factory.mktemp("media")
    environment = server_environment(database_url, media_root=str(media_root))
    # /healthz then says how many event streams the server holds open.
    return {**environment, "COUNT_STATEMENTS": "1"}


@pytest.fixture(scope="session")
def server(server_settings):
    live = LiveServer(server_settings).start()
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def empty_tables_afterwards(app):
    """Each test starts with no one signed up: `app` empties the tables when it stops.

    Tests talk to the live server only, never to `app`, whose database
    connection belongs to another event loop than the browser's.
    """


def screenshot_path(test_name: str, username: str) -> Path:
    """test-artifacts/browser/<test>-<username>.png, e.g. test_x-mysql-alice.png."""
    test = re.sub(r"\W+", "-", test_name).strip("-")
    return ARTIFACTS / f"{test}-{username}.png"


@pytest_asyncio.fixture(loop_scope="session")
async def people(browser, server, request):
    """people("alice", "bob", signed_up=True) -> a Visitor each, in a browser context each."""
    visitors: list[Visitor] = []

    async def arrive(*usernames: str, signed_up: bool = True) -> list[Visitor]:
        arrived = []
        for username in usernames:
            context = await browser.new_context(base_url=server.url, viewport=VIEWPORT)
            visitor = Visitor(username, await context.new_page())
            if signed_up:
                await visitor.sign_up()
            arrived.append(visitor)
        visitors.extend(arrived)
        return arrived

    yield arrive
    for visitor in visitors:
        screenshot = screenshot_path(request.node.name, visitor.username)
        if not visitor.page.is_closed():  # a test may close a tab
            await visitor.page.screenshot(path=screenshot)
        await visitor.page.context.close()
    problems = [
        f"{visitor.username}: {problem}"
        for visitor in visitors
        for tab in (visitor, *visitor.tabs)
        for problem in tab.problems
    ]
    assert not problems, "The pages reported problems:\n" + "\n".join(problems)


@pytest_asyncio.fixture(loop_scope="session")
async def alice_and_bob(people) -> tuple[Visitor, Visitor]:
    """alice, and bob who follows her, each with their home page open."""
    alice, bob = await people("alice", "bob")
    await bob.follow(alice)
    await bob.open_home()
    await alice.open_home()
    return alice, bob
