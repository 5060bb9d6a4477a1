"""CSRF, cookies, security headers and error pages."""

import pytest

from tests.helpers import PASSWORD, count_rows, csrf_token_from, register, text_of

# Every state-changing route, with what its body needs apart from the token.
POST_ROUTES = ["/register", "/login", "/logout"]


@pytest.mark.parametrize("path", POST_ROUTES)
async def test_post_without_csrf_token_is_refused(client, database, path):
    await client.get("/register")  # a session exists, so a token exists
    response = await client.post(path, form={"username": "mallory", "password": PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in await text_of(response)
    assert await count_rows(database, "user") == 0


@pytest.mark.parametrize("path", POST_ROUTES)
async def test_post_with_wrong_csrf_token_is_refused(client, database, path):
    token = await csrf_token_from(client, "/register")
    form = {"username": "mallory", "password": PASSWORD, "csrf_token": token[::-1]}
    response = await client.post(path, form=form)
    assert response.status_code == 403
    assert await count_rows(database, "user") == 0


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
    from application import create_app

    app = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    async with app.test_app():
        response = await app.test_client().get("/register")
    assert "Secure" in response.headers["Set-Cookie"]


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


async def test_overlong_password_is_refused_without_hashing(client, database):
    response = await register(client, "alice", "p" * 2000)
    assert "Passwords are at most 1024 characters" in await text_of(response)
    assert await count_rows(database, "user") == 0
