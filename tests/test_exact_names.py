"""One identity per name: usernames, group slugs and post uids are compared
as their rules define them, by the pages and by the database alike.

A username is one name whatever its ASCII case ("Carol" is carol); an
accented, full-width or space-padded spelling is no one's name. A slug or
a uid is itself and nothing else.
"""

import pytest
import sqlalchemy as sa

import user.models
from group.models import group_table
from post.models import post_table
from tests.helpers import (
    PASSWORD,
    count_calls,
    csrf_token_from,
    log_in,
    login,
    post_json,
    register,
    register_and_login,
    text_of,
)
from user.models import user_table

# Spellings that MySQL's default collation took for carol.
CAROL_LOOKALIKES = ["caról", "ｃａｒｏｌ", "cärol", "carol\u0301"]


async def count_where(database, condition) -> int:
    return await database.fetch_val(sa.select(sa.func.count()).where(condition))


@pytest.fixture
async def carol(client, database):
    """carol, registered, and a client logged in as someone else: dan."""
    await register(client, "carol")
    await register_and_login(client, "dan")
    return client


@pytest.mark.parametrize("spelling", CAROL_LOOKALIKES)
async def test_a_lookalike_name_logs_in_as_no_one_after_the_same_work(app, monkeypatch, spelling):
    client = app.test_client()
    await register(client, "carol")
    verified = count_calls(monkeypatch, user.models, "verify_password")
    lookalike = await login(client, spelling)  # with carol's own password
    wrong_password = await login(client, "carol", "wrong password")
    assert lookalike.status_code == wrong_password.status_code == 200
    assert "Incorrect username or password" in await text_of(lookalike)
    assert len(verified) == 2  # one password hash verified for each
    assert 'id="navbar-username"' not in await text_of(await client.get("/login"))


@pytest.mark.parametrize("spelling", ["CAROL", "Carol", " carol "])
async def test_a_name_logs_in_in_any_case_and_around_spaces(app, spelling):
    """As before: the case of ASCII letters, and spaces around the field, are
    not part of a name."""
    client = app.test_client()
    await register(client, "carol")
    assert (await login(client, spelling)).headers["Location"] == "/"


async def test_the_account_limit_counts_every_spelling_of_the_account(limited_app):
    app = await limited_app(LOGIN_LIMIT_PER_ACCOUNT="2/60")
    client = app.test_client()
    await register(client, "carol")
    await log_in(client, "carol", "guess", address="192.0.2.1")
    await log_in(client, "Carol ", "guess", address="192.0.2.2")
    refused = [await log_in(client, name, PASSWORD, "192.0.2.3") for name in ("CAROL", "carol")]
    assert [response.status_code for response in refused] == [429, 429]
    for spelling in CAROL_LOOKALIKES:  # no account of its own, and no way into carol's
        response = await log_in(client, spelling, PASSWORD, address="192.0.2.4")
        assert "Incorrect username or password" in await text_of(response)


@pytest.mark.parametrize("spelling", [*CAROL_LOOKALIKES, "carol%20", "carol%E3%80%80"])
async def test_a_profile_is_found_by_its_name_only(carol, spelling):
    assert (await carol.get("/user/Carol")).status_code == 200
    assert (await carol.get(f"/user/{spelling}")).status_code == 404


async def test_a_lookalike_name_is_not_taken_and_cannot_be_registered(client, database):
    await register(client, "carol")
    response = await register(client, "caról")
    assert "Usernames are 1 to 15 letters, digits or underscores" in await text_of(response)
    assert await count_where(database, user_table.c.username_key == "caról") == 0
    assert await count_where(database, user_table.c.username_key == "carol ") == 0


SLUG_LOOKALIKES = ["SECRET-CLUB", "sécret-club", "secret-club%20", "ｓｅｃｒｅｔ-club"]


@pytest.fixture
async def secret_club(carol) -> str:
    token = await csrf_token_from(carol, "/groups")
    response = await carol.post("/groups", form={"csrf_token": token, "name": "Secret Club"})
    assert response.headers["Location"] == "/groups/secret-club"
    return "secret-club"


async def stream_status(client, path: str) -> int:
    """The status a stream opens with; it is closed after its first bytes."""
    async with client.request(path) as connection:
        await connection.send_complete()
        await connection.receive()
        await connection.disconnect()
    return connection.status_code


@pytest.mark.parametrize("spelling", SLUG_LOOKALIKES)
async def test_a_group_is_found_by_its_slug_only(carol, secret_club, database, spelling):
    assert (await carol.get(f"/groups/{secret_club}")).status_code == 200
    assert await stream_status(carol, f"/groups/{secret_club}/sse") == 200
    assert (await carol.get(f"/groups/{spelling}")).status_code == 404
    assert await stream_status(carol, f"/groups/{spelling}/sse") == 404
    stored = spelling.replace("%20", " ")
    assert await count_where(database, group_table.c.slug == stored) == 0


@pytest.mark.parametrize(
    "spelling",
    [str.upper, lambda uid: uid + " ", lambda uid: uid.replace("-", "\uff0d", 1)],
    ids=["upper-case", "trailing-space", "full-width-hyphen"],
)
async def test_a_post_is_found_by_its_uid_only(carol, database, spelling):
    uid = (await (await post_json(carol, "/post", {"post": "mine"})).get_json())["uid"]
    lookalike = spelling(uid)
    assert (await post_json(carol, "/like", {"post_uid": lookalike})).status_code == 404
    response = await post_json(carol, "/comment", {"post_uid": lookalike, "comment": "hi"})
    assert response.status_code == 404
    assert await count_where(database, post_table.c.uid == lookalike) == 0
    assert (await post_json(carol, "/like", {"post_uid": uid})).status_code == 200
