"""The live feed survives a server restart: the open page says it is
reconnecting, reconnects by itself and shows what was posted meanwhile, each
post once."""

import pytest
from playwright.async_api import expect

from tests.browser import BROWSER_TESTS_ON_BOTH_DATABASES
from tests.live import LiveServer, Person

pytestmark = BROWSER_TESTS_ON_BOTH_DATABASES

# The stream asks the browser to wait 3 s before reconnecting; a try that
# finds the server still starting waits another 3 s.
RECONNECT_TIMEOUT_MS = 15_000


@pytest.fixture
def start_server(server_settings):
    """start_server(port=None) -> a live server of this test's own, stopped at the end."""
    started: list[LiveServer] = []

    def start(port: int | None = None) -> LiveServer:
        started.append(LiveServer(server_settings, port).start())
        return started[-1]

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def server(start_server):
    """Replaces the session's server for this module: these tests stop it."""
    return start_server()


async def post_elsewhere(server: LiveServer, username: str, texts: list[str]) -> None:
    """Post through a second server process while the first one is down."""
    person = await Person(server.url, username).log_in()
    for text in texts:
        await person.post(text)
    await person.close()


async def test_posts_made_while_the_server_was_down_appear_once_after_it_restarts(
    alice_and_bob, server, start_server
):
    alice, bob = alice_and_bob
    await alice.write_post("Before the restart")
    await expect(bob.delivered_post_bodies).to_have_text(["Before the restart"])

    for visitor in (alice, bob):
        # Stopping the server cuts the page's open event stream, and Chrome
        # says so; while it is down, the stream's tries to reconnect are
        # refused, and Chrome says so too. Only the stream's: any other
        # request that fails is still a problem.
        visitor.tolerate("net::ERR_INCOMPLETE_CHUNKED_ENCODING", about="/sse")
        visitor.tolerate("net::ERR_CONNECTION_REFUSED", about="/sse")
    server.stop()
    for visitor in (alice, bob):
        await expect(visitor.page.locator("#stream-status")).to_have_text("Reconnecting…")
    missed = ["While it was down 1", "While it was down 2", "While it was down 3"]
    other_server = start_server()
    await post_elsewhere(other_server, "alice", missed)
    other_server.stop()
    start_server(port=server.port)

    expected = [*missed[::-1], "Before the restart"]
    await expect(bob.delivered_post_bodies).to_have_text(expected, timeout=RECONNECT_TIMEOUT_MS)
    await expect(bob.page.locator("#stream-status")).to_be_empty()
    await alice.write_post("After the restart")
    await expect(bob.delivered_post_bodies).to_have_text(["After the restart", *expected])
    await bob.expect_no_reload()
