"""Writers that do not wait for each other, and streams that still get
every event once, in order, with no holes.

Each reader's event ids are 1, 2, 3, … (feed.models), and a stream sends
them strictly one after the other, reading from the database what was
committed but not (yet) published (feed.sse). These tests write from many
people at once, on one process and on two, while readers drop and resume
their streams at random; and kill a writer between its commit and its
publish.
"""

import asyncio
import os
import random
import signal
import subprocess
import sys

import pytest

from tests import test_sse
from tests.live import Person, processes_over_redis
from tests.test_sse import follows, read_with_reconnects

# The live server of this module, and the people who sign up on it.
server = test_sse.server
people = test_sse.people

WRITERS = 4
POSTS_EACH = 3


async def write_at_once(writers: list[list[Person]], randomness: random.Random) -> list[tuple]:
    """Every writer posts, then comments on and likes posts of the others,
    each request at once with the rest and through a random one of their
    tabs. Returns what each reader must hear of: (action, key) pairs."""
    posting = [
        randomness.choice(tabs).post(f"post {n} by {tabs[0].username}")
        for tabs in writers
        for n in range(POSTS_EACH)
    ]
    posts = await asyncio.gather(*posting)
    commenting, liking, expected = [], [], [("post", post["uid"]) for post in posts]
    for tabs in writers:
        for post in randomness.sample(posts, 4):  # each likes a post once: every like is news
            tab = randomness.choice(tabs)
            commenting.append(tab.comment(post["uid"], f"{tab.username} was here"))
            liking.append(tab.like(post["uid"]))
            expected.append(("like", post["uid"], tab.username))
    comments = await asyncio.gather(*commenting, *liking)
    expected += [("comment", comment["uid"]) for comment in comments[: len(commenting)]]
    return expected


def heard(event) -> tuple:
    if event.name == "post":
        return ("post", event.data["post"]["uid"])
    if event.name == "comment":
        return ("comment", event.data["comment"]["uid"])
    return (event.name, event.data["post_uid"], event.data["user"])


async def sign_up_everyone(
    urls: list[str], database
) -> tuple[list[list[Person]], list[list[Person]]]:
    """Writers who all follow each other (their readers overlap), and readers
    who follow every writer; each with a tab on every server."""
    writers = [await Person(urls[0], f"writer{n}").sign_up() for n in range(WRITERS)]
    readers = [await Person(urls[0], f"reader{n}").sign_up() for n in range(3)]
    for person in writers + readers:
        for writer in writers:
            if person is not writer:
                await follows(database, person, writer)
    tabs = lambda person: [person] + [person.on(url) for url in urls[1:]]  # noqa: E731
    return [tabs(writer) for writer in writers], [tabs(reader) for reader in readers]


async def every_reader_hears_everything_once_in_order(urls: list[str], database, seed: int):
    randomness = random.Random(seed)
    writers, readers = await sign_up_everyone(urls, database)
    total = WRITERS * POSTS_EACH + 2 * WRITERS * 4  # posts, comments and likes
    readings = [read_with_reconnects(tabs, total, randomness) for tabs in readers]
    expected, *received = await asyncio.gather(write_at_once(writers, randomness), *readings)
    for events in received:
        assert [event.id for event in events] == list(range(1, total + 1))
        assert sorted(heard(event) for event in events) == sorted(expected)
    for tabs in writers + readers:
        for tab in tabs:
            await tab.close()


async def test_concurrent_writers_on_one_process(server, database, app):
    await every_reader_hears_everything_once_in_order([server.url], database, seed=14)


async def test_concurrent_writers_on_two_processes_over_redis(database_url, database, app):
    with processes_over_redis(database_url) as servers:
        urls = [server.url for server in servers]
        await every_reader_hears_everything_once_in_order(urls, database, seed=41)


# A writer that commits its post, then dies before it publishes the event.
KILLED_WRITER = """
import asyncio, os, signal, sys

from db import AppDatabase
from feed.events import create_bus
from feed.service import Feed
from post.present import Presenter
from user.models import user_by_name


async def write_then_die(database_url, username, body):
    database = AppDatabase(database_url)
    feed = Feed(database, create_bus("memory://"), Presenter("/media"))
    await feed.create_post(await user_by_name(database, username), body)  # committed
    os.kill(os.getpid(), signal.SIGKILL)  # and never published


asyncio.run(write_then_die(*sys.argv[1:]))
"""


def kill_a_writer_after_its_commit(database_url: str, username: str, body: str) -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    arguments = [sys.executable, "-c", KILLED_WRITER, database_url, username, body]
    writer = subprocess.run(arguments, cwd=root, capture_output=True, text=True, timeout=60)
    assert writer.returncode == -signal.SIGKILL, writer.stderr


@pytest.mark.parametrize("reader", ["open stream", "reconnecting stream"])
async def test_a_writer_killed_between_commit_and_publish_loses_nothing(
    server,
    people,
    database,
    database_url,
    reader,  # noqa: F811
):
    """An open stream hears of the lost event once the next one shows the
    gap; a stream that reconnects replays it from the database."""
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    if reader == "open stream":
        async with bob.stream(last_event_id=0) as stream:
            await stream.subscribed()
            kill_a_writer_after_its_commit(database_url, "alice", "committed, never published")
            await alice.post("published")
            events = await stream.take(2)
    else:
        kill_a_writer_after_its_commit(database_url, "alice", "committed, never published")
        async with bob.stream(last_event_id=0) as stream:
            events = await stream.take(1)
    bodies = [event.data["post"]["body"] for event in events]
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    assert bodies == ["committed, never published", "published"][: len(events)]
