"""Registration, login and logout; profiles and the profile editor."""

import asyncio

from quart import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.datastructures import FileStorage

from db import DATABASE_ERRORS, INTEGRITY_ERRORS, get_database
from feed.channels import PROFILE, Channel
from feed.service import get_feed
from notification.models import bell_columns
from relationship.models import follow_counts, is_following
from user.decorators import login_required, user_or_404
from user.models import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    USERNAME_RULE,
    authenticate,
    create_session,
    create_user,
    end_session,
    is_valid_username,
    password_error,
    session_user_query,
    update_user,
    user_by_session,
    username_key,
    username_taken,
)
from utilities.csrf import csrf_token
from utilities.imaging import (
    MAX_SIDE,
    ImageRejected,
    ImagingBusy,
    remove_profile_image,
    store_profile_image,
)
from utilities.pagination import id_argument
from utilities.ratelimit import rate_limit
from utilities.redirects import safe_next
from utilities.responses import wants_json

user_app = Blueprint("user", __name__)

IMAGING_RETRY_AFTER_S = 60
MISSING_FIELDS = "Please enter username and password"
USERNAME_EXISTS = "Username already exists"
BAD_CREDENTIALS = "Incorrect username or password"


# Files need no one's identity: loading the user for each stylesheet, script
# and avatar a page asks for would cost a query apiece. Logout needs none
# either, and must work while the database is down.
ANONYMOUS_ENDPOINTS = {"static", "media", "user.logout"}

# Who is logged in, and their bell: asked by every page they open.
LOGGED_IN_USER = session_user_query(*bell_columns())


@user_app.before_app_request
async def load_logged_in_user() -> None:
    """Put the logged-in user (or None) in `g.user` for views and templates."""
    if request.endpoint in ANONYMOUS_ENDPOINTS:
        g.user = None
        return
    session_id = session.get("session_id")
    g.user = None
    if session_id:
        g.user = await user_by_session(get_database(), LOGGED_IN_USER, session_id)
    if session_id and g.user is None:
        session.clear()  # logged out elsewhere, or expired


async def read_credentials() -> tuple[str, str]:
    form = await request.form
    return form.get("username", "").strip(), form.get("password", "")


async def registration_error(username: str, password: str) -> str | None:
    """Why these credentials cannot make an account, or None."""
    if not username or not password:
        return MISSING_FIELDS
    return password_error(username, password) or await username_error(username)


async def username_error(username: str, user_id: int | None = None) -> str | None:
    """Why `username` cannot be taken (by `user_id`, when renaming), or None."""
    if not is_valid_username(username):
        return USERNAME_RULE
    if await username_taken(get_database(), username, excluding_user_id=user_id):
        return USERNAME_EXISTS
    return None


@user_app.route("/register", methods=["GET", "POST"])
async def register():
    if g.user:
        return redirect(url_for("feed.home"))
    error, username = None, ""
    if request.method == "POST":
        await rate_limit("REGISTER_LIMIT_PER_ADDRESS", request.remote_addr)
        username, password = await read_credentials()
        error = await registration_error(username, password)
        if not error:
            try:
                user_id = await create_user(get_database(), username, password)
            except INTEGRITY_ERRORS:  # someone took the name a moment ago
                error = USERNAME_EXISTS
        if not error:
            # Logged in at once, as people expect: home greets them with
            # where to start (feed/home.html).
            await start_session(user_id)
            await flash(f"Welcome to QuartFeed, {username}!", "success")
            return redirect(url_for("feed.home"))
    # The username comes back in its box; the password never goes back into
    # a page, so the rules shown beside it (and checked by the browser before
    # sending) are what spare people from typing it twice.
    return await render_template(
        "user/register.html",
        error=error,
        username=username,
        min_password_length=MIN_PASSWORD_LENGTH,
    )


async def start_session(user_id: int) -> None:
    """Log in with a fresh session: nothing from before login carries over,
    and the CSRF token changes (session fixation protection)."""
    lifetime = current_app.permanent_session_lifetime
    session_id = await create_session(get_database(), user_id, lifetime)
    session.clear()
    session["session_id"] = session_id
    csrf_token()


async def limit_login_attempts(username: str) -> None:
    """429 for guessing passwords: many guesses at one account, from however
    many addresses, or at many accounts from one address."""
    await rate_limit("LOGIN_LIMIT_PER_ADDRESS", request.remote_addr)
    if is_valid_username(username):  # no other name is an account (nor a short key)
        await rate_limit("LOGIN_LIMIT_PER_ACCOUNT", username_key(username))


