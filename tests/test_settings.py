"""settings.py: every variable is checked at start-up, and a bad value stops
the app with one line that names it."""

import subprocess
import sys
from datetime import timedelta

import pytest

import settings
from tests.conftest import ROOT

BAD_VALUES = [
    ("SESSION_COOKIE_SECURE", "ture", "one of true/false, yes/no, on/off, 1/0"),
    ("COUNT_STATEMENTS", "maybe", "one of true/false"),
    ("MAX_CONTENT_LENGTH", "5MB", "a number of bytes above 0, e.g. 5242880 or 5MiB"),
    ("MAX_CONTENT_LENGTH", "0", "a number of bytes above 0"),
    ("SSE_HEARTBEAT_S", "-1", "a number of seconds above 0"),
    ("SSE_HEARTBEAT_S", "nan", "a number of seconds above 0"),
    ("DATABASE_URL", "postgres://localhost/quartfeed", "a mysql+aiomysql://"),
    ("BROKER_URL", "amqp://localhost", "memory:// or a redis://"),
    ("MEDIA_URL", "media", "a path such as /media or an http(s):// URL"),
    ("LOGIN_LIMIT_PER_ACCOUNT", "10", "attempts/seconds, both above 0, e.g. 10/300"),
    ("POST_LIMIT_PER_USER", "0/60", "attempts/seconds, both above 0"),
    ("SEND_TIMEOUT_S", "0", "a number of seconds above 0"),
]


@pytest.mark.parametrize(("name", "value", "accepted"), BAD_VALUES)
def test_a_bad_value_names_the_variable_the_value_and_what_is_accepted(
    monkeypatch, name, value, accepted
):
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.InvalidSetting) as raised:
        settings.load()
    message = str(raised.value)
    assert message.startswith(f"{name}={value!r} is not valid: {name} must be ")
    assert accepted in message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SESSION_COOKIE_SECURE", "TRUE", True),
        ("SESSION_COOKIE_SECURE", " off ", False),
        ("TUNE_GC", "0", False),
        ("MAX_CONTENT_LENGTH", "5MiB", 5 * 1024 * 1024),
        ("MAX_CONTENT_LENGTH", "1048576", 1024 * 1024),
        ("MAX_CONTENT_LENGTH", "64 KiB", 64 * 1024),
        ("SSE_HEARTBEAT_S", "0.5", 0.5),
        ("MEDIA_URL", "https://cdn.example.com/media/", "https://cdn.example.com/media"),
        ("BROKER_URL", "redis://redis:6379/0", "redis://redis:6379/0"),
        ("BROKER_URL", "redis+cluster://redis:7000", "redis+cluster://redis:7000"),
        ("LOGIN_LIMIT_PER_ACCOUNT", "5 / 60", settings.Rate(count=5, window_s=60)),
        ("SEND_TIMEOUT_S", "2.5", 2.5),
    ],
)
def test_good_values_are_read(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    assert settings.load()[name] == expected


def test_the_session_lifetime_is_quarts_own_setting(monkeypatch):
    monkeypatch.setenv("SESSION_LIFETIME_S", "3600")
    assert settings.load()["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=1)


def test_an_empty_variable_means_its_default(monkeypatch):
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "")
    monkeypatch.setenv("BROKER_URL", "")
    loaded = settings.load()
    assert (loaded["MAX_CONTENT_LENGTH"], loaded["BROKER_URL"]) == (5 * 1024 * 1024, "memory://")


STOP_LINE = (
    "QuartFeed cannot start: SESSION_COOKIE_SECURE='ture' is not valid: "
    "SESSION_COOKIE_SECURE must be one of true/false, yes/no, on/off, 1/0."
)


def start_with_bad_setting(*command: str) -> subprocess.CompletedProcess:
    environment = {"PATH": "/usr/bin:/bin", "SESSION_COOKIE_SECURE": "ture"}
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_migrations_stop_with_one_line_on_a_bad_setting():
    """`make run` and the Docker image migrate first, so this is where they stop."""
    result = start_with_bad_setting(sys.executable, "-m", "alembic", "upgrade", "head")
    assert result.returncode == 1
    assert result.stderr.strip() == STOP_LINE


def test_the_server_stops_with_one_line_on_a_bad_setting():
    result = start_with_bad_setting(sys.executable, "-m", "hypercorn", "application:create_app()")
    assert result.stderr.strip() == STOP_LINE
