"""The floor for writing posts on this stack: the statements QuartFeed sends
to MariaDB for one `POST /post`, sent with plain aiomysql.

No framework, no HTTP, no bus and no lock: each poster is a task, the tasks
share one pool of connections as the app's requests share its own, and each
post is one transaction, as in the app. What QuartFeed does beyond this is
what its framework, its HTTP server and its own code cost.

The statements are those MariaDB's general log shows for one `POST /post`
(built by `user.models.user_by_session`, `post.models.insert_post` and
`feed.models.write_post`); when those change, change these with them:

    the logged-in user, from the session id (every logged-in request)
    BEGIN
    INSERT INTO post …
    UPDATE feed_counter …        (the author's and each follower's next event id)
    INSERT INTO feed … SELECT …  (a feed row for the author and each follower)
    SELECT JSON_ARRAYAGG(…)      (the new event ids, read back)
    COMMIT
"""

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
SELECT user.id, user.username, user.password, user.image, user.created
FROM session INNER JOIN user ON user.id = session.user_id
WHERE session.id = %s AND session.expires > %s"""

INSERT_POST = """
INSERT INTO post (uid, parent_post_id, body, user_id, created, updated)
VALUES (%s, NULL, %s, %s, %s, %s)"""

READERS = """(SELECT %s AS reader_id
      UNION ALL SELECT relationship.fm_user_id FROM relationship
      WHERE relationship.to_user_id = %s) AS readers"""

NEXT_EVENT_IDS = f"""
UPDATE feed_counter, {READERS}
SET feed_counter.seq = feed_counter.seq + 1
WHERE feed_counter.user_id = readers.reader_id"""

FAN_OUT = f"""
INSERT INTO feed (to_user_id, seq, fm_user_id, post_id, action, created, updated)
SELECT feed_counter.user_id, feed_counter.seq, %s, %s, 'post', %s, %s
FROM feed_counter INNER JOIN {READERS} ON feed_counter.user_id = readers.reader_id"""

NEW_EVENT_IDS = """
SELECT JSON_ARRAYAGG(JSON_ARRAY(feed.to_user_id, feed.seq)) FROM feed
WHERE feed.post_id = %s AND feed.action = 'post' AND feed.created = %s"""


@dataclass(frozen=True)
class Poster:
    user_id: int
    session_id: str


def utc_now() -> datetime:
    """Naive UTC to the microsecond, as the app stores it: the read-back
    finds the new rows by their timestamp."""
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


async def write_post(pool: aiomysql.Pool, poster: Poster, body: str) -> None:
    """One post, statement for statement as QuartFeed writes it."""
    async with pool.acquire() as connection, connection.cursor() as cursor:
        await cursor.execute(SESSION_USER, (poster.session_id, utc_now()))
        if await cursor.fetchone() is None:
            raise RuntimeError(f"session of user {poster.user_id} not found")
        now = utc_now()
        await connection.begin()
        await cursor.execute(INSERT_POST, (str(uuid.uuid4()), body, poster.user_id, now, now))
        post_id = cursor.lastrowid
        author = poster.user_id
        await cursor.execute(NEXT_EVENT_IDS, (author, author))
        await cursor.execute(FAN_OUT, (author, post_id, now, now, author, author))
        await cursor.execute(NEW_EVENT_IDS, (post_id, now))
        await cursor.fetchone()
        await connection.commit()


def posting_clients(pool: aiomysql.Pool, posters: list[Poster]) -> list[Callable[[], Awaitable]]:
    """One client per poster for `bench.common.closed_loop`: each writes a post."""
    return [partial(write_post, pool, poster, "bench") for poster in posters]
