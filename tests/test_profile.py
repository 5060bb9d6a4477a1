"""Profile pages and changing one's username."""

import re

from relationship.models import follow
from tests.helpers import (
    count_rows,
    create_users,
    login,
    logout,
    post_files,
    post_form,
    post_json,
    register,
    register_and_login,
    text_of,
    user_ids,
)
from user.models import user_by_id, user_by_name


async def change_username(client, username: str):
    """Submit the profile form as a browser does: multipart, no file chosen."""
    return await post_files(client, "/profile/edit", {"username": username}, {}, "/profile/edit")


def button_on(page: str) -> str | None:
    """The profile's action button: Follow, Unfollow, Edit profile or Log in to follow."""
    match = re.search(r">(Follow|Unfollow|Edit profile|Log in to follow)</", page)
    return match.group(1) if match else None


async def test_profile_shows_avatar_name_counts_and_a_follow_button(client, database):
    ids = await create_users(database, ["bob", "carol"])
    await follow(database, ids["carol"], ids["bob"])
    await register_and_login(client, "alice")
    response = await client.get("/user/bob")
    page = await text_of(response)
    assert response.status_code == 200
    assert '<h1 class="h3 mb-1" id="profile-username">bob</h1>' in page
    assert 'src="/static/images/user/profile.xlg.png"' in page
    assert re.search(r"<strong>1</strong> follower</a>", page)
    assert re.search(r"<strong>0</strong> following</a>", page)
    assert 'href="/user/bob/followers"' in page and 'href="/user/bob/following"' in page
    assert button_on(page) == "Follow"


async def test_profile_offers_unfollow_to_a_follower(client, database):
    await register(client, "bob")
    await register_and_login(client, "alice")
    ids = await user_ids(database)
    await follow(database, ids["alice"], ids["bob"])
    assert button_on(await text_of(await client.get("/user/bob"))) == "Unfollow"


async def test_own_profile_offers_edit_profile(client):
    await register_and_login(client, "alice")
    page = await text_of(await client.get("/user/alice"))
    assert button_on(page) == "Edit profile"
    assert 'href="/profile/edit"' in page


async def test_visitors_see_profiles_with_a_login_link(client, database):
    await create_users(database, ["bob"])
    response = await client.get("/user/bob")
    page = await text_of(response)
    assert response.status_code == 200
    assert button_on(page) == "Log in to follow"
    assert 'href="/login?next=/user/bob"' in page


async def test_unknown_profile_is_a_404_page(client):
    response = await client.get("/user/nobody")
    assert response.status_code == 404
    assert "There is no one called nobody here." in await text_of(response)
    response = await client.get("/user/nobody", headers={"Accept": "application/json"})
    assert await response.get_json() == {"error": "There is no one called nobody here."}


async def test_profile_names_are_escaped(client):
    response = await client.get("/user/%3Cb%3Ehi")
    page = await text_of(response)
    assert response.status_code == 404
    assert "<b>hi" not in page
    assert "There is no one called &lt;b&gt;hi here." in page


async def test_edit_form_shows_the_current_name_and_image(client):
    await register_and_login(client, "alice")
    response = await client.get("/profile/edit")
    page = await text_of(response)
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in page
    assert 'name="username" value="alice"' in page
    assert 'name="profile_image"' in page
    assert 'src="/static/images/user/profile.lg.png"' in page


async def test_changing_the_username_follows_through_everywhere(client, database):
    await register_and_login(client, "alice")
    response = await change_username(client, "alicia")
    assert response.status_code == 302
    assert response.headers["Location"] == "/user/alicia"

    page = await text_of(await client.get("/user/alicia"))
    assert "Your profile has been updated" in page
    assert 'id="navbar-username">alicia<' in page  # still logged in, under the new name
    assert (await client.get("/user/alice")).status_code == 404
    await logout(client)
    assert (await login(client, "alicia")).status_code == 302


async def test_a_taken_username_is_refused(client, database):
    await register(client, "bob")
    await register_and_login(client, "alice")
    response = await change_username(client, "bob")
    page = await text_of(response)
    assert response.status_code == 400
    assert "Username already exists" in page
    assert 'name="username" value="bob"' in page  # what was typed stays in the form
    assert set(await user_ids(database)) == {"alice", "bob"}


async def test_an_invalid_username_is_refused(client, database):
    await register_and_login(client, "alice")
    for username in ["", "has space", "sixteen_chars_xx", "<b>"]:
        response = await change_username(client, username)
        assert response.status_code == 400
        assert "Usernames are 1 to 15 letters, digits or underscores" in await text_of(response)
    assert set(await user_ids(database)) == {"alice"}


async def test_changing_only_the_case_of_your_own_name(client, database):
    await register_and_login(client, "alice")
    response = await change_username(client, "Alice")
    assert response.status_code == 302
    user = await user_by_id(database, (await user_ids(database))["Alice"])
    assert user["username"] == "Alice"


async def test_keeping_the_same_name_is_fine(client):
    await register_and_login(client, "alice")
    response = await change_username(client, "alice")
    assert response.status_code == 302
    assert response.headers["Location"] == "/user/alice"


async def test_editing_needs_a_login_and_the_csrf_token(client, database):
    response = await client.get("/profile/edit")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fprofile%2Fedit"
    await register_and_login(client, "alice")
    response = await client.post("/profile/edit", form={"username": "mallory"})
    assert response.status_code == 403
    assert set(await user_ids(database)) == {"alice"}


async def test_a_form_post_works_as_well_as_multipart(client, database):
    await register_and_login(client, "alice")
    response = await post_form(client, "/profile/edit", {"username": "alicia"}, "/profile/edit")
    assert response.status_code == 302
    assert response.headers["Location"] == "/user/alicia"
    assert (await client.get("/user/alicia")).status_code == 200
    assert await user_by_name(database, "alice") is None  # renamed, not only redirected


async def test_follows_survive_a_rename(client, database):
    await create_users(database, ["bob"])
    await register_and_login(client, "alice")
    await post_form(client, "/add_friend/bob", {}, "/user/bob")
    await change_username(client, "alicia")
    page = await text_of(await client.get("/user/bob/followers"))
    assert 'href="/user/alicia">alicia</a>' in page
    assert await count_rows(database, "relationship") == 1


async def test_a_profile_listens_to_its_own_channel_from_its_newest_event(client, app):
    """Someone logged in hears of what happens to the posts on a profile, on
    the profile's channel, from where it stood when the page was read; a
    visitor does not."""
    await register_and_login(client, "alice")
    alice = await user_by_name(app.extensions["database"], "alice")
    for text in ("one", "two"):
        await post_json(client, "/post", {"post": text})
    page = await text_of(await client.get("/user/alice"))
    cursor = re.search(r'data-sse-url="/sse" data-stream-cursor="([^"]+)"', page).group(1)
    assert cursor.split("/")[1:] == [f"profile:{alice['id']}=2", "notices=0"]
    page = await text_of(await app.test_client().get("/user/alice"))
    assert "data-sse-url" not in page
