"""How notifications are described for the page: grouped as people expect
("alice and 3 others liked your post"), the same shape broadcast.js builds
for one that arrives live (notificationOf), so that both render alike."""

from databases.interfaces import Record

from db import isoformat
from notification.models import COMMENT, FOLLOW, LIKE, MENTION, REPLY
from post.present import Presenter

# What each kind says after who did it, and what it links to: the post (or
# comment) it is about, or for a follow who followed. broadcast.js: NOTICE_WORDS.
WORDS = {
    FOLLOW: ("followed", "you"),
    LIKE: ("liked", "your {subject}"),
    COMMENT: ("commented on", "your post"),
    REPLY: ("also commented on", "{post_author}'s post"),
    MENTION: ("mentioned you in", "a {subject}"),
}


def _group_key(row: Record) -> tuple:
    """Notifications that read as one: the follows, the likes of one post or
    comment, the comments on one post; each mention stands alone."""
    if row["kind"] == MENTION:
        return (MENTION, row["seq"])
    if row["kind"] == FOLLOW:
        return (FOLLOW,)
    return (row["kind"], row["post_uid"], row["comment_uid"] if row["kind"] == LIKE else None)


def describe(row: Record, present: Presenter) -> dict:
    """One notification, as the page shows it."""
    subject = "comment" if row["comment_uid"] else "post"
    verb, thing = WORDS[row["kind"]]
    actor = present.author(row["actor"], row["actor_image"], row["actor_display_name"])
    url = actor["url"]
    if row["post_uid"]:
        url = present.post_url(row["post_uid"], row["comment_uid"])
    return {
        "seq": row["seq"],
        "kind": row["kind"],
        "unread": bool(row["unread"]),
        "created": isoformat(row["created"]),
        "actor": actor,
        "others": 0,
        "verb": verb,
        "thing": thing.format(subject=subject, post_author=row["post_author"]),
        "url": url,
    }


def grouped(rows: list[Record], present: Presenter) -> list[dict]:
    """Notifications (rows of notifications_page, newest first), those that
    read as one together, where the newest of them stands."""
    groups: dict[tuple, dict] = {}
    actors: dict[tuple, set[str]] = {}
    for row in rows:
        key = _group_key(row)
        if key not in groups:
            groups[key], actors[key] = describe(row, present), {row["actor"]}
            continue
        group = groups[key]
        group["unread"] = group["unread"] or bool(row["unread"])
        if row["actor"] not in actors[key]:
            actors[key].add(row["actor"])
            group["others"] += 1
    return list(groups.values())
