"""`make demo`: a first run with people, posts, comments and likes, that keeps moving."""

import html

import pytest

from scripts.demo import CAST, OPENING_COMMENTS, OPENING_POSTS, VISITOR, close, gather_cast
from tests.live import EventStream, LiveServer, server_environment


@pytest.fixture
def demo_server(app, database_url, tmp_path):
    """A live server on the embedded database `make run` and `make demo` use;
    `app` empties its tables afterwards."""
    environment = server_environment(database_url, media_root=str(tmp_path / "media"))
    server = LiveServer(environment).start()
    yield server
    server.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_demo_fills_the_visitors_feed_and_keeps_it_moving(demo_server):
    demo = await gather_cast(demo_server.url)
    visitor = demo.members[VISITOR]
    try:
        home = html.unescape((await visitor.http.get("/")).text)
        async with visitor.http.stream("GET", "/sse") as response:
            stream = EventStream(response)
            happened = await demo.next_moment()
            event = await stream.next(f"the event of: {happened}")
    finally:
        await close(demo)

    for _, text in OPENING_POSTS:
        assert text in home
    for _, _, text in OPENING_COMMENTS:
        assert text in home
    assert home.count("/media/user/") >= len(CAST), "the cast's profile images are missing"
    verb = happened.split()[1]  # "ada posted: …", "grace commented: …", "alan liked a post"
    assert event.name == {"posted:": "post", "commented:": "comment", "liked": "like"}[verb]
    assert event.data  # the live event's own content: a post, a comment or the likers


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_running_the_demo_again_carries_on_with_the_same_people(demo_server):
    await close(await gather_cast(demo_server.url))
    again = await gather_cast(demo_server.url)
    try:
        home = (await again.members[VISITOR].http.get("/")).text
    finally:
        await close(again)
    first_post = html.escape(OPENING_POSTS[0][1], quote=False)
    assert home.count(first_post) == 1, "the opening scene was played twice"
