"""The `relationship` table (who follows whom) and its queries.

A relationship is one-directional, like following on Twitter: a row
(fm_user_id=alice, to_user_id=bob) means alice follows bob.
"""

import sqlalchemy as sa
from databases import Database
from databases.interfaces import Record

from db import INTEGRITY_ERRORS, Timestamp, metadata, utc_now
from user.models import public_user_columns, user_table

relationship_table = sa.Table(
    "relationship",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("fm_user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
    sa.Column("to_user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.UniqueConstraint("fm_user_id", "to_user_id", name="uq_relationship_fm_to"),
    # Someone's followers, read from the index alone: the fan-out reads them
    # for every post, without a lookup per follower into the table.
    sa.Index("ix_relationship_to_user_id_fm_user_id", "to_user_id", "fm_user_id"),
)


async def follow(database: Database, fm_user_id: int, to_user_id: int) -> bool:
    """Make fm_user follow to_user; False if they did already (following
    twice keeps one row)."""
    query = relationship_table.insert().values(
        fm_user_id=fm_user_id, to_user_id=to_user_id, created=utc_now()
    )
    try:
        await database.execute(query)
    except INTEGRITY_ERRORS:  # the UNIQUE constraint keeps it to one row
        return False
    return True


async def unfollow(database: Database, fm_user_id: int, to_user_id: int) -> bool:
    """Stop fm_user following to_user; False if they did not."""
    if not await is_following(database, fm_user_id, to_user_id):
        return False
    query = relationship_table.delete().where(
        relationship_table.c.fm_user_id == fm_user_id,
        relationship_table.c.to_user_id == to_user_id,
    )
    await database.execute(query)
    return True


async def is_following(database: Database, fm_user_id: int, to_user_id: int) -> bool:
    query = sa.select(relationship_table.c.id).where(
        relationship_table.c.fm_user_id == fm_user_id,
        relationship_table.c.to_user_id == to_user_id,
    )
    return await database.fetch_val(query) is not None


def follower_ids_query(user_id: int) -> sa.Select:
    """The ids of `user_id`'s followers, as a query other queries can embed
    (the feed's fan-out selects from it)."""
    return sa.select(relationship_table.c.fm_user_id).where(
        relationship_table.c.to_user_id == user_id
    )


async def follower_ids(database: Database, user_id: int) -> list[int]:
    return [row[0] for row in await database.fetch_all(follower_ids_query(user_id))]


async def following_ids(database: Database, user_id: int) -> list[int]:
    query = sa.select(relationship_table.c.to_user_id).where(
        relationship_table.c.fm_user_id == user_id
    )
    return [row[0] for row in await database.fetch_all(query)]


async def follow_counts(database: Database, user_id: int) -> tuple[int, int]:
    """(followers, following) of one user, in one statement."""
    followers = sa.select(sa.func.count()).where(relationship_table.c.to_user_id == user_id)
    following = sa.select(sa.func.count()).where(relationship_table.c.fm_user_id == user_id)
    query = sa.select(followers.scalar_subquery(), following.scalar_subquery())
    row = await database.fetch_one(query)
    return row[0], row[1]


def _related_users(user_id: int, known_side: sa.Column, listed_side: sa.Column) -> sa.Select:
    """The users at `listed_side` of the relationships that have `user_id` at
    `known_side`, most recent relationship first. A closed account is not
    listed: its follows go a little after it (feed.models.removal_table)."""
    return (
        sa.select(*public_user_columns())
        .join(relationship_table, listed_side == user_table.c.id)
        .where(known_side == user_id, user_table.c.deleted.is_(None))
        .order_by(relationship_table.c.id.desc())
    )


async def followers(database: Database, user_id: int, limit: int, offset: int = 0) -> list[Record]:
    """The people who follow `user_id`, most recent first."""
    columns = relationship_table.c
    query = _related_users(user_id, known_side=columns.to_user_id, listed_side=columns.fm_user_id)
    return await database.fetch_all(query.limit(limit).offset(offset))


async def following(database: Database, user_id: int, limit: int, offset: int = 0) -> list[Record]:
    """The people `user_id` follows, most recent first."""
    columns = relationship_table.c
    query = _related_users(user_id, known_side=columns.fm_user_id, listed_side=columns.to_user_id)
    return await database.fetch_all(query.limit(limit).offset(offset))


async def followed_among(database: Database, fm_user_id: int, user_ids: list[int]) -> set[int]:
    """Which of `user_ids` fm_user follows: one query for a whole list of people."""
    if not user_ids:
        return set()
    query = sa.select(relationship_table.c.to_user_id).where(
        relationship_table.c.fm_user_id == fm_user_id,
        relationship_table.c.to_user_id.in_(user_ids),
    )
    return {row[0] for row in await database.fetch_all(query)}
