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
    the home channels (`HOME_LOG`: the author's and each follower's, one
    batch of them: a post by someone nobody follows needs no fan-out after):
      SELECT JSON_ARRAYAGG(…) … FOR UPDATE  (their counters, read and locked)
      UPDATE feed_counter …                 (each one's next event id)
      INSERT INTO feed … SELECT …           (a feed row for each)
    the author's profile channel (`CHANNEL_LOG`):
      SELECT JSON_ARRAYAGG(…) … FOR UPDATE
      UPDATE channel_counter …
      INSERT INTO channel_event … SELECT …
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

# The home channels: the author's and each follower's, in reader order.
READERS = """(SELECT anon_1.reader_id FROM (
        SELECT anon_2.reader_id FROM (
          SELECT relationship.fm_user_id AS reader_id
          FROM relationship FORCE INDEX (ix_relationship_to_user_id_fm_user_id)
          WHERE relationship.to_user_id = %s AND relationship.fm_user_id > 0
          ORDER BY relationship.fm_user_id LIMIT 1000) AS anon_2
        UNION ALL SELECT %s AS reader_id) AS anon_1
      ORDER BY anon_1.reader_id LIMIT 1000) AS readers"""

LOCK_HOME_COUNTERS = f"""
SELECT STRAIGHT_JOIN JSON_ARRAYAGG(JSON_ARRAY(feed_counter.user_id, feed_counter.seq))
FROM {READERS} INNER JOIN feed_counter ON feed_counter.user_id = readers.reader_id
FOR UPDATE"""

# "{readers}" is replaced by as many placeholders as there are readers.
NEXT_HOME_EVENT_IDS = """
UPDATE feed_counter FORCE INDEX (PRIMARY) SET seq = feed_counter.seq + 1
WHERE feed_counter.user_id IN ({readers})"""

HOME_FAN_OUT = """
INSERT INTO feed (to_user_id, seq, event_id, fm_user_id, post_id, action, created, updated)
SELECT feed_counter.user_id, feed_counter.seq, %s, %s, %s, 'post', %s, %s
FROM feed_counter FORCE INDEX (PRIMARY) WHERE feed_counter.user_id IN ({readers})"""

# The other channels that hear of a post outside a group: its author's profile.
OWNERS = """(SELECT 'profile' AS kind, %s AS owner_id) AS owners"""
OWNER_JOIN = "channel_counter.kind = owners.kind AND channel_counter.owner_id = owners.owner_id"
PROFILE = "channel_counter.kind = 'profile' AND channel_counter.owner_id = %s"

LOCK_CHANNEL_COUNTERS = f"""
SELECT STRAIGHT_JOIN JSON_ARRAYAGG(JSON_ARRAY(channel_counter.kind, channel_counter.owner_id,
                                              channel_counter.seq))
FROM {OWNERS} INNER JOIN channel_counter ON {OWNER_JOIN}
FOR UPDATE"""

NEXT_CHANNEL_EVENT_IDS = f"""
UPDATE channel_counter FORCE INDEX (PRIMARY) SET seq = channel_counter.seq + 1
WHERE {PROFILE}"""

CHANNEL_FAN_OUT = f"""
INSERT INTO channel_event (kind, owner_id, seq, event_id)
SELECT channel_counter.kind, channel_counter.owner_id, channel_counter.seq, %s
FROM channel_counter FORCE INDEX (PRIMARY) WHERE {PROFILE}"""

# The write's statements, in the order `write_post` below sends them: those of
# `feed.models.write_post` (tests/test_bench_imports.py compares them).
POST_STATEMENTS = (
    INSERT_POST,
    INSERT_EVENT,
    LOCK_HOME_COUNTERS,
    NEXT_HOME_EVENT_IDS,
    HOME_FAN_OUT,
    LOCK_CHANNEL_COUNTERS,
    NEXT_CHANNEL_EVENT_IDS,
    CHANNEL_FAN_OUT,
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
        init_command="SET SESSION group_concat_max_len = 4294967295"
        " /*M!, in_predicate_conversion_threshold = 0 */",
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
        await cursor.execute(LOCK_HOME_COUNTERS, (author, author))
        readers = [reader for reader, _ in json.loads((await cursor.fetchone())[0])]
        placeholders = ", ".join(["%s"] * len(readers))
        await cursor.execute(NEXT_HOME_EVENT_IDS.format(readers=placeholders), readers)
        fan_out = HOME_FAN_OUT.format(readers=placeholders)
        await cursor.execute(fan_out, (event_id, author, post_id, now, now, *readers))
        await cursor.execute(LOCK_CHANNEL_COUNTERS, (author,))
        await cursor.fetchone()
        await cursor.execute(NEXT_CHANNEL_EVENT_IDS, (author,))
        await cursor.execute(CHANNEL_FAN_OUT, (event_id, author))
        await connection.commit()


def posting_clients(pool: aiomysql.Pool, posters: list[Poster]) -> list[Callable[[], Awaitable]]:
    """One client per poster for `bench.common.closed_loop`: each writes a post."""
    return [partial(write_post, pool, poster, "bench") for poster in posters]
