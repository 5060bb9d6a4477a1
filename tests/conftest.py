"""Fixtures shared by every test.

Each test run creates its own MySQL database (and its own SQLite file), builds
the schema by running the Alembic migrations, and runs every test against
both. Tests stay independent by emptying the tables afterwards.
"""

import asyncio
import contextlib
import os
import secrets
from pathlib import Path

import aiomysql
import aiosqlite
import pytest
import redis
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from application import create_app
from db import epoch_table, metadata
from settings import Rate
from tests.redis_cluster import RedisClusterNodes, missing_programs

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"true", "1", "yes"}
MYSQL_SERVER_URL = os.environ.get("TEST_DATABASE_URL", "mysql+aiomysql://root@127.0.0.1:3306")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(reason: str) -> None:
    """A service or program the test needs is missing: skip (a failure in CI)."""
    pytest.skip(reason)


def redis_available() -> None:
    """Skip (fail, in CI) a test that needs Redis when it does not answer."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")


def bus_prefix() -> str:
    """A prefix for the pub/sub channels of one test's buses: tests that run
    at once on one Redis (pytest-xdist's workers) do not hear each other."""
    return f"quartfeed:test:{secrets.token_hex(4)}"


def started_redis_cluster(folder: Path) -> RedisClusterNodes:
    """A real Redis Cluster of three nodes, its files in `folder`."""
    if missing := missing_programs():
        unavailable(f"A Redis Cluster needs {' and '.join(missing)}, which cannot be found")
    return RedisClusterNodes(folder).start()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """BROKER_URL of a Redis Cluster started once per test run."""
    cluster = started_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster.url
    cluster.stop()


@pytest.fixture(params=["redis", "cluster"])
def redis_broker_url(request) -> str:
    """BROKER_URL of the test Redis server, then of a Redis Cluster."""
    if request.param == "redis":
        redis_available()
        return REDIS_URL
    return request.getfixturevalue("redis_cluster")


def _fail_skips_in_ci(report):
    """In CI every test must run: any skip, whatever raised it, is a failure.

    MySQL, Redis, Chromium, ImageMagick and Node.js are all installed there,
    so a skip can only mean that one of them is broken.
    """
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"Skipped in CI, where every test must run: {reason}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A test, or its fixtures, skipped."""
    return _fail_skips_in_ci((yield))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """A whole module skipped while it was imported."""
    return _fail_skips_in_ci((yield))


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


async def mysql_admin(*statements: str) -> None:
    """Run `statements` on the MySQL server as its administrator (TEST_DATABASE_URL)."""
    url = make_url(MYSQL_SERVER_URL)
    connection = await aiomysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        connect_timeout=3,
    )
    try:
        async with connection.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
    finally:
        connection.close()


def create_mysql_database() -> str:
    name = f"quartfeed_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(mysql_admin(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    except OSError as error:
        unavailable(f"MySQL is not reachable at {MYSQL_SERVER_URL}: {error}")
    except aiomysql.OperationalError as error:
        unavailable(f"MySQL refused {MYSQL_SERVER_URL}: {error}")
    return make_url(MYSQL_SERVER_URL).set(database=name).render_as_string(hide_password=False)


def drop_mysql_database(database_url: str) -> None:
    asyncio.run(mysql_admin(f"DROP DATABASE IF EXISTS {make_url(database_url).database}"))


@pytest.fixture(scope="session", params=["mysql", "sqlite"])
def database_url(request, tmp_path_factory):
    """A migrated, empty database for this test run: MySQL first, then SQLite."""
    if request.param == "mysql":
        url = create_mysql_database()
        request.addfinalizer(lambda: drop_mysql_database(url))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'quartfeed.db'}"
    command.upgrade(alembic_config(url), "head")
    return url


async def empty_tables(database) -> None:
    """Every table but the epoch, which the migrations set once, as for a
    database in use."""
    # Comments point at their posts, so they go first (MySQL checks each row).
    post = metadata.tables["post"]
    for table in reversed(metadata.sorted_tables):
        if table is epoch_table:
            continue
        if table is post:
            await database.execute(post.delete().where(post.c.parent_post_id.is_not(None)))
        await database.execute(table.delete())


@pytest.fixture
def app_config(database_url, tmp_path) -> dict:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(16),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "COUNT_STATEMENTS": True,
        "BROKER_URL": "memory://",
        # No sweep in the middle of a test: a fan-out is finished by the
        # worker its write wakes, or by the test itself.
        "FANOUT_SWEEP_S": 3600,
    }


@pytest.fixture
async def app(app_config):
    app = create_app(app_config)
    async with app.test_app():
        yield app
        await empty_tables(app.extensions["database"])


@pytest.fixture
async def limited_app(app, app_config):
    """`await limited_app(LIMIT_NAME="count/seconds", …)`: a running app with
    those limits, on the test database (which `app` empties afterwards)."""
    async with contextlib.AsyncExitStack() as running:

        async def start(broker_url: str = "memory://", **limits: str):
            rates = {name: Rate(*map(int, text.split("/"))) for name, text in limits.items()}
            limited = create_app({**app_config, "BROKER_URL": broker_url, **rates})
            await running.enter_async_context(limited.test_app())
            return limited

        yield start


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def feed(app):
    """The app's feed service: writes posts, comments and likes, and reads pages."""
    return app.extensions["feed"]


@pytest.fixture
async def database(app):
    """The app's database, inside a request context so that model functions
    called directly can build URLs (avatars, profiles) as a view would."""
    async with app.test_request_context("/"):
        yield app.extensions["database"]


class RoundTrips:
    """How many times the app waited on the database, counted in its drivers."""

    def __init__(self) -> None:
        self.count = 0

    def counting(self, method):
        """`method`, counting each call; it returns what `method` returns, so
        awaitables and context managers (aiosqlite's execute) stay what they are."""

        def counted(*args, **kwargs):
            self.count += 1
            return method(*args, **kwargs)

        return counted


@pytest.fixture
def round_trips(monkeypatch) -> RoundTrips:
    """Counts round trips where the drivers make them, so that what the app's
    own statement counter cannot see is counted too: BEGIN, COMMIT, ROLLBACK
    and opening a connection.

    MySQL: every command aiomysql sends (a statement, BEGIN, COMMIT…) waits
    for one answer, and a new connection waits for its authentication.
    SQLite: every statement, BEGIN and COMMIT is a trip to the database's
    thread, and `databases` opens a connection for each statement outside a
    transaction.
    """
    trips = RoundTrips()
    counted = [
        (aiomysql.Connection, "_execute_command"),
        (aiomysql.Connection, "_request_authentication"),
        (aiosqlite.Connection, "execute"),
        (aiosqlite.Connection, "executemany"),
        (aiosqlite.Cursor, "execute"),
        (aiosqlite.Cursor, "executemany"),
        (aiosqlite, "connect"),
    ]
    for owner, name in counted:
        monkeypatch.setattr(owner, name, trips.counting(getattr(owner, name)))
    return trips
