"""The notifications page, marking notifications read, and the bell's count."""

from quart import Blueprint, g, jsonify, redirect, render_template, request, url_for

from db import get_database
from feed.service import get_feed
from notification.models import PAGE_SIZE, bell, notifications_page
from notification.present import grouped
from user.decorators import login_required
from utilities.pagination import id_argument
from utilities.responses import wants_json

notification_app = Blueprint("notification", __name__)


@notification_app.route("/notifications")
@login_required
async def notifications():
    """A page of the person's notifications, newest first, grouped ("alice
    and 3 others liked your post"). Reading changes nothing: the page's
    script marks what it shows read once it is open (a GET must be safe to
    repeat and to prefetch), and so does its "Mark all read" button."""
    before = id_argument(request.args.get("before"), "before")
    rows = await notifications_page(get_database(), g.user["id"], before)
    shown = rows[:PAGE_SIZE]
    return await render_template(
        "notification/notifications.html",
        groups=grouped(shown, get_feed().present),
        newest=shown[0]["seq"] if shown and before is None else None,
        next_before=shown[-1]["seq"] if len(rows) > PAGE_SIZE else None,
    )


@notification_app.route("/notifications/unread")
@login_required
async def unread():
    """How many notifications are unread, and as of which event of the
    notices channel: what a page's bell asks after one was taken back."""
    count = await bell(get_database(), g.user["id"])
    return jsonify(unread=count["unread_notices"], seq=count["notices_seq"])


@notification_app.route("/notifications/read", methods=["POST"])
@login_required
async def read():
    """Mark the notifications up to `through` (an event of the notices
    channel) read; without it ("Mark all read"), all there are now. A form,
    from the page's script (JSON back) or its button (back to the page)."""
    through = id_argument((await request.form).get("through"), "through")
    if through is None:
        through = g.user["notices_seq"]
    await get_feed().publish_read(g.user["id"], through)
    if wants_json():
        return jsonify(read_through=through)
    return redirect(url_for("notification.notifications"))
