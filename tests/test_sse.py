"""The live event stream, end to end on a real Hypercorn server.

What a browser relies on: events arrive in order with growing ids, reach
exactly the people who should see them, and a reconnect with Last-Event-ID
yields exactly what was missed.
"""

import asyncio
import contextlib
import random
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.common import HOST
from db import epoch_table
from feed.events import MAX_STREAMS_PER_USER
from feed.models import feed_table
from feed.sse import MAX_REPLAY
from relationship.models import follow
from tests.live import LiveServer, Person, processes_over_redis, server_environment
from user.models import feed_counter_table, user_by_name

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def server(database_url):
    live = LiveServer(server_environment(database_url)).start()
    yield live
    live.stop()


@pytest.fixture
async def people(server, app):
    """people("alice", "bob") signs them up on the live server."""
    signed_up: list[Person] = []

    async def sign_up(*usernames: str) -> list[Person]:
        new = [await Person(server.url, name).sign_up() for name in usernames]
        signed_up.extend(new)
        return new

    yield sign_up
    for person in signed_up:
        await person.close()


async def follows(database, follower: Person, author: Person) -> None:
    fm = await user_by_name(database, follower.username)
    to = await user_by_name(database, author.username)
    await follow(database, fm["id"], to["id"])


async def test_follower_receives_post_comment_like_in_order(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    async with bob.stream() as stream:
        post = await alice.post("Hello followers")
        comment = await alice.comment(post["uid"], "and a comment")
        await alice.like(post["uid"])
        events = await stream.take(3)
    assert stream.retry == 3000
    assert [event.name for event in events] == ["post", "comment", "like"]
    assert events[0].id < events[1].id < events[2].id
    assert events[0].data["post"] == post
    assert events[1].data == {"post_uid": post["uid"], "post_author": "alice", "comment": comment}
    assert events[2].data == {
        "post_uid": post["uid"],
        "comment_uid": None,  # a like of the post itself
        "user": "alice",
        "by": post["author"],
        "likes": 1,
        "likers": ["alice"],
    }
    avatar = events[0].data["post"]["author"]["avatar"]
    assert avatar.endswith(".sm.png")


async def test_author_hears_own_post_and_non_follower_hears_nothing(people, database):
    alice, carol = await people("alice", "carol")
    async with alice.stream() as alice_stream, carol.stream() as carol_stream:
        alice_post = await alice.post("only for my followers")
        carol_post = await carol.post("carol's own post")
        own = await alice_stream.next()
        first_for_carol = await carol_stream.next()
    assert own.data["post"]["uid"] == alice_post["uid"]
    # Streams are ordered: had alice's post reached carol, it would come first.
    assert first_for_carol.data["post"]["uid"] == carol_post["uid"]


async def test_reconnect_with_last_event_id_replays_exactly_what_was_missed(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    async with bob.stream() as stream:
        first = await alice.post("seen live")
        seen = await stream.next()
    assert seen.data["post"]["uid"] == first["uid"]
    missed_post = await alice.post("missed while away")
    await alice.comment(first["uid"], "missed comment")
    await alice.like(missed_post["uid"])
    async with bob.stream(last_event_id=seen.id) as stream:
        replayed = await stream.take(3)
        after = await alice.post("live again")
        live = await stream.next()
    assert [event.name for event in replayed] == ["post", "comment", "like"]
    assert replayed[0].data["post"] == missed_post
    ids = [seen.id] + [event.id for event in replayed] + [live.id]
    assert ids == sorted(set(ids)), "ids must grow, without repeats"
    assert live.data["post"]["uid"] == after["uid"]


async def test_query_cursor_is_used_when_no_header(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    async with bob.stream() as stream:
        await alice.post("one")
        one = await stream.next()
    await alice.post("two")
    three = await alice.post("three")
    async with bob.stream(query_cursor=one.id) as stream:
        two_seen = await stream.next()
    assert two_seen.data["post"]["body"] == "two"
    # The header (sent by the browser on reconnect) wins over the query.
    async with bob.stream(last_event_id=two_seen.id, query_cursor=one.id) as stream:
        three_seen = await stream.next()
    assert three_seen.data["post"]["uid"] == three["uid"]


async def test_comment_by_stranger_reaches_follower(people, database):
    alice, bob, stranger = await people("alice", "bob", "stranger")
    await follows(database, bob, alice)
    post = await alice.post("anyone may comment")
    async with bob.stream(last_event_id=0) as stream:
        replayed_post = await stream.next()
        await stranger.comment(post["uid"], "a stranger speaks")
        comment = await stream.next()
    assert replayed_post.data["post"]["uid"] == post["uid"]
    assert comment.name == "comment"
    assert comment.data["comment"]["author"]["username"] == "stranger"
    home = (await bob.http.get("/")).text
    assert home.index(post["uid"]) < home.index("a stranger speaks")


async def test_xss_arrives_as_text_in_json(people, database):
    (alice,) = await people("alice")
    async with alice.stream() as stream:
        await alice.post(XSS)
        event = await stream.next()
    assert event.data["post"]["body"] == XSS
    home = (await alice.http.get("/")).text
    assert XSS not in home
    assert "&lt;img src=x onerror=alert(1)&gt;" in home


async def test_unlike_event(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    post = await alice.post("like and unlike")
    async with bob.stream(last_event_id=0) as stream:
        await stream.next()
        await bob.like(post["uid"])
        await bob.unlike(post["uid"])
        like, unlike = await stream.take(2)
    assert (like.name, like.data["likers"]) == ("like", ["bob"])
    assert (unlike.name, unlike.data["likers"], unlike.data["likes"]) == ("unlike", [], 0)


async def read_with_reconnects(tabs: list[Person], total: int, randomness) -> list:
    """Read `total` events, dropping the connection every few events and
    reconnecting with Last-Event-ID, each time through the next of `tabs`
    (one person's session on one server or several)."""
    received, cursor = [], 0
    while len(received) < total:
        tab = tabs[len(received) % len(tabs)]
        async with tab.stream(last_event_id=cursor) as stream:
            for _ in range(randomness.randint(1, 4)):  # then drop the connection
                event = await stream.next(f"post {len(received) + 1} of {total}")
                received.append(event)
                cursor = event.id
                if len(received) == total:
                    break
    return received


async def post_all(authors: list[Person], total: int) -> list[dict]:
    """`total` posts, written at once, by the authors in turn."""
    texts = [f"post {number}" for number in range(total)]
    writes = [authors[number % len(authors)].post(text) for number, text in enumerate(texts)]
    return await asyncio.gather(*writes)


def assert_each_reader_got_every_post_once_in_order(posted: list[dict], readings: list) -> None:
    posted_uids = {post["uid"] for post in posted}
    for received in readings:
        ids = [event.id for event in received]
        assert ids == sorted(set(ids)), f"ids went back or repeated: {ids}"
        assert {event.data["post"]["uid"] for event in received} == posted_uids


async def test_concurrent_posts_while_streams_reconnect_lose_nothing(people, database):
    authors = await people("author1", "author2", "author3", "author4")
    readers = await people("reader1", "reader2", "reader3", "reader4", "reader5")
    for reader in readers:
        for author in authors:
            await follows(database, reader, author)
    posts_total = 20
    randomness = random.Random(20)
    readings = [read_with_reconnects([reader], posts_total, randomness) for reader in readers]
    posted, *received = await asyncio.gather(post_all(authors, posts_total), *readings)
    assert_each_reader_got_every_post_once_in_order(posted, received)


async def test_two_processes_share_events_through_redis(database_url, app, database):
    with processes_over_redis(database_url) as (first, second):
        alice = await Person(first.url, "alice").sign_up()
        bob = await Person(first.url, "bob").sign_up()
        await follows(database, bob, alice)
        bob_on_second = bob.on(second.url)  # the same browser session
        async with bob_on_second.stream() as stream:
            post = await alice.post("through redis")
            event = await stream.next()
        assert event.data["post"]["uid"] == post["uid"]
        for person in (alice, bob, bob_on_second):
            await person.close()


async def test_one_stream_too_many_ends_the_oldest(people):
    (alice,) = await people("alice")
    async with contextlib.AsyncExitStack() as open_streams:
        streams = []
        for _ in range(MAX_STREAMS_PER_USER + 1):
            stream = await open_streams.enter_async_context(alice.stream())
            await stream.subscribed()
            streams.append(stream)
        async with asyncio.timeout(10):
            with pytest.raises(EOFError):
                await streams[0].next()
            post = await alice.post("for the streams still open")
            newest = await streams[-1].next()
            second_oldest = await streams[1].next()
    assert newest.data["post"]["uid"] == post["uid"]
    assert second_oldest.data["post"]["uid"] == post["uid"]


async def fill_feed(database, feed, username: str) -> str:
    """Give `username` as many feed rows as a stream may replay, each a post
    of 280 emoji: over 3 KB once JSON has escaped them, megabytes in all.
    Returns the cursor of a browser that has seen only the first."""
    author = await user_by_name(database, username)
    post, _ = await feed.create_post(author, "\N{GRINNING FACE}" * 280)
    post_row = (await database.fetch_all(feed_table.select()))[0]
    row = {name: post_row[name] for name in ("to_user_id", "fm_user_id", "post_id", "action",
           "created", "updated", "event_id")}  # fmt: skip
    last = 1 + MAX_REPLAY  # the post above is the author's event 1
    await database.execute(
        feed_table.insert().values([{**row, "seq": seq} for seq in range(2, last + 1)])
    )
    await database.execute(feed_counter_table.update().values(seq=last))
    epoch = await database.fetch_val(sa.select(epoch_table.c.value))
    return f"{epoch}/home=1"


@contextlib.contextmanager
def unread_stream(port: int, session_cookie: str, cursor: str):
    """A client that asks for its whole feed as a stream, then reads nothing.

    Yields the client's port, by which the server's end is found."""
    with socket.socket() as client:
        client.settimeout(10)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        client.connect((HOST, port))
        headers = [
            f"Host: {HOST}:{port}",
            f"Cookie: session={session_cookie}",
            f"Last-Event-ID: {cursor}",
        ]
        client.sendall(("GET /sse HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode())
        assert client.recv(12) == b"HTTP/1.1 200"
        yield client.getsockname()[1]


def server_holds_connection(server_port: int, client_port: int) -> bool:
    """Whether the kernel still has the server's end of a loopback connection."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote = (int(address.split(":")[1], 16) for address in line.split()[1:3])
        if (local, remote) == (server_port, client_port):
            return True
    return False


async def test_a_stream_nobody_reads_is_dropped(database_url, database, feed):
    environment = {**server_environment(database_url), "SEND_TIMEOUT_S": "1"}
    with LiveServer(environment) as server:
        reader = await Person(server.url, "reader").sign_up()
        cursor = await fill_feed(database, feed, "reader")
        with unread_stream(server.port, reader.http.cookies["session"], cursor) as client_port:
            assert server_holds_connection(server.port, client_port)
            await until_dropped(server.port, client_port, timeout_s=20)
        await reader.close()


async def until_dropped(server_port: int, client_port: int, timeout_s: float) -> None:
    """Return once the server has dropped the connection; fail after `timeout_s`.

    The kernel's table of connections offers no event to wait for: look again
    every 50 ms.
    """
    async with asyncio.timeout(timeout_s):
        while server_holds_connection(server_port, client_port):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_writers_and_readers_on_two_processes_see_every_post_once_in_order(
    database_url, app, database
):
    """Authors post through both processes at once; each reader reconnects
    at random, to one process and then the other: every reader still gets
    every post once, with ids that only grow."""
    people: list[Person] = []
    with processes_over_redis(database_url) as servers:
        try:
            for number in range(4):
                people.append(await Person(servers[number % 2].url, f"author{number}").sign_up())
            for number in range(4):
                people.append(await Person(servers[number % 2].url, f"reader{number}").sign_up())
            authors, readers = people[:4], people[4:]
            for reader in readers:
                for author in authors:
                    await follows(database, reader, author)
            tabs = [[reader, reader.on(servers[1 - n % 2].url)]
                    for n, reader in enumerate(readers)]  # fmt: skip
            people += [tab for reader_tabs in tabs for tab in reader_tabs[1:]]
            posts_total = 24
            randomness = random.Random(24)
            readings = [
                read_with_reconnects(reader_tabs, posts_total, randomness) for reader_tabs in tabs
            ]
            posted, *received = await asyncio.gather(post_all(authors, posts_total), *readings)
            assert_each_reader_got_every_post_once_in_order(posted, received)
        finally:
            for person in people:
                await person.close()
