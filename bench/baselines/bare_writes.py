"""The floor for writing posts on this stack: the statements QuartFeed sends
to MariaDB for one `POST /post`, sent with plain aiomysql.

No framework, no HTTP, no bus and no lock: each poster is a task, the tasks
share one pool of connections as the app's requests share its own, and each
post is one transaction, as in the app. What QuartFeed does beyond this is
what its framework, its HTTP server and its own code cost.

The statements are those MariaDB's general log shows for one `POST /post`
(built by `user.models.user_by_session`, `post.models.insert_post` and
`feed.models.write_post`, whose `_tell` stores the event and `_append`s it to
each family of channels); when those change, change these with them:

    the logged-in user, from the session id (every logged-in request)
    BEGIN
    INSERT INTO post …
    INSERT INTO event …          (the action, and the data every stream is sent)
    the home channels (`HOME_LOG`: the author's and each follower's):
      UPDATE feed_counter …        (each one's next event id)
      INSERT INTO feed … SELECT …  (a feed row for each)
      SELECT JSON_ARRAYAGG(…)      (their new event ids, read back)
    the author's profile channel (`CHANNEL_LOG`):
      UPDATE channel_counter …
      INSERT INTO channel_event … SELECT …
      SELECT JSON_ARRAYAGG(…)
    COMMIT
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import aiomysql

from bench.common import mysql_parameters

# aiomysql's default pool size, which the app's pool has too (one per process).
POOL_SIZE = 10

SESSION_USER = """
SELECT user.id, user.username, user.password, user.image, user.created,
       session.expires AS session_expires
FROM session INNER JOIN user ON user.id = session.user_id
WHERE session.id = %s AND session.expires > %s"""

INSERT_POST = """
INSERT INTO post (uid, parent_post_id, body, user_id, group_id, created, updated)
VALUES (%s, NULL, %s, %s, NULL, %s, %s)"""

INSERT_EVENT = """
INSERT INTO event (action, post_id, fm_user_id, created, data)
VALUES ('post', %s, %s, %s, %s)"""

# The home channels: the author's and each follower's.
READERS = """(SELECT %s AS reader_id
      UNION ALL SELECT relationship.fm_user_id FROM relationship
      WHERE relationship.to_user_id = %s) AS readers"""

NEXT_HOME_EVENT_IDS = f"""
UPDATE feed_counter, {READERS}
SET feed_counter.seq = feed_counter.seq + 1
WHERE feed_counter.user_id = readers.reader_id"""

HOME_FAN_OUT = f"""
INSERT INTO feed (to_user_id, seq, event_id, fm_user_id, post_id, action, created, updated)
SELECT feed_counter.user_id, feed_counter.seq, %s, %s, %s, 'post', %s, %s
FROM feed_counter INNER JOIN {READERS} ON feed_counter.user_id = readers.reader_id"""

NEW_HOME_EVENT_IDS = """
SELECT JSON_ARRAYAGG(JSON_ARRAY(feed.to_user_id, feed.seq)) FROM feed
WHERE feed.event_id = %s"""

# The other channels that hear of a post outside a group: its author's profile.
OWNERS = """(SELECT 'profile' AS kind, %s AS owner_id) AS owners"""
OWNER_JOIN = "channel_counter.kind = owners.kind AND channel_counter.owner_id = owners.owner_id"

NEXT_CHANNEL_EVENT_IDS = f"""
UPDATE channel_counter, {OWNERS}
SET channel_counter.seq = channel_counter.seq + 1
WHERE {OWNER_JOIN}"""

CHANNEL_FAN_OUT = f"""
INSERT INTO channel_event (kind, owner_id, seq, event_id)
SELECT channel_counter.kind, channel_counter.owner_id, channel_counter.seq, %s
FROM channel_counter INNER JOIN {OWNERS} ON {OWNER_JOIN}"""

NEW_CHANNEL_EVENT_IDS = """
SELECT JSON_ARRAYAGG(JSON_ARRAY(channel_event.kind, channel_event.owner_id, channel_event.seq))
FROM channel_event WHERE channel_event.event_id = %s"""

# The write's statements, in the order `write_post` below sends them: those of
# `feed.models.write_post` (tests/test_bench_imports.py compares them).
POST_STATEMENTS = (
    INSERT_POST,
    INSERT_EVENT,
    NEXT_HOME_EVENT_IDS,
    HOME_FAN_OUT,
    NEW_HOME_EVENT_IDS,
    NEXT_CHANNEL_EVENT_IDS,
    CHANNEL_FAN_OUT,
    NEW_CHANNEL_EVENT_IDS,
)


@dataclass(frozen=True)
class Poster:
    user_id: int
    session_id: str


def utc_now() -> datetime:
    """Naive UTC to the microsecond, as the app stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


async def create_pool(database_url: str) -> aiomysql.Pool:
    # autocommit and group_concat_max_len as the app's connections have them
    # (`databases` and db.py), so BEGIN … COMMIT and JSON_ARRAYAGG behave alike.
    return await aiomysql.create_pool(
        maxsize=POOL_SIZE,
        autocommit=True,
        init_command="SET SESSION group_concat_max_len = 4294967295",
        **mysql_parameters(database_url),
    )


def event_data(uid: str, body: str, now: datetime, username: str) -> str:
    """A new post's event data, shaped and sized as QuartFeed's (feed.describe)."""
    author = {"username": username, "avatar": "/static/images/user/profile.sm.png",
              "url": f"/user/{username}"}  # fmt: skip
    post = {"uid": uid, "body": body, "created": now.replace(tzinfo=UTC).isoformat(),
            "author": author, "likes": 0, "likers": [], "comments": [], "group": None}  # fmt: skip
    return json.dumps({"post": post}, separators=(",", ":"))


async def write_post(pool: aiomysql.Pool, poster: Poster, body: str) -> None:
    """One post, statement for statement as QuartFeed writes it."""
    async with pool.acquire() as connection, connection.cursor() as cursor:
        await cursor.execute(SESSION_USER, (poster.session_id, utc_now()))
        user = await cursor.fetchone()
        if user is None:
            raise RuntimeError(f"session of user {poster.user_id} not found")
        now, uid, author = utc_now(), str(uuid.uuid4()), poster.user_id
        await connection.begin()
        await cursor.execute(INSERT_POST, (uid, body, author, now, now))
        post_id = cursor.lastrowid
        data = event_data(uid, body, now, user[1])
        await cursor.execute(INSERT_EVENT, (post_id, author, now, data))
        event_id = cursor.lastrowid
        await cursor.execute(NEXT_HOME_EVENT_IDS, (author, author))
        await cursor.execute(HOME_FAN_OUT, (event_id, author, post_id, now, now, author, author))
        await cursor.execute(NEW_HOME_EVENT_IDS, (event_id,))
        await cursor.fetchone()
        await cursor.execute(NEXT_CHANNEL_EVENT_IDS, (author,))
        await cursor.execute(CHANNEL_FAN_OUT, (event_id, author))
        await cursor.execute(NEW_CHANNEL_EVENT_IDS, (event_id,))
        await cursor.fetchone()
        await connection.commit()


def posting_clients(pool: aiomysql.Pool, posters: list[Poster]) -> list[Callable[[], Awaitable]]:
    """One client per poster for `bench.common.closed_loop`: each writes a post."""
    return [partial(write_post, pool, poster, "bench") for poster in posters]
