"""What the benchmarks drive: QuartFeed itself, seeded through its own model
functions, and the two bare baselines."""

import asyncio
import os
import secrets
import uuid
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiomysql
import httpx
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from application import create_app
from bench.common import (
    ROOT,
    Server,
    hypercorn,
    mysql_parameters,
    quart_baseline,
    starlette_baseline,
)
from db import AppDatabase, utc_now
from feed.events import create_bus
from feed.service import Feed
from feed.wire import encode_data
from group.models import create_group, group_by_slug, join_group
from post.models import post_by_uid
from post.present import Presenter
from relationship.models import follow
from settings import RATE_LIMITS
from user.models import create_session, create_user, hash_password, insert_user, user_by_name

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "mysql+aiomysql://root@127.0.0.1:3306/quartfeed_bench"
)
# Database 1: the tests use 0, and the rate limits' counts are keys there,
# which a test run and a bench run must not share.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
SECRET_KEY = secrets.token_hex(16)
LOGIN_PASSWORD = "bench password"
MEDIA_URL = "/media"  # the app's default: where events say avatars are


# --- The database ------------------------------------------------------------


async def mysql_connection(url: str, use_database: bool = True) -> aiomysql.Connection:
    """A plain driver connection to the server of `url` (and its database)."""
    parameters = mysql_parameters(url)
    if not use_database:
        parameters["db"] = None
    return await aiomysql.connect(**parameters)


async def _create_database(url: str, fresh: bool) -> None:
    parts = make_url(url)
    connection = await mysql_connection(url, use_database=False)
    # MariaDB answers IF [NOT] EXISTS with a note, which aiomysql turns into
    # a warning that says only what was asked.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", aiomysql.Warning)
        async with connection.cursor() as cursor:
            if fresh:
                await cursor.execute(f"DROP DATABASE IF EXISTS {parts.database}")
            await cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS {parts.database} CHARACTER SET utf8mb4"
            )
    connection.close()


def prepare_database(fresh: bool = True, url: str = DATABASE_URL) -> None:
    """A migrated bench database: dropped and created again if `fresh`,
    otherwise the one there (created if missing) brought up to date."""
    asyncio.run(_create_database(url, fresh))
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def reader_name(number: int) -> str:
    return f"reader{number}"


async def seed(audiences: list[int]) -> None:
    """Readers reader0…, and for each size N an author `authorN` whom the
    first N readers follow, and a group `group-N` that `authorN` owns and
    the first N readers are in; plus `loginuser`, whose password is known."""
    database = AppDatabase(DATABASE_URL)
    await database.connect()
    password_hash = await hash_password(secrets.token_hex(8))  # nobody logs in as them
    reader_ids = [
        await insert_user(database, reader_name(number), password_hash)
        for number in range(max(audiences))
    ]
    for size in audiences:
        author_id = await insert_user(database, f"author{size}", password_hash)
        slug = await create_group(database, author_id, f"Group {size}")
        group = await group_by_slug(database, slug, None)
        for reader_id in reader_ids[:size]:
            await follow(database, reader_id, author_id)
            await join_group(database, group["id"], reader_id)
    await create_user(database, "loginuser", LOGIN_PASSWORD)
    await database.disconnect()


async def seed_home_page(posts: int = 10, comments: int = 5, likes: int = 20) -> None:
    """`homeowner` follows `homeauthor`, whose posts each have comments and likes.

    Written by the app's feed service, so each action's event is described
    and stored as the app stores it; nothing is published (no stream is open).
    """
    database = AppDatabase(DATABASE_URL)
    await database.connect()
    feed = Feed(database, create_bus("memory://"), Presenter(MEDIA_URL))
    password_hash = await hash_password(secrets.token_hex(8))
    names = ["homeowner", "homeauthor"] + [f"fan{number}" for number in range(likes)]
    for name in names:
        await insert_user(database, name, password_hash)
    owner, author, *fans = [await user_by_name(database, name) for name in names]
    await follow(database, owner["id"], author["id"])
    for number in range(posts):
        post, _ = await feed.create_post(author, f"home post {number}")
        row = await post_by_uid(database, post["uid"])
        for fan in fans[:comments]:
            await feed.create_comment(fan, row, "a comment")
        for fan in fans:
            await feed.change_like(fan, row, True)
    await database.disconnect()


def poster_name(number: int) -> str:
    return f"poster{number}"


async def seed_posters(count: int) -> list[int]:
    """The ids of `poster0`… `poster{count-1}`, accounts nobody follows,
    created if missing: the writes bench can run again on the same database."""
    database = AppDatabase(DATABASE_URL)
    await database.connect()
    password_hash = await hash_password(secrets.token_hex(8))  # nobody logs in as them
    ids = []
    for number in range(count):
        poster = await user_by_name(database, poster_name(number))
        if poster is None:
            ids.append(await insert_user(database, poster_name(number), password_hash))
        else:
            ids.append(poster["id"])
    await database.disconnect()
    return ids


async def ensure_home_page() -> None:
    """The home page's people and posts, unless `python -m bench` seeded them."""
    if await user_id("homeowner") is None:
        await seed_home_page()


async def user_id(username: str) -> int | None:
    """The id of the account `username`; None if there is none."""
    database = AppDatabase(DATABASE_URL)
    await database.connect()
    user = await user_by_name(database, username)
    await database.disconnect()
    return user and user["id"]


# --- Sessions ----------------------------------------------------------------

_signing_app = create_app({"SECRET_KEY": SECRET_KEY, "DATABASE_URL": DATABASE_URL})
CSRF_TOKEN = secrets.token_urlsafe(16)


