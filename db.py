"""The database: one SQLAlchemy `MetaData` for every table, and the async
`databases.Database` the app queries through.

Tables are declared in each domain's `models.py` on the `metadata` below, so
Alembic sees all of them through `migrations/env.py`.
"""

import asyncio
import sqlite3
from datetime import UTC, datetime

import pymysql
import sqlalchemy as sa
from databases import Database
from quart import current_app
from sqlalchemy.dialects import mysql, sqlite

metadata = sa.MetaData()

# MySQL's DATETIME drops fractions of a second unless asked; the feed orders
# by these times, so keep microseconds everywhere.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

# The feed id is the SSE event id and must never run out, but SQLite only
# auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")

# What a driver raises when the server is down or unreachable: answered with
# a 503 rather than a 500, and the next request simply tries again.
DATABASE_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    pymysql.err.OperationalError,
    pymysql.err.InterfaceError,
    sqlite3.OperationalError,
)


# What a driver raises when a UNIQUE constraint refuses a row.
INTEGRITY_ERRORS = (pymysql.err.IntegrityError, sqlite3.IntegrityError)


def utc_now() -> datetime:
    """The current time in UTC, naive, as every timestamp column stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def isoformat(moment: datetime) -> str:
    """A stored (naive UTC) time as ISO 8601 with its offset, for pages and JSON."""
    return moment.replace(tzinfo=UTC).isoformat()


class AppDatabase(Database):
    """The `databases.Database` this app uses, with two additions.

    - It connects at its first statement, and again after a failed attempt:
      the app starts even when the database is down (pages that need no query
      still work, /healthz says what is wrong) and recovers by itself when the
      database comes back.
    - With `count_statements` it counts the statements it sends; tests use
      that to prove a page runs a fixed number of queries, and bench/ to
      prove that idle streams run none.
    """

    def __init__(self, url: str, count_statements: bool = False) -> None:
        super().__init__(url)
        self.count_statements = count_statements
        self.statements = 0
        self._connect_lock = asyncio.Lock()

    async def ensure_connected(self) -> None:
        if self.is_connected:
            return
        async with self._connect_lock:
            if not self.is_connected:
                await self.connect()

    async def _before_statement(self) -> None:
        await self.ensure_connected()
        if self.count_statements:
            self.statements += 1

    async def execute(self, query, values=None):
        await self._before_statement()
        return await super().execute(query, values)

    async def execute_many(self, query, values):
        await self._before_statement()
        return await super().execute_many(query, values)

    async def fetch_all(self, query, values=None):
        await self._before_statement()
        return await super().fetch_all(query, values)

    async def fetch_one(self, query, values=None):
        await self._before_statement()
        return await super().fetch_one(query, values)

    async def fetch_tuples(self, query) -> list[tuple]:
        """Rows as the driver's plain tuples.

        `fetch_all` wraps every row in a Record, a few microseconds a row:
        nothing for a page, but the fan-out reads back one row per follower,
        10,000 for a popular author. This skips the wrapping. It borrows
        `databases`' private `_compile`, which turns the query into the
        driver's SQL and arguments exactly as `fetch_all` would.
        """
        await self._before_statement()
        async with self.connection() as connection:
            sql, arguments, _, _ = connection._connection._compile(query)
            cursor = await connection.raw_connection.cursor()
            try:
                await cursor.execute(sql, arguments)
                return list(await cursor.fetchall())
            finally:
                await cursor.close()

    async def fetch_val(self, query, values=None, column=0):
        await self._before_statement()
        return await super().fetch_val(query, values, column)


def get_database() -> AppDatabase:
    """The app's database, for views: `await user_by_name(get_database(), name)`."""
    return current_app.extensions["database"]


async def ping(database: AppDatabase) -> None:
    """Raise one of DATABASE_ERRORS unless the database answers a trivial query."""
    await database.fetch_val("SELECT 1")
