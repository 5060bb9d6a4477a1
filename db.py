"""The database: one SQLAlchemy `MetaData` for every table, and the async
`databases.Database` the app queries through.

Tables are declared in each domain's `models.py` on the `metadata` below, so
Alembic sees all of them through `migrations/env.py`.
"""

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Concatenate, ParamSpec, TypeVar

import aiomysql
import pymysql
import sqlalchemy as sa
from databases import Database
from databases.backends import mysql as databases_mysql
from databases.backends import sqlite as databases_sqlite
from databases.backends.common.records import create_column_maps
from databases.backends.sqlite import SQLiteConnection, SQLiteTransaction
from databases.core import Connection
from databases.interfaces import Record
from quart import current_app
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.functions import FunctionElement

metadata = sa.MetaData()
T = TypeVar("T")
P = ParamSpec("P")

# MySQL's DATETIME drops fractions of a second unless asked; the feed orders
# by these times, so keep microseconds everywhere.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


class ExactString(sa.TypeDecorator):
    """A string the database compares as Python does, character for character.

    MySQL's default collations ignore case, accents and trailing spaces
    ("Caról " = "carol"): a name, a slug or a uid would find the rows of
    others. Binary collations compare code points; the one without padding
    is called utf8mb4_nopad_bin by MariaDB, utf8mb4_0900_bin by MySQL 8.
    SQLite compares bytes unless told otherwise.
    """

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine:
        if dialect.name != "mysql":
            return dialect.type_descriptor(sa.String(self.impl.length))
        collation = "utf8mb4_nopad_bin" if dialect.is_mariadb else "utf8mb4_0900_bin"
        return dialect.type_descriptor(mysql.VARCHAR(self.impl.length, collation=collation))


# The feed id is the SSE event id and must never run out, but SQLite only
# auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")

# The database's epoch: a random token set when the database is created (by
# the migrations) or restored (`quart new-epoch`). Event ids carry it, so a
# browser whose position was counted by another copy of the data starts over
# instead of trusting numbers that may since mean other events.
epoch_table = sa.Table(
    "epoch",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # a single row
    sa.Column("value", sa.String(32), nullable=False),
)


def current_epoch() -> sa.ScalarSelect:
    """The epoch, as a subquery: pages read it in the statement they run anyway."""
    return sa.select(epoch_table.c.value).scalar_subquery()


# What a driver raises when the server is down or unreachable: answered with
# a 503 rather than a 500, and the next request simply tries again. Not every
# OSError: a file name too long to open is no database outage.
DATABASE_ERRORS = (
    ConnectionError,
    TimeoutError,
    pymysql.err.OperationalError,
    pymysql.err.InterfaceError,
    sqlite3.OperationalError,
)

# What the database says when a table or column the code uses is not there:
# the migrations have not been run (or not all of them).
MYSQL_NO_SUCH_TABLE = 1146
MYSQL_NO_SUCH_COLUMN = 1054
SQLITE_SCHEMA_MESSAGES = ("no such table", "no such column", "has no column named")


# What a driver raises when a UNIQUE constraint refuses a row.
INTEGRITY_ERRORS = (pymysql.err.IntegrityError, sqlite3.IntegrityError)

# The statements `CompiledStatements` keeps compiled; DDL runs once anyway.
CACHEABLE = (sa.Select, sa.Insert, sa.Update, sa.Delete, sa.TextClause, sa.CompoundSelect)


@dataclass(frozen=True)
class RowsContext:
    """What `databases` hands to SQLAlchemy to read a statement's rows."""

    context: object


# Two transactions that each wait for a row the other has locked: MySQL
# rolls one of them back with this error, and it may simply run again.
MYSQL_DEADLOCK = 1213
TRANSACTION_ATTEMPTS = 3


class json_rows(FunctionElement):
    """Aggregate: the given columns of every row as one JSON text, [[1, 2], …].

    Reading 1,000 rows through the pure-Python MySQL driver costs a few
    milliseconds of the event loop; one text value parsed by `json.loads`
    costs a tenth of that. MySQL and SQLite name the functions differently.
    """

    name = "json_rows"
    inherit_cache = True
    type = sa.Text()


@compiles(json_rows)
def _json_rows_mysql(element, compiler, **kw) -> str:
    return f"JSON_ARRAYAGG(JSON_ARRAY({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element, compiler, **kw) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


