"""A process killed in the middle of a large fan-out: another one finishes it.

Two QuartFeed processes share a MariaDB database and a Redis bus. An author
with 2,500 followers posts through process A: the request tells the first
1,000 readers and leaves the rest in `fanout`, which A's worker takes. The
test holds one reader of the second batch locked, so that A is caught in
the middle of that batch, and kills A (SIGKILL). Process B, looking for
fan-outs every fraction of a second, finishes it: every reader gets the
post once, as event 1, and the streams open on B hear of it.
"""

import asyncio
import contextlib

import pytest
import sqlalchemy as sa
from databases import Database

from feed.models import fanout_table, feed_table
from relationship.models import follow
from tests.conftest import REDIS_URL, redis_available
from tests.helpers import create_users
from tests.integrity import assert_integrity
from tests.live import LiveServer, Person, server_environment
from user.models import feed_counter_table, user_by_name

# SKIP LOCKED and row locks are what this is about: SQLite has neither.
pytestmark = pytest.mark.parametrize("database_url", ["mysql"], indirect=True)

FOLLOWERS = 2_500  # with the post 1,000 readers, then batches of 1,000 and 500
DEADLINE_S = 30


@contextlib.contextmanager
def two_processes(database_url: str):
    """A, which finishes fan-outs only when its own writes wake it, and B,
    which also looks for those left by others five times a second."""
    redis_available()
    environment = server_environment(database_url, REDIS_URL)
    a = LiveServer({**environment, "FANOUT_SWEEP_S": "3600"}).start()
    b = LiveServer({**environment, "FANOUT_SWEEP_S": "0.2"}).start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


async def seed_followers(database, author_id: int) -> list[int]:
    ids = await create_users(database, [f"fan{n}" for n in range(FOLLOWERS)])
    fans = sorted(ids[f"fan{n}"] for n in range(FOLLOWERS))
    for fan in fans:
        await follow(database, fan, author_id)
    return fans


@contextlib.asynccontextmanager
async def counter_held(database_url: str, reader_id: int):
    """Hold one reader's feed counter locked, as a long writer would."""
    holder = Database(database_url)
    await holder.connect()
    try:
        async with holder.transaction():
            locked = sa.select(feed_counter_table.c.seq).where(
                feed_counter_table.c.user_id == reader_id
            )
            await holder.fetch_val(locked.with_for_update())
            yield holder
    finally:
        await holder.disconnect()


async def until_a_writer_waits_for_a_lock(database) -> None:
    """The server's own state has no event to wait on: ask it until it says
    so. MariaDB renews what `innodb_trx` shows only when it was not read
    for 0.1 s: asked more often, it would show the same forever."""
    query = "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'"
    async with asyncio.timeout(DEADLINE_S):
        while await database.fetch_val(query) == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.25)


async def until_no_fanout_is_left(database) -> None:
    """The streams may have the post before every lane is done."""
    left = sa.select(sa.func.count()).select_from(fanout_table)
    async with asyncio.timeout(DEADLINE_S):
        while await database.fetch_val(left):  # noqa: ASYNC110 (see above)
            await asyncio.sleep(0.05)


async def id_of(database, person: Person) -> int:
    return (await user_by_name(database, person.username))["id"]


async def readers_of(database, post_id: int) -> list[int]:
    query = sa.select(feed_table.c.to_user_id).where(
        feed_table.c.post_id == post_id, feed_table.c.action == "post"
    )
    return sorted(row[0] for row in await database.fetch_all(query))


async def test_another_process_finishes_a_fanout_whose_process_was_killed(database, database_url):
    with two_processes(database_url) as (a, b):
        author = await Person(b.url, "author").sign_up()
        early = await Person(b.url, "early").sign_up()
        author_id = await id_of(database, author)
        fans = await seed_followers(database, author_id)
        late = await Person(b.url, "late").sign_up()
        streamers = [await id_of(database, early), await id_of(database, late)]
        for reader_id in streamers:
            await follow(database, reader_id, author_id)
        readers = sorted([author_id, *fans, *streamers])
        in_second_batch = readers[1_500]
        async with early.stream() as early_stream, late.stream() as late_stream:
            await early_stream.subscribed()
            await late_stream.subscribed()
            async with counter_held(database_url, in_second_batch):
                written = await author.on(a.url).post("to all 2,503 of you")
                await until_a_writer_waits_for_a_lock(database)
                a.process.kill()  # SIGKILL, in the middle of the second batch
                a.process.wait(timeout=DEADLINE_S)
            # B takes the fan-out over once A's transaction is rolled back.
            [first] = await early_stream.take(1)
            # B first waits for MariaDB to roll A's transaction back, then
            # writes two batches of a thousand rows: more than one event's
            # usual deadline when the suite loads the machine.
            last = await late_stream.next("the post, from B", deadline_s=DEADLINE_S)
            await until_no_fanout_is_left(database)
    assert (first.id, first.data["post"]["uid"]) == (1, written["uid"])
    assert (last.id, last.data["post"]["uid"]) == (1, written["uid"])
    post_id = await database.fetch_val(
        sa.select(feed_table.c.post_id).where(feed_table.c.to_user_id == author_id)
    )
    assert await readers_of(database, post_id) == readers  # each reader once
    counters = sa.select(
        sa.func.min(feed_counter_table.c.seq), sa.func.max(feed_counter_table.c.seq)
    )
    assert tuple((await database.fetch_one(counters)).values()) == (
        1,
        1,
    )  # no id skipped or repeated
    assert await database.fetch_val(sa.select(sa.func.count()).select_from(fanout_table)) == 0
    await assert_integrity(database)
