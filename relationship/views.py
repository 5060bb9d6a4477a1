"""Following people, the lists of who follows whom, and the People page."""

from functools import partial

from databases.interfaces import Record
from quart import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for

from db import get_database
from feed.service import get_feed
from relationship.models import (
    follow_counts,
    followed_among,
    followers,
    following,
    is_following,
)
from user.decorators import login_required, user_or_404
from user.models import USERNAME_RULE, is_valid_username, newest_users
from utilities.pagination import Page, fetch_page, page_number, page_url
from utilities.redirects import safe_next
from utilities.responses import wants_json

relationship_app = Blueprint("relationship", __name__)
relationship_app.add_app_template_global(page_url)

CANNOT_FOLLOW_YOURSELF = "You cannot follow or unfollow yourself."


async def someone_else(username: str) -> Record:
    """The user to follow or unfollow: 404 if unknown, 400 if it is the viewer."""
    user = await user_or_404(username)
    if user["id"] == g.user["id"]:
        abort(400, description=CANNOT_FOLLOW_YOURSELF)
    return user


async def change_following(username: str, following: bool, verb: str):
    """Follow (or, `following` false, unfollow) someone, then answer in JSON
    or go back. They are notified of a follow (see feed.service)."""
    user = await someone_else(username)
    database = get_database()
    await get_feed().publish_follow(g.user, user, following)
    if wants_json():
        follower_count, _ = await follow_counts(database, user["id"])
        now_following = await is_following(database, g.user["id"], user["id"])
        return jsonify({"following": now_following, "followers": follower_count})
    await flash(f"{verb} {user['username']}", "success")
    back = safe_next((await request.form).get("next"))
    return redirect(back or url_for("user.profile", username=user["username"]))


@relationship_app.route("/add_friend/<username>", methods=["POST"])
@login_required
async def add_friend(username: str):
    return await change_following(username, True, "Followed")


@relationship_app.route("/remove_friend/<username>", methods=["POST"])
@login_required
async def remove_friend(username: str):
    return await change_following(username, False, "Unfollowed")


async def render_people_list(template: str, people: Page, **context):
    """Render a page that lists people, each with a follow button for the viewer."""
    followed_ids = set()
    if g.user:
        people_ids = [person["id"] for person in people.items]
        followed_ids = await followed_among(get_database(), g.user["id"], people_ids)
    return await render_template(template, people=people, followed_ids=followed_ids, **context)


async def render_follow_list(username: str, fetch_people, list_name: str):
    """One page of `username`'s followers or followings, as `fetch_people` finds them."""
    user = await user_or_404(username)
    fetch = partial(fetch_people, get_database(), user["id"])
    people = await fetch_page(fetch, page_number(request.args))
    return await render_people_list(
        "relationship/follow_list.html", people, user=user, list_name=list_name
    )


@relationship_app.route("/user/<username>/followers")
async def follower_list(username: str):
    return await render_follow_list(username, followers, "followers")


@relationship_app.route("/user/<username>/following")
async def following_list(username: str):
    return await render_follow_list(username, following, "following")


@relationship_app.route("/people")
@login_required
async def people():
    """Recently joined people, or those whose name starts with ?q=."""
    prefix = request.args.get("q", "").strip()
    if prefix and not is_valid_username(prefix):
        # No username can start with this, so there is nothing to look up.
        return await render_people_list(
            "relationship/people.html", Page([], 1, False), prefix=prefix, error=USERNAME_RULE
        )
    fetch = partial(newest_users, get_database(), prefix=prefix)
    found = await fetch_page(fetch, page_number(request.args))
    return await render_people_list("relationship/people.html", found, prefix=prefix, error=None)
