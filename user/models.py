"""The `user` table and every query about users."""

import asyncio
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from databases import Database
from databases.interfaces import Record
from passlib.context import CryptContext

from db import AppDatabase, ExactString, Prepared, Timestamp, metadata, one_transaction, utc_now
from utilities.like import ESCAPE, any_contains, starting_with

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_]{1,15}")
USERNAME_RULE = "Usernames are 1 to 15 letters, digits or underscores"
MIN_PASSWORD_LENGTH = 8  # NIST's minimum for a password people choose (SP 800-63B)
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte-long password is a cheap denial of service
MAX_DISPLAY_NAME_LENGTH = 50
MAX_BIO_LENGTH = 160
# What no name or bio may hold: control characters (a bio may break lines),
# characters that turn the text after them around (embeddings, overrides,
# isolates: what follows would read differently from what was typed), and
# lone surrogates, which UTF-8 cannot store.
DIRECTION_CONTROLS = "\u202a-\u202e\u2066-\u2069"
UNSHOWABLE_IN_NAME = re.compile(f"[\x00-\x1f\x7f-\x9f{DIRECTION_CONTROLS}\ud800-\udfff]")
UNSHOWABLE_IN_BIO = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{DIRECTION_CONTROLS}\ud800-\udfff]")

user_table = sa.Table(
    "user",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(15), nullable=False),  # as its owner wrote it
    # The name as names are compared (see `username_key`), compared exactly:
    # "Alice" is "alice", and neither "alíce", "ａｌｉｃｅ" nor "alice ".
    sa.Column("username_key", ExactString(15), nullable=False, unique=True, index=True),
    sa.Column("password", sa.String(128), nullable=False),
    sa.Column("image", sa.String(45), nullable=True),
    sa.Column("created", Timestamp, nullable=False),
    # What people say of themselves (their settings page); NULL for nothing.
    sa.Column("display_name", sa.String(MAX_DISPLAY_NAME_LENGTH), nullable=True),
    sa.Column("bio", sa.String(MAX_BIO_LENGTH), nullable=True),
    # When they deleted their account (see `close_account`).
    sa.Column("deleted", Timestamp, nullable=True),
)

# Each person's feed counter: the event id of the newest row in their feed.
# Each new row gets the next one (see feed.models), so their event stream
# counts 1, 2, 3, … A table of its own, not a column of `user`: inserting a
# post or a like locks its author's `user` row for a foreign key check, and
# a writer that then raised a counter there would deadlock with another.
feed_counter_table = sa.Table(
    "feed_counter",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

# A person's profile page has a stream channel of its own (see feed.channels).
PROFILE_CHANNEL = "profile"
# So have a person's notifications (the bell): theirs alone to read.
NOTICES_CHANNEL = "notices"
# The channels of `channel_counter` each person has from their registration.
PERSON_CHANNELS = (PROFILE_CHANNEL, NOTICES_CHANNEL)

# The counters of every other stream channel: a group's page, a person's
# profile (see feed.channels), one row per channel, raised as `feed_counter`
# is. Kept here, beside it, because every package that creates such a channel
# (a group, a person) may depend on this one.
channel_counter_table = sa.Table(
    "channel_counter",
    metadata,
    sa.Column("kind", sa.String(10), primary_key=True),  # "group", "profile", "notices"
    sa.Column("owner_id", sa.Integer, primary_key=True),  # the group's or the person's id
    sa.Column("seq", sa.BigInteger, nullable=False),
)

# One row per login. The session cookie holds only the row's random id: a
# login ends for every copy of the cookie when its row is deleted (logout)
# or when `expires` passes, whatever the cookie says.
session_table = sa.Table(
    "session",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False, index=True),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("expires", Timestamp, nullable=False),
)


def is_valid_username(username: str) -> bool:
    return USERNAME_PATTERN.fullmatch(username) is not None


def password_error(username: str, password: str) -> str | None:
    """Why `username` may not have `password`, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Passwords are at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Passwords are at most {MAX_PASSWORD_LENGTH} characters"
    # The first guess of anyone who knows the name.
    if password.casefold() == username.casefold():
        return "Your password cannot be your username"
    return None


def username_key(username: str) -> str:
    """A name as names are compared, whatever its case: "Alice" is "alice".
    The rule allows ASCII letters only, whose case is all `lower` changes."""
    return username.lower()


def _named(username: str) -> sa.ColumnElement[bool]:
    """The user row of `username`; a name that breaks the rule names no one,
    whatever the database's collation makes of it."""
    if not is_valid_username(username):
        return sa.false()
    return user_table.c.username_key == username_key(username)


