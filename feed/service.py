"""The feed service: what the views ask for, one function per action.

Writing a post, a comment or a like stores it (`feed.models`), describes it
(`post.present`) and publishes the event that tells its readers (the bus),
in that order and in one place: a post travels one way, from the view that
received it to the streams that show it.

Each event is published after its transaction commits, never before: a
stream that hears of it can always read it from the database. Writers do
not wait for each other; a reader's events may arrive out of order, and the
stream puts them back in order (see `feed.sse`).
"""

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from databases.interfaces import Record
from quart import current_app

from db import AppDatabase, utc_now
from feed import models
from feed.events import Bus, FeedEvent
from feed.sse import event_stream
from feed.wire import encode_data
from post.models import comments_and_likers, posts_by_user
from post.present import Presenter
from utilities.errors import BROKER_ERRORS

logger = logging.getLogger(__name__)


def post_event_data(post: dict) -> dict:
    return {"post": post}


def comment_event_data(post_uid: str, comment: dict) -> dict:
    return {"post_uid": post_uid, "comment": comment}


def like_event_data(
    post_uid: str, comment_uid: str | None, username: str, likers: list[str]
) -> dict:
    """A like or unlike of a post, or of one of its comments (`comment_uid`)."""
    return {
        "post_uid": post_uid,
        "comment_uid": comment_uid,
        "user": username,
        "likes": len(likers),
        "likers": likers,
    }


def delete_event_data(post_uid: str, comment_uid: str | None) -> dict:
    """A post deleted (with its comments), or one of its comments."""
    return {"post_uid": post_uid, "comment_uid": comment_uid}


def thread_of(post: Record) -> tuple[models.Thread, str, str | None]:
    """(the thread, the post's uid, the comment's uid or None) for a row of
    `post_by_uid`, which is a post or a comment."""
    if post["parent_post_id"] is None:
        return models.Thread(post["id"], post["group_id"]), post["uid"], None
    thread = models.Thread(post["parent_post_id"], post["group_id"])
    return thread, post["parent_uid"], post["uid"]


def _event(action: str, data: dict, told: models.Told) -> FeedEvent:
    return FeedEvent(action, encode_data(data), told.readers, told.group)


def _written(uid: str, body: str, now: datetime, author: Record) -> dict:
    """The fields of a just-written post, shaped like a row of POST_COLUMNS."""
    return {
        "uid": uid,
        "body": body,
        "created": now,
        "username": author["username"],
        "image": author["image"],
    }