def is_missing_schema(error: Exception) -> bool:
    """Whether `error` means the schema is not there, rather than the server."""
    if isinstance(error, pymysql.err.MySQLError):
        return bool(error.args) and error.args[0] in (MYSQL_NO_SUCH_TABLE, MYSQL_NO_SUCH_COLUMN)
    if isinstance(error, sqlite3.Error):
        return str(error).startswith(SQLITE_SCHEMA_MESSAGES)
    return False


def utc_now() -> datetime:
    """The current time in UTC, naive, as every timestamp column stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def isoformat(moment: datetime) -> str:
    """A stored (naive UTC) time as ISO 8601 with its offset, for pages and JSON."""
    return moment.replace(tzinfo=UTC).isoformat()


def _connection_options(url: str, timeout_s: float) -> dict:
    """What each new connection runs first, by database.

    MariaDB cuts JSON_ARRAYAGG (see `json_rows`) at group_concat_max_len,
    1 MiB by default: about 65,000 followers' feed ids. Lift that limit so
    the packet size is the only one.

    MariaDB also turns an `IN` list of 1,000 values or more into a join
    with a temporary table, which reads the whole table: in a locking
    statement (a fan-out batch raising its readers' counters) it locks every
    row it reads, other readers' too. Keep IN lists as key lookups. The
    `/*M! … */` part is run by MariaDB only; MySQL has no such conversion.

    SQLite has one writer at a time, and a writer waits for the lock only
    as long as its `timeout` (5 s by default) before it gives up with
    "database is locked": let it wait as long as any other statement may.
    """
    if url.startswith("mysql"):
        return {
            "init_command": "SET SESSION group_concat_max_len = 4294967295"
            " /*M!, in_predicate_conversion_threshold = 0 */",
            "connect_timeout": timeout_s,
        }
    return {"timeout": timeout_s}


def _interrupted(connection: Connection) -> bool:
    """Whether this connection was closed because a statement on it was cut off."""
    raw = connection.raw_connection
    return isinstance(raw, aiomysql.Connection) and raw.closed


class ResultColumns(list):
    """A compiled shape's result columns, with the maps from a column's
    name, position and expression to its place in a row, made once.

    `databases` makes those maps again for every statement it reads rows
    from, turning each column's expression into SQL text to name it: a
    tenth of the server's CPU for a post. A shape's columns never change,
    so neither do its maps."""

    def __init__(self, columns: list) -> None:
        super().__init__(columns)
        self.maps = create_column_maps(columns)


def _column_maps(result_columns: list) -> tuple:
    """The maps `databases` reads rows with: a shape's own when it has them."""
    if isinstance(result_columns, ResultColumns):
        return result_columns.maps
    return create_column_maps(result_columns)


# Both backends the app runs on look the function up by this name at each fetch.
databases_mysql.create_column_maps = _column_maps
databases_sqlite.create_column_maps = _column_maps


@dataclass(frozen=True)
class CompiledShape:
    """One shape of statement, compiled: what `databases` needs to run it
    and to read its rows."""

    compiled: Compiled
    parameters: list  # the bound parameters of the first statement of this shape
    context: object  # has .context, the execution context that reads its rows
    result_columns: ResultColumns


class Prepared:
    """A statement built once, with named parameters where its values go,
    run many times: `await database.fetch_one(QUERY.bound(name=value))`.

    Building a statement and working out its cache key (how
    `CompiledStatements` knows its shape) cost more of the server's CPU than
    sending it does. The statements that every request runs are built once,
    with `sa.bindparam("name")` for each value, and only bound afterwards.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement

    def bound(self, **values) -> "Bound":
        return Bound(self, values)


def prepared_insert(table: sa.Table, *columns: str) -> "Prepared":
    """An INSERT of one row into `table`, each of `columns` bound by its name."""
    return Prepared(table.insert().values({name: sa.bindparam(name) for name in columns}))


@dataclass(frozen=True)
class Bound:
    """A prepared statement with its values, to hand to the database."""

    prepared: Prepared
    values: dict


class CompiledStatements:
    """Each shape of statement, compiled once for one database's dialect.

    `databases` compiles every statement it is given, every time: a fifth
    to a quarter of the server's CPU for a post or a home page. Two
    statements built by the same code differ only in their values, and
    SQLAlchemy's cache key says so (it is how SQLAlchemy's own engine caches
    compilation): the key names the shape, and lists the values in an order
    that is the same for every statement of that shape. So each shape is
    compiled once, and later statements of it only bind their own values.
    A `Prepared` statement is its own shape, with its values named.
    """

    MAX_SHAPES = 1000  # far more than the app has; a bound all the same

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._shapes: dict[object, CompiledShape] = {}

    def compile(self, query: ClauseElement | Bound) -> tuple | None:
        """What `databases` compiles a statement into, (SQL, the driver's
        parameters, the result columns, the context), or None for one that
        cannot be cached (DDL, a construct with no cache key)."""
        if isinstance(query, Bound):
            prepared = query.prepared
            shape = self._shapes.get(prepared) or self._add(prepared, prepared.statement, [])
            return self._bind(shape, query.values)
        if not isinstance(query, CACHEABLE):
            return None
        key = query._generate_cache_key()
        if key is None:
            return None
        shape = self._shapes.get(key.key) or self._add(key.key, query, key.bindparams)
        # This statement's values, under the names of the compiled one.
        values = {
            first.key: this.effective_value
            for first, this in zip(shape.parameters, key.bindparams, strict=True)
        }
        return self._bind(shape, values)

    def _bind(self, shape: CompiledShape, values: dict) -> tuple:
        """The shape's SQL and the driver's parameters for these values (the
        rest keep the values they were built with)."""
        expanded = shape.compiled.construct_expanded_state(values)  # IN (…): one per value
        parameters = {
            name: expanded.processors[name](value) if name in expanded.processors else value
            for name, value in expanded.parameters.items()
        }
        if self.dialect.positional:
            parameters = [parameters[name] for name in expanded.positiontup]
        return expanded.statement, parameters, shape.result_columns, shape.context

    def _add(self, key: object, query: ClauseElement, parameters: list) -> CompiledShape:
        if len(self._shapes) >= self.MAX_SHAPES:
            self._shapes.clear()
        compiled = query.compile(dialect=self.dialect)
        context = self.dialect.execution_ctx_cls()
        context.dialect = self.dialect
        context.result_column_struct = (
            compiled._result_columns,
            compiled._ordered_columns,
            compiled._textual_ordered_columns,
            compiled._ad_hoc_textual,
            compiled._loose_column_name_matching,
        )
        result_columns = ResultColumns(compiled._result_columns)
        shape = CompiledShape(compiled, parameters, RowsContext(context), result_columns)
        self._shapes[key] = shape
        return shape


class WritingSQLiteTransaction(SQLiteTransaction):
    """A transaction that takes SQLite's write lock at BEGIN (IMMEDIATE).

    A plain BEGIN reads first and asks for the lock at its first write: by
    then another writer may have committed what this one read (a post it
    checked, deleted since), and SQLite refuses the write ("database is
    locked") rather than let it act on stale reads. Locking at the start
    makes writers take turns, each reading what the one before committed,
    as MySQL's row locks (SELECT … FOR UPDATE) do for the rows they lock.
    """

    async def start(self, is_root: bool, extra_options: dict) -> None:
        self._is_root = True
        async with self._connection._connection.execute("BEGIN IMMEDIATE") as cursor:
            await cursor.close()


def _transaction_steps(connection: Connection):
    """The driver's BEGIN, COMMIT and ROLLBACK for a transaction on `connection`."""
    backend_connection = connection._connection
    if isinstance(backend_connection, SQLiteConnection):
        return WritingSQLiteTransaction(backend_connection)
    return backend_connection.transaction()


class AppDatabase(Database):
    """The `databases.Database` this app uses, with three additions.

    - It connects at its first statement, and again after a failed attempt:
      the app starts even when the database is down (pages that need no query
      still work, /healthz says what is wrong) and recovers by itself when the
      database comes back.
    - Connecting, each statement, and each step of a transaction has a
      deadline (`timeout_s`): a database that accepts connections but never
      answers gives prompt errors (503s), not requests that hang for minutes.
    - With `count_statements` it counts the statements it sends; tests use
      that to prove a page runs a fixed number of queries, and bench/ to
      prove that idle streams run none.
    """

    def __init__(self, url: str, count_statements: bool = False, timeout_s: float = 5) -> None:
        super().__init__(url, **_connection_options(url, timeout_s))
        self.count_statements = count_statements
        self.statements = 0
        self.timeout_s = timeout_s
        self._connect_lock = asyncio.Lock()
        self._statements = CompiledStatements(self._backend._dialect)
        # What compiles the statements `CompiledStatements` cannot keep: a
        # backend connection of its own, never opened (compiling needs only
        # its dialect). Each statement's connection borrows it: a method of
        # that connection, stored on it, would make a reference cycle that
        # only the garbage collector frees, one per statement.
        self._compile_every_time = self._backend.connection()._compile

    async def ensure_connected(self) -> None:
        if self.is_connected:
            return
        async with self._connect_lock:
            if not self.is_connected:
                await self.connect()

    async def _acquire(self, stack: contextlib.AsyncExitStack) -> Connection:
        """This task's connection, held until `stack` closes."""
        async with asyncio.timeout(self.timeout_s):
            await self.ensure_connected()
            connection = await stack.enter_async_context(self.connection())
        # The backend connection compiles through `CompiledStatements` (it
        # is made anew for each task's statements, see `databases`).
        connection._connection._compile = self._compile_once
        return connection

    def _compile_once(self, query: ClauseElement) -> tuple:
        return self._statements.compile(query) or self._compile_every_time(query)

    async def _bounded(self, step: Awaitable[T]) -> T:
        """Await one statement within the deadline.

        aiomysql closes a connection whose statement is cut off halfway (its
        answer would otherwise be read by the next statement), and the pool
        opens a fresh one.
        """
        async with asyncio.timeout(self.timeout_s):
            return await step

    async def _run(self, statement: Callable[[Connection], Awaitable[T]]) -> T:
        if self.count_statements:
            self.statements += 1
        async with contextlib.AsyncExitStack() as stack:
            connection = await self._acquire(stack)
            return await self._bounded(statement(connection))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One transaction: the statements inside it run on the same connection.

        BEGIN, COMMIT and ROLLBACK are sent through the driver's own
        transaction object, within the deadline like every statement;
        `databases`' Transaction keeps bookkeeping that a COMMIT cut off by
        a deadline would leave half done.
        """
        async with contextlib.AsyncExitStack() as stack:
            connection = await self._acquire(stack)
            steps = _transaction_steps(connection)
            await self._bounded(steps.start(is_root=True, extra_options={}))
            try:
                yield
            except BaseException:
                # A connection closed halfway has nothing to roll back: MySQL did it.
                if not _interrupted(connection):
                    await self._bounded(steps.rollback())
                raise
            await self._bounded(steps.commit())

    async def execute(self, query, values=None):
        return await self._run(lambda connection: connection.execute(query, values))

    async def execute_many(self, query, values):
        return await self._run(lambda connection: connection.execute_many(query, values))

    async def fetch_all(self, query, values=None):
        return await self._run(lambda connection: connection.fetch_all(query, values))

    async def fetch_one(self, query, values=None):
        return await self._run(lambda connection: connection.fetch_one(query, values))

    async def fetch_val(self, query, values=None, column=0):
        return await self._run(lambda connection: connection.fetch_val(query, values, column))


def _is_deadlock(error: pymysql.err.OperationalError) -> bool:
    return bool(error.args) and error.args[0] == MYSQL_DEADLOCK


def one_transaction(
    write: Callable[Concatenate[AppDatabase, P], Awaitable[T]],
) -> Callable[Concatenate[AppDatabase, P], Awaitable[T]]:
    """Run `write(database, …)` as one transaction, and again if MySQL chose
    it to break a deadlock (a few times at most).

    Writers lock the feed counters of the readers they write to (see
    feed.models); two writers with readers in common may lock them in
    opposite orders, and one of them must then start over.
    """

    @functools.wraps(write)
    async def run(database: AppDatabase, *args: P.args, **kwargs: P.kwargs) -> T:
        for _ in range(TRANSACTION_ATTEMPTS - 1):
            try:
                async with database.transaction():
                    return await write(database, *args, **kwargs)
            except pymysql.err.OperationalError as error:
                if not _is_deadlock(error):
                    raise
        async with database.transaction():  # the last attempt: whatever it raises goes up
            return await write(database, *args, **kwargs)

    return run


async def delete_batch(
    database: Database,
    table: sa.Table,
    condition: sa.ColumnElement[bool],
    limit: int,
    *returning: sa.Column,
) -> list[Record]:
    """Delete up to `limit` rows of `table` that meet `condition`, and return
    their `returning` columns. The rows are found first, then deleted by id:
    a DELETE that searched would lock the gaps around them too, and deadlock
    with writers adding rows there. An empty list: none was left."""
    found = await database.fetch_all(
        sa.select(table.c.id, *returning).where(condition).limit(limit)
    )
    if found:
        await database.execute(table.delete().where(table.c.id.in_([row["id"] for row in found])))
    return found


def get_database() -> AppDatabase:
    """The app's database, for views: `await user_by_name(get_database(), name)`."""
    return current_app.extensions["database"]
