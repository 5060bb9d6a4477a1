"""The `group` and `membership` tables and their queries.

A group is FriendFeed's room: a page of its own that anyone can read, whose
members post into it. Each group has a slug, the unique part of its URL
(/groups/night-owls), made from its name when it is created.

The person who creates a group owns it. An owner cannot leave while others
are members; once alone, they may, and the group stays, listed with no
members and no owner, open to anyone who joins.
"""

import itertools
import re
import unicodedata
from collections.abc import Iterator
from contextlib import suppress

import sqlalchemy as sa
from databases import Database
from databases.interfaces import Record

from db import (
    INTEGRITY_ERRORS,
    AppDatabase,
    ExactString,
    Timestamp,
    metadata,
    one_transaction,
    utc_now,
)
from user.models import channel_counter_table, public_user_columns, user_table
from utilities.like import ESCAPE, any_contains, starting_with

MAX_NAME_LENGTH = 50
MAX_DESCRIPTION_LENGTH = 280
MAX_SLUG_LENGTH = 60
# Room left in a slug for the "-2", "-3", … that tells apart groups of one name.
MAX_SLUG_BASE_LENGTH = 50
# What a name without a single letter or digit ("😀", "!!!") is numbered from.
NAMELESS_SLUG = "group"
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
OWNER, MEMBER = "owner", "member"
MEMBERS_SHOWN = 50
# Characters that change the direction of the text after them (embeddings,
# overrides, isolates): a name holding one reads differently from what was
# typed, and so does whatever the page shows after it.
DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Letters and symbols drawn as nothing: the Hangul fillers and the blank
# Braille pattern. Spaces, controls, zero-width characters and marks (which
# only accent the character before them) are known by their category.
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
INVISIBLE_CATEGORIES = frozenset("ZCM")  # separators, controls and formats, marks
# Two people creating groups of the same name at the same moment may pick
# the same free slug; the one whose insert fails picks again.
SLUG_ATTEMPTS = 3

group_table = sa.Table(
    "group",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(MAX_NAME_LENGTH), nullable=False),
    sa.Column("slug", ExactString(MAX_SLUG_LENGTH), nullable=False),
    sa.Column("description", sa.String(MAX_DESCRIPTION_LENGTH), nullable=False, server_default=""),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),  # the creator
    sa.Column("created", Timestamp, nullable=False),
    sa.UniqueConstraint("slug", name="uq_group_slug"),
)

