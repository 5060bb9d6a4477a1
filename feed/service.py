"""The feed service: what the views ask for, one function per action.

Writing a post, a comment or a like stores it with its event, described
once (`feed.describe`, `post.present`), and publishes the event that tells
its channels (the bus), in that order and in one place: a post travels one
way, from the view that received it to the streams that show it.

Each event is published after its transaction commits, never before: a
stream that hears of it can always read it from the database. Writers do
not wait for each other; a channel's events may arrive out of order, and
the stream puts them back in order (see `feed.sse`).
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from databases.interfaces import Record
from quart import current_app

from db import AppDatabase, isoformat, utc_now
from feed import models
from feed.channels import HOME, Channel, Cursor
from feed.describe import (
    comment_event,
    delete_event,
    edit_event,
    farewell_event,
    follow_event,
    like_event,
    post_event,
)
from feed.events import Bus, FeedEvent, SessionEnded, session_key
from feed.fanout import FanoutWorker
from feed.sse import Start, event_stream, plan_start
from post.models import comments_and_likers, post_with_author
from post.present import Presenter
from user.models import users_named
from utilities.errors import BROKER_ERRORS
from utilities.richtext import mentioned_names

logger = logging.getLogger(__name__)


def thread_of(post: Record) -> tuple[models.Thread, str, str | None]:
    """(the thread, the post's uid, the comment's uid or None) for a row of
    `post_by_uid`, which is a post or a comment."""
    if post["parent_post_id"] is None:
        thread = models.Thread(post["id"], post["user_id"], post["group_id"])
        return thread, post["uid"], None
    thread = models.Thread(post["parent_post_id"], post["parent_user_id"], post["group_id"])
    return thread, post["parent_uid"], post["uid"]


def _written(uid: str, body: str, now: datetime, author: Record, mentioned: list[Record]) -> dict:
    """The fields of a just-written post, shaped like a row of POST_COLUMNS."""
    return {
        "uid": uid,
        "body": body,
        "created": now,
        "edited": None,
        "username": author["username"],
        "display_name": author["display_name"],
        "image": author["image"],
        "mentions": ",".join(person["username"] for person in mentioned),
    }


@dataclass(frozen=True)
class Feed:
    """The feed of one app: its database, its bus and how it describes posts."""

    database: AppDatabase
    bus: Bus
    present: Presenter
    # Finishes the fan-outs too large for one transaction (`finish_fanouts`).
    fanout: FanoutWorker = field(default_factory=FanoutWorker)
    # Held by the worker that removes closed accounts (`finish_removals`).
    removing: asyncio.Lock = field(default_factory=asyncio.Lock)

    # --- Writing: store and describe, and the event that tells the readers. --

    async def create_post(
        self, author: Record, body: str, group: Record | None = None
    ) -> tuple[dict, FeedEvent]:
        """A post, or with `group` (a row of `group_by_slug`) a post in a group."""
        now = utc_now()
        label = group and self.present.group(group["name"], group["slug"])
        mentioned = await self._mentioned_in(body)

        def describe(uid: str) -> dict:
            row = _written(uid, body, now, author, mentioned)
            return post_event(self.present.post(row, [], [], label))

        group_id = group and group["id"]
        mentioned_ids = [person["id"] for person in mentioned]
        written = await models.write_post(
            self.database, author["id"], body, now, describe, group_id, mentioned_ids
        )
        return written.payload["post"], self._event("post", written)

    async def create_comment(
        self, author: Record, parent: Record, body: str
    ) -> tuple[dict, FeedEvent]:
        """Comment on a post (a row of `post_by_uid`)."""
        now = utc_now()
        thread, parent_uid, _ = thread_of(parent)
        mentioned = await self._mentioned_in(body)

        def describe(uid: str) -> dict:
            comment = self.present.comment(_written(uid, body, now, author, mentioned))
            return comment_event(parent_uid, parent["author"], comment)

        mentioned_ids = [person["id"] for person in mentioned]
        written = await models.write_comment(
            self.database, author["id"], thread, body, now, describe, mentioned_ids
        )
        return written.payload["comment"], self._event("comment", written)

    async def _mentioned_in(self, body: str) -> list[Record]:
        """(id, username) of the people `body` mentions who exist, each once."""
        names = mentioned_names(body)
        return await users_named(self.database, names) if names else []

    async def follow(self, follower: Record, followed: Record) -> FeedEvent | None:
        """Follow someone; None when already following."""
        payload = follow_event(self.present.author_of(follower))
        written = await models.write_follow(
            self.database, follower["id"], followed["id"], utc_now(), payload
        )
        return written and self._event("follow", written)

    async def unfollow(self, follower: Record, followed: Record) -> FeedEvent | None:
        """Stop following someone; None when not following."""
        payload = follow_event(self.present.author_of(follower))
        written = await models.write_unfollow(
            self.database, follower["id"], followed["id"], utc_now(), payload
        )
        return written and self._event("unfollow", written)

    async def mark_read(self, user_id: int, through: int) -> FeedEvent | None:
        """Mark a person's notifications read up to event `through` of their
        notices channel; None when none of those was unread."""
        written = await models.write_read(self.database, user_id, through, utc_now())
        return written and self._event("read", written)

    async def change_like(
        self, user: Record, post: Record, like: bool
    ) -> tuple[dict, FeedEvent | None]:
        """Like or unlike a post or a comment (a row of `post_by_uid`); the
        event is None when nothing changed."""
        thread, post_uid, comment_uid = thread_of(post)

        def describe(likers: list[str]) -> dict:
            by = self.present.author_of(user)
            return like_event(post_uid, comment_uid, by, likers)

        likers, written = await models.write_like(
            self.database, user["id"], post["id"], thread, like, utc_now(), describe
        )
        state = {"liked": user["username"] in likers, "likes": len(likers), "likers": likers}
        if written is None:
            return state, None
        return state, self._event("like" if like else "unlike", written)

    async def delete(self, user: Record, post: Record) -> FeedEvent:
        """Delete a post or a comment (a row of `post_by_uid`)."""
        thread, post_uid, comment_uid = thread_of(post)
        payload = delete_event(post_uid, comment_uid)
        written = await models.write_delete(
            self.database, user["id"], post["id"], thread, utc_now(), payload
        )
        return self._event("delete", written)

    async def edit(self, author: Record, post: Record, body: str) -> tuple[dict, FeedEvent]:
        """Give a post or a comment (a row of `post_by_uid`) the new text its
        author wrote. Returns the event's data: that text, the people it
        mentions and when it was edited."""
        now = utc_now()
        thread, post_uid, comment_uid = thread_of(post)
        mentioned = await self._mentioned_in(body)
        payload = edit_event(
            post_uid,
            comment_uid,
            self.present.author_of(author),
            body,
            [self.present.person(person["username"]) for person in mentioned],
            isoformat(now),
        )
        mentioned_ids = [person["id"] for person in mentioned]
        written = await models.write_edit(
            self.database, author["id"], post["id"], thread, body, now, payload, mentioned_ids
        )
        return payload, self._event("edit", written)

    async def close_account(self, user: Record) -> bool:
        """Delete a person's account; False if it was deleted already.

        At once, in one transaction: their sessions end and their name is
        free, they leave their groups (each one they own passing to its
        oldest member), and one event naming them tells every page that may
        show their posts or comments to take them off. Their streams end,
        and the fan-out workers take over: the farewell's fan-out, then
        what they wrote, liked and followed (`finish_removals`)."""
        payload = farewell_event(user["username"])
        closed = await models.write_account_closed(self.database, user["id"], utc_now(), payload)
        if closed is None:
            return False
        ended_sessions, written = closed
        await self.end_sessions(user["id"], ended_sessions)
        await self._publish(self._event("delete", written))
        self.fanout.wake()  # the removal, if the farewell left no fan-out to wake it
        return True

    async def finish_removals(self) -> None:
        """Forget what each closed account wrote, liked, followed and was
        told, a batch per transaction: posts first, whose events go with
        them, then the rest, then what their other events said. Their
        followers' follows go once the farewell has reached every follower
        (its fan-out reads them); until then the removal waits for the
        next sweep. One worker of the process at a time: the others wait
        for it, then find nothing left."""
        async with self.removing:
            for removal in await models.removals(self.database):
                await self._remove(removal)

    async def _remove(self, removal: Record) -> None:
        """One closed account's rows (see `finish_removals`)."""
        database, user_id = self.database, removal["user_id"]
        post_id, event_id = 0, 0
        while post_id is not None:
            post_id = await models.forget_posts_by(database, user_id, post_id, removal["created"])
        for forget in (
            models.forget_likes_by,
            models.forget_follows_by,
            models.forget_mentions_and_notices_of,
        ):
            while await forget(database, user_id):
                pass  # the next batch
        while event_id is not None:
            event_id = await models.forget_events_by(
                database, user_id, event_id, removal["event_id"]
            )
        if await models.is_fanning_out(database, removal["event_id"]):
            return  # the followers' turn comes at a later sweep
        while await models.forget_followers_of(database, user_id):
            pass
        await models.removal_done(database, user_id)

    def _event(self, action: str, written: models.Written) -> FeedEvent:
        """The event that tells the readers a write has told; those it has
        not told yet are the fan-out worker's."""
        if written.fanning_out:
            self.fanout.wake()
        return FeedEvent(action, written.data, written.told)

    # --- Publishing: each write, committed, then its event. ----------------

    async def publish_post(self, author: Record, body: str, group: Record | None = None) -> dict:
        post, event = await self.create_post(author, body, group)
        await self._publish(event)
        return post

    async def publish_comment(self, author: Record, parent: Record, body: str) -> dict:
        comment, event = await self.create_comment(author, parent, body)
        await self._publish(event)
        return comment

    async def publish_like(self, user: Record, post: Record, like: bool) -> dict:
        state, event = await self.change_like(user, post, like)
        if event is not None:
            await self._publish(event)
        return state

    async def publish_delete(self, user: Record, post: Record) -> None:
        await self._publish(await self.delete(user, post))

    async def publish_edit(self, author: Record, post: Record, body: str) -> dict:
        edit, event = await self.edit(author, post, body)
        await self._publish(event)
        return edit

    async def publish_follow(self, follower: Record, followed: Record, following: bool) -> None:
        """Follow (or, `following` false, unfollow) someone."""
        change = self.follow if following else self.unfollow
        event = await change(follower, followed)
        if event is not None:
            await self._publish(event)

    async def publish_read(self, user_id: int, through: int) -> None:
        event = await self.mark_read(user_id, through)
        if event is not None:
            await self._publish(event)

    async def _publish(self, message: FeedEvent | SessionEnded) -> None:
        """Tell the open streams. A write is committed already, so a broker
        that is down loses nothing: its loss ends every stream, and each
        replays the event from the database when it reconnects."""
        try:
            await self.bus.publish(message)
        except BROKER_ERRORS as error:
            logger.warning("Not published, streams will replay it: %s", error)

    async def finish_fanouts(self) -> int:
        """Hand out, batch after batch, every fan-out there is to do, each
        batch committed and then published, then the removals of closed
        accounts; return how many batches."""
        batches = 0
        if not await models.any_work_left(self.database):
            return batches
        while (batch := await models.fan_out_next_batch(self.database)) is not None:
            batches += 1
            if batch.told:
                await self._publish(FeedEvent(batch.action, batch.data, batch.told))
        await self.finish_removals()
        return batches

    async def end_session(self, user_id: int, session_id: str) -> None:
        """End every open stream of `user_id`'s session (logged out, or
        revoked), in every process that holds one. Were the broker down, its
        loss ends them all anyway."""
        await self._publish(SessionEnded(user_id, session_key(session_id)))

    async def end_sessions(self, user_id: int, session_ids: list[str]) -> None:
        """End the open streams of these sessions of `user_id` (see `end_session`)."""
        for session_id in session_ids:
            await self.end_session(user_id, session_id)

    # --- Reading ------------------------------------------------------------

    def group_labels(self, rows) -> dict[int, dict]:
        """The label of each post (by id) made in a group, from rows that
        carry group_name and group_slug."""
        return {
            row["id"]: self.present.group(row["group_name"], row["group_slug"])
            for row in rows
            if row["group_slug"] is not None
        }

    async def home_page(self, user_id: int, before: int | None = None) -> dict:
        """A page of the home feed: its posts described, and where the next
        page and the event stream start."""
        page = await models.home_page(self.database, user_id, before)
        groups = self.group_labels(page["posts"])
        posts = self.present.posts(page["posts"], page["comments"], page["likers"], groups)
        home = Channel(HOME, user_id)
        return {
            "posts": posts,
            "next_before": page["next_before"],
            "stream_cursor": str(Cursor(page["epoch"], {home: page["last_event_id"]})),
        }

    async def one_post(self, uid: str) -> dict | None:
        """A post with its comments and likes; None if there is no such post."""
        row = await post_with_author(self.database, uid)
        if row is None:
            return None
        comments, likers = await comments_and_likers(self.database, [row])
        return self.present.posts([row], comments, likers)[0]

    async def profile_page(self, user_id: int, before: int | None = None) -> dict:
        """A page of a person's own posts, each labelled with its group, and
        the post id to ask the next page before (None at the end)."""
        rows = await models.profile_posts(self.database, user_id, before)
        return await self._posts_page(rows, self.group_labels(rows))

    async def group_page(self, group_id: int, before: int | None = None) -> dict:
        """A page of a group's posts, as profile_page. Shown in their group,
        they need no label saying so."""
        rows = await models.group_posts(self.database, group_id, before)
        return await self._posts_page(rows, {})

    async def _posts_page(self, rows, groups: dict[int, dict]) -> dict:
        """Rows of a page of posts (one more than shown when older ones
        remain) described with their comments and likes, in two statements
        however many there are."""
        shown = rows[: models.PAGE_SIZE]
        comments, likers = await comments_and_likers(self.database, shown)
        more = len(rows) > models.PAGE_SIZE
        return {
            "posts": self.present.posts(shown, comments, likers, groups),
            "next_before": shown[-1]["id"] if more else None,
        }

    async def page_cursor(self, channel: Channel) -> str:
        """Where the stream of a page showing `channel`, rendered now, starts."""
        epoch, newest = await models.channel_start(self.database, channel)
        return str(Cursor(epoch, {channel: newest}))

    # --- Streams ------------------------------------------------------------

    async def stream_start(
        self, channels: list[Channel], resumed: Cursor | None, rendered: Cursor | None
    ) -> Start | None:
        """Where a stream of these channels starts (see `feed.sse.plan_start`),
        or None if one of them does not exist (no such group or person)."""
        epoch, newest = await models.newest_event_ids(self.database, channels)
        if len(newest) < len(channels):
            return None
        return plan_start(
            epoch, {channel: newest[channel] for channel in channels}, resumed, rendered
        )

    def stream(self, user: Record, session_id: str, start: Start) -> AsyncIterator[bytes]:
        """The bytes of a stream opened by `user` in a session (see `feed.sse`);
        it ends when the session does.

        The stream keeps the person's id, not their row: a row holds the
        description of the result it came from, a few KiB that each open
        stream would keep for as long as it lasts."""
        channels, user_id, key = list(start.positions), user["id"], session_key(session_id)
        expires_in_s = (user["session_expires"] - utc_now()).total_seconds()
        return event_stream(
            lambda: self.bus.subscribe(channels, user_id, key),
            start,
            self.missed_events,
            expires_in_s,
        )

    async def missed_events(
        self, channel: Channel, after: int, limit: int
    ) -> list[models.StoredEvent]:
        return await models.events_after(self.database, channel, after, limit)


def get_feed() -> Feed:
    """The app's feed service, for views."""
    return current_app.extensions["feed"]
