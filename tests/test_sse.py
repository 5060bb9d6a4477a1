"""The live event stream, end to end on a real Hypercorn server.

What a browser relies on: events arrive in order with growing ids, reach
exactly the people who should see them, and a reconnect with Last-Event-ID
yields exactly what was missed.
"""

import asyncio
import os
import random

import pytest
import redis

from relationship.models import follow
from tests.conftest import unavailable
from tests.live import LiveServer, Person, server_environment
from user.models import user_by_name

XSS = "<img src=x onerror=alert(1)>"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
    assert events[1].data == {"post_uid": post["uid"], "comment": comment}
    assert events[2].data == {
        "post_uid": post["uid"],
        "user": "alice",
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


async def test_concurrent_posts_while_streams_reconnect_lose_nothing(people, database):
    authors = await people("author1", "author2", "author3", "author4")
    readers = await people("reader1", "reader2", "reader3", "reader4", "reader5")
    for reader in readers:
        for author in authors:
            await follows(database, reader, author)
    posts_total = 20
    randomness = random.Random(20)

    async def read_with_reconnects(reader: Person) -> list:
        received, cursor = [], 0
        while len(received) < posts_total:
            async with reader.stream(last_event_id=cursor) as stream:
                for _ in range(randomness.randint(1, 4)):  # then drop the connection
                    event = await stream.next()
                    received.append(event)
                    cursor = event.id
                    if len(received) == posts_total:
                        break
        return received

    async def write_all() -> list[dict]:
        texts = [f"post {number}" for number in range(posts_total)]
        writes = [authors[number % 4].post(text) for number, text in enumerate(texts)]
        return await asyncio.gather(*writes)

    results = await asyncio.gather(write_all(), *map(read_with_reconnects, readers))
    posted_uids = {post["uid"] for post in results[0]}
    for received in results[1:]:
        ids = [event.id for event in received]
        assert ids == sorted(ids) and len(set(ids)) == posts_total
        assert {event.data["post"]["uid"] for event in received} == posted_uids


def redis_available() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")


async def test_two_processes_share_events_through_redis(database_url, app, database):
    redis_available()
    environment = server_environment(database_url, REDIS_URL)
    first, second = LiveServer(environment).start(), LiveServer(environment).start()
    try:
        alice = await Person(first.url, "alice").sign_up()
        bob = await Person(first.url, "bob").sign_up()
        await follows(database, bob, alice)
        bob_on_second = Person(second.url, "bob")
        bob_on_second.http.cookies = bob.http.cookies  # the same browser session
        async with bob_on_second.stream() as stream:
            post = await alice.post("through redis")
            event = await stream.next()
        assert event.data["post"]["uid"] == post["uid"]
        for person in (alice, bob, bob_on_second):
            await person.close()
    finally:
        first.stop()
        second.stop()