membership_table = sa.Table(
    "membership",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("group.id"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
    sa.Column("role", sa.String(10), nullable=False),  # OWNER or MEMBER
    sa.Column("created", Timestamp, nullable=False),
    # The member keeps the group's new posts out of their home feed; they
    # still reach its page (feed.models: LISTENERS).
    sa.Column("muted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("group_id", "user_id", name="uq_membership_group_user"),
    # The groups a person is in: the group list shows them first.
    sa.Index("ix_membership_user_id", "user_id"),
)

# A group's page has a stream channel of its own (see feed.channels), counted
# in `channel_counter` under this kind.
GROUP_CHANNEL = "group"


# --- Slugs --------------------------------------------------------------------


def slug_base(name: str) -> str:
    """The slug a name would have if no other group had it: "Café Society!"
    gives "cafe-society". Empty for a name with no letter or digit in ASCII.

    NFKD splits "é" into "e" and an accent, which the ASCII encoding drops.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    return "-".join(words)[:MAX_SLUG_BASE_LENGTH].strip("-")


def _slug_candidates(base: str) -> Iterator[str]:
    """The slugs a group may take, in order of preference: `base`, `base-2`,
    `base-3`, …; `group-1`, `group-2`, … when the base is empty."""
    if base:
        yield base
        numbered_from = 2
    else:
        base, numbered_from = NAMELESS_SLUG, 1
    for number in itertools.count(numbered_from):
        yield f"{base}-{number}"


def _is_visible(character: str) -> bool:
    if character in BLANK_CHARACTERS:
        return False
    return unicodedata.category(character)[0] not in INVISIBLE_CATEGORIES


def is_visible_name(name: str) -> bool:
    """Whether people see a name as it was typed: it has a character they can
    see, and none that turns the text around it."""
    return any(map(_is_visible, name)) and DIRECTION_CONTROLS.search(name) is None


def is_valid_slug(slug: str) -> bool:
    """Whether `slug` could be a group's: no query is needed to find one that is not."""
    return len(slug) <= MAX_SLUG_LENGTH and SLUG_PATTERN.fullmatch(slug) is not None


async def _free_slug(database: Database, base: str) -> str:
    """The first of the candidates for `base` that no group has, in one query:
    every candidate starts with `base` (or with "group" when it is empty)."""
    query = sa.select(group_table.c.slug).where(
        group_table.c.slug.like(starting_with(base or NAMELESS_SLUG), escape=ESCAPE)
    )
    taken = {row[0] for row in await database.fetch_all(query)}
    return next(slug for slug in _slug_candidates(base) if slug not in taken)


# --- Writing --------------------------------------------------------------------


@one_transaction
async def _insert_group(
    database: AppDatabase, creator_id: int, name: str, slug: str, description: str
) -> None:
    """The group, its stream counter and its creator's membership, as its
    owner: all or nothing."""
    now = utc_now()
    group_id = await database.execute(
        group_table.insert().values(
            name=name, slug=slug, description=description, user_id=creator_id, created=now
        )
    )
    counter = {"kind": GROUP_CHANNEL, "owner_id": group_id, "seq": 0}
    await database.execute(channel_counter_table.insert().values(counter))
    await database.execute(
        membership_table.insert().values(
            group_id=group_id, user_id=creator_id, role=OWNER, created=now
        )
    )


class SlugsTaken(Exception):
    """Others took each slug tried for a new group, as it was being created."""


async def create_group(
    database: AppDatabase, creator_id: int, name: str, description: str = ""
) -> str:
    """Create a group owned by its creator; return its slug. SlugsTaken when
    groups of the same name took every slug it tried, all at that moment.

    `name` and `description` must already be valid: a name of 1 to
    MAX_NAME_LENGTH characters, a description of at most MAX_DESCRIPTION_LENGTH.
    """
    for _ in range(SLUG_ATTEMPTS):
        slug = await _free_slug(database, slug_base(name))
        with suppress(*INTEGRITY_ERRORS):  # someone took the slug a moment ago
            await _insert_group(database, creator_id, name, slug, description)
            return slug
    raise SlugsTaken


async def join_group(database: Database, group_id: int, user_id: int) -> None:
    """Make the user a member; joining twice keeps one membership."""
    query = membership_table.insert().values(
        group_id=group_id, user_id=user_id, role=MEMBER, created=utc_now()
    )
    # Already a member: the UNIQUE constraint keeps it to one row.
    with suppress(*INTEGRITY_ERRORS):
        await database.execute(query)


@one_transaction
async def leave_group(database: AppDatabase, group_id: int, user_id: int) -> bool:
    """Take the user out of the group (nothing to do if they are not in it).

    False, and nothing changes, when the user is its owner and others are
    still members: a group with members keeps its owner.
    """
    # Lock the group's row until the commit. A join checks its foreign key
    # against that row, so it waits: no one can join between the count
    # below and the delete, and leave an owner's group without its owner.
    await database.fetch_val(
        sa.select(group_table.c.id).where(group_table.c.id == group_id).with_for_update()
    )
    role, members = await _role_and_member_count(database, group_id, user_id)
    if role == OWNER and members > 1:
        return False
    await database.execute(
        membership_table.delete().where(
            membership_table.c.group_id == group_id, membership_table.c.user_id == user_id
        )
    )
    return True


async def set_muted(database: Database, group_id: int, user_id: int, muted: bool) -> None:
    """Mute (or unmute) a group in a member's home feed, for the posts to
    come; what reached it already stays. Nothing happens to a non-member."""
    query = membership_table.update().where(
        membership_table.c.group_id == group_id, membership_table.c.user_id == user_id
    )
    await database.execute(query.values(muted=muted))


async def hand_over_groups(database: AppDatabase, user_id: int) -> list[int]:
    """Take someone out of every group they are in, as their account goes,
    in the caller's transaction; the ids of those groups. A group they own
    passes to its oldest other member; one with no other member stays, with
    no owner, as when an owner leaves alone (open to whoever joins). Each group's row is locked as
    `leave_group` locks it, so no one joins between the choice and the change."""
    mine = sa.select(membership_table.c.id, membership_table.c.group_id, membership_table.c.role)
    memberships = await database.fetch_all(mine.where(membership_table.c.user_id == user_id))
    for membership in memberships:
        if membership["role"] == OWNER:
            await _pass_ownership(database, membership["group_id"], user_id)
    if memberships:
        ids = [membership["id"] for membership in memberships]
        await database.execute(membership_table.delete().where(membership_table.c.id.in_(ids)))
    return [membership["group_id"] for membership in memberships]


async def _pass_ownership(database: AppDatabase, group_id: int, owner_id: int) -> None:
    """Make the oldest member of a group but its owner its owner, if there is one."""
    await database.fetch_val(
        sa.select(group_table.c.id).where(group_table.c.id == group_id).with_for_update()
    )
    oldest = (
        sa.select(membership_table.c.id)
        .where(membership_table.c.group_id == group_id, membership_table.c.user_id != owner_id)
        .order_by(membership_table.c.id)
        .limit(1)
    )
    heir = await database.fetch_val(oldest)
    if heir is not None:
        promoted = membership_table.update().where(membership_table.c.id == heir)
        await database.execute(promoted.values(role=OWNER))


class NotAMember(Exception):
    """Only members post, comment and like in a group."""


async def check_member(database: Database, group_id: int, user_id: int) -> None:
    """NotAMember unless the user is in the group; a member stays one until
    the transaction ends.

    The group's row is read in share mode: writers in a group do not wait
    for each other, but a leave (which locks the row for update, see
    leave_group) waits for them, and they for a leave in progress. The
    membership is read with a lock too, which reads what is committed now.
    """
    group_row = sa.select(group_table.c.id).where(group_table.c.id == group_id)
    await database.fetch_val(group_row.with_for_update(read=True))
    membership = sa.select(membership_table.c.id).where(
        membership_table.c.group_id == group_id, membership_table.c.user_id == user_id
    )
    if await database.fetch_val(membership.with_for_update(read=True)) is None:
        raise NotAMember


# --- Reading --------------------------------------------------------------------


def _member_count(group_id) -> sa.ScalarSelect:
    """The number of members of `group_id` (a number, or a column of an outer query)."""
    return (
        sa.select(sa.func.count()).where(membership_table.c.group_id == group_id).scalar_subquery()
    )


def _membership_of(
    user_id: int | None, group_id, column: sa.Column = membership_table.c.role
) -> sa.ColumnElement:
    """A column of the user's membership of the group (by default their
    role), or NULL when they are not a member (a visitor, with no id,
    never is)."""
    if user_id is None:
        return sa.null()
    return (
        sa.select(column)
        .where(membership_table.c.group_id == group_id, membership_table.c.user_id == user_id)
        .scalar_subquery()
    )


async def _role_and_member_count(
    database: Database, group_id: int, user_id: int
) -> tuple[str | None, int]:
    query = sa.select(_membership_of(user_id, group_id), _member_count(group_id))
    row = await database.fetch_one(query)
    return row[0], row[1]


MEMBER_COUNT = _member_count(group_table.c.id).label("members")
GROUP_COLUMNS = (
    group_table.c.id,
    group_table.c.name,
    group_table.c.slug,
    group_table.c.description,
    group_table.c.created,
    MEMBER_COUNT,
)


async def group_by_slug(database: Database, slug: str, viewer_id: int | None) -> Record | None:
    """The group called `slug`, with its number of members, the viewer's
    role in it (None when they are not a member) and whether they muted it,
    in one statement."""
    query = sa.select(
        *GROUP_COLUMNS,
        _membership_of(viewer_id, group_table.c.id).label("viewer_role"),
        _membership_of(viewer_id, group_table.c.id, membership_table.c.muted).label(
            "viewer_muted"
        ),
    ).where(group_table.c.slug == slug)
    return await database.fetch_one(query)


def _groups_in_list_order(viewer_id: int | None) -> sa.Select:
    """Groups with their viewer's role: the viewer's own first, then the
    largest, then the newest."""
    viewer_role = _membership_of(viewer_id, group_table.c.id).label("viewer_role")
    return sa.select(*GROUP_COLUMNS, viewer_role).order_by(
        viewer_role.is_(None),  # false (0) for the viewer's groups: they come first
        MEMBER_COUNT.desc(),
        group_table.c.id.desc(),
    )


async def list_groups(
    database: Database, viewer_id: int | None, limit: int, offset: int = 0, search: str = ""
) -> list[Record]:
    """Groups whose name contains `search` (all when empty), in list order."""
    query = _groups_in_list_order(viewer_id)
    if search:
        query = query.where(any_contains((group_table.c.name,), search))
    return await database.fetch_all(query.limit(limit).offset(offset))


async def groups_about(
    database: Database, viewer_id: int | None, text: str, limit: int, offset: int = 0
) -> list[Record]:
    """Groups whose name or description contains `text`, in list order."""
    described = (group_table.c.name, group_table.c.description)
    query = _groups_in_list_order(viewer_id).where(any_contains(described, text))
    return await database.fetch_all(query.limit(limit).offset(offset))


async def group_members(
    database: Database, group_id: int, limit: int = MEMBERS_SHOWN
) -> list[Record]:
    """The first members of a group, with their role, in the order they
    joined: the owner first, who joined as they created it."""
    query = (
        sa.select(*public_user_columns(), membership_table.c.role)
        .join(membership_table, membership_table.c.user_id == user_table.c.id)
        .where(membership_table.c.group_id == group_id)
        .order_by(membership_table.c.id)
        .limit(limit)
    )
    return await database.fetch_all(query)
