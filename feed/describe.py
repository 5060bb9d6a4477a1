"""What each event tells the page: the one place its data is described.

An event's data is built once, when its action is written, and stored with
it (`feed.models.event_table`): the live stream and every later replay send
those same bytes, so a replayed event cannot differ from the live one. One
change is made to them: an edit puts its new text into the event that
brought the post or comment (`feed.models.write_edit`), whose old text must
not outlive it.

The shapes below are what static/js/broadcast.js reads. Each event also
carries `channel`, the name of the channel it was sent on (added by
`feed.wire.frame_tail`, since one event is sent on several channels).
tests/test_event_payloads.py checks real events against these declarations.
"""

from typing import NotRequired, TypedDict


class Author(TypedDict):
    username: str
    display_name: str | None  # the name they chose to show beside their username
    avatar: str
    url: str


class Person(TypedDict):
    """Someone a post or comment mentions: their name links to this url."""

    username: str
    url: str


class GroupLabel(TypedDict):
    name: str
    url: str


class CommentData(TypedDict):
    uid: str
    body: str
    mentions: list[Person]  # the people its @names name (utilities.richtext)
    created: str  # ISO 8601 with its offset
    edited: str | None  # when its author last changed its text; None if never
    author: Author
    likes: int
    likers: list[str]


class PostData(CommentData):
    comments: list[CommentData]
    group: GroupLabel | None  # the group it was posted in, shown outside it


class PostEvent(TypedDict):
    post: PostData


class CommentEvent(TypedDict):
    post_uid: str
    post_author: str  # whose post it answers: the notices say "your post" to them
    comment: CommentData


class LikeEvent(TypedDict):
    """A like or an unlike, of a post or of one of its comments."""

    post_uid: str
    comment_uid: str | None  # None when the post itself was liked
    user: str  # who liked or unliked
    by: Author  # the same, as notifications show them
    likes: int
    likers: list[str]  # everyone who liked it, as of this like


class DeleteEvent(TypedDict):
    """A post deleted (with its comments), or one of its comments; or, with
    `author`, everything one person wrote: they deleted their account."""

    post_uid: str | None  # None when `author` is given
    comment_uid: str | None
    author: NotRequired[str]  # whose posts and comments go, all of them


class EditEvent(TypedDict):
    """A post's or a comment's new text, with what goes with it."""

    post_uid: str
    comment_uid: str | None  # None when the post itself was edited
    author: Author  # who wrote it: notices say who mentioned their reader
    body: str
    mentions: list[Person]
    edited: str  # ISO 8601 with its offset


class FollowEvent(TypedDict):
    """Someone followed or unfollowed the person whose notices hear of it."""

    user: Author  # who


class ReadEvent(TypedDict):
    """A person read their notifications (on their notices channel only)."""

    through: int  # every notification up to this event of the channel is read
    unread: int  # how many are left unread, as of this event


# Each action's data, by the SSE event name it is sent under. The notices
# channels carry the same events as the others (a post or a comment that
# mentions the person, an edit that mentions them newly, a comment or a like
# notified to them, a deletion or an unlike that takes one back), and
# follows, unfollows and reads.
PAYLOADS: dict[str, type] = {
    "post": PostEvent,
    "comment": CommentEvent,
    "like": LikeEvent,
    "unlike": LikeEvent,
    "delete": DeleteEvent,
    "edit": EditEvent,
    "follow": FollowEvent,
    "unfollow": FollowEvent,
    "read": ReadEvent,
}


def post_event(post: PostData) -> PostEvent:
    return {"post": post}


def comment_event(post_uid: str, post_author: str, comment: CommentData) -> CommentEvent:
    return {"post_uid": post_uid, "post_author": post_author, "comment": comment}


def like_event(post_uid: str, comment_uid: str | None, by: Author, likers: list[str]) -> LikeEvent:
    return {
        "post_uid": post_uid,
        "comment_uid": comment_uid,
        "user": by["username"],
        "by": by,
        "likes": len(likers),
        "likers": likers,
    }


def delete_event(post_uid: str, comment_uid: str | None) -> DeleteEvent:
    return {"post_uid": post_uid, "comment_uid": comment_uid}


def edit_event(
    post_uid: str,
    comment_uid: str | None,
    author: Author,
    body: str,
    mentions: list[Person],
    edited: str,
) -> EditEvent:
    return {
        "post_uid": post_uid,
        "comment_uid": comment_uid,
        "author": author,
        "body": body,
        "mentions": mentions,
        "edited": edited,
    }


def farewell_event(username: str) -> DeleteEvent:
    return {"post_uid": None, "comment_uid": None, "author": username}


def follow_event(user: Author) -> FollowEvent:
    return {"user": user}


def read_event(through: int, unread: int) -> ReadEvent:
    return {"through": through, "unread": unread}
