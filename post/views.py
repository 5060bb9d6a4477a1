"""Posting, commenting and liking: JSON in, JSON out (plus a plain form for posts)."""

import json

from databases.interfaces import Record
from quart import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import Forbidden, NotFound

from db import get_database
from feed.service import get_feed
from group.models import NotAMember, group_by_slug
from post.models import (
    MAX_BODY_LENGTH,
    UNSTORABLE_TEXT_RULE,
    PostGone,
    clean_body,
    is_storable_text,
    post_by_uid,
)
from user.decorators import login_required
from utilities.errors import render_error
from utilities.ratelimit import rate_limit
from utilities.richtext import rich_text

post_app = Blueprint("post", __name__)
# Templates (and through them broadcast.js) take the limit from here.
post_app.add_app_template_global(MAX_BODY_LENGTH, "MAX_BODY_LENGTH")
# Addresses and mentions in what people write become links (broadcast.js: richText).
post_app.add_app_template_filter(rich_text)

LENGTH_RULE = f"Write between 1 and {MAX_BODY_LENGTH} characters."
MEMBERS_ONLY = "Only members of the group can do that; join it first."
NO_SUCH_POST = "That post does not exist."


# What a write finds inside its transaction: the post deleted, or the writer
# no longer a member, since the view looked.
@post_app.errorhandler(PostGone)
async def post_gone(_: PostGone):
    return await render_error(NotFound(NO_SUCH_POST))


@post_app.errorhandler(NotAMember)
async def not_a_member(_: NotAMember):
    return await render_error(Forbidden(MEMBERS_ONLY))


async def read_payload() -> dict:
    """The request's fields: a JSON object from fetch(), or a plain form.

    Text that no database can store is refused here, once for every field.
    """
    payload = await read_json_object() if request.is_json else (await request.form).to_dict()
    if any(isinstance(value, str) and not is_storable_text(value) for value in payload.values()):
        abort(400, description=UNSTORABLE_TEXT_RULE)
    return payload


async def read_json_object() -> dict:
    """The body as a JSON object; 400 for anything else.

    Quart's get_json(silent=True) only catches ValueError, and deep nesting
    such as "[[[[…" raises RecursionError instead.
    """
    try:
        payload = json.loads(await request.get_data())
    except (ValueError, RecursionError):  # invalid UTF-8 is a ValueError too
        abort(400, description="The body is not valid JSON.")
    if not isinstance(payload, dict):
        abort(400, description="Send a JSON object.")
    return payload


async def find_post(payload: dict) -> Record:
    """The post or comment named by `post_uid`; 404 if there is none."""
    uid = payload.get("post_uid")
    post = await post_by_uid(get_database(), uid) if isinstance(uid, str) else None
    if post is None:
        abort(404, description=NO_SUCH_POST)
    return post


@post_app.route("/post", methods=["POST"])
@login_required
async def add_post():
    await rate_limit("POST_LIMIT_PER_USER", g.user["id"])
    # JSON from the page's script, or the home page's plain form when the
    # browser runs no JavaScript: that one is answered with a redirect.
    from_form = not request.is_json
    payload = await read_payload()
    group = await group_to_post_in(payload.get("group"))
    back = url_for("group.group_page", slug=group["slug"]) if group else url_for("feed.home")
    body = clean_body(payload.get("post"))
    if body is None:
        if not from_form:
            abort(400, description=LENGTH_RULE)
        await flash(LENGTH_RULE, "danger")
        return redirect(back)
    post = await get_feed().publish_post(g.user, body, group)
    if from_form:
        return redirect(back)
    return jsonify(post), 201


async def group_to_post_in(slug: object) -> Record | None:
    """The group named by the `group` field, if any: 404 if there is no such
    group. Whether the poster is a member is checked as the post is written."""
    if slug is None or slug == "":
        return None
    group = None
    if isinstance(slug, str):
        group = await group_by_slug(get_database(), slug, g.user["id"])
    if group is None:
        abort(404, description="There is no such group.")
    return group


@post_app.route("/posts/<uid>")
async def show_post(uid: str):
    """One post with its comments, where notifications link; a comment's
    uid leads to it on its post's page."""
    post = await get_feed().one_post(uid)
    if post is not None:
        return await render_template("post/post.html", post=post)
    comment = await post_by_uid(get_database(), uid)
    if comment is None or comment["parent_uid"] is None:
        abort(404, description=NO_SUCH_POST)
    post_url = url_for("post.show_post", uid=comment["parent_uid"])
    return redirect(f"{post_url}#comment-{uid}")


def required_body(payload: dict, field: str) -> str:
    """The text in `payload[field]`, cleaned; a 400 that says the rule if it breaks it."""
    body = clean_body(payload.get(field))
    if body is None:
        abort(400, description=LENGTH_RULE)
    return body


@post_app.route("/comment", methods=["POST"])
@login_required
async def add_comment():
    await rate_limit("COMMENT_LIMIT_PER_USER", g.user["id"])
    payload = await read_payload()
    body = required_body(payload, "comment")
    parent = await find_post(payload)
    if parent["parent_post_id"] is not None:
        abort(400, description="Comments cannot be commented on; answer the post instead.")
    comment = await get_feed().publish_comment(g.user, parent, body)
    return jsonify(comment), 201


async def set_like(like: bool):
    """Like or unlike a post or a comment."""
    await rate_limit("LIKE_LIMIT_PER_USER", g.user["id"])  # liking and unliking alike
    post = await find_post(await read_payload())
    return jsonify(await get_feed().publish_like(g.user, post, like))


@post_app.route("/like", methods=["POST"])
@login_required
async def like():
    return await set_like(True)


@post_app.route("/unlike", methods=["POST"])
@login_required
async def unlike():
    return await set_like(False)


@post_app.route("/edit", methods=["POST"])
@login_required
async def edit():
    """Give a post or a comment new text: its author only."""
    await rate_limit("EDIT_LIMIT_PER_USER", g.user["id"])
    payload = await read_payload()
    body = required_body(payload, "post")
    post = await find_post(payload)
    if post["user_id"] != g.user["id"]:
        abort(403, description="You can only edit what you wrote.")
    return jsonify(await get_feed().publish_edit(g.user, post, body))


def may_delete(user_id: int, post: Record) -> bool:
    """Authors delete what they wrote; a post's author also deletes the
    comments on it."""
    return user_id in (post["user_id"], post["parent_user_id"])


@post_app.route("/delete", methods=["POST"])
@login_required
async def delete():
    """Delete a post (with its comments and likes) or a comment."""
    post = await find_post(await read_payload())
    if not may_delete(g.user["id"], post):
        abort(403, description="You can only delete what you wrote, or comments on your posts.")
    await get_feed().publish_delete(g.user, post)
    return jsonify(deleted=post["uid"])
