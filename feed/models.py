"""The event logs of every stream channel, and the home feed.

Each channel (a person's home, a group, a profile: see feed.channels)
numbers its own events 1, 2, 3, … and that number is the channel's part of
the Server-Sent Event id, so a browser that reconnects with `Last-Event-ID`
is sent exactly the events it missed.

The numbers come from a counter per channel, which writing an action raises
by one for each channel that hears of it, in the same transaction as it
writes their rows. The database locks a counter from that UPDATE until the
commit, so for any one channel, event n is committed before event n+1 is
numbered: writers never wait for each other unless they write to the same
channel, and then only for its counter. See docs/architecture.md.

Each action is described once, as it is written (`event.data`): the live
stream and every later replay send those same bytes, but for the text of a
post or comment edited since, which replays send as it is now.

This module holds the writes, the home page query and the replay query.
"""

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from databases.interfaces import Record

from db import (
    AppDatabase,
    BigId,
    Bound,
    Prepared,
    Timestamp,
    current_epoch,
    delete_batch,
    json_rows,
    metadata,
    one_transaction,
    prepared_insert,
)
from feed.channels import GROUP, HOME, NOTICES, PROFILE, Channel
from feed.describe import read_event
from feed.wire import encode_data
from group.models import check_member, group_table, hand_over_groups, membership_table
from notification import models as notifications
from notification.models import COMMENT, FOLLOW, LIKE, MENTION, REPLY, Notice
from post.models import (
    POST_COLUMNS,
    SHOWN,
    add_like,
    add_mentions,
    add_new_mentions,
    comments_and_likers,
    delete_posts,
    insert_post,
    like_table,
    likers_of,
    lock_live_post,
    lock_live_posts_by,
    mention_table,
    post_table,
    posts_with_authors,
    remove_like,
    replace_body,
)
from relationship.models import follow, relationship_table, unfollow
from user.models import channel_counter_table, close_account, feed_counter_table

PAGE_SIZE = 10

# One row per action: what every channel that hears of it is sent.
event_table = sa.Table(
    "event",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("post_id", sa.Integer, nullable=False),  # the post or comment it is about
    sa.Column("fm_user_id", sa.Integer, nullable=False),  # who did it
    sa.Column("created", Timestamp, nullable=False),
    # The event's data, one line of JSON, described once when it was written:
    # a replay sends exactly what went out live. NULL once what it is about
    # is deleted, and rewritten when it is edited: its text must not outlive
    # it (`write_edit`).
    sa.Column("data", sa.Text, nullable=True),
    sa.Index("ix_event_post_id", "post_id"),
    # Everything someone did, forgotten when they delete their account.
    sa.Index("ix_event_fm_user_id", "fm_user_id"),
)

