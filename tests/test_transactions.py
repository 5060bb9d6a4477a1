"""db.py: transactions that MySQL chose to break a deadlock run again, each
statement shape is compiled once whatever its values, and a statement
leaves nothing behind for the garbage collector."""

import asyncio
import gc
import weakref

import pytest
import sqlalchemy as sa

from db import AppDatabase, one_transaction
from tests.helpers import create_users
from user.models import feed_counter_table, user_table

counter = feed_counter_table


@one_transaction
async def raise_both(
    database, first: int, second: int, mine: asyncio.Event, theirs: asyncio.Event, attempts: list
):
    """Raise two counters, the first one, then (once the other writer holds
    its own first) the second: two of these in opposite orders deadlock."""
    attempts.append(first)
    await database.execute(
        counter.update().where(counter.c.user_id == first).values(seq=counter.c.seq + 1)
    )
    mine.set()
    await theirs.wait()
    await database.execute(
        counter.update().where(counter.c.user_id == second).values(seq=counter.c.seq + 1)
    )


@pytest.mark.parametrize("database_url", ["mysql"], indirect=True)  # SQLite never deadlocks
async def test_the_victim_of_a_deadlock_runs_again(database):
    ids = await create_users(database, ["ann", "ben"])
    ann, ben = ids["ann"], ids["ben"]
    ann_locked, ben_locked, attempts = asyncio.Event(), asyncio.Event(), []
    await asyncio.gather(
        raise_both(database, ann, ben, ann_locked, ben_locked, attempts),
        raise_both(database, ben, ann, ben_locked, ann_locked, attempts),
    )
    assert len(attempts) == 3  # one of the two ran twice
    rows = await database.fetch_all(sa.select(counter.c.user_id, counter.c.seq))
    assert {row[0]: row[1] for row in rows} == {ann: 2, ben: 2}  # the first try left nothing


async def test_a_statement_shape_is_compiled_once_whatever_its_values(database):
    ids = await create_users(database, ["ann", "ben", "cat"])

    def names_of(user_ids: list[int]):
        return (
            sa.select(user_table.c.username)
            .where(user_table.c.id.in_(user_ids))
            .order_by(user_table.c.id)
        )

    shapes = database._statements._shapes
    answers = [await database.fetch_all(names_of([ids["ann"]]))]
    known = len(shapes)
    answers.append(await database.fetch_all(names_of([ids["ben"], ids["cat"]])))
    answers.append(await database.fetch_all(names_of([ids["cat"]])))
    assert [[row[0] for row in rows] for rows in answers] == [["ann"], ["ben", "cat"], ["cat"]]
    assert len(shapes) == known


async def test_a_statements_connection_is_freed_as_soon_as_it_is_done(database):
    """By reference counting alone: a reference cycle would keep it until a
    full collection, which the app makes rare (TUNE_GC), and a thousand open
    streams' statements would pile up meanwhile."""

    async def one_statement() -> weakref.ref:
        async with database.connection() as connection:
            assert await database.fetch_val(sa.select(sa.literal(7))) == 7
            return weakref.ref(connection._connection)

    gc.disable()
    try:
        backend_connection = await one_statement()
        assert backend_connection() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_sqlite_writer_waits_for_the_lock_as_long_as_any_statement(database_url):
    """SQLite's own wait for a writer's lock (5 s unless told) would fail a
    busy write with "database is locked" long before the app's deadline."""
    database = AppDatabase(database_url, timeout_s=17)
    try:
        assert await database.fetch_val(sa.text("PRAGMA busy_timeout")) == 17_000
    finally:
        await database.disconnect()
