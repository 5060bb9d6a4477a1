"""Configuration read from the environment, with defaults that need nothing.

`make run` works with no environment at all: an embedded SQLite database and
an in-process event bus. Production sets DATABASE_URL, BROKER_URL and
SECRET_KEY (see README.md). BROKER_URL names one Redis server
(redis://host:6379/0) or a Redis Cluster (redis+cluster://host:7000, any of
its nodes): see utilities/redis_client.py.

Every value is checked here, once, at start-up: a typo such as
`SESSION_COOKIE_SECURE=ture` stops the app with one line that names the
variable, its value and what it accepts, instead of quietly meaning "off".
"""

import os
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

from utilities.redis_client import REDIS_SCHEMES

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

T = TypeVar("T")


class InvalidSetting(ValueError):
    """An environment variable whose value cannot be used."""

    def __init__(self, name: str, value: str, accepted: str) -> None:
        super().__init__(f"{name}={value!r} is not valid: {name} must be {accepted}.")


def _secret_key() -> str:
    """Use SECRET_KEY when set; otherwise a key generated once per checkout.

    Keeping the generated key in a file means sessions survive a restart of
    `make run`, and no key is ever written in the code.
    """
    if key := os.environ.get("SECRET_KEY"):
        return key
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


# --- Parsers: each turns the text of a variable into a value or raises ValueError.

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def parse_flag(text: str) -> bool:
    word = text.lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(text)
    return word in TRUE_WORDS