# A person's home channel: one row per (reader, action), fanned out on write.
# It is the home page's index too, hence the post and its times.
feed_table = sa.Table(
    "feed",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the reader's event id
    # No foreign keys: the fan-out inserts a row per follower, and checking
    # three keys (and keeping their indexes) for each row cost about a fifth
    # of the insert. The rows are written only by the fan-out, from users and
    # posts that exist.
    sa.Column("to_user_id", sa.Integer, nullable=False),
    sa.Column("fm_user_id", sa.Integer, nullable=False),
    sa.Column("post_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("updated", Timestamp, nullable=False),
    # The action's event; NULL on rows written before events were kept.
    sa.Column("event_id", sa.BigInteger, nullable=True),
    sa.Index("uq_feed_to_user_id_seq", "to_user_id", "seq", unique=True),
    sa.Index("ix_feed_to_user_action_updated", "to_user_id", "action", "updated"),
    # Everyone who has a post in their feed, in reader order: who hears of
    # its comments and likes, a batch at a time (see `Audience`).
    sa.Index("ix_feed_post_id_action_to_user_id", "post_id", "action", "to_user_id"),
    # The rows of an event; their greatest reader is how far its fan-out got.
    sa.Index("ix_feed_event_id_to_user_id", "event_id", "to_user_id"),
)

# Every other channel (a group, a profile): one row per (channel, action),
# numbered by the channel's `channel_counter`.
channel_event_table = sa.Table(
    "channel_event",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("owner_id", sa.Integer, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the channel's event id
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Index("uq_channel_event_kind_owner_seq", "kind", "owner_id", "seq", unique=True),
    sa.Index("ix_channel_event_event_id", "event_id"),
)


# The fan-outs still to finish (a transactional outbox): an action whose
# audience is larger than one batch is written, with the first batch of its
# readers and one row here, in one short transaction; workers then hand its
# event to the rest, a batch per transaction (see `fan_out_next_batch`), and
# delete the row when done. Its progress is kept in the feed itself: the
# greatest reader of the event's rows.
fanout_table = sa.Table(
    "fanout",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    # The post the action belongs to: fan-outs in one thread are done in
    # the order they were written, so that a comment reaches every reader
    # the post has reached by then.
    sa.Column("thread_id", sa.Integer, nullable=False),
    sa.Column("audience", sa.String(10), nullable=False),  # an Audience
    sa.Column("audience_id", sa.Integer, nullable=False),
    sa.Column("raises", sa.Boolean, nullable=False),  # it raises its post in each feed
    # Its lane: the readers with ids above `after_id`, up to `through_id`
    # (the last lane has no end).
    sa.Column("after_id", sa.Integer, nullable=False),
    sa.Column("through_id", sa.Integer, nullable=True),
    sa.Column("created", Timestamp, nullable=False),
    sa.Index("ix_fanout_thread_id", "thread_id"),
    sa.Index("ix_fanout_event_id", "event_id"),
)


# The accounts closed whose rows are still to forget (another outbox): a
# person's deletion closes the account and tells every reader in one short
# transaction; the fan-out workers then forget what they wrote, liked and
# followed, a batch per transaction, and delete the row when done. Their
# followers' follows go last, once the farewell event (`event_id`) has
# reached every follower, since its fan-out reads them.
removal_table = sa.Table(
    "removal",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("created", Timestamp, nullable=False),
)


# Who is notified: a query whose first column is a user id.
People = sa.Select | sa.CompoundSelect


@dataclass(frozen=True)
class Happening:
    """One action being written: who did what to which post or comment, when."""

    action: str
    actor_id: int
    post_id: int
    now: datetime


@dataclass(frozen=True)
class EventLog:
    """Where a family of channels keeps its counters and its event rows.

    The home channels have their own tables (`feed_counter`, `feed`), which
    the home page reads too; every other kind shares `channel_counter` and
    `channel_event`, told apart by `kind`, so a new kind of channel needs
    no table of its own.
    """

    counter: sa.Table
    events: sa.Table
    keys: tuple[str, ...]  # the columns naming a channel, in the counter
    event_keys: tuple[str, ...]  # the same, in the event rows
    key_of: Callable[[Channel], tuple]  # a channel's values for those columns
    channel_of: Callable[..., Channel]  # and back
    # Columns an event row fills from the action itself, besides its event id.
    row_values: Callable[[Happening], dict]

    def counter_joins(self, owners: sa.Subquery) -> sa.ColumnElement:
        """The counters of the channels in `owners` (columns lined up with `keys`)."""
        pairs = zip(self.keys, owners.c, strict=True)
        return sa.and_(*(self.counter.c[key] == owner for key, owner in pairs))

    def counters_in(self, kinds: int) -> sa.ColumnElement[bool]:
        """The counters of the channels bound by `owner_values`, for `kinds`
        kinds of channel: one IN list where one column names them; where two
        do (kind, owner), an IN list of owners per kind, so that a thousand
        people's notices are one short condition."""
        if len(self.keys) == 1:
            return self.counter.c[self.keys[0]].in_(sa.bindparam("owners_0", expanding=True))
        first, second = (self.counter.c[key] for key in self.keys)
        return sa.or_(
            *(
                sa.and_(
                    first == sa.bindparam(f"kind_{number}"),
                    second.in_(sa.bindparam(f"owners_{number}", expanding=True)),
                )
                for number in range(kinds)
            )
        )

    def owner_values(self, channels: list[Channel]) -> tuple[int, dict]:
        """How many kinds these channels are of, and the values of
        `counters_in(kinds)` for them."""
        owners: dict[object, list] = {}
        for channel in channels:
            *kind, owner = self.key_of(channel)
            owners.setdefault(tuple(kind), []).append(owner)
        values = {}
        for number, (kind, keys) in enumerate(owners.items()):
            values[f"owners_{number}"] = keys
            if kind:
                values[f"kind_{number}"] = kind[0]
        return len(owners), values

    def is_counter_of(self, channel: Channel) -> sa.ColumnElement:
        pairs = zip(self.keys, self.key_of(channel), strict=True)
        return sa.and_(*(self.counter.c[key] == value for key, value in pairs))

    def is_event_of(self, channel: Channel) -> sa.ColumnElement:
        pairs = zip(self.event_keys, self.key_of(channel), strict=True)
        return sa.and_(*(self.events.c[key] == value for key, value in pairs))


def _home_row_values(happening: Happening) -> dict:
    now = happening.now
    return {
        "fm_user_id": happening.actor_id,
        "post_id": happening.post_id,
        "action": happening.action,
        "created": now,
        "updated": now,
    }


HOME_LOG = EventLog(
    counter=feed_counter_table,
    events=feed_table,
    keys=("user_id",),
    event_keys=("to_user_id",),
    key_of=lambda channel: (channel.key,),
    channel_of=lambda user_id: Channel(HOME, user_id),
    row_values=_home_row_values,
)
CHANNEL_LOG = EventLog(
    counter=channel_counter_table,
    events=channel_event_table,
    keys=("kind", "owner_id"),
    event_keys=("kind", "owner_id"),
    key_of=lambda channel: (channel.kind, channel.key),
    channel_of=Channel,
    row_values=lambda happening: {},
)


def log_of(channel: Channel) -> EventLog:
    return HOME_LOG if channel.kind == HOME else CHANNEL_LOG


# --- Writing: each action is one short transaction, and big audiences more. -

# Readers told per transaction. An action whose audience is larger is
# finished by workers, batch after batch (see `fanout`), so that no
# transaction holds more counters than this, however popular its author.
FANOUT_BATCH = 1000
# An account's farewell (`write_account_closed`), the one fan-out outside a
# thread (NO_POST), goes in smaller batches: its event is a few bytes, and
# its audience a whole following at once, so each of its transactions holds
# its readers' counters a quarter as long, while others write to them.
FAREWELL_BATCH = 250


@dataclass(frozen=True)
class Owners:
    """Whose channels an event goes to: a subquery of their keys (lined up
    with an EventLog's `keys`) and, for one built once for its shape, the
    values of its `sa.bindparam`s."""

    rows: sa.Subquery
    values: dict | None = None  # None: the subquery holds its own values


def _locking_read(log: EventLog, owners: sa.Subquery) -> sa.Select:
    """The counters of the `owners`' channels, read and locked, as one JSON value."""
    counter = log.counter
    keys = [counter.c[key] for key in log.keys]
    # MySQL locks every row a locking statement reads, and must lock no other
    # channel's counter: so the owners first, then each one's counter by its
    # key; and by key again in `_raise_and_number`, where a batch is a large
    # share of a small table and MySQL would rather read the whole table.
    return (
        sa.select(json_rows(*keys, counter.c.seq))
        .select_from(owners.join(counter, log.counter_joins(owners)))
        .prefix_with("STRAIGHT_JOIN", dialect="mysql")
        .prefix_with("STRAIGHT_JOIN", dialect="mariadb")
        .with_for_update()
    )


@functools.cache
def _prepared_locking_read(log: EventLog, owners: sa.Subquery) -> Prepared:
    return Prepared(_locking_read(log, owners))


def _lock_counters(log: EventLog, owners: Owners) -> sa.Select | Bound:
    if owners.values is None:
        return _locking_read(log, owners.rows)
    return _prepared_locking_read(log, owners.rows).bound(**owners.values)


@functools.cache
def _raise_and_number(log: EventLog, kinds: int, columns: tuple[str, ...]) -> tuple:
    """The UPDATE that raises the counters of the channels bound by
    `owner_values` (of `kinds` kinds), and the INSERT … SELECT that numbers
    their event rows from them, with the event row's other `columns` bound
    by name: built once for each shape."""
    counter = log.counter
    chosen = log.counters_in(kinds)
    raised = counter.update().where(chosen).values(seq=counter.c.seq + 1)
    values = [sa.bindparam(name, type_=log.events.c[name].type) for name in columns]
    keys = [counter.c[key] for key in log.keys]
    numbered = sa.select(*keys, counter.c.seq, *values).where(chosen)
    for dialect in MYSQL_DIALECTS:
        raised = raised.with_hint(BY_KEY, dialect_name=dialect)
        numbered = numbered.with_hint(counter, BY_KEY, dialect)
    inserted = log.events.insert().from_select([*log.event_keys, "seq", *columns], numbered)
    return Prepared(raised), Prepared(inserted)


async def _append(
    database: AppDatabase,
    log: EventLog,
    owners: Owners,
    happening: Happening,
    event_id: int,
) -> dict[Channel, int]:
    """Give the event to every channel of `owners` in `log`, in three statements
    however many there are; return {channel: its event id}.

    The channels' counters are read and locked first: they stay locked until
    the transaction ends, and another writer to the same channel waits for
    that, so a channel's events are committed in the order of their numbers,
    and their numbers have no holes. One UPDATE then raises the counters, and
    one INSERT … SELECT numbers the rows from them.
    """
    rows = json.loads(await database.fetch_val(_lock_counters(log, owners)) or "[]")
    told = {log.channel_of(*key): seq + 1 for *key, seq in rows}
    if not told:
        return told
    kinds, chosen = log.owner_values(list(told))
    values = {"event_id": event_id, **log.row_values(happening)}
    raised, numbered = _raise_and_number(log, kinds, tuple(values))
    await database.execute(raised.bound(**chosen))
    await database.execute(numbered.bound(**chosen, **values))
    return told


@functools.cache
def _channel_rows(count: int) -> sa.Subquery:
    """`count` channels as rows (kind, owner id), bound as kind_n and owner_n."""
    rows = [
        sa.select(
            sa.bindparam(f"kind_{number}", type_=sa.String).label("kind"),
            sa.bindparam(f"owner_{number}", type_=sa.Integer).label("owner_id"),
        )
        for number in range(count)
    ]
    return (sa.union_all(*rows) if count > 1 else rows[0]).subquery("owners")


def _owners(channels: list[Channel]) -> Owners:
    """The channels as owners for `CHANNEL_LOG`."""
    values = {}
    for number, channel in enumerate(channels):
        values |= {f"kind_{number}": channel.kind, f"owner_{number}": channel.key}
    return Owners(_channel_rows(len(channels)), values)


# The kinds of audience.
FOLLOWERS = "followers"  # an author and their followers
MEMBERS = "members"  # a group's members
LISTENERS = "listeners"  # a group's members who have not muted it in their home feed
HOLDERS = "holders"  # everyone who has a post in their feed


# Index hints, which SQLite has no need of.
MYSQL_DIALECTS = ("mysql", "mariadb")
BY_KEY = "FORCE INDEX (PRIMARY)"
# MariaDB reads an author's followers from the start of the index each time,
# skipping those before the batch (40 times slower 70,000 followers in),
# unless told to read only the batch's range of it.
FOLLOWERS_IN_ORDER = "FORCE INDEX (ix_relationship_to_user_id_fm_user_id)"


@dataclass(frozen=True)
class Audience:
    """Whose home channels hear of an action, in the order of their ids, so
    that a fan-out can walk them a batch at a time: each batch starts after
    the greatest reader the one before reached."""

    kind: str
    key: int  # the author, the group or the post

    def batch_after(self, reader_id: int, size: int, through: int | None = None) -> Owners:
        """The `size` readers with the lowest ids above `reader_id` (and not
        above `through`), as owners of home channels. Each is one range of
        an index."""
        values = {"key": self.key, "after": reader_id}
        if through is not None:
            values["through"] = through
        bounded = through is not None
        if self.kind != FOLLOWERS:
            return Owners(_others_batch(self.kind, size, bounded), values)
        # The author hears of their own actions too.
        with_author = reader_id < self.key and (through is None or self.key <= through)
        return Owners(_followers_batch(size, bounded, with_author), values)

    async def last_reader(self, database: AppDatabase) -> int:
        """The greatest reader id (0 for none), from the end of an index."""
        if self.kind == FOLLOWERS:
            follower = relationship_table.c.fm_user_id
            query = sa.select(sa.func.max(follower)).where(
                relationship_table.c.to_user_id == self.key
            )
            return max(await database.fetch_val(query) or 0, self.key)  # the author reads too
        readers = self._others()
        return await database.fetch_val(sa.select(sa.func.max(readers.selected_columns[0]))) or 0

    def _others(self) -> sa.Select:
        """The members of a group (those who listen to it, for LISTENERS), or
        the holders of a post."""
        return _others(self.kind, self.key)


def _others(kind: str, key: int | sa.BindParameter) -> sa.Select:
    """The members of a group (those who have not muted it, for LISTENERS),
    or the holders of a post (HOLDERS)."""
    if kind in (MEMBERS, LISTENERS):
        members = sa.select(membership_table.c.user_id).where(membership_table.c.group_id == key)
        return members.where(~membership_table.c.muted) if kind == LISTENERS else members
    return sa.select(feed_table.c.to_user_id).where(
        feed_table.c.post_id == key, feed_table.c.action == "post"
    )


@functools.cache
def _others_batch(kind: str, size: int, bounded: bool) -> sa.Subquery:
    """A batch of `_others` (`key`), after `after` (up to `through`, if
    `bounded`), as a subquery of `reader_id`: built once for each shape."""
    readers = _others(kind, sa.bindparam("key"))
    reader = readers.selected_columns[0]
    batch = readers.where(*_between(reader, *_bound_range(bounded))).order_by(reader).limit(size)
    return sa.select(batch.subquery().c[0].label("reader_id")).subquery("readers")


@functools.cache
def _followers_batch(size: int, bounded: bool, with_author: bool) -> sa.Subquery:
    """A batch of an author's (`key`) followers after `after` (up to
    `through`, if `bounded`), and the author with them if `with_author`, as a
    subquery of `reader_id`: built once for each shape."""
    follower = relationship_table.c.fm_user_id
    in_order = sa.select(follower.label("reader_id"))
    for dialect in MYSQL_DIALECTS:
        in_order = in_order.with_hint(relationship_table, FOLLOWERS_IN_ORDER, dialect)
    followers = (
        in_order.where(relationship_table.c.to_user_id == sa.bindparam("key"))
        .where(*_between(follower, *_bound_range(bounded)))
        .order_by(follower)
        .limit(size)
        .subquery()
    )
    readers = [sa.select(followers.c.reader_id)]
    if with_author:
        readers.append(sa.select(sa.bindparam("key", type_=sa.Integer).label("reader_id")))
    both = sa.union_all(*readers).subquery()
    return sa.select(both.c.reader_id).order_by(both.c.reader_id).limit(size).subquery("readers")


def _between(reader: sa.ColumnElement, after, through) -> list:
    """Conditions for a reader id above `after` and not above `through` (if
    not None): values, or the bound parameters of a statement built once."""
    return [reader > after] if through is None else [reader > after, reader <= through]


def _bound_range(bounded: bool) -> tuple[sa.BindParameter, sa.BindParameter | None]:
    """`after` and `through` (if `bounded`) as bound parameters, for `_between`."""
    return sa.bindparam("after"), sa.bindparam("through") if bounded else None


@dataclass(frozen=True)
class Written:
    """An action written: its event's data (as a dict, and as the JSON line
    every stream sends), {channel: event id} of every channel told so far,
    whether a fan-out to the rest of its readers is still to be done, and
    the event's own id."""

    payload: dict
    data: str
    told: dict[Channel, int]
    fanning_out: bool = False
    event_id: int | None = None  # the action's row of `event`


async def _tell(
    database: AppDatabase,
    audience: Audience,
    thread: "Thread",
    happening: Happening,
    payload: dict,
    raises: bool = False,
    channels: list[Channel] | None = None,
) -> Written:
    """Store the action's event and give it to the thread's other channels
    (profile, group: or `channels`) and to the home channels of `audience`, in eight
    statements: the first batch of readers here, the rest through a fan-out
    (`fanout`) when there are more, or when an earlier fan-out in the same
    thread is still under way (its readers must hear of this after it).
    `raises`: the action raises the post in each reader's feed."""
    data = encode_data(payload)
    event_id = await _store_event(database, happening, data)
    fan_out = _Fanout(event_id, thread.post_id, audience, raises, happening)
    is_new_thread = happening.post_id == thread.post_id and happening.action == "post"
    told, fanning_out = {}, True
    if is_new_thread or not await _fanning_out_in(database, thread.post_id):
        told = await fan_out.next_batch(database, after=0)
        fanning_out = len(told) == fan_out.batch_size  # there may be more
    owners = _owners(channels or thread.channels())
    told |= await _append(database, CHANNEL_LOG, owners, happening, event_id)
    if fanning_out:
        reached = max((channel.key for channel in told if channel.kind == HOME), default=0)
        lanes = [fan_out.row(*lane) for lane in await _lanes(database, audience, reached)]
        await database.execute(fanout_table.insert().values(lanes))
    return Written(payload, data, told, fanning_out, event_id)


STORE_EVENT = prepared_insert(event_table, "action", "post_id", "fm_user_id", "created", "data")


async def _store_event(database: AppDatabase, happening: Happening, data: str) -> int:
    """The action's row of `event`, with the data every channel is sent; its id."""
    event = STORE_EVENT.bound(
        action=happening.action,
        post_id=happening.post_id,
        fm_user_id=happening.actor_id,
        created=happening.now,
        data=data,
    )
    return await database.execute(event)


# The lanes a large fan-out is split into: as many workers (feed.fanout, in
# this process and others) each take one, and its batches go several at once.
FANOUT_LANES = 4


async def _lanes(
    database: AppDatabase, audience: Audience, after: int
) -> list[tuple[int, int | None]]:
    """The readers above `after`, split into ranges of ids (after, through]:
    the last is open, for people who join meanwhile. At most FANOUT_LANES,
    and none narrower than a batch: a few readers left over are one lane,
    not four workers' transactions."""
    span = await audience.last_reader(database) - after
    lanes = max(1, min(FANOUT_LANES, span // FANOUT_BATCH))
    width = max(1, span // lanes)
    bounds = [after + width * lane for lane in range(lanes)]
    return [*zip(bounds, bounds[1:], strict=False), (bounds[-1], None)]


async def _fanning_out_in(database: AppDatabase, thread_id: int) -> bool:
    """Whether a fan-out in this thread is still under way."""
    query = sa.select(fanout_table.c.id).where(fanout_table.c.thread_id == thread_id).limit(1)
    return await database.fetch_val(query) is not None


@dataclass(frozen=True)
class _Fanout:
    """An event on its way to the home channels of its audience."""

    event_id: int
    thread_id: int
    audience: Audience
    raises: bool
    happening: Happening

    def row(self, after: int, through: int | None) -> dict:
        """Its row in `fanout` for the lane of readers (after, through]."""
        return {
            "event_id": self.event_id,
            "thread_id": self.thread_id,
            "audience": self.audience.kind,
            "audience_id": self.audience.key,
            "raises": self.raises,
            "after_id": after,
            "through_id": through,
            "created": self.happening.now,
        }

    @property
    def batch_size(self) -> int:
        """Readers told per transaction."""
        return FAREWELL_BATCH if self.thread_id == NO_POST else FANOUT_BATCH

    async def next_batch(
        self, database: AppDatabase, after: int, through: int | None = None
    ) -> dict[Channel, int]:
        """Tell the next `batch_size` readers after reader `after` (up to
        `through`), and raise the post in their feeds if the action does;
        return whom it told."""
        readers = self.audience.batch_after(after, self.batch_size, through)
        told = await _append(database, HOME_LOG, readers, self.happening, self.event_id)
        if self.raises and told:
            reached = feed_table.c.to_user_id.between(after + 1, max(c.key for c in told))
            await _bump(database, self.thread_id, self.happening.now, reached)
        return told


@dataclass(frozen=True)
class Batch:
    """What one batch of a fan-out did: the event it told, and to whom."""

    action: str
    data: str
    told: dict[Channel, int]


async def any_work_left(database: AppDatabase) -> bool:
    """Whether a fan-out or a closed account's removal waits, in one
    statement read without a transaction: a worker that finds none has
    locked nothing (on SQLite, a writing transaction would hold the whole
    database for a moment)."""
    waiting = sa.or_(
        sa.exists(sa.select(fanout_table.c.id)), sa.exists(sa.select(removal_table.c.user_id))
    )
    return bool(await database.fetch_val(sa.select(waiting)))


@one_transaction
async def fan_out_next_batch(database: AppDatabase) -> Batch | None:
    """Take the oldest fan-out that no other worker holds and whose thread
    has no older one, hand its event to its next batch of readers, and
    delete it once every reader has it; None when there is none to take.

    The lane's row is locked until the batch commits (`FOR UPDATE SKIP
    LOCKED`): workers in any number of processes take different lanes, and
    one whose process dies leaves its lane to the next worker. Where the
    last batch ended is read from the rows it wrote, so a batch is done
    once or not at all."""
    lane = await database.fetch_one(_next_fanout_query())
    if lane is None:
        return None
    after, through = lane["after_id"], lane["through_id"]
    event = await database.fetch_one(_event_and_reach(lane["event_id"], after, through))
    happening = Happening(event["action"], event["fm_user_id"], event["post_id"], event["created"])
    audience = Audience(lane["audience"], lane["audience_id"])
    fan_out = _Fanout(lane["event_id"], lane["thread_id"], audience, lane["raises"], happening)
    told = await fan_out.next_batch(database, max(after, event["reached"] or after), through)
    if len(told) < fan_out.batch_size:  # that was the last batch
        await database.execute(fanout_table.delete().where(fanout_table.c.id == lane["id"]))
    return Batch(event["action"], event["data"], told)


def _event_and_reach(event_id: int, after: int, through: int | None) -> sa.Select:
    """The event of a fan-out, and the greatest reader of the lane (after,
    through] that it has told, if any.

    Read apart from the locking query that takes the lane: in that one the
    database would lock the event's row too, which the other lanes of the
    same event need, and every row of the event it looked at."""
    told = feed_table.c.to_user_id
    reached = sa.select(sa.func.max(told)).where(
        feed_table.c.event_id == event_id, *_between(told, after, through)
    )
    return sa.select(
        event_table.c.action,
        event_table.c.post_id,
        event_table.c.fm_user_id,
        event_table.c.created,
        event_table.c.data,
        reached.scalar_subquery().label("reached"),
    ).where(event_table.c.id == event_id)


def _next_fanout_query() -> sa.Select:
    fanout, earlier = fanout_table, fanout_table.alias("earlier")
    # The lanes of one event go side by side; events of a thread, in turn.
    older_in_thread = sa.exists().where(
        earlier.c.thread_id == fanout.c.thread_id, earlier.c.event_id < fanout.c.event_id
    )
    return (
        sa.select(fanout)
        .where(~older_in_thread)
        .order_by(fanout.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


async def _bump(
    database: AppDatabase, post_id: int, now: datetime, readers: sa.ColumnElement[bool]
) -> None:
    """Raise a post to the top of these readers' feeds (FriendFeed's way)."""
    query = (
        feed_table.update()
        .where(feed_table.c.post_id == post_id, feed_table.c.action == "post", readers)
        .values(updated=now)
    )
    await database.execute(query)


async def _forget_events_about(database: AppDatabase, deleted_ids: list[int]) -> None:
    """Drop the data of every event about these deleted posts and comments,
    and their fan-outs still under way: replays leave them out, and their
    text is gone.

    The events are found first and changed by their ids: an UPDATE that
    searched the index itself would lock the gaps around them too, and
    deadlock with writers adding other events there."""
    about_them = sa.select(event_table.c.id).where(event_table.c.post_id.in_(deleted_ids))
    await _forget_events(database, [row[0] for row in await database.fetch_all(about_them)])


async def _forget_events(database: AppDatabase, event_ids: list[int]) -> None:
    """Drop the data of these events, and stop their fan-outs still under way."""
    if event_ids:
        forgotten = event_table.update().where(event_table.c.id.in_(event_ids))
        await database.execute(forgotten.values(data=None))
        await _stop_fanouts(database, event_ids)


async def _stop_fanouts(database: AppDatabase, event_ids: list[int]) -> None:
    """Stop the fan-outs of these events, if any are under way."""
    fanouts = sa.select(fanout_table.c.id).where(fanout_table.c.event_id.in_(event_ids))
    fanout_ids = [row[0] for row in await database.fetch_all(fanouts)]
    if fanout_ids:
        await database.execute(fanout_table.delete().where(fanout_table.c.id.in_(fanout_ids)))


@dataclass(frozen=True)
class Thread:
    """A post and its comments: where a comment, a like or a deletion
    happens, and so who hears of it."""

    post_id: int
    author_id: int  # who wrote the post: their profile shows it
    group_id: int | None = None  # the group it was posted in, if any

    def audience(self) -> Audience:
        """Whose home channels hear of what happens in it."""
        # In a group, its members now: someone who left hears of nothing new.
        if self.group_id is not None:
            return Audience(MEMBERS, self.group_id)
        return Audience(HOLDERS, self.post_id)

    def channels(self) -> list[Channel]:
        """The other channels that hear of it: its author's profile, its group's page."""
        profile = Channel(PROFILE, self.author_id)
        return [profile] if self.group_id is None else [profile, Channel(GROUP, self.group_id)]


async def _check_thread(
    database: AppDatabase, thread: Thread, post_id: int, member_id: int | None = None
) -> None:
    """What a write to a thread depends on, checked inside its transaction
    and held until it commits, so that concurrent writes end as if they had
    run one after the other: the thread's post, and `post_id` (the post or
    one of its comments), not deleted (PostGone); `member_id`, when given,
    a member of the thread's group (NotAMember). The thread's post is locked
    first by every writer, so they lock in one order."""
    await lock_live_post(database, thread.post_id)
    if post_id != thread.post_id:
        await lock_live_post(database, post_id)
    if member_id is not None and thread.group_id is not None:
        await check_member(database, thread.group_id, member_id)


@one_transaction
async def write_post(
    database: AppDatabase,
    author_id: int,
    body: str,
    now: datetime,
    describe: Callable[[str], dict],
    group_id: int | None = None,
    mentioned: Sequence[int] = (),
) -> Written:
    """Insert a post and tell its author and every follower (or, in a group,
    its members), its author's profile and its group's page, and notify the
    people it mentions (`mentioned`, their ids). `describe(uid)` gives the
    event's data."""
    if group_id is not None:
        await check_member(database, group_id, author_id)
    post_id, uid = await insert_post(database, author_id, body, now, group_id=group_id)
    await add_mentions(database, post_id, mentioned)
    thread = Thread(post_id, author_id, group_id)
    # A new post reaches the home feeds of the group's members who have not
    # muted it; what happens to it later, every member's (`Thread.audience`).
    in_group = group_id is not None
    audience = Audience(LISTENERS, group_id) if in_group else Audience(FOLLOWERS, author_id)
    happening = Happening("post", author_id, post_id, now)
    written = await _tell(database, audience, thread, happening, describe(uid))
    return await _notify_mentioned(database, written, happening, thread, mentioned)


async def _notify_mentioned(
    database: AppDatabase,
    written: Written,
    happening: Happening,
    thread: "Thread",
    mentioned: Sequence[int],
) -> Written:
    """Notify the people a post or comment (the action's) names, but its
    author, of a mention (see `_notify`); nothing when there are none."""
    others = [user_id for user_id in mentioned if user_id != happening.actor_id]
    if not others:
        return written
    people = notifications.people(others, thread.group_id)
    notice = Notice(happening.actor_id, happening.post_id, thread.post_id)
    return await _notify(database, written, happening, people, sa.literal(MENTION), notice)


@one_transaction
async def write_edit(
    database: AppDatabase,
    author_id: int,
    post_id: int,
    thread: "Thread",
    body: str,
    now: datetime,
    payload: dict,
    mentioned: Sequence[int] = (),
) -> Written:
    """Give a post or a comment of `thread` new text, and tell everyone a
    deletion of it would tell; notify the people it mentions (`mentioned`,
    their ids) who were not mentioned in it before. `payload` is the
    event's data, which holds the new text. Only members edit in a group.

    The event that brought the item to pages is rewritten to the new text,
    and earlier edits of it are dropped: a replay shows it once, as it is
    now, and the text it replaced is kept nowhere."""
    await _check_thread(database, thread, post_id, member_id=author_id)
    await replace_body(database, post_id, body, now)
    newly_mentioned = await add_new_mentions(database, post_id, mentioned)
    await _drop_found_events(database, _earlier_edits(post_id))
    await _rewrite_creation(database, post_id, payload)
    happening = Happening("edit", author_id, post_id, now)
    written = await _tell(database, thread.audience(), thread, happening, payload)
    return await _notify_mentioned(database, written, happening, thread, newly_mentioned)


def _earlier_edits(post_id: int) -> sa.Select:
    return sa.select(event_table.c.id).where(
        event_table.c.post_id == post_id, event_table.c.action == "edit"
    )


# The fields of a post or a comment that an edit changes, in the data of the
# event that created it and in the edit's own.
EDITED_FIELDS = ("body", "mentions", "edited")


async def _rewrite_creation(database: AppDatabase, post_id: int, edit: dict) -> None:
    """Put an edit's text into the data of the event that created the post
    or comment ({"post": …} or {"comment": …}, by its action): a stream
    that replays it shows the item as it is now. Found first, then changed
    by id, for the reason `_forget_events_about` gives."""
    events = event_table.c
    creation = sa.select(events.id, events.action, events.data).where(
        events.post_id == post_id, events.action.in_(("post", "comment"))
    )
    row = await database.fetch_one(creation)
    if row is None or row["data"] is None:  # written before events kept their data
        return
    data = json.loads(row["data"])
    data[row["action"]].update({field: edit[field] for field in EDITED_FIELDS})
    rewritten = event_table.update().where(events.id == row["id"])
    await database.execute(rewritten.values(data=encode_data(data)))


@one_transaction
async def write_comment(
    database: AppDatabase,
    author_id: int,
    thread: Thread,
    body: str,
    now: datetime,
    describe: Callable[[str], dict],
    mentioned: Sequence[int] = (),
) -> Written:
    """Comment on a post: everyone who has the post hears of it, and it
    rises; its author, the people the comment mentions (`mentioned`, their
    ids) and everyone else who commented on it are notified. `describe(uid)`
    gives the event's data."""
    await _check_thread(database, thread, thread.post_id, member_id=author_id)
    comment_id, uid = await insert_post(
        database, author_id, body, now, parent_post_id=thread.post_id, group_id=thread.group_id
    )
    await add_mentions(database, comment_id, mentioned)
    happening = Happening("comment", author_id, comment_id, now)
    written = await _tell(
        database, thread.audience(), thread, happening, describe(uid), raises=True
    )
    people, kind = _told_of_comment(thread, author_id, mentioned)
    notice = Notice(author_id, comment_id, thread.post_id)
    return await _notify(database, written, happening, people, kind, notice)


def _told_of_comment(
    thread: Thread, author_id: int, mentioned: Sequence[int]
) -> tuple[People, sa.ColumnElement[str]]:
    """Who is notified of a comment, each once, and of which kind: the
    post's author (COMMENT), else the people it mentions (MENTION), else
    everyone else who commented on the post (REPLY); never its own author."""
    post_author = [thread.author_id] if thread.author_id != author_id else []
    others = [user_id for user_id in mentioned if user_id not in (author_id, thread.author_id)]
    named = notifications.people([*post_author, *others], thread.group_id)
    excluded = [author_id, thread.author_id, *mentioned]
    commenters = notifications.participants(thread.post_id, thread.group_id, excluded)
    owner = channel_event_table.c.owner_id
    kind = sa.case(
        (owner == thread.author_id, sa.literal(COMMENT)),
        (owner.in_(others), sa.literal(MENTION)),
        else_=sa.literal(REPLY),
    )
    return sa.union_all(named, commenters), kind


# A post liked again within this time of an earlier like or unlike by the
# same person does not rise again: toggling cannot keep a post on top.
LIKE_RAISES_AGAIN_AFTER = timedelta(hours=1)


async def _forget_earlier_likes(
    database: AppDatabase, actor_id: int, post_id: int, now: datetime
) -> bool:
    """A like or an unlike replaces the earlier likes and unlikes of the same
    person on the same post or comment: their events, and their rows in every
    channel, go. Toggling a like again and again stores one event, the last,
    whose data holds the likers as they are; a stream that missed the others
    loses nothing by it. Returns whether one of them was recent
    (LIKE_RAISES_AGAIN_AFTER).

    Rows are found first and deleted by their ids, for the reason
    `_forget_events_about` gives."""
    earlier = sa.select(event_table.c.id, event_table.c.created).where(
        event_table.c.post_id == post_id,
        event_table.c.fm_user_id == actor_id,
        event_table.c.action.in_(("like", "unlike")),
    )
    events = await _drop_found_events(database, earlier)
    return any(event["created"] > now - LIKE_RAISES_AGAIN_AFTER for event in events)


async def _drop_found_events(database: AppDatabase, found: sa.Select) -> list[Record]:
    """Drop the events `found` finds (its first column, their ids): their
    fan-outs under way, their rows in every channel, and themselves.
    Returns what it found."""
    events = await database.fetch_all(found)
    event_ids = [event[0] for event in events]
    if event_ids:
        await _stop_fanouts(database, event_ids)
        await _drop_events(database, event_ids)
    return events


async def _drop_events(database: AppDatabase, event_ids: list[int]) -> None:
    """Delete these events and their rows in every channel."""
    if not event_ids:
        return
    for rows in (feed_table, channel_event_table):
        told = sa.select(rows.c.id).where(rows.c.event_id.in_(event_ids))
        row_ids = [row[0] for row in await database.fetch_all(told)]
        if row_ids:
            await database.execute(rows.delete().where(rows.c.id.in_(row_ids)))
    await database.execute(event_table.delete().where(event_table.c.id.in_(event_ids)))


@one_transaction
async def write_like(
    database: AppDatabase,
    user_id: int,
    post_id: int,
    thread: Thread,
    like: bool,
    now: datetime,
    describe: Callable[[list[str]], dict],
) -> tuple[list[str], Written | None]:
    """Like or unlike a post or a comment of `thread`. Returns its likers
    afterwards, and the action written, or None when nothing changed.
    `describe(likers)` gives the event's data: the likers as of this like.
    Only members like in a group; anyone takes their like back, as anyone
    deletes what they wrote."""
    await _check_thread(database, thread, post_id, member_id=user_id if like else None)
    if like:
        changed = await add_like(database, post_id, user_id, now)
    else:
        changed = await remove_like(database, post_id, user_id)
    likers = (await likers_of(database, [post_id]))[post_id]
    if not changed:
        return likers, None
    liked_lately = await _forget_earlier_likes(database, user_id, post_id, now)
    happening = Happening("like" if like else "unlike", user_id, post_id, now)
    # A liked post rises; a liked comment does not, nor a post liked again soon.
    raises = like and post_id == thread.post_id and not liked_lately
    written = await _tell(database, thread.audience(), thread, happening, describe(likers), raises)
    # Its author is notified of a like; an unlike takes the notification
    # back, and tells their pages so that their bells count again.
    author = notifications.author_of(post_id, thread.group_id, excluded=user_id)
    if like:
        notice = Notice(user_id, post_id, thread.post_id)
        written = await _notify(database, written, happening, author, sa.literal(LIKE), notice)
        return likers, written
    await notifications.forget(database, notifications.like_by(user_id, [post_id]))
    return likers, await _tell_notices(database, written, happening, author)


@one_transaction
async def write_delete(
    database: AppDatabase, user_id: int, post_id: int, thread: Thread, now: datetime, payload: dict
) -> Written:
    """Delete a post (with its comments and likes) or a comment, forget what
    its events said, and tell everyone who has the post."""
    await _check_thread(database, thread, post_id)
    deleted_ids = await delete_posts(database, [post_id], now)
    await _forget_events_about(database, deleted_ids)
    happening = Happening("delete", user_id, post_id, now)
    written = await _tell(database, thread.audience(), thread, happening, payload)
    # Whoever was notified of what it deletes is told, and the notifications go.
    told = notifications.notified_about(deleted_ids)
    written = await _tell_notices(database, written, happening, told)
    await notifications.forget(database, notifications.about(deleted_ids))
    return written


# --- An account deleted: what its owner wrote goes, a batch per transaction. -

# Rows of one kind (posts and comments, likes, follows, events, …) that
# deleting an account forgets per transaction: each holds its locks for a
# few milliseconds, however much the person wrote.
ACCOUNT_BATCH = 200


@one_transaction
async def forget_posts_by(
    database: AppDatabase, user_id: int, after_id: int, now: datetime
) -> int | None:
    """Delete the next batch of a person's posts and comments after post
    `after_id`, each post with its thread (`delete_posts`), forget what
    their events said and the notifications about them. The id of the
    last one, to go on after, or None when none is left."""
    post_ids = await lock_live_posts_by(database, user_id, after_id, ACCOUNT_BATCH)
    if not post_ids:
        return None
    deleted_ids = await delete_posts(database, post_ids, now)
    await _forget_events_about(database, deleted_ids)
    await notifications.forget(database, notifications.about(deleted_ids))
    return post_ids[-1]


@one_transaction
async def forget_likes_by(database: AppDatabase, user_id: int) -> int:
    """Take back a batch of a person's likes, and their notifications; how
    many (0: none was left)."""
    likes = await delete_batch(
        database, like_table, like_table.c.user_id == user_id, ACCOUNT_BATCH, like_table.c.post_id
    )
    if likes:
        liked = [like["post_id"] for like in likes]
        await notifications.forget(database, notifications.like_by(user_id, liked))
    return len(likes)


@one_transaction
async def forget_follows_by(database: AppDatabase, user_id: int) -> int:
    """End a batch of the follows a person made, and their notifications;
    how many (0: none was left)."""
    follows = relationship_table.c
    ended = await delete_batch(
        database,
        relationship_table,
        follows.fm_user_id == user_id,
        ACCOUNT_BATCH,
        follows.to_user_id,
    )
    if ended:
        followed = [follow["to_user_id"] for follow in ended]
        await notifications.forget(database, notifications.follow_by(user_id, followed))
    return len(ended)


@one_transaction
async def forget_mentions_and_notices_of(database: AppDatabase, user_id: int) -> int:
    """Delete a batch of the mentions of a person (posts that name them
    link to no one) and of their notifications; how many (0: none left)."""
    mentions = await delete_batch(
        database, mention_table, mention_table.c.user_id == user_id, ACCOUNT_BATCH
    )
    notices = await delete_batch(
        database, notifications.notification_table, notifications.told_to(user_id), ACCOUNT_BATCH
    )
    return len(mentions) + len(notices)


@one_transaction
async def forget_events_by(
    database: AppDatabase, user_id: int, after_id: int, farewell_id: int
) -> int | None:
    """Forget what the next batch of a person's events after event
    `after_id` said (their follows, likes, reads: their posts' are
    forgotten with them), up to their farewell (`write_account_closed`),
    which replays must still send: replays leave them out. The id of the
    last, or None when none is left."""
    ids = event_table.c.id
    theirs = (
        sa.select(ids)
        .where(event_table.c.fm_user_id == user_id, ids > after_id, ids < farewell_id)
        .where(event_table.c.data.is_not(None))
        .order_by(ids)
        .limit(ACCOUNT_BATCH)
    )
    event_ids = [row[0] for row in await database.fetch_all(theirs)]
    await _forget_events(database, event_ids)
    return event_ids[-1] if event_ids else None


@one_transaction
async def forget_followers_of(database: AppDatabase, user_id: int) -> int:
    """End a batch of the follows of a person; how many (0: none was left)."""
    followed = relationship_table.c.to_user_id == user_id
    return len(await delete_batch(database, relationship_table, followed, ACCOUNT_BATCH))


@one_transaction
async def write_account_closed(
    database: AppDatabase, user_id: int, now: datetime, payload: dict
) -> tuple[list[str], Written] | None:
    """Close a person's account (`close_account`), take them out of their
    groups (`hand_over_groups`) and tell every page that may show their
    posts or comments to take them off (`payload`: a delete event naming
    them): their profile's, their groups', and each follower's, through the
    fan-out: one event per reader, however much they wrote. Their fan-outs
    still under way stop, so none of their posts reaches a reader after it.

    What they wrote and did is forgotten after, a batch at a time, by the
    fan-out workers (`removal`); meanwhile every page and every write
    leaves out the posts of a closed account (post.models.LIVE). Returns
    the ids of the sessions it ended and the event, or None if the account
    was closed already. One transaction: closed and told, or neither."""
    ended = await close_account(database, user_id, now)
    if ended is None:
        return None
    group_ids = await hand_over_groups(database, user_id)
    theirs = sa.select(fanout_table.c.event_id).join(
        event_table, event_table.c.id == fanout_table.c.event_id
    )
    under_way = await database.fetch_all(theirs.where(event_table.c.fm_user_id == user_id))
    await _stop_fanouts(database, [row[0] for row in under_way])
    happening = Happening("delete", user_id, NO_POST, now)
    channels = [Channel(PROFILE, user_id), *(Channel(GROUP, group_id) for group_id in group_ids)]
    audience = Audience(FOLLOWERS, user_id)
    thread = Thread(NO_POST, user_id)
    written = await _tell(database, audience, thread, happening, payload, channels=channels)
    removal = {"user_id": user_id, "event_id": written.event_id, "created": now}
    await database.execute(removal_table.insert().values(removal))
    return ended, written


async def removals(database: AppDatabase) -> list[Record]:
    """The closed accounts whose rows are still to forget: (user_id, the
    event_id of their farewell, created)."""
    return await database.fetch_all(sa.select(removal_table).order_by(removal_table.c.user_id))


async def is_fanning_out(database: AppDatabase, event_id: int) -> bool:
    """Whether the fan-out of this event is still under way."""
    query = sa.select(fanout_table.c.id).where(fanout_table.c.event_id == event_id).limit(1)
    return await database.fetch_val(query) is not None


async def removal_done(database: AppDatabase, user_id: int) -> None:
    await database.execute(removal_table.delete().where(removal_table.c.user_id == user_id))


# --- Notifications: the notices channels, and the rows of each person's list. -

# What `event.post_id` holds for an action about no post: a follow, a read.
NO_POST = 0


def _notices_of(people: People) -> Owners:
    """The notices channels of `people`, as the owners `_append` takes."""
    user_id = people.subquery().c[0]
    rows = sa.select(sa.literal(NOTICES).label("kind"), user_id.label("owner_id")).subquery()
    return Owners(rows)


async def _tell_notices(
    database: AppDatabase, written: Written, happening: Happening, people: People
) -> Written:
    """Give the action's event to the notices channels of `people` too, in
    `_append`'s three statements however many they are."""
    owners = _notices_of(people)
    told = await _append(database, CHANNEL_LOG, owners, happening, written.event_id)
    return replace(written, told=written.told | told)


async def _notify(
    database: AppDatabase,
    written: Written,
    happening: Happening,
    people: People,
    kind: sa.ColumnElement[str],
    notice: Notice,
) -> Written:
    """Notify `people` of the action: its event in their notices channels,
    and a notification each, of `kind` (a column of `channel_event`, which
    may choose by `owner_id`), numbered as that event. Four statements
    however many people are told."""
    notified = await _tell_notices(database, written, happening, people)
    if notified.told.keys() != written.told.keys():  # someone was told
        rows = channel_event_table.c
        numbered = sa.select(rows.owner_id, rows.seq, kind.label("kind")).where(
            rows.event_id == written.event_id, rows.kind == NOTICES
        )
        await notifications.note(database, numbered, notice, written.event_id, happening.now)
    return notified


@one_transaction
async def write_follow(
    database: AppDatabase, follower_id: int, followed_id: int, now: datetime, payload: dict
) -> Written | None:
    """Follow someone, and notify them; None when already following.
    `payload` is the event's data."""
    if not await follow(database, follower_id, followed_id):
        return None
    happening = Happening(FOLLOW, follower_id, NO_POST, now)
    written = await _follow_event(database, happening, followed_id, payload)
    followed = notifications.people([followed_id], None)
    notice = Notice(follower_id)
    return await _notify(database, written, happening, followed, sa.literal(FOLLOW), notice)


@one_transaction
async def write_unfollow(
    database: AppDatabase, follower_id: int, followed_id: int, now: datetime, payload: dict
) -> Written | None:
    """Stop following someone, and take back the notification of the
    follow; None when not following. `payload` is the event's data."""
    if not await unfollow(database, follower_id, followed_id):
        return None
    await notifications.forget(database, notifications.follow_by(follower_id, [followed_id]))
    happening = Happening("unfollow", follower_id, NO_POST, now)
    written = await _follow_event(database, happening, followed_id, payload)
    followed = notifications.people([followed_id], None)
    return await _tell_notices(database, written, happening, followed)


async def _follow_event(
    database: AppDatabase, happening: Happening, followed_id: int, payload: dict
) -> Written:
    """The event of a follow or an unfollow, which replaces the earlier ones
    of the same two people: following and unfollowing again and again
    stores one event, as liking does (`_forget_earlier_likes`)."""
    rows, events = channel_event_table.c, event_table.c
    earlier = (
        sa.select(events.id)
        .join_from(channel_event_table, event_table, events.id == rows.event_id)
        .where(rows.kind == NOTICES, rows.owner_id == followed_id)
        .where(events.action.in_((FOLLOW, "unfollow")), events.fm_user_id == happening.actor_id)
    )
    await _drop_events(database, [row[0] for row in await database.fetch_all(earlier)])
    data = encode_data(payload)
    return Written(payload, data, {}, event_id=await _store_event(database, happening, data))


@one_transaction
async def write_read(
    database: AppDatabase, user_id: int, through: int, now: datetime
) -> Written | None:
    """Mark a person's notifications read, up to event `through` of their
    notices channel, and tell their open pages how many are left unread
    (the event `read`); None when none of them was unread.

    The count is read with the channel's counter locked: every notification
    numbered before this event is committed, none after it is, so what the
    event says holds as of its place in the channel."""
    channel = Channel(NOTICES, user_id)
    counter = sa.select(channel_counter_table.c.seq).where(CHANNEL_LOG.is_counter_of(channel))
    await database.fetch_val(counter.with_for_update())
    newly_read, unread = await notifications.unread_through(database, user_id, through)
    if not newly_read:
        return None
    await notifications.mark_read(database, user_id, through)
    payload = read_event(through, unread - newly_read)
    happening = Happening("read", user_id, NO_POST, now)
    data = encode_data(payload)
    event_id = await _store_event(database, happening, data)
    told = await _append(database, CHANNEL_LOG, _owners([channel]), happening, event_id)
    return Written(payload, data, told, event_id=event_id)


# --- Reading ----------------------------------------------------------------


def _newest_event_id(user_id: int):
    """The reader's counter: the event id of the newest row in their feed."""
    counter = feed_counter_table
    return sa.select(counter.c.seq).where(counter.c.user_id == user_id).scalar_subquery()


async def newest_event_ids(
    database: AppDatabase, channels: list[Channel]
) -> tuple[str, dict[Channel, int]]:
    """The epoch, and the newest event id of each of these channels that
    exists (one that is missing is no group or no person): one statement for
    each log they are kept in, which reads the epoch too."""
    epoch, newest = None, {}
    for log in {log_of(channel) for channel in channels}:
        mine = [channel for channel in channels if log_of(channel) is log]
        keys = (log.counter.c[key] for key in log.keys)
        query = sa.select(current_epoch(), *keys, log.counter.c.seq).where(
            sa.or_(*(log.is_counter_of(channel) for channel in mine))
        )
        for row in await database.fetch_all(query):
            epoch, *key, seq = row.values()
            newest[log.channel_of(*key)] = seq
    if epoch is None:  # no channel exists: the epoch still says which database this is
        epoch = await database.fetch_val(sa.select(current_epoch()))
    return epoch, newest


async def channel_start(database: AppDatabase, channel: Channel) -> tuple[str, int]:
    """(the epoch, the newest event id of `channel`): where a page showing
    that channel, rendered now, starts its stream. One statement."""
    log = log_of(channel)
    newest = sa.select(log.counter.c.seq).where(log.is_counter_of(channel)).scalar_subquery()
    row = await database.fetch_one(sa.select(current_epoch().label("epoch"), newest.label("seq")))
    return row["epoch"], row["seq"] or 0


@dataclass(frozen=True)
class StoredEvent:
    """An event of one channel, as a replay sends it."""

    event_id: int  # its number in the channel
    action: str
    data: str  # one line of JSON, as it was sent live


async def events_after(
    database: AppDatabase, channel: Channel, after: int, limit: int
) -> list[StoredEvent]:
    """The events of a channel after the event id `after`, oldest first, at
    most `limit`. What was deleted since is left out, all but the deletion
    itself (its data is gone, see `_forget_events_about`)."""
    events = log_of(channel).events
    query = (
        sa.select(events.c.seq, event_table.c.action, event_table.c.data)
        .join_from(events, event_table, event_table.c.id == events.c.event_id)
        .where(log_of(channel).is_event_of(channel), events.c.seq > after)
        .where(event_table.c.data.is_not(None))
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [StoredEvent(*row.values()) for row in await database.fetch_all(query)]


def _older_than(user_id: int, before: int):
    """Rows after feed row `before` in the home page's order (updated, id)."""
    cursor = (
        sa.select(feed_table.c.updated)
        .where(feed_table.c.id == before, feed_table.c.to_user_id == user_id)
        .scalar_subquery()
    )
    return sa.or_(
        feed_table.c.updated < cursor,
        sa.and_(feed_table.c.updated == cursor, feed_table.c.id < before),
    )


async def home_page(database: AppDatabase, user_id: int, before: int | None = None) -> dict:
    """One page of a person's home feed, most recently active post first.

    Three statements whatever the page shows: the posts (with the group of
    each made in one), their comments and their likers. Returns those rows,
    the feed id to ask for the next page (None at the end), and the epoch
    and newest event id of the home channel, where the event stream starts.
    """
    query = (
        sa.select(
            feed_table.c.id.label("feed_id"),
            current_epoch().label("epoch"),
            _newest_event_id(user_id).label("last_event_id"),
            *POST_COLUMNS,
            group_table.c.name.label("group_name"),
            group_table.c.slug.label("group_slug"),
        )
        .select_from(
            feed_table.join(posts_with_authors, post_table.c.id == feed_table.c.post_id).outerjoin(
                group_table, group_table.c.id == post_table.c.group_id
            )
        )
        .where(feed_table.c.to_user_id == user_id, feed_table.c.action == "post", SHOWN)
        .order_by(feed_table.c.updated.desc(), feed_table.c.id.desc())
        .limit(PAGE_SIZE + 1)  # one more than shown tells whether there is a next page
    )
    if before is not None:
        query = query.where(_older_than(user_id, before))
    rows = await database.fetch_all(query)
    shown = rows[:PAGE_SIZE]
    comments, likers = await comments_and_likers(database, shown)
    if rows:
        epoch, last_event_id = rows[0]["epoch"], rows[0]["last_event_id"]
    else:  # nothing to show: the stream's start has to be read on its own
        epoch, last_event_id = await channel_start(database, Channel(HOME, user_id))
    return {
        "posts": shown,
        "comments": comments,
        "likers": likers,
        "next_before": shown[-1]["feed_id"] if len(rows) > PAGE_SIZE else None,
        "epoch": epoch,
        "last_event_id": last_event_id,
    }


async def _latest_posts(
    database: AppDatabase, condition: sa.ColumnElement[bool], before: int | None
) -> list[Record]:
    """A page of the posts (not comments) that meet `condition`, newest first,
    older than post `before` if given, each with the name and slug of the
    group it was made in (None outside groups), as the home page has them.
    One row more than a page when there are older ones."""
    query = (
        sa.select(
            *POST_COLUMNS,
            group_table.c.name.label("group_name"),
            group_table.c.slug.label("group_slug"),
        )
        .select_from(
            posts_with_authors.outerjoin(group_table, group_table.c.id == post_table.c.group_id)
        )
        .where(condition, post_table.c.parent_post_id.is_(None), SHOWN)
        .order_by(post_table.c.id.desc())
        .limit(PAGE_SIZE + 1)
    )
    if before is not None:
        query = query.where(post_table.c.id < before)
    return await database.fetch_all(query)


async def profile_posts(
    database: AppDatabase, user_id: int, before: int | None = None
) -> list[Record]:
    """A page of a person's own posts, for their profile (see _latest_posts)."""
    return await _latest_posts(database, post_table.c.user_id == user_id, before)


async def group_posts(
    database: AppDatabase, group_id: int, before: int | None = None
) -> list[Record]:
    """A page of the posts made in a group, for its page (see _latest_posts)."""
    return await _latest_posts(database, post_table.c.group_id == group_id, before)