# Argon2id with OWASP's parameters: 19 MiB of memory and two passes, about
# 70 ms. Its memory cost is what makes guessing on graphics cards expensive;
# a login holds that memory only while it hashes.
# Hashes from before (PBKDF2) still verify; being deprecated, each is
# replaced by an Argon2 hash at its owner's next login (`authenticate`).
PASSWORDS = CryptContext(
    schemes=["argon2", "pbkdf2_sha256"],
    deprecated=["pbkdf2_sha256"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__rounds=2,
    argon2__parallelism=1,
)


async def hash_password(password: str) -> str:
    # Hashing is slow on purpose (tens of milliseconds); on the event loop it
    # would freeze every open SSE stream, so it runs in a worker thread.
    return await asyncio.to_thread(PASSWORDS.hash, password)


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """(whether it matches, a new hash to store when the old one is outdated)."""
    return await asyncio.to_thread(PASSWORDS.verify_and_update, password, password_hash)


async def create_user(database: Database, username: str, password: str) -> int:
    """Insert a user and return its id; the password is stored hashed."""
    return await insert_user(database, username, await hash_password(password))


@one_transaction
async def insert_user(database: AppDatabase, username: str, password_hash: str) -> int:
    """Insert a user whose password is already hashed (bench/ seeds thousands),
    with the counters of their home, profile and notices streams."""
    query = user_table.insert().values(
        username=username,
        username_key=username_key(username),
        password=password_hash,
        created=utc_now(),
    )
    user_id = await database.execute(query)
    await database.execute(feed_counter_table.insert().values(user_id=user_id, seq=0))
    counters = [{"kind": kind, "owner_id": user_id, "seq": 0} for kind in PERSON_CHANNELS]
    await database.execute(channel_counter_table.insert().values(counters))
    return user_id


async def user_by_id(database: Database, user_id: int) -> Record | None:
    return await database.fetch_one(user_table.select().where(user_table.c.id == user_id))


async def create_session(database: Database, user_id: int, lifetime: timedelta) -> str:
    """Log `user_id` in for `lifetime` and return the new session's id.

    The user's expired sessions are forgotten at the same time, so the table
    holds no more rows per person than they have browsers logged in.
    """
    session_id = secrets.token_urlsafe(32)  # 256 random bits: not guessable
    now = utc_now()
    await database.execute(
        session_table.delete().where(
            session_table.c.user_id == user_id, session_table.c.expires <= now
        )
    )
    await database.execute(
        session_table.insert().values(
            id=session_id, user_id=user_id, created=now, expires=now + lifetime
        )
    )
    return session_id


def session_user_query(*extra: sa.ColumnElement) -> Prepared:
    """Who is logged in with a session (`session_id`), unless it ended or
    expired (by `now`), with when it expires (`session_expires`: their open
    streams end then), and the `extra` columns about them (the navbar's bell:
    see notification.models).

    One query for all, since every page a logged-in person opens asks it;
    built once, by whoever asks it (see user.views).
    """
    return Prepared(
        sa.select(user_table, session_table.c.expires.label("session_expires"), *extra)
        .select_from(session_table.join(user_table))
        .where(
            session_table.c.id == sa.bindparam("session_id"),
            session_table.c.expires > sa.bindparam("now"),
        )
    )


async def user_by_session(database: Database, query: Prepared, session_id: str) -> Record | None:
    """The user logged in with this session, by a `session_user_query`."""
    return await database.fetch_one(query.bound(session_id=session_id, now=utc_now()))


async def end_session(database: Database, session_id: str) -> int | None:
    """End a session; whose it was (None if there was none)."""
    this_session = session_table.c.id == session_id
    user_id = await database.fetch_val(sa.select(session_table.c.user_id).where(this_session))
    await database.execute(session_table.delete().where(this_session))
    return user_id


async def user_by_name(database: Database, username: str) -> Record | None:
    """The user called `username`, in any case."""
    return await database.fetch_one(user_table.select().where(_named(username)))


async def users_named(database: Database, usernames: list[str]) -> list[Record]:
    """(id, username) of the people called by these names, in any case, who
    exist: one statement. Names that break the rule name no one."""
    keys = [username_key(name) for name in usernames if is_valid_username(name)]
    if not keys:
        return []
    query = sa.select(user_table.c.id, user_table.c.username)
    return await database.fetch_all(query.where(user_table.c.username_key.in_(keys)))


async def username_taken(
    database: Database, username: str, excluding_user_id: int | None = None
) -> bool:
    """Whether someone (other than `excluding_user_id`) already has this name.

    Names compare without regard to case (see `username_key`), so "Alice" is
    taken by "alice"; the exclusion lets alice change the case of her own name.
    """
    query = sa.select(user_table.c.id).where(_named(username))
    if excluding_user_id is not None:
        query = query.where(user_table.c.id != excluding_user_id)
    return await database.fetch_val(query) is not None


def public_user_columns() -> tuple[sa.Column, ...]:
    """What lists of people show: everything but the password hash and the bio."""
    columns = user_table.c
    return (columns.id, columns.username, columns.display_name, columns.image, columns.created)


async def newest_users(
    database: Database, limit: int, offset: int = 0, prefix: str = ""
) -> list[Record]:
    """Users whose name starts with `prefix` (all users when empty), newest first."""
    query = sa.select(*public_user_columns()).where(user_table.c.deleted.is_(None))
    if prefix:
        key_prefix = starting_with(username_key(prefix))
        query = query.where(user_table.c.username_key.like(key_prefix, escape=ESCAPE))
    query = query.order_by(user_table.c.created.desc(), user_table.c.id.desc())
    return await database.fetch_all(query.limit(limit).offset(offset))


# The names a person is found by (`people_named_like`), any part of any of them.
SEARCHED_NAMES = (user_table.c.username, user_table.c.display_name)


async def people_named_like(
    database: Database, text: str, limit: int, offset: int = 0
) -> list[Record]:
    """People with `text` in one of their SEARCHED_NAMES, in alphabetical
    order of their usernames, those whose username starts with it first."""
    starts_with_text = user_table.c.username.like(starting_with(text), escape=ESCAPE)
    query = (
        sa.select(*public_user_columns())
        .where(any_contains(SEARCHED_NAMES, text), user_table.c.deleted.is_(None))
        .order_by(starts_with_text.desc(), user_table.c.username_key)
    )
    return await database.fetch_all(query.limit(limit).offset(offset))


async def update_user(database: Database, user_id: int, **changes: str | None) -> None:
    """Set the given columns of one user, e.g. update_user(db, 7, username="bob")."""
    if "username" in changes:
        changes["username_key"] = username_key(changes["username"])
    await database.execute(user_table.update().where(user_table.c.id == user_id).values(**changes))


async def authenticate(database: Database, username: str, password: str) -> Record | None:
    """The user with this name and password, or None.

    An unknown name still costs one hash verification, so the response time
    does not tell an attacker which usernames exist.
    """
    user = await user_by_name(database, username)
    if user is None:
        await verify_password(password, _DUMMY_HASH)
        return None
    matches, new_hash = await verify_password(password, user["password"])
    if not matches:
        return None
    if new_hash is not None:  # the only moment the password itself is known
        await update_user(database, user["id"], password=new_hash)
    return user


_DUMMY_HASH = PASSWORDS.hash("not a real password")


# --- Settings: what people say of themselves, their password, their account. -


def _profile_text(text: str, longest: int, unshowable: re.Pattern, what: str) -> str | None:
    """`text` trimmed, None when nothing is left; ValueError saying why
    when it breaks the rule."""
    text = text.replace("\r\n", "\n").strip()
    if len(text) > longest:
        raise ValueError(f"{what} is at most {longest} characters")
    if unshowable.search(text):
        raise ValueError(f"{what} cannot contain control characters")
    return text or None


def clean_display_name(text: str) -> str | None:
    """A display name as it is stored (see `_profile_text`): one line."""
    return _profile_text(text, MAX_DISPLAY_NAME_LENGTH, UNSHOWABLE_IN_NAME, "A display name")


def clean_bio(text: str) -> str | None:
    """A bio as it is stored (see `_profile_text`): plain text, its lines kept."""
    return _profile_text(text, MAX_BIO_LENGTH, UNSHOWABLE_IN_BIO, "A bio")


@one_transaction
async def change_password(
    database: AppDatabase, user_id: int, password_hash: str, kept_session_id: str
) -> list[str]:
    """Store a new password (hashed) and end every session of the person
    but `kept_session_id`, the one that changed it: whoever knew the old
    password is logged out. Returns the ids of the sessions it ended."""
    await update_user(database, user_id, password=password_hash)
    return await _end_sessions(database, user_id, session_table.c.id != kept_session_id)


async def _end_sessions(
    database: AppDatabase, user_id: int, *conditions: sa.ColumnElement[bool]
) -> list[str]:
    """End the sessions of `user_id` that meet `conditions`; their ids.
    Found first, then deleted by id (see `notification.models.forget`)."""
    sessions = sa.select(session_table.c.id).where(session_table.c.user_id == user_id, *conditions)
    ended = [row[0] for row in await database.fetch_all(sessions)]
    if ended:
        await database.execute(session_table.delete().where(session_table.c.id.in_(ended)))
    return ended


# The password of a closed account: no hash, so nothing ever matches it.
NO_PASSWORD = "!"


def closed_name(user_id: int) -> str:
    """The name left to a closed account: "~" and its id, which the rule
    allows no one (lookups by name never find it), and which frees its
    old name for someone else."""
    return f"~{user_id}"


async def close_account(database: AppDatabase, user_id: int, now: datetime) -> list[str] | None:
    """Empty a person's row, free their name and end every session of
    theirs, in the caller's transaction (feed.models.write_account_closed);
    the ids of the sessions it ended, or None if it was closed already.
    The row stays, emptied: their posts, deleted, and the event logs still
    name it, as they name deleted posts."""
    this_user = user_table.c.id == user_id
    open_account = sa.select(user_table.c.id).where(this_user, user_table.c.deleted.is_(None))
    if await database.fetch_val(open_account.with_for_update()) is None:
        return None
    gone = closed_name(user_id)
    emptied = {"password": NO_PASSWORD, "image": None, "display_name": None, "bio": None}
    await database.execute(
        user_table.update()
        .where(this_user)
        .values(username=gone, username_key=gone, deleted=now, **emptied)
    )
    return await _end_sessions(database, user_id)
