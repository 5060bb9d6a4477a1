"""The home page, its older pages, and the live event stream."""

import re

from quart import Blueprint, abort, current_app, g, jsonify, render_template, request

from db import get_database
from feed.service import get_feed
from group.models import group_by_slug
from user.decorators import login_required
from utilities.responses import wants_json

feed_app = Blueprint("feed", __name__)

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tells nginx not to hold events back
}


# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
ID_DIGITS = re.compile(r"[0-9]{1,19}")
# Feed and event ids are signed 64-bit integers; SQLite cannot even bind a larger number.
MAX_ID = 2**63 - 1


def id_argument(value: str | None, name: str) -> int | None:
    """A feed or event id from the query string or a header; 400 if it is not one."""
    if value is None or value == "":
        return None
    if ID_DIGITS.fullmatch(value) is None or int(value) > MAX_ID:
        abort(400, description=f"{name} must be an id (a whole number).")
    return int(value)


@feed_app.route("/")
@login_required
async def home():
    page = await get_feed().home_page(g.user["id"])
    return await render_template("feed/home.html", **page)


@feed_app.route("/feed")
@login_required
async def older():
    """The page after feed row `before`: JSON for infinite scroll, or HTML."""
    before = id_argument(request.args.get("before"), "before")
    if before is None:
        abort(400, description="Say which page: /feed?before=<feed id>.")
    page = await get_feed().home_page(g.user["id"], before)
    if wants_json():
        return jsonify(posts=page["posts"], next_before=page["next_before"])
    return await render_template("feed/home.html", older=True, **page)


def stream_cursor() -> int | None:
    """Where a stream resumes. The browser sends Last-Event-ID when it
    reconnects by itself; the page passes ?last_event_id= (its newest event
    id when it was rendered) the first time."""
    cursor = id_argument(request.headers.get("Last-Event-ID"), "Last-Event-ID")
    if cursor is None:
        cursor = id_argument(request.args.get("last_event_id"), "last_event_id")
    return cursor


async def stream_response(stream):
    response = await current_app.make_response((stream, SSE_HEADERS))
    response.timeout = None  # a stream lasts as long as the page is open
    return response


@feed_app.route("/sse")
@login_required
async def sse():
    return await stream_response(get_feed().stream(g.user["id"], stream_cursor()))


@feed_app.route("/groups/<slug>/sse")
@login_required
async def group_sse(slug: str):
    """A group page's stream: its posts, comments, likes and deletions."""
    group = await group_by_slug(get_database(), slug, g.user["id"])
    if group is None:
        abort(404, description="There is no such group.")
    stream = get_feed().group_stream(group["id"], g.user["id"], stream_cursor())
    return await stream_response(stream)