async def start_sessions(user_ids: list[int], database_url: str = DATABASE_URL) -> list[str]:
    """The ids of new sessions, one logged in as each of `user_ids`.

    Starting the sessions straight in the database saves thousands of
    password hashes.
    """
    database = AppDatabase(database_url)
    await database.connect()
    lifetime = _signing_app.permanent_session_lifetime
    session_ids = [await create_session(database, account, lifetime) for account in user_ids]
    await database.disconnect()
    return session_ids


async def session_cookies(user_ids: list[int], database_url: str = DATABASE_URL) -> list[str]:
    """The cookies browsers would hold after logging in as each of `user_ids`,
    signed with the server's key, each with the session's CSRF token."""
    session_ids = await start_sessions(user_ids, database_url)
    serializer = _signing_app.session_interface.get_signing_serializer(_signing_app)
    return [
        serializer.dumps({"session_id": session_id, "csrf_token": CSRF_TOKEN})
        for session_id in session_ids
    ]


# --- Targets -----------------------------------------------------------------

Send = Callable[[httpx.AsyncClient, int], Awaitable[None]]


@dataclass
class Target:
    """A server to measure: how to start it, open streams and send event n."""

    name: str
    server: Server
    stream_path: str  # "{size}" in it is replaced by the number of readers
    cookies: Callable[[int], Awaitable[list[str | None]]]  # N readers' cookies
    sender: Callable[[int], Awaitable[Send]]  # for an audience of N
    counts_statements: bool = False  # /healthz tells how many SQL statements ran


def quartfeed_server(
    workers: int = 1,
    broker_url: str = "memory://",
    app: str = "application:create_app()",
    database_url: str = DATABASE_URL,
    code: Path = ROOT,
    **settings,
) -> Server:
    environment = {
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "SECRET_KEY": SECRET_KEY,
        "COUNT_STATEMENTS": "true",
        # The load comes from a few people on one address: never limit it.
        **{name: "1000000/1" for name in RATE_LIMITS},
        **settings,
    }
    return Server("QuartFeed", hypercorn(app, workers), environment, code=code)


async def reader_cookies(size: int) -> list[str | None]:
    # Readers were inserted one after another, so their ids are consecutive.
    first_id = await user_id(reader_name(0))
    if await user_id(reader_name(size - 1)) != first_id + size - 1:
        raise RuntimeError("reader ids are not consecutive: seed a fresh database")
    return await session_cookies([first_id + number for number in range(size)])


def logged_in_headers(cookie: str) -> dict[str, str]:
    """What a logged-in page's fetch() sends with a POST: the session cookie,
    and the session's CSRF token as X-CSRFToken (see utilities/csrf.py)."""
    return {"Cookie": f"session={cookie}", "X-CSRFToken": CSRF_TOKEN}


async def author_sender(size: int) -> Send:
    (cookie,) = await session_cookies([await user_id(f"author{size}")])
    headers = logged_in_headers(cookie)

    async def send(http: httpx.AsyncClient, number: int) -> None:
        response = await http.post("/post", json={"post": f"bench-{number}"}, headers=headers)
        response.raise_for_status()

    return send


async def group_author_sender(size: int) -> Send:
    """`authorN` posting into `group-N`, whose N members hold its page open."""
    (cookie,) = await session_cookies([await user_id(f"author{size}")])
    headers = logged_in_headers(cookie)

    async def send(http: httpx.AsyncClient, number: int) -> None:
        post = {"post": f"bench-{number}", "group": f"group-{size}"}
        (await http.post("/post", json=post, headers=headers)).raise_for_status()

    return send


async def anonymous(size: int) -> list[str | None]:
    return [None] * size


def baseline_event(number: int) -> str:
    """What QuartFeed sends for a new post on a home stream (its data, with the
    channel's name that `feed.wire.frame_tail` adds), so both put the same
    bytes on the wire."""
    author = {"username": "author1000", "avatar": "/static/images/user/profile.sm.png",
              "url": "/user/author1000"}  # fmt: skip
    post = {"uid": str(uuid.uuid4()), "body": f"bench-{number}", "created": utc_now().isoformat(),
            "author": author, "likes": 0, "likers": [], "comments": [], "group": None}  # fmt: skip
    return encode_data({"channel": "home", "post": post})


async def publisher(size: int) -> Send:
    async def send(http: httpx.AsyncClient, number: int) -> None:
        (await http.post("/publish", content=baseline_event(number))).raise_for_status()

    return send


def quartfeed(
    workers: int = 1, broker_url: str = "memory://", label: str = "", **settings
) -> Target:
    name = "QuartFeed" if workers == 1 else f"QuartFeed {workers} workers, redis"
    name += f", {label}" if label else ""
    server = quartfeed_server(workers, broker_url, **settings)
    return Target(name, server, "/sse", reader_cookies, author_sender, counts_statements=True)


def quartfeed_group() -> Target:
    """The same readers, each with their group's page open instead of their
    home page: a post in a group of N members reaches N group streams."""
    path = "/groups/group-{size}/sse"
    server = quartfeed_server()
    return Target("QuartFeed, group", server, path, reader_cookies, group_author_sender, True)


def quart() -> Target:
    return Target("Quart baseline", quart_baseline(), "/sse", anonymous, publisher)


def starlette() -> Target:
    return Target("sse-starlette baseline", starlette_baseline(), "/sse", anonymous, publisher)


async def statements_run(target: Target) -> int | None:
    """How many statements the server has run, before this question's own;
    None for a baseline, which has no database."""
    if not target.counts_statements:
        return None
    async with httpx.AsyncClient(base_url=target.server.url) as http:
        return (await http.get("/healthz")).json()["statements"] - 1