@user_app.route("/login", methods=["GET", "POST"])
async def login():
    next_path = safe_next(request.args.get("next"))
    if g.user:
        return redirect(next_path or url_for("feed.home"))
    error, username = None, ""
    if request.method == "POST":
        username, password = await read_credentials()
        await limit_login_attempts(username)
        next_path = safe_next((await request.form).get("next")) or next_path
        if not username or not password:
            error = MISSING_FIELDS
        elif len(password) > MAX_PASSWORD_LENGTH:
            # Registration refuses such passwords, so none can be right; and
            # passlib raises on one over 4,096 characters rather than hash it.
            error = BAD_CREDENTIALS
        else:
            user = await authenticate(get_database(), username, password)
            if user is None:
                error = BAD_CREDENTIALS
            else:
                await start_session(user["id"])
                return redirect(next_path or url_for("feed.home"))
    return await render_template(
        "user/login.html", error=error, username=username, next_path=next_path
    )


@user_app.route("/logout", methods=["POST"])
async def logout():
    if session_id := session.get("session_id"):
        user_id = None  # whose session it was, as the database says
        try:
            user_id = await end_session(get_database(), session_id)
        except DATABASE_ERRORS as error:
            # The cookie is cleared all the same; a copy of it would work
            # until the session expires (SESSION_LIFETIME_S), and so would
            # the session's open streams.
            current_app.logger.warning("Logout could not end session in the database: %r", error)
        if user_id is not None:  # and its open streams, everywhere
            await get_feed().end_session(user_id, session_id)
    session.clear()
    await flash("You have been logged out", "info")
    return redirect(url_for("user.login"))


@user_app.route("/user/<username>")
async def profile(username: str):
    """A person's profile and their latest posts; ?before=<post id> asks for
    older ones: JSON for infinite scroll, or the page without a stream."""
    user = await user_or_404(username)
    before = id_argument(request.args.get("before"), "before")
    if wants_json():
        page = await get_feed().profile_page(user["id"], before)
        return jsonify(posts=page["posts"], next_before=page["next_before"])
    database = get_database()
    followers, following = await follow_counts(database, user["id"])
    viewer_follows = bool(g.user) and await is_following(database, g.user["id"], user["id"])
    # The page is live for someone logged in: its stream starts where the
    # profile's channel stands, read before the posts: a change in between
    # is then told again, which shows nothing new, rather than never.
    is_live = g.user and before is None
    profile_channel = Channel(PROFILE, user["id"])
    stream_cursor = await get_feed().page_cursor(profile_channel) if is_live else None
    return await render_template(
        "user/profile.html",
        user=user,
        followers=followers,
        following=following,
        viewer_follows=viewer_follows,
        stream_cursor=stream_cursor,
        **await get_feed().profile_page(user["id"], before),
    )


async def render_profile_form(username: str, error: str | None = None):
    page = await render_template(
        "user/edit_profile.html", username=username, error=error, max_side=MAX_SIDE
    )
    return page, 400 if error else 200


async def store_upload(upload: FileStorage | None) -> str | None:
    """Store the chosen image and return its id; None when no file was chosen."""
    if upload is None or not upload.filename:
        return None
    # The upload may have been spooled to disk: read it off the event loop too.
    data = await asyncio.to_thread(upload.read)
    return await store_profile_image(data, current_app.config["MEDIA_ROOT"])


@user_app.route("/profile/edit", methods=["GET", "POST"])
@login_required
async def edit_profile():
    if request.method == "GET":
        return await render_profile_form(g.user["username"])
    username = (await request.form).get("username", "").strip()
    error = await username_error(username, g.user["id"])
    if error:
        return await render_profile_form(username, error)
    try:
        new_image = await store_upload((await request.files).get("profile_image"))
    except ImagingBusy as busy:
        # Not the image's fault: the same upload works a little later.
        page, _ = await render_profile_form(username, str(busy))
        return page, 503, {"Retry-After": str(IMAGING_RETRY_AFTER_S)}
    except ImageRejected as rejected:
        return await render_profile_form(username, str(rejected))
    if not await save_profile(username, new_image):
        return await render_profile_form(username, USERNAME_EXISTS)
    await flash("Your profile has been updated", "success")
    return redirect(url_for("user.profile", username=username))


async def save_profile(username: str, new_image: str | None) -> bool:
    """Write the new name and image to the user row; False if the name was taken.

    Image files are only removed once the row no longer needs them: the new
    ones when the update fails, the old ones when it succeeds.
    """
    media_root = current_app.config["MEDIA_ROOT"]
    changes = {"username": username}
    if new_image:
        changes["image"] = new_image
    try:
        await update_user(get_database(), g.user["id"], **changes)
    except INTEGRITY_ERRORS:  # someone took the name a moment ago
        if new_image:
            remove_profile_image(new_image, media_root)
        return False
    if new_image and g.user["image"]:
        remove_profile_image(g.user["image"], media_root)
    return True
