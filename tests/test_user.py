"""Registration, login, logout and the login_required guard."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from passlib.hash import argon2, pbkdf2_sha256

import user.models
from application import create_app
from db import utc_now
from tests.helpers import (
    PASSWORD,
    count_calls,
    count_rows,
    csrf_token_from,
    login,
    logout,
    post_form,
    register,
    register_and_login,
    text_of,
)
from user.models import insert_user, session_table, user_table

# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE_DATABASE = "mysql+aiomysql://root@127.0.0.1:1/quartfeed"


async def test_register_page_has_form_and_csrf_field(client):
    response = await client.get("/register")
    page = await text_of(response)
    assert response.status_code == 200
    assert 'name="username"' in page and 'name="password"' in page
    assert 'name="csrf_token"' in page
    assert '<meta name="csrf-token"' in page


async def test_registration_stores_a_verifiable_hash(client, database):
    response = await register(client, "alice")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    row = await database.fetch_one(sa.select(user_table).where(user_table.c.username == "alice"))
    assert row["password"] != PASSWORD
    assert row["password"].startswith("$argon2id$")
    assert argon2.verify(PASSWORD, row["password"])


async def test_registering_logs_in_and_lands_on_home_with_a_first_run_guide(client):
    form = {"username": "alice", "password": PASSWORD}
    response = await post_form(client, "/register", form, "/register")
    assert response.headers["Location"] == "/"
    home = await text_of(await client.get("/"))
    assert "Welcome to QuartFeed, alice!" in home
    assert 'id="navbar-username">alice<' in home
    # The guide links where to start.
    assert '<a href="/people">People</a>' in home
    assert '<a href="/groups">Groups</a>' in home


async def test_the_register_page_shows_the_password_rules_before_submitting(client):
    page = await text_of(await client.get("/register"))
    assert 'minlength="8"' in page
    assert "At least 8 characters, and not your username." in page


@pytest.mark.parametrize(
    "form",
    [{"username": "", "password": "pw"}, {"username": "bob", "password": ""}, {}],
    ids=["no-username", "no-password", "nothing"],
)
async def test_registration_requires_both_fields(client, database, form):
    response = await post_form(client, "/register", form, "/register")
    assert response.status_code == 200
    assert "Please enter username and password" in await text_of(response)
    assert await count_rows(database, "user") == 0


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("alice", "7 chars", "Passwords are at least 8 characters"),
        ("alice", "p" * 1025, "Passwords are at most 1024 characters"),
        ("alice_smith", "alice_smith", "Your password cannot be your username"),
        ("alice_smith", "ALICE_Smith", "Your password cannot be your username"),
    ],
    ids=["too-short", "too-long", "username", "username-in-another-case"],
)
async def test_weak_passwords_are_refused(client, database, username, password, message):
    response = await register(client, username, password)
    assert response.status_code == 200
    assert message in await text_of(response)
    assert await count_rows(database, "user") == 0


async def test_eight_characters_are_enough(client):
    response = await register(client, "alice", "8 chars!")
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("second_name", ["alice", "ALICE"])
async def test_a_name_is_taken_whatever_its_case(client, database, second_name):
    await register(client, "alice")
    response = await register(client, second_name, "another password")
    assert response.status_code == 200
    assert "Username already exists" in await text_of(response)
    assert await count_rows(database, "user") == 1


@pytest.mark.parametrize("username", ["has space", "sixteen_chars_xx", "émile", "a-b", "<b>"])
async def test_invalid_username_is_refused(client, database, username):
    response = await register(client, username)
    page = await text_of(response)
    assert response.status_code == 200
    assert "Usernames are 1 to 15 letters, digits or underscores" in page
    assert await count_rows(database, "user") == 0


async def test_form_keeps_what_was_typed_but_escaped(client):
    response = await register(client, '"><script>x</script>')
    page = await text_of(response)
    assert "<script>x</script>" not in page
    assert "&#34;&gt;&lt;script&gt;x&lt;/script&gt;" in page


async def test_login_lands_on_home(client):
    await register(client, "alice")
    response = await login(client, "alice")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = await client.get("/")
    assert home.status_code == 200
    assert 'id="navbar-username">alice<' in await text_of(home)


async def test_login_takes_the_name_in_any_case(client):
    await register(client, "alice")
    response = await login(client, "Alice")
    assert response.headers["Location"] == "/"
    home = await text_of(await client.get("/"))
    assert 'id="navbar-username">alice<' in home  # the name as registered


async def test_unknown_user_and_wrong_password_look_the_same(client, monkeypatch):
    await register(client, "alice")
    verified = count_calls(monkeypatch, user.models, "verify_password")
    wrong_password = await login(client, "alice", "wrong password")
    unknown_user = await login(client, "nobody", PASSWORD)
    assert wrong_password.status_code == unknown_user.status_code == 200
    # The same page but for the name typed into its field.
    wrong_page = (await text_of(wrong_password)).replace('value="alice"', 'value="…"')
    unknown_page = (await text_of(unknown_user)).replace('value="nobody"', 'value="…"')
    assert wrong_page == unknown_page
    assert "Incorrect username or password" in wrong_page
    # And the same work: one Argon2 verification each, so that the time taken
    # does not tell which names exist.
    schemes = [password_hash.split("$")[1] for _, password_hash in verified]
    assert schemes == ["argon2id", "argon2id"]


async def test_an_old_hash_is_replaced_by_argon2_at_login(client, database):
    old_hash = pbkdf2_sha256.using(rounds=29000).hash(PASSWORD)  # as stored before
    await insert_user(database, "veteran", old_hash)
    response = await login(client, "veteran")
    assert response.headers["Location"] == "/"
    query = sa.select(user_table.c.password).where(user_table.c.username == "veteran")
    new_hash = await database.fetch_val(query)
    assert new_hash.startswith("$argon2id$")
    assert argon2.verify(PASSWORD, new_hash)
    await logout(client)
    assert (await login(client, "veteran")).headers["Location"] == "/"
    assert await database.fetch_val(query) == new_hash  # upgraded once, not at each login


async def test_login_requires_both_fields(client):
    response = await post_form(client, "/login", {"username": "alice"})
    assert "Please enter username and password" in await text_of(response)


async def test_logout_ends_the_session(client):
    await register_and_login(client, "alice")
    response = await logout(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    home = await client.get("/")
    assert home.status_code == 302
    assert home.headers["Location"] == "/login?next=%2F"


def session_cookie(client) -> dict[str, str]:
    """A copy of the client's session cookie, as a thief would send it."""
    cookies = {cookie.name: cookie.value for cookie in client.cookie_jar}
    return {"Cookie": f"session={cookies['session']}"}


