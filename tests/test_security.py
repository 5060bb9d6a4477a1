"""CSRF, cookies, security headers and error pages."""

import re

import pytest

import user.models
from application import create_app
from db import metadata
from tests.helpers import (
    PASSWORD,
    count_calls,
    count_rows,
    create_users,
    csrf_token_from,
    register,
    register_and_login,
    text_of,
)
from user.models import user_by_name


def state_changing_paths() -> list[str]:
    """Every POST route of the app, read from its URL map (a new one is
    covered without a word here); `bob` fills any part of a path."""
    app = create_app({"TESTING": True, "SECRET_KEY": "only for reading routes"})
    rules = [rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]
    return sorted(re.sub(r"<[^>]+>", "bob", rule) for rule in rules)


STATE_CHANGING_PATHS = state_changing_paths()


async def snapshot(client, database) -> dict:
    """What a forged request could change: every table's rows, and alice's session."""
    rows = {}
    for table in metadata.sorted_tables:
        rows[table.name] = [tuple(row) for row in await database.fetch_all(table.select())]
    rows["home page"] = (await client.get("/")).status_code
    return rows


@pytest.fixture
async def alice_with_something_to_change(client, database, feed) -> str:
    """alice logged in, bob to follow, and a post of bob's to comment on or like."""
    await register_and_login(client, "alice")
    await create_users(database, ["bob"])
    bob = await user_by_name(database, "bob")
    post, _ = await feed.create_post(bob, "forge a like for me")
    return post["uid"]


def forged_fields(post_uid: str) -> dict:
    """Fields that every state-changing route would accept, apart from the token."""
    return {
        "username": "mallory",
        "password": PASSWORD,
        "post": "forged",
        "comment": "forged",
        "post_uid": post_uid,
        "name": "forged",
        "description": "forged",
    }


@pytest.mark.parametrize("sent_as", ["form", "json"])
@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.parametrize("path", STATE_CHANGING_PATHS)
async def test_every_state_changing_route_refuses_a_missing_or_wrong_token(
    client, database, alice_with_something_to_change, path, token, sent_as
):
    fields = forged_fields(alice_with_something_to_change)
    headers = {}
    if token == "wrong":
        real = await csrf_token_from(client, "/")
        fields["csrf_token"] = headers["X-CSRFToken"] = real[::-1]
    before = await snapshot(client, database)
    if sent_as == "form":
        response = await client.post(path, form=fields)
    else:
        response = await client.post(path, json=fields, headers=headers)
    assert response.status_code == 403
    assert "CSRF" in await text_of(response)
    assert await snapshot(client, database) == before


def test_the_state_changing_routes_are_all_there():
    """The list above is read from the app: it holds at least the known routes."""
    known = {"/register", "/login", "/logout", "/post", "/comment", "/like", "/unlike"}
    known |= {"/add_friend/bob", "/remove_friend/bob", "/profile/edit"}
    known |= {"/settings", "/settings/password", "/settings/delete"}
    assert known <= set(STATE_CHANGING_PATHS)


async def test_csrf_token_from_another_session_is_refused(app, client, database):
    other_token = await csrf_token_from(app.test_client(), "/register")
    await client.get("/register")
    form = {"username": "mallory", "password": PASSWORD, "csrf_token": other_token}
    response = await client.post("/register", form=form)
    assert response.status_code == 403


async def test_json_post_without_token_gets_json_403(client):
    await client.get("/login")
    response = await client.post("/logout", json={})
    assert response.status_code == 403
    assert "CSRF" in (await response.get_json())["error"]


async def test_csrf_header_is_accepted_for_json(client):
    token = await csrf_token_from(client, "/login")
    response = await client.post("/logout", json={}, headers={"X-CSRFToken": token})
    assert response.status_code == 302


async def test_session_cookie_flags(client):
    response = await client.get("/register")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


async def test_session_cookie_is_secure_when_configured(app_config):
    app = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    async with app.test_app():
        response = await app.test_client().get("/register")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_no_strict_transport_security_over_plain_http(client):
    # A browser told to use HTTPS for a site served without it could not open it.
    assert "Strict-Transport-Security" not in (await client.get("/register")).headers


async def test_powerful_browser_features_are_turned_off(client):
    policy = (await client.get("/register")).headers["Permissions-Policy"]
    for feature in ["camera", "microphone", "geolocation", "payment", "usb"]:
        assert f"{feature}=()" in policy


async def test_pages_for_a_logged_in_person_are_not_stored(client):
    logged_out = await client.get("/login")
    await register_and_login(client, "alice")
    home = await client.get("/")
    profile = await client.get("/user/alice", headers={"Accept": "application/json"})
    stylesheet = await client.get("/static/css/quartfeed.css")
    assert home.headers["Cache-Control"] == "no-store"
    assert profile.headers["Cache-Control"] == "no-store"
    assert "no-store" not in logged_out.headers.get("Cache-Control", "")
    assert "no-store" not in stylesheet.headers.get("Cache-Control", "")


async def test_security_headers_on_every_page(client):
    for path in ["/register", "/login", "/no-such-page"]:
        headers = (await client.get(path)).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


async def test_pages_have_no_inline_script(client):
    page = await text_of(await client.get("/register"))
    for script_tag in page.split("<script")[1:]:
        assert script_tag.lstrip().startswith("src="), "inline script would break the CSP"


async def test_404_page_in_the_site_look(client):
    response = await client.get("/no-such-page")
    page = await text_of(response)
    assert response.status_code == 404
    assert "There is nothing here." in page
    assert 'class="navbar' in page


async def test_404_as_json_for_json_callers(client):
    response = await client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert await response.get_json() == {"error": "There is nothing here."}


async def test_405_page(client):
    response = await client.put("/login")
    assert response.status_code == 405
    assert "does not accept this kind of request" in await text_of(response)


async def test_oversized_body_is_413(app, client):
    token = await csrf_token_from(client, "/register")
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = await client.post(
        "/register", form={"csrf_token": token, "username": "a", "password": big}
    )
    assert response.status_code == 413
    assert "too large" in await text_of(response)


async def test_unexpected_error_is_a_plain_500_page(app, client):
    @app.route("/boom")
    async def boom():
        raise RuntimeError("secret internals")

    response = await client.get("/boom")
    page = await text_of(response)
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert "secret internals" not in page and "Traceback" not in page


async def test_overlong_password_is_refused_without_hashing(client, database, monkeypatch):
    hashed = count_calls(monkeypatch, user.models, "hash_password")
    response = await register(client, "alice", "p" * 2000)
    assert "Passwords are at most 1024 characters" in await text_of(response)
    assert await count_rows(database, "user") == 0
    assert hashed == []
