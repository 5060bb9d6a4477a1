"""The home page, its older pages, and the live event stream."""

from quart import Blueprint, abort, current_app, g, jsonify, render_template, request, session

from db import get_database
from feed.channels import GROUP, HOME, BadChannel, Channel, Cursor, parse_cursor, parse_names
from feed.service import get_feed
from group.models import group_by_slug
from user.decorators import login_required, stream_login_required
from utilities.pagination import id_argument
from utilities.ratelimit import rate_limit
from utilities.responses import wants_json

feed_app = Blueprint("feed", __name__)

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tells nginx not to hold events back
}


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
    # A page of older posts is not live: the home page itself is.
    return await render_template("feed/home.html", older=True, **{**page, "stream_cursor": None})


def cursor_argument(value: str | None, name: str) -> Cursor | None:
    """A stream position from a header or the query string; 400 if it is not one."""
    if not value:
        return None
    try:
        return parse_cursor(value, g.user["id"])
    except BadChannel as error:
        abort(400, description=f"{name}: {error}")


def requested_channels() -> list[Channel]:
    """The channels of ?channels=home,group:5,profile:7 (the home page's
    alone when none are named); 400 if one is not a channel."""
    names = request.args.get("channels")
    if not names:
        return [Channel(HOME, g.user["id"])]
    try:
        return parse_names(names, g.user["id"])
    except BadChannel as error:
        abort(400, description=str(error))


async def open_stream(channels: list[Channel]):
    """A stream of `channels`, from where the browser stands in each: its
    Last-Event-ID when it reconnects by itself, else ?cursor=, the position
    the page was rendered with."""
    resumed = cursor_argument(request.headers.get("Last-Event-ID"), "Last-Event-ID")
    rendered = cursor_argument(request.args.get("cursor"), "cursor")
    if request.method == "HEAD":
        # "May I open this stream?", as a page asks after its stream failed:
        # the answer's status and headers at once, and no stream.
        return "", 200, SSE_HEADERS
    await rate_limit("STREAM_LIMIT_PER_USER", g.user["id"])
    start = await get_feed().stream_start(channels, resumed, rendered)
    if start is None:
        abort(404, description="There is no such group or person.")
    stream = get_feed().stream(g.user, session["session_id"], start)
    response = await current_app.make_response((stream, SSE_HEADERS))
    response.timeout = None  # a stream lasts as long as the page is open
    return response


@feed_app.route("/sse")
@stream_login_required
async def sse():
    """The one stream of a browser: every channel its open tabs show."""
    return await open_stream(requested_channels())


@feed_app.route("/groups/<slug>/sse")
@stream_login_required
async def group_sse(slug: str):
    """A group page's stream alone: its posts, comments, likes and deletions."""
    group = await group_by_slug(get_database(), slug, g.user["id"])
    if group is None:
        abort(404, description="There is no such group.")
    return await open_stream([Channel(GROUP, group["id"])])
