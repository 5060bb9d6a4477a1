"""How a post or a comment that a search found is shown: as a comment is
described everywhere (post.present), with where it is read in full."""

from databases.interfaces import Record

from post.present import Presenter


def found_item(row: Record, present: Presenter) -> dict:
    """A row of search.models.found_posts: a post links to its page, a
    comment to its place on its post's page."""
    is_comment = row["parent_uid"] is not None
    url = (
        present.post_url(row["parent_uid"], row["uid"])
        if is_comment
        else present.post_url(row["uid"])
    )
    return {**present.comment(row), "is_comment": is_comment, "url": url}
