"""What a browser does, for tests: read the CSRF token off a page, fill forms."""

import io
import json
import re
import shutil
import subprocess

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from db import metadata
from feed.channels import HOME, Channel
from settings import RATE_LIMITS, Rate
from tests.conftest import ROOT, unavailable
from user.models import insert_user, user_by_name, user_table

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
# Where a live page's stream starts: its channel, at the newest event it shows.
STREAM_CURSOR = re.compile(r'data-stream-cursor="([^"]+)"')
PASSWORD = "correct horse battery staple"


async def csrf_token_from(client, path: str = "/login") -> str:
    """The token a browser would find in the page's <meta name="csrf-token">."""
    response = await client.get(path)
    match = CSRF_META.search(await response.get_data(as_text=True))
    assert match, f"no csrf-token meta tag on {path}"
    return match.group(1)


async def post_form(client, path: str, form: dict, token_page: str = "/login"):
    """Submit a form the way the page would, CSRF token included."""
    token = await csrf_token_from(client, token_page)
    return await client.post(path, form={"csrf_token": token, **form})


async def post_json(client, path: str, payload: dict, token_page: str = "/"):
    token = await csrf_token_from(client, token_page)
    return await client.post(path, json=payload, headers={"X-CSRFToken": token})


async def register(client, username: str, password: str = PASSWORD):
    """Register `username`, and log out again: registering logs in, and tests
    register several people on one client, then log in as whom they choose."""
    response = await post_form(
        client, "/register", {"username": username, "password": password}, "/register"
    )
    if response.status_code == 302:
        await logout(client)
    return response


async def login(client, username: str, password: str = PASSWORD):
    return await post_form(client, "/login", {"username": username, "password": password})


async def log_in(client, username: str, password: str, address: str = "192.0.2.1"):
    """A login form sent from `address`."""
    token = await csrf_token_from(client, "/login")
    form = {"csrf_token": token, "username": username, "password": password}
    return await client.post("/login", form=form, scope_base={"client": (address, 40000)})


async def register_and_login(client, username: str, password: str = PASSWORD):
    await register(client, username, password)
    response = await login(client, username, password)
    assert response.status_code == 302, "login failed"
    return response


async def logged_in(app, database, usernames: list[str]) -> tuple[dict, dict]:
    """A test client each for people who registered and logged in, and
    their user rows, both by username."""
    clients = {}
    for username in usernames:
        clients[username] = app.test_client()
        await register_and_login(clients[username], username)
    users = {username: await user_by_name(database, username) for username in usernames}
    return clients, users


async def logout(client):
    return await post_form(client, "/logout", {}, "/")


async def text_of(response) -> str:
    return await response.get_data(as_text=True)


def count_rows(database, table_name: str):
    """Awaitable: how many rows `table_name` holds."""
    table = metadata.tables[table_name]
    return database.fetch_val(sa.select(sa.func.count()).select_from(table))


async def post_files(client, path: str, form: dict, files: dict, token_page: str):
    """Submit a multipart form (enctype="multipart/form-data") with its files."""
    token = await csrf_token_from(client, token_page)
    return await client.post(path, form={"csrf_token": token, **form}, files=files)


def upload(data: bytes, filename: str = "picture.png") -> FileStorage:
    """A file as a browser's file input sends it: typed by its name, not its bytes."""
    return FileStorage(io.BytesIO(data), filename=filename, content_type="image/png")


async def create_users(database, usernames: list[str]) -> dict[str, int]:
    """Insert users straight into the table, oldest first, and return their ids.

    Faster than registering when a test only needs people to exist: no
    password hashing. They cannot log in.
    """
    for username in usernames:
        await insert_user(database, username, "!")
    return await user_ids(database)


async def user_ids(database) -> dict[str, int]:
    """Every user's id, by username."""
    rows = await database.fetch_all(sa.select(user_table.c.username, user_table.c.id))
    return {row["username"]: row["id"] for row in rows}


def count_calls(monkeypatch, module, name: str) -> list:
    """Replace the async function `module.name` with one that records the
    arguments of each call, then does what the original does."""
    calls = []
    original = getattr(module, name)

    async def recorded(*args):
        calls.append(args)
        return await original(*args)

    monkeypatch.setattr(module, name, recorded)
    return calls


async def replayed_home(feed, user_id: int) -> list[tuple[int, str, dict]]:
    """(event id, action, data) of everything a person's home channel would
    replay from its start."""
    events = await feed.missed_events(Channel(HOME, user_id), 0, 1000)
    return [(event.event_id, event.action, json.loads(event.data)) for event in events]


def without_rate_limits(app_config: dict) -> dict:
    """`app_config` with limits no test reaches: tests that send thousands of
    requests would otherwise get 429s."""
    return {**app_config, **dict.fromkeys(RATE_LIMITS, Rate(count=10**9, window_s=1))}


BROADCAST_JS = ROOT / "static/js/broadcast.js"


def run_with_broadcast_js(script: str, payload: object) -> object:
    """Run `script` in Node.js with broadcast.js's path as its argument and
    `payload` as JSON on its standard input; what it prints, as JSON."""
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js is not installed")
    result = subprocess.run(
        [node, "-e", script, str(BROADCAST_JS)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


async def sent(client, path: str, payload: dict) -> tuple[int, dict]:
    """The status and JSON answer of a logged-in page's POST."""
    response = await post_json(client, path, payload)
    return response.status_code, await response.get_json()


async def a_post_with_a_comment(clients, text: str = "a post") -> tuple[dict, dict]:
    """alice's post (`text`), and bob's comment on it, as their pages send them."""
    _, post = await sent(clients["alice"], "/post", {"post": text})
    _, comment = await sent(clients["bob"], "/comment", {"post_uid": post["uid"], "comment": "hi"})
    return post, comment