async def test_logout_ends_the_session_for_every_copy_of_the_cookie(app, client):
    await register_and_login(client, "alice")
    token = await csrf_token_from(client, "/")
    stolen = session_cookie(client)
    thief = app.test_client(use_cookies=False)
    assert (await thief.get("/", headers=stolen)).status_code == 200
    await logout(client)
    home = await thief.get("/", headers=stolen)
    post = await thief.post(
        "/post", json={"post": "still me?"}, headers={**stolen, "X-CSRFToken": token}
    )
    assert home.status_code == 302
    assert post.status_code == 401


async def test_each_login_is_a_session_that_expires(app, client, database):
    await register_and_login(client, "alice")
    session = await database.fetch_one(sa.select(session_table))
    assert session["expires"] - session["created"] == timedelta(days=14)
    assert (await client.get("/")).status_code == 200
    await database.execute(session_table.update().values(expires=utc_now()))
    home = await client.get("/")
    assert home.status_code == 302
    assert home.headers["Location"] == "/login?next=%2F"


async def test_a_new_login_forgets_expired_sessions(client, database):
    await register_and_login(client, "alice")
    await database.execute(session_table.update().values(expires=utc_now()))
    await login(client, "alice")
    assert await count_rows(database, "session") == 1


async def test_logout_works_while_the_database_is_down(app, app_config, client):
    await register_and_login(client, "alice")
    token = await csrf_token_from(client, "/")
    cookie = session_cookie(client)
    down = create_app({**app_config, "DATABASE_URL": UNREACHABLE_DATABASE})
    async with down.test_app():
        visitor = down.test_client(use_cookies=False)
        response = await visitor.post("/logout", form={"csrf_token": token}, headers=cookie)
        new_cookie = response.headers["Set-Cookie"].split(";")[0].removeprefix("session=")
        serializer = down.session_interface.get_signing_serializer(down)
        login_page = await visitor.get("/login", headers={"Cookie": f"session={new_cookie}"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "session_id" not in serializer.loads(new_cookie)
    assert login_page.status_code == 200


async def test_logout_is_post_only(client):
    await register_and_login(client, "alice")
    response = await client.get("/logout")
    assert response.status_code == 405
    assert (await client.get("/")).status_code == 200


async def test_login_rekeys_the_session(client):
    token_before = await csrf_token_from(client, "/login")
    await register_and_login(client, "alice")
    token_after = await csrf_token_from(client, "/")
    assert token_before != token_after


async def test_login_required_redirects_with_next(client):
    response = await client.get("/?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2F%3Fpage%3D2"


async def test_login_required_answers_json_callers_with_401(client):
    response = await client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert await response.get_json() == {"error": "Please log in first."}


async def test_next_is_followed_for_local_paths(client):
    await register(client, "alice")
    response = await post_form(
        client, "/login", {"username": "alice", "password": PASSWORD, "next": "/user/alice"}
    )
    assert response.headers["Location"] == "/user/alice"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "http://evil.example/",
        "https://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\nLocation: http://evil.example",
    ],
)
async def test_next_open_redirects_are_ignored(client, target):
    await register(client, "alice")
    response = await post_form(
        client, "/login", {"username": "alice", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


async def test_files_are_served_without_a_query(client, database):
    await register_and_login(client, "alice")
    before = database.statements
    for path in ["/static/css/quartfeed.css", "/static/js/broadcast.js"]:
        response = await client.get(path)
        assert response.status_code == 200
        assert len(await response.get_data()) > 0
    assert database.statements == before
