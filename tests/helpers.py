"""What a browser does, for tests: read the CSRF token off a page, fill forms."""

import re

import sqlalchemy as sa

from db import metadata

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
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
    return await post_form(
        client, "/register", {"username": username, "password": password}, "/register"
    )


async def login(client, username: str, password: str = PASSWORD):
    return await post_form(client, "/login", {"username": username, "password": password})


async def register_and_login(client, username: str, password: str = PASSWORD):
    await register(client, username, password)
    response = await login(client, username, password)
    assert response.status_code == 302, "login failed"
    return response


async def logout(client):
    return await post_form(client, "/logout", {}, "/")


async def text_of(response) -> str:
    return await response.get_data(as_text=True)


def count_rows(database, table_name: str):
    """Awaitable: how many rows `table_name` holds."""
    table = metadata.tables[table_name]
    return database.fetch_val(sa.select(sa.func.count()).select_from(table))
