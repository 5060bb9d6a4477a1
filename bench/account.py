"""Deleting an account with 10,000 posts and 100,000 followers: how long
POST /settings/delete takes to answer, how long the farewell event takes to
reach every follower (the fan-out, after the answer), and how long another
writer waits meanwhile: a poster whom every hundredth of those followers
follows, whose home channels the farewell's batches lock, posting all along.
Then the same deletion in this process, every transaction timed: the
longest is the most any lock it took was held.

python -m bench.account [--posts 10000] [--followers 100000]
"""

import argparse
import asyncio
import contextlib
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import sqlalchemy as sa

from bench import targets
from bench.common import milliseconds, print_table
from db import AppDatabase, utc_now
from feed import models
from feed.events import create_bus
from feed.service import Feed
from feed.wire import encode_data
from post.models import post_table
from post.present import Presenter
from relationship.models import relationship_table
from user.models import (
    PERSON_CHANNELS,
    channel_counter_table,
    create_user,
    feed_counter_table,
    insert_user,
    user_table,
)

POSTS = 10_000
FOLLOWERS = 100_000
FOLLOWER_PREFIX = "leftby"  # the followers, created once, followed by each run's account
ROWS_PER_INSERT = 1000
POSTER_FOLLOWED_BY_EVERY = 100  # of the followers: the poster's readers


def follower_name(number: int) -> str:
    return f"{FOLLOWER_PREFIX}{number}"


async def seed_followers(database: AppDatabase, count: int) -> None:
    """`leftby0`… with their feed, profile and notices counters, as many
    as are missing: a thousand to a statement (registering them one by one
    would take an hour of password hashes)."""
    followers = user_table.c.username_key.like(f"{FOLLOWER_PREFIX}%")
    present = await database.fetch_val(sa.select(sa.func.count()).where(followers))
    now = utc_now()
    for first in range(present, count, ROWS_PER_INSERT):
        names = [follower_name(n) for n in range(first, min(first + ROWS_PER_INSERT, count))]
        rows = [{"username": n, "username_key": n, "password": "!", "created": now} for n in names]
        await database.execute(user_table.insert().values(rows))
        new = sa.select(user_table.c.id).where(user_table.c.username_key.in_(names))
        ids = [row[0] for row in await database.fetch_all(new)]
        await database.execute(feed_counter_table.insert().values([(i, 0) for i in ids]))
        counters = [(kind, i, 0) for i in ids for kind in PERSON_CHANNELS]
        await database.execute(channel_counter_table.insert().values(counters))


async def seed_account(database: AppDatabase, name: str, posts: int, followers: int) -> int:
    """An account `name` (password LOGIN_PASSWORD) with `posts` posts, each
    with its event, and the first `followers` followers; its id."""
    author_id = await create_user(database, name, targets.LOGIN_PASSWORD)
    now = utc_now()
    for first in range(0, posts, ROWS_PER_INSERT):
        rows = [
            {"uid": str(uuid.uuid4()), "body": f"post {n}", "user_id": author_id}
            | {"created": now, "updated": now}
            for n in range(first, min(first + ROWS_PER_INSERT, posts))
        ]
        await database.execute(post_table.insert().values(rows))
    data = encode_data({"post": {"body": "a post, as its event told it"}})
    post = post_table.c
    events = sa.select(
        sa.literal("post"), post.id, post.user_id, post.created, sa.literal(data)
    ).where(post.user_id == author_id)
    columns = ["action", "post_id", "fm_user_id", "created", "data"]
    await database.execute(models.event_table.insert().from_select(columns, events))
    await _followed_by(database, author_id, followers, every=1)
    return author_id


async def _followed_by(database: AppDatabase, user_id: int, count: int, every: int) -> None:
    """Make every `every`th of the first `count` followers follow `user_id`."""
    first = await targets.user_id(follower_name(0))
    ids = user_table.c.id
    chosen = sa.and_(ids >= first, ids < first + count, (ids - first) % every == 0)
    follows = sa.select(ids, sa.literal(user_id), sa.literal(utc_now())).where(chosen)
    columns = ["fm_user_id", "to_user_id", "created"]
    await database.execute(relationship_table.insert().from_select(columns, follows))


async def seed(posts: int, followers: int) -> dict[str, int]:
    """Two accounts to delete (one over HTTP, one in this process) and the
    poster, each run with fresh names in the shared bench database."""
    run = secrets.token_hex(3)
    database = AppDatabase(targets.DATABASE_URL)
    await database.connect()
    await seed_followers(database, followers)
    accounts = {
        kind: await seed_account(database, f"{kind}{run}", posts, followers)
        for kind in ("served", "alone")
    }
    accounts["poster"] = await insert_user(database, f"poster{run}", "!")
    await _followed_by(database, accounts["poster"], followers, POSTER_FOLLOWED_BY_EVERY)
    await database.disconnect()
    return accounts


