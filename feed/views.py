"""The home page."""

from quart import Blueprint, render_template

from user.decorators import login_required

feed_app = Blueprint("feed", __name__)


@feed_app.route("/")
@login_required
async def home():
    return await render_template("feed/home.html")
