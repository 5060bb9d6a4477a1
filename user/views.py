"""Registration, login and logout."""

from urllib.parse import urlsplit

from quart import (
    Blueprint,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from db import INTEGRITY_ERRORS, get_database
from user.models import (
    USERNAME_RULE,
    authenticate,
    create_user,
    is_valid_username,
    user_by_id,
    username_taken,
)
from utilities.csrf import csrf_token

user_app = Blueprint("user", __name__)

MISSING_FIELDS = "Please enter username and password"
USERNAME_EXISTS = "Username already exists"
BAD_CREDENTIALS = "Incorrect username or password"
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte-long password is a cheap denial of service


@user_app.before_app_request
async def load_logged_in_user() -> None:
    """Put the logged-in user (or None) in `g.user` for views and templates."""
    user_id = session.get("user_id")
    g.user = await user_by_id(get_database(), user_id) if user_id else None
    if user_id and g.user is None:
        session.clear()  # the account is gone


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in target):
        return None
    return target


async def read_credentials() -> tuple[str, str]:
    form = await request.form
    return form.get("username", "").strip(), form.get("password", "")


def credentials_error(username: str, password: str) -> str | None:
    if not username or not password:
        return MISSING_FIELDS
    if not is_valid_username(username):
        return USERNAME_RULE
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Passwords are at most {MAX_PASSWORD_LENGTH} characters"
    return None


@user_app.route("/register", methods=["GET", "POST"])
async def register():
    if g.user:
        return redirect(url_for("feed.home"))
    error, username = None, ""
    if request.method == "POST":
        username, password = await read_credentials()
        error = credentials_error(username, password)
        database = get_database()
        if not error and await username_taken(database, username):
            error = USERNAME_EXISTS
        if not error:
            try:
                await create_user(database, username, password)
            except INTEGRITY_ERRORS:  # someone took the name a moment ago
                error = USERNAME_EXISTS
        if not error:
            await flash("You have been registered, please login", "success")
            return redirect(url_for("user.login"))
    return await render_template("user/register.html", error=error, username=username)


def start_session(user_id: int) -> None:
    """Log in with a fresh session: nothing from before login carries over,
    and the CSRF token changes (session fixation protection)."""
    session.clear()
    session["user_id"] = user_id
    csrf_token()


@user_app.route("/login", methods=["GET", "POST"])
async def login():
    next_path = safe_next(request.args.get("next"))
    if g.user:
        return redirect(next_path or url_for("feed.home"))
    error, username = None, ""
    if request.method == "POST":
        username, password = await read_credentials()
        next_path = safe_next((await request.form).get("next")) or next_path
        if not username or not password:
            error = MISSING_FIELDS
        else:
            user = await authenticate(get_database(), username, password)
            if user is None:
                error = BAD_CREDENTIALS
            else:
                start_session(user["id"])
                return redirect(next_path or url_for("feed.home"))
    return await render_template(
        "user/login.html", error=error, username=username, next_path=next_path
    )


@user_app.route("/logout", methods=["POST"])
async def logout():
    session.clear()
    await flash("You have been logged out", "info")
    return redirect(url_for("user.login"))
