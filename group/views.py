"""Groups: the list and its search, starting a group, a group's page, joining
and leaving, muting a group in one's home feed."""

from functools import partial

from databases.interfaces import Record
from quart import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for

from db import get_database
from feed.channels import Channel
from feed.service import get_feed
from group.models import (
    GROUP_CHANNEL,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    SlugsTaken,
    create_group,
    group_by_slug,
    group_members,
    is_valid_slug,
    is_visible_name,
    join_group,
    leave_group,
    list_groups,
    set_muted,
)
from post.models import (
    UNSTORABLE_TEXT_RULE,
    character_count,
    is_storable_text,
)
from user.decorators import login_required
from utilities.pagination import fetch_page, id_argument, page_number
from utilities.ratelimit import rate_limit
from utilities.responses import json_error, wants_json

group_app = Blueprint("group", __name__)

NAME_RULE = f"Give the group a name of 1 to {MAX_NAME_LENGTH} characters."
INVISIBLE_NAME_RULE = (
    "A group's name needs characters people can see, and none that change the direction of text."
)
DESCRIPTION_RULE = f"A group's description is at most {MAX_DESCRIPTION_LENGTH} characters."
NO_SUCH_GROUP = "There is no such group here."
NAME_BUSY = "Other groups of this name were being started at the same moment; please try again."
MEMBERS_MUTE = "Only members can mute a group in their home feed; join it first."
OWNER_CANNOT_LEAVE = (
    "You own this group, so you cannot leave it while it has other members. "
    "You can leave once everyone else has."
)


def viewer_id() -> int | None:
    return g.user["id"] if g.user else None


def group_error(name: str, description: str) -> str | None:
    """Why a group cannot have this name and description, or None."""
    if not (is_storable_text(name) and is_storable_text(description)):
        return UNSTORABLE_TEXT_RULE
    if not 0 < character_count(name) <= MAX_NAME_LENGTH:
        return NAME_RULE
    if not is_visible_name(name):
        return INVISIBLE_NAME_RULE
    if character_count(description) > MAX_DESCRIPTION_LENGTH:
        return DESCRIPTION_RULE
    return None


async def group_or_404(slug: str) -> Record:
    """The group whose slug this is, as the viewer sees it, or a 404 page."""
    group = await group_by_slug(get_database(), slug, viewer_id()) if is_valid_slug(slug) else None
    if group is None:
        abort(404, description=NO_SUCH_GROUP)
    return group


async def refuse(message: str, back: str):
    """What cannot be done: a 400 with `message` for JSON callers; for a form,
    `message` shown on the page it was sent from."""
    if wants_json():
        return json_error(message, 400)
    await flash(message, "danger")
    return redirect(back)


@group_app.route("/groups")
async def groups():
    """Every group, or those whose name contains ?q=: the viewer's first."""
    search = request.args.get("q", "").strip()
    fetch = partial(list_groups, get_database(), viewer_id(), search=search)
    found = await fetch_page(fetch, page_number(request.args))
    return await render_template(
        "group/groups.html",
        groups=found,
        search=search,
        max_name_length=MAX_NAME_LENGTH,
        max_description_length=MAX_DESCRIPTION_LENGTH,
    )


@group_app.route("/groups", methods=["POST"])
@login_required
async def new_group():
    await rate_limit("GROUP_LIMIT_PER_USER", g.user["id"])
    form = await request.form
    name, description = form.get("name", "").strip(), form.get("description", "").strip()
    if error := group_error(name, description):
        return await refuse(error, url_for("group.groups"))
    try:
        slug = await create_group(get_database(), g.user["id"], name, description)
    except SlugsTaken:
        abort(409, description=NAME_BUSY)
    url = url_for("group.group_page", slug=slug)
    if wants_json():
        return jsonify(slug=slug, url=url), 201
    await flash(f"Created {name}", "success")
    return redirect(url)


@group_app.route("/groups/<slug>")
async def group_page(slug: str):
    """A group's page and its latest posts; ?before=<post id> asks for older
    ones: JSON for infinite scroll, or the page without a stream."""
    group = await group_or_404(slug)
    before = id_argument(request.args.get("before"), "before")
    if wants_json():
        page = await get_feed().group_page(group["id"], before)
        return jsonify(posts=page["posts"], next_before=page["next_before"])
    # Live for someone logged in, from where the group's channel stands,
    # read before the posts: a change in between is told again, not lost.
    is_live = g.user and before is None
    channel = Channel(GROUP_CHANNEL, group["id"])
    stream_cursor = await get_feed().page_cursor(channel) if is_live else None
    return await render_template(
        "group/group.html",
        group=group,
        stream_cursor=stream_cursor,
        members=await group_members(get_database(), group["id"]),
        **await get_feed().group_page(group["id"], before),
    )


async def membership_changed(group: Record, message: str):
    """After a join or a leave: the viewer's membership and the group's size
    for JSON callers; for a form, back to the group's page, saying `message`."""
    if wants_json():
        now = await group_by_slug(get_database(), group["slug"], g.user["id"])
        return jsonify(member=now["viewer_role"] is not None, members=now["members"])
    await flash(message, "success")
    return redirect(url_for("group.group_page", slug=group["slug"]))


@group_app.route("/groups/<slug>/join", methods=["POST"])
@login_required
async def join(slug: str):
    group = await group_or_404(slug)
    await join_group(get_database(), group["id"], g.user["id"])
    return await membership_changed(group, f"Joined {group['name']}")


@group_app.route("/groups/<slug>/leave", methods=["POST"])
@login_required
async def leave(slug: str):
    group = await group_or_404(slug)
    if not await leave_group(get_database(), group["id"], g.user["id"]):
        return await refuse(OWNER_CANNOT_LEAVE, url_for("group.group_page", slug=slug))
    return await membership_changed(group, f"Left {group['name']}")


async def change_muting(slug: str, muted: bool):
    """Mute or unmute a group in the viewer's home feed: JSON for fetch(),
    else back to the group's page, saying so."""
    await rate_limit("MUTE_LIMIT_PER_USER", g.user["id"])
    group = await group_or_404(slug)
    if group["viewer_role"] is None:
        abort(403, description=MEMBERS_MUTE)
    await set_muted(get_database(), group["id"], g.user["id"], muted)
    if wants_json():
        return jsonify(muted=muted)
    said = "stay on its page" if muted else "reach your home feed again"
    await flash(f"New posts in {group['name']} will {said}.", "success")
    return redirect(url_for("group.group_page", slug=slug))


@group_app.route("/groups/<slug>/mute", methods=["POST"])
@login_required
async def mute(slug: str):
    return await change_muting(slug, True)


@group_app.route("/groups/<slug>/unmute", methods=["POST"])
@login_required
async def unmute(slug: str):
    return await change_muting(slug, False)