@dataclass(frozen=True)
class Feed:
    """The feed of one app: its database, its bus and how it describes posts."""

    database: AppDatabase
    bus: Bus
    present: Presenter

    # --- Writing: store, describe, and the event that tells the readers. ----

    async def create_post(
        self, author: Record, body: str, group: Record | None = None
    ) -> tuple[dict, FeedEvent]:
        """A post, or with `group` (a row of `group_by_slug`) a post in a group."""
        now = utc_now()
        group_id = group and group["id"]
        uid, told = await models.write_post(self.database, author["id"], body, now, group_id)
        label = group and self.present.group(group["name"], group["slug"])
        post = self.present.post(_written(uid, body, now, author), [], [], label)
        return post, _event("post", post_event_data(post), told)

    async def create_comment(
        self, author: Record, parent: Record, body: str
    ) -> tuple[dict, FeedEvent]:
        """Comment on a post (a row of `post_by_uid`)."""
        now = utc_now()
        thread, parent_uid, _ = thread_of(parent)
        uid, told = await models.write_comment(self.database, author["id"], thread, body, now)
        comment = self.present.comment(_written(uid, body, now, author))
        return comment, _event("comment", comment_event_data(parent_uid, comment), told)

    async def change_like(
        self, user: Record, post: Record, like: bool
    ) -> tuple[dict, FeedEvent | None]:
        """Like or unlike a post or a comment (a row of `post_by_uid`); the
        event is None when nothing changed."""
        thread, post_uid, comment_uid = thread_of(post)
        likers, told = await models.write_like(
            self.database, user["id"], post["id"], thread, like, utc_now()
        )
        state = {"liked": user["username"] in likers, "likes": len(likers), "likers": likers}
        if told is None:
            return state, None
        data = like_event_data(post_uid, comment_uid, user["username"], likers)
        return state, _event("like" if like else "unlike", data, told)

    async def delete(self, user: Record, post: Record) -> FeedEvent:
        """Delete a post or a comment (a row of `post_by_uid`)."""
        thread, post_uid, comment_uid = thread_of(post)
        told = await models.write_delete(self.database, user["id"], post["id"], thread, utc_now())
        return _event("delete", delete_event_data(post_uid, comment_uid), told)

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

    async def _publish(self, event: FeedEvent) -> None:
        """Tell the readers' open streams. The write is committed already, so
        a broker that is down loses nothing: its loss ends every stream, and
        each replays the event from the database when it reconnects."""
        try:
            await self.bus.publish(event)
        except BROKER_ERRORS as error:
            logger.warning("Event not published, streams will replay it: %s", error)

    # --- Reading ------------------------------------------------------------

    async def home_page(self, user_id: int, before: int | None = None) -> dict:
        """A page of the home feed: its posts described, and where the next
        page and the event stream start."""
        page = await models.home_page(self.database, user_id, before)
        groups = {
            row["id"]: self.present.group(row["group_name"], row["group_slug"])
            for row in page["posts"]
            if row["group_slug"] is not None
        }
        posts = self.present.posts(page["posts"], page["comments"], page["likers"], groups)
        return {
            "posts": posts,
            "next_before": page["next_before"],
            "last_event_id": page["last_event_id"],
        }

    async def profile_posts(self, user_id: int) -> list[dict]:
        """A user's own latest posts, with their comments and likes."""
        rows = await posts_by_user(self.database, user_id)
        comments, likers = await comments_and_likers(self.database, rows)
        return self.present.posts(rows, comments, likers)

    async def newest_event_id(self, user_id: int) -> int:
        """Where the reader's event stream starts, for a page other than the
        home page (which has it from `home_page`)."""
        return await models.newest_event_id(self.database, user_id)

    async def events_after(self, user_id: int, after: int) -> list[tuple[int, str, dict]]:
        """(event id, action, data) of what a reader missed after the event id
        `after`, oldest first, described exactly like the live events."""
        rows, likers = await models.events_after(self.database, user_id, after)
        return self._replayed(rows, likers)

    async def group_events_after(self, group_id: int, after: int) -> list[tuple[int, str, dict]]:
        """The same for a group's stream."""
        rows, likers = await models.group_events_after(self.database, group_id, after)
        return self._replayed(rows, likers)

    def _replayed(self, rows: list[Record], likers: dict) -> list[tuple[int, str, dict]]:
        return [(row["event_id"], row["action"], self._replayed_data(row, likers)) for row in rows]

    def _replayed_data(self, row: Record, likers: dict[int, list[str]]) -> dict:
        if row["action"] == "post":
            label = row["group_slug"] and self.present.group(row["group_name"], row["group_slug"])
            return post_event_data(self.present.post(row, [], [], label))
        if row["action"] == "comment":
            return comment_event_data(row["parent_uid"], self.present.comment(row))
        # A like, an unlike or a deletion: of a post, or of a comment on one.
        post_uid, comment_uid = row["uid"], None
        if row["parent_uid"] is not None:
            post_uid, comment_uid = row["parent_uid"], row["uid"]
        if row["action"] == "delete":
            return delete_event_data(post_uid, comment_uid)
        liked = likers.get(row["post_id"], [])
        return like_event_data(post_uid, comment_uid, row["actor_name"], liked)

    def stream(self, user_id: int, cursor: int | None) -> AsyncIterator[bytes]:
        """The bytes of a reader's event stream (see `feed.sse`)."""
        return event_stream(
            lambda: self.bus.subscribe(user_id),
            cursor,
            lambda after: self.events_after(user_id, after),
        )

    def group_stream(
        self, group_id: int, user_id: int, cursor: int | None
    ) -> AsyncIterator[bytes]:
        """The bytes of a group page's event stream, opened by `user_id`."""
        return event_stream(
            lambda: self.bus.subscribe_group(group_id, user_id),
            cursor,
            lambda after: self.group_events_after(group_id, after),
        )


def get_feed() -> Feed:
    """The app's feed service, for views."""
    return current_app.extensions["feed"]
