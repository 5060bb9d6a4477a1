"""/settings: what people say of themselves, their password, their account.

Every form asks only for what it changes, and each write is rate limited
(SETTINGS_LIMIT_PER_USER): the password forms are guesses at the password
too. A password is checked and hashed off the event loop (user.models).
"""

import asyncio

from quart import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from db import get_database
from feed.service import get_feed
from user.decorators import login_required
from user.models import (
    MAX_BIO_LENGTH,
    MAX_DISPLAY_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    change_password,
    clean_bio,
    clean_display_name,
    hash_password,
    password_error,
    update_user,
    verify_password,
)
from utilities.imaging import remove_profile_image
from utilities.ratelimit import rate_limit

account_app = Blueprint("account", __name__)

WRONG_PASSWORD = "That is not your current password"
# Which form of the page an error is about: it is shown in that form.
PROFILE, PASSWORD, DELETION = "profile", "password", "deletion"


async def render_settings(errors: dict[str, str] | None = None, status: int = 200):
    """The settings page, with an error in the form it is about, if any."""
    page = await render_template(
        "account/settings.html",
        errors=errors or {},
        max_display_name_length=MAX_DISPLAY_NAME_LENGTH,
        max_bio_length=MAX_BIO_LENGTH,
        min_password_length=MIN_PASSWORD_LENGTH,
    )
    return page, status


async def limited_form() -> dict:
    """The form of a settings write, counted against the person's limit."""
    await rate_limit("SETTINGS_LIMIT_PER_USER", g.user["id"])
    return await request.form


async def is_current_password(password: str) -> bool:
    """Whether `password` is the logged-in person's (never for one longer
    than any password can be: see user.views.login)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    matches, _ = await verify_password(password, g.user["password"])
    return matches


@account_app.route("/settings", methods=["GET", "POST"])
@login_required
async def settings():
    """The page; a POST saves the display name and the bio."""
    if request.method == "GET":
        return await render_settings()
    form = await limited_form()
    try:
        display_name = clean_display_name(form.get("display_name", ""))
        bio = clean_bio(form.get("bio", ""))
    except ValueError as rejected:
        return await render_settings({PROFILE: str(rejected)}, 400)
    await update_user(get_database(), g.user["id"], display_name=display_name, bio=bio)
    await flash("Your profile has been updated", "success")
    return redirect(url_for("account.settings"))


@account_app.route("/settings/password", methods=["POST"])
@login_required
async def new_password():
    """Change the password; every other session of the account ends, with
    its open streams. This one stays logged in."""
    form = await limited_form()
    new = form.get("new_password", "")
    if not await is_current_password(form.get("current_password", "")):
        return await render_settings({PASSWORD: WRONG_PASSWORD}, 403)
    if error := password_error(g.user["username"], new):
        return await render_settings({PASSWORD: error}, 400)
    this_session = session["session_id"]
    ended = await change_password(
        get_database(), g.user["id"], await hash_password(new), this_session
    )
    await get_feed().end_sessions(g.user["id"], ended)
    await flash("Your password has been changed; your other sessions are logged out", "success")
    return redirect(url_for("account.settings"))


@account_app.route("/settings/delete", methods=["POST"])
@login_required
async def delete_account():
    """Delete the account, after its password (see Feed.close_account)."""
    form = await limited_form()
    if not await is_current_password(form.get("password", "")):
        return await render_settings({DELETION: WRONG_PASSWORD}, 403)
    await get_feed().close_account(g.user)
    if g.user["image"]:
        media_root = current_app.config["MEDIA_ROOT"]
        await asyncio.to_thread(remove_profile_image, g.user["image"], media_root)
    session.clear()
    await flash("Your account has been deleted. Goodbye!", "info")
    return redirect(url_for("user.login"))