SIZE_UNITS = {"": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
SIZE_PATTERN = re.compile(r"(\d+)\s*([a-z]*)")


def parse_size(text: str) -> int:
    """A number of bytes: "5242880" or "5MiB" (binary units, to avoid MB's ambiguity)."""
    match = SIZE_PATTERN.fullmatch(text.lower())
    if match is None or match.group(2) not in SIZE_UNITS:
        raise ValueError(text)
    size = int(match.group(1)) * SIZE_UNITS[match.group(2)]
    if size <= 0:
        raise ValueError(text)
    return size


def parse_seconds(text: str) -> float:
    seconds = float(text)
    if not 0 < seconds < float("inf"):  # also refuses "nan"
        raise ValueError(text)
    return seconds


class Rate(NamedTuple):
    """A rate limit: at most `count` attempts in a window of `window_s` seconds."""

    count: int
    window_s: int


RATE_PATTERN = re.compile(r"([0-9]+)\s*/\s*([0-9]+)")


def parse_rate(text: str) -> Rate:
    """Attempts/seconds: "10/300" allows 10 attempts per 300 seconds."""
    match = RATE_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(text)
    rate = Rate(int(match.group(1)), int(match.group(2)))
    if rate.count <= 0 or rate.window_s <= 0:
        raise ValueError(text)
    return rate


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise ValueError(text)
    return text.upper()


def url_parser(*schemes: str) -> Callable[[str], str]:
    """A parser that accepts URLs starting with one of `schemes`."""

    def parse_url(text: str) -> str:
        if not text.startswith(schemes):
            raise ValueError(text)
        return text

    return parse_url


def parse_media_url(text: str) -> str:
    """A path on this site (/media) or another server's URL (https://cdn…/media)."""
    if not text.startswith(("/", "http://", "https://")) or text.startswith("//"):
        raise ValueError(text)
    return text.rstrip("/") or "/"


def from_environment(name: str, default: T, parse: Callable[[str], T], accepted: str) -> T:
    """The variable `name` parsed, `default` when it is unset or empty."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return parse(text)
    except ValueError:
        raise InvalidSetting(name, text, accepted) from None


def flag(name: str, default: bool = False) -> bool:
    return from_environment(name, default, parse_flag, "one of true/false, yes/no, on/off, 1/0")


def seconds(name: str, default: float) -> float:
    return from_environment(name, default, parse_seconds, "a number of seconds above 0, e.g. 15")


# Attempts past these get a 429 (utilities/ratelimit.py). A class of
# students behind one address can still all register and log in at once.
RATE_LIMITS = {
    "LOGIN_LIMIT_PER_ACCOUNT": "10/300",  # password guesses at one account
    "LOGIN_LIMIT_PER_ADDRESS": "100/300",  # guesses at many accounts from one address
    "REGISTER_LIMIT_PER_ADDRESS": "100/3600",
    "POST_LIMIT_PER_USER": "30/60",
    "COMMENT_LIMIT_PER_USER": "60/60",
    "LIKE_LIMIT_PER_USER": "120/60",  # liking and unliking together
    "EDIT_LIMIT_PER_USER": "30/60",  # posts and comments edited
    "MUTE_LIMIT_PER_USER": "60/60",  # groups muted and unmuted
    "GROUP_LIMIT_PER_USER": "10/3600",  # groups started
    # Searches: each reads an index, or the text of the newest posts.
    "SEARCH_LIMIT_PER_USER": "60/60",
    "SEARCH_LIMIT_PER_ADDRESS": "300/60",  # visitors, who have no account to count
    # Settings saved, passwords changed, accounts deleted: the last two
    # are guesses at the password too.
    "SETTINGS_LIMIT_PER_USER": "10/300",
    # Streams opened: a browser opens one, and again as tabs come and go.
    "STREAM_LIMIT_PER_USER": "120/60",
}


def rate(name: str, default: str) -> Rate:
    accepted = "attempts/seconds, both above 0, e.g. 10/300 for 10 attempts in 5 minutes"
    return from_environment(name, parse_rate(default), parse_rate, accepted)


def load() -> dict:
    """Return the application's configuration as a dict for `app.config`.

    Raises InvalidSetting for the first variable whose value is not usable.
    """
    return {
        "DATABASE_URL": from_environment(
            "DATABASE_URL",
            f"sqlite+aiosqlite:///{INSTANCE_DIR / 'quartfeed.db'}",
            url_parser("mysql+aiomysql://", "sqlite+aiosqlite://"),
            "a mysql+aiomysql://user:password@host:3306/name or sqlite+aiosqlite:///path URL",
        ),
        "BROKER_URL": from_environment(
            "BROKER_URL",
            "memory://",
            url_parser("memory://", *REDIS_SCHEMES),
            "memory:// or a redis://host:6379/0 URL (redis+cluster://host:7000: a Redis Cluster)",
        ),
        "SECRET_KEY": _secret_key(),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT") or str(INSTANCE_DIR / "media"),
        "MEDIA_URL": from_environment(
            "MEDIA_URL", "/media", parse_media_url, "a path such as /media or an http(s):// URL"
        ),
        "MAX_CONTENT_LENGTH": from_environment(
            "MAX_CONTENT_LENGTH",
            5 * SIZE_UNITS["mib"],
            parse_size,
            "a number of bytes above 0, e.g. 5242880 or 5MiB (units: KiB, MiB, GiB)",
        ),
        "SSE_HEARTBEAT_S": seconds("SSE_HEARTBEAT_S", 15),
        # A client that takes none of what is sent to it for this long is
        # disconnected (utilities/connections.py): a stream nobody reads ends.
        "SEND_TIMEOUT_S": seconds("SEND_TIMEOUT_S", 30),
        # How often each process looks for fan-outs that another one left
        # unfinished (it died): one small query, whatever the streams.
        "FANOUT_SWEEP_S": seconds("FANOUT_SWEEP_S", 5),
        # Connecting, and each statement: past it, the database counts as down (503).
        "DATABASE_TIMEOUT_S": seconds("DATABASE_TIMEOUT_S", 5),
        "SESSION_COOKIE_SECURE": flag("SESSION_COOKIE_SECURE"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # A login ends this long after it began, even if no one logs out: the
        # server forgets it, and the signed cookie is refused from then on.
        "PERMANENT_SESSION_LIFETIME": timedelta(
            seconds=seconds("SESSION_LIFETIME_S", 14 * 24 * 60 * 60)
        ),
        **{name: rate(name, default) for name, default in RATE_LIMITS.items()},
        # Where the counts live in Redis; tests give each app its own.
        "RATE_LIMIT_PREFIX": "quartfeed:limit:",
        # What the app's own log lines show (Hypercorn's access log is apart).
        "LOG_LEVEL": from_environment(
            "LOG_LEVEL", "INFO", parse_log_level, "one of " + ", ".join(LOG_LEVELS)
        ),
        # Counts every SQL statement the app runs; tests and bench/ read it.
        "COUNT_STATEMENTS": flag("COUNT_STATEMENTS"),
        # Freeze start-up objects and collect garbage less often (bench/ shows why).
        "TUNE_GC": flag("TUNE_GC", default=True),
    }


def load_or_exit() -> dict:
    """`load()`, or stop the program with the one line that says what is wrong.

    A traceback would bury the only useful line under forty others.
    """
    try:
        return load()
    except InvalidSetting as error:
        raise SystemExit(f"QuartFeed cannot start: {error}") from None