async def every_fanout_done(database: AppDatabase, patience_s: float = 120) -> None:
    """Return once the server's workers have finished every fan-out and
    removal: the farewell has reached every follower, and the account's
    rows are forgotten. Polled: they run in the server."""
    deadline = time.perf_counter() + patience_s
    while time.perf_counter() < deadline:
        if not await models.any_work_left(database):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the fan-out was not done after {patience_s} s")


async def post_all_along(http: httpx.AsyncClient, headers: dict, stop: asyncio.Event) -> list:
    """POST /post again and again until `stop`: the seconds each took."""
    durations = []
    while not stop.is_set():
        started = time.perf_counter()
        answer = await http.post("/post", json={"post": "still here"}, headers=headers)
        durations.append(time.perf_counter() - started)
        answer.raise_for_status()
    return durations


async def over_http(accounts: dict[str, int]) -> list[list]:
    """The deletion as a person asks for it, with a poster writing all along."""
    served, poster = await targets.session_cookies([accounts["served"], accounts["poster"]])
    database = AppDatabase(targets.DATABASE_URL)
    await database.connect()
    stop = asyncio.Event()
    with targets.quartfeed_server() as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            headers = targets.logged_in_headers(poster)
            await post_all_along_for(http, headers, 0.5)  # warm up; the quiet figures
            quiet = await post_all_along_for(http, headers, 3)
            posting = asyncio.create_task(post_all_along(http, headers, stop))
            started = time.perf_counter()
            form = {"password": targets.LOGIN_PASSWORD, "csrf_token": targets.CSRF_TOKEN}
            cookie = {"Cookie": f"session={served}"}
            answer = await http.post("/settings/delete", data=form, headers=cookie)
            answered = time.perf_counter() - started
            if answer.status_code != 302:
                raise RuntimeError(f"the deletion failed: {answer.status_code} {answer.text}")
            await every_fanout_done(database)
            done = time.perf_counter() - started
            stop.set()
            during = await posting
    await database.disconnect()
    return [
        ["the answer", milliseconds(answered)],
        ["every follower told, every row forgotten", milliseconds(done)],
        [f"the poster's POST /post before it, median of {len(quiet)}", median_ms(quiet)],
        ["… the slowest", milliseconds(max(quiet))],
        [f"the poster's POST /post meanwhile, median of {len(during)}", median_ms(during)],
        ["… the slowest", milliseconds(max(during))],
    ]


async def post_all_along_for(http: httpx.AsyncClient, headers: dict, seconds: float) -> list:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    return await post_all_along(http, headers, stop)


def median_ms(seconds: list[float]) -> float:
    return milliseconds(statistics.median(seconds))


@contextlib.contextmanager
def timing(owner: object, names: list[str], spans: dict[str, list[float]]):
    """Time every call of `owner.name` for each of `names` (each one
    transaction) into `spans[name]`; put the originals back after."""
    originals = {name: getattr(owner, name) for name in names}

    def timed(name: str, call: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
        async def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                spans.setdefault(name, []).append(time.perf_counter() - started)

        return run

    for name, call in originals.items():
        setattr(owner, name, timed(name, call))
    try:
        yield
    finally:
        for name, call in originals.items():
            setattr(owner, name, call)


TRANSACTIONS = [
    "write_account_closed",
    "fan_out_next_batch",
    "forget_posts_by",
    "forget_likes_by",
    "forget_follows_by",
    "forget_mentions_and_notices_of",
    "forget_events_by",
    "forget_followers_of",
]


async def alone(account_id: int) -> list[list]:
    """The deletion by the feed service in this process, no server around
    it: each transaction's time, the longest first."""
    database = AppDatabase(targets.DATABASE_URL)
    await database.connect()
    feed = Feed(database, create_bus("memory://"), Presenter(targets.MEDIA_URL))
    row = await database.fetch_one(user_table.select().where(user_table.c.id == account_id))
    spans: dict[str, list[float]] = {}
    with timing(models, TRANSACTIONS, spans):
        await feed.close_account(row)
        await feed.finish_fanouts()
    await database.disconnect()
    rows = [
        [name, len(times), median_ms(times), milliseconds(max(times))]
        for name, times in spans.items()
    ]
    return sorted(rows, key=lambda row: -row[3])


async def measure(posts: int, followers: int) -> None:
    accounts = await seed(posts, followers)
    print_table(
        f"Deleting an account with {posts:,} posts and {followers:,} followers"
        " (POST /settings/delete)",
        ["", "ms"],
        await over_http(accounts),
    )
    print_table(
        "   The same, in this process: each kind of transaction (the farewell's fan-out too)",
        ["transaction", "count", "median ms", "longest ms"],
        await alone(accounts["alone"]),
    )


def main(posts: int = POSTS, followers: int = FOLLOWERS) -> None:
    targets.prepare_database(fresh=False)
    asyncio.run(measure(posts, followers))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=POSTS)
    parser.add_argument("--followers", type=int, default=FOLLOWERS)
    arguments = parser.parse_args()
    main(arguments.posts, arguments.followers)
