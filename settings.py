"""Configuration read from the environment, with defaults that need nothing.

`make run` works with no environment at all: an embedded SQLite database and
an in-process event bus. Production sets DATABASE_URL, BROKER_URL and
SECRET_KEY (see README.md).
"""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


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


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load() -> dict:
    """Return the application's configuration as a dict for `app.config`."""
    return {
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", f"sqlite+aiosqlite:///{INSTANCE_DIR / 'quartfeed.db'}"
        ),
        "BROKER_URL": os.environ.get("BROKER_URL", "memory://"),
        "SECRET_KEY": _secret_key(),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(INSTANCE_DIR / "media")),
        "MEDIA_URL": os.environ.get("MEDIA_URL", "/media"),
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_CONTENT_LENGTH", 5 * 1024 * 1024)),
        "SSE_HEARTBEAT_S": float(os.environ.get("SSE_HEARTBEAT_S", 15)),
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Counts every SQL statement the app runs; tests and bench/ read it.
        "COUNT_STATEMENTS": _flag("COUNT_STATEMENTS"),
        # Freeze start-up objects and collect garbage less often (bench/ shows why).
        "TUNE_GC": _flag("TUNE_GC", default=True),
    }
