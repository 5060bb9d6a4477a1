"""How a post, a comment and their authors are described: one shape for the
server's templates, the JSON API and the live events alike, so that the
Jinja partial and broadcast.js's template render the same thing.

The models return rows; this module turns them into these dicts. It needs
no request, only where uploaded images are served (MEDIA_URL).
"""

from dataclasses import dataclass

from db import isoformat
from utilities.avatars import avatar_url


@dataclass(frozen=True)
class Presenter:
    media_url: str

    def author(self, username: str, image: str | None, display_name: str | None) -> dict:
        """Who wrote or did something: their @name, and the name they
        chose to show beside it (None when they chose none)."""
        return {
            "username": username,
            "display_name": display_name,
            "avatar": avatar_url(self.media_url, image, "sm"),
            "url": self.person(username)["url"],
        }

    def author_of(self, row) -> dict:
        """The author of a row with username, image and display_name (a user,
        a post)."""
        return self.author(row["username"], row["image"], row["display_name"])

    def person(self, username: str) -> dict:
        """Someone a post names, as its links need them."""
        # Usernames are [A-Za-z0-9_]: nothing to escape.
        return {"username": username, "url": f"/user/{username}"}

    def mentions(self, names: str | None) -> list[dict]:
        """The people a post names, from their names as "alice,bob" (or None)."""
        return [self.person(name) for name in (names or "").split(",") if name]

    def post_url(self, post_uid: str, comment_uid: str | None = None) -> str:
        """Where a post is shown, at one of its comments if given."""
        url = f"/posts/{post_uid}"  # uids are [0-9a-f-]: nothing to escape
        return f"{url}#comment-{comment_uid}" if comment_uid else url

    def comment(self, row, likers: list[str] = ()) -> dict:
        """A comment with its likes, from a row with uid, body, created,
        edited (None if never), username, display_name, image and mentions
        (the names of the people it mentions, "alice,bob", or None); a new
        comment has no likes yet."""
        return {
            "uid": row["uid"],
            "body": row["body"],
            "mentions": self.mentions(row["mentions"]),
            "created": isoformat(row["created"]),
            "edited": row["edited"] and isoformat(row["edited"]),
            "author": self.author_of(row),
            "likes": len(likers),
            "likers": list(likers),
        }

    def group(self, name: str, slug: str) -> dict:
        """The group a post was made in, as the home page labels it."""
        return {"name": name, "url": f"/groups/{slug}"}  # slugs are [a-z0-9-]

    def post(
        self, row, likers: list[str], comments: list[dict], group: dict | None = None
    ) -> dict:
        """A post with its likes and comments, and its group's label if it was
        made in one and is shown outside it."""
        return {**self.comment(row, likers), "comments": comments, "group": group}

    def posts(
        self,
        rows,
        comments: dict[int, list],
        likers: dict[int, list[str]],
        groups: dict[int, dict] | None = None,
    ) -> list[dict]:
        """Posts from rows of POST_COLUMNS, with their comment rows, the
        likers of posts and comments by id, and group labels by post id."""
        return [
            self.post(
                row,
                likers.get(row["id"], []),
                [
                    self.comment(comment, likers.get(comment["id"], []))
                    for comment in comments.get(row["id"], [])
                ],
                (groups or {}).get(row["id"]),
            )
            for row in rows
        ]
