"""Following and unfollowing, the follower lists and the People page."""

import re

import pytest

from relationship.models import (
    follow,
    follow_counts,
    followed_among,
    follower_ids,
    following_ids,
    is_following,
)
from tests.helpers import (
    count_rows,
    create_users,
    logout,
    post_form,
    post_json,
    register,
    register_and_login,
    text_of,
    user_ids,
)

LISTED_NAME = re.compile(
    r'class="flex-grow-1 fw-semibold text-decoration-none person-name"\s+'
    r'href="[^"]+">(\w+)</a>'
)


def listed_names(page: str) -> list[str]:
    """The usernames a people list shows, top to bottom."""
    return LISTED_NAME.findall(page)


def follow_form_action(page: str, username: str) -> str | None:
    """Which follow form the page shows for `username`: add_friend, remove_friend or None."""
    match = re.search(rf'action="/(add_friend|remove_friend)/{username}"', page)
    return match.group(1) if match else None


async def add_friend(client, username: str, form: dict | None = None):
    return await post_form(client, f"/add_friend/{username}", form or {}, f"/user/{username}")


async def remove_friend(client, username: str):
    return await post_form(client, f"/remove_friend/{username}", {}, f"/user/{username}")


@pytest.fixture
async def alice_and_bob(client, database):
    """bob exists; alice is registered and logged in. Returns their ids."""
    await register(client, "bob")
    await register_and_login(client, "alice")
    return await user_ids(database)


async def test_follow_adds_one_row_and_flashes(client, database, alice_and_bob):
    response = await add_friend(client, "bob")
    assert response.status_code == 302
    assert response.headers["Location"] == "/user/bob"
    assert await is_following(database, alice_and_bob["alice"], alice_and_bob["bob"])
    assert not await is_following(database, alice_and_bob["bob"], alice_and_bob["alice"])
    page = await text_of(await client.get("/user/bob"))
    assert "Followed bob" in page
    assert follow_form_action(page, "bob") == "remove_friend"


async def test_following_twice_keeps_one_row(client, database, alice_and_bob):
    await add_friend(client, "bob")
    response = await add_friend(client, "bob")
    assert response.status_code == 302
    assert await count_rows(database, "relationship") == 1


async def test_unfollow_removes_the_row_and_can_be_repeated(client, database, alice_and_bob):
    await add_friend(client, "bob")
    for _ in range(2):
        response = await remove_friend(client, "bob")
        assert response.status_code == 302
        assert response.headers["Location"] == "/user/bob"
    assert await count_rows(database, "relationship") == 0
    page = await text_of(await client.get("/user/bob"))
    assert "Unfollowed bob" in page
    assert follow_form_action(page, "bob") == "add_friend"


async def test_following_an_unknown_user_is_a_404(client, database, alice_and_bob):
    response = await post_form(client, "/add_friend/nobody", {}, "/")
    assert response.status_code == 404
    assert "There is no one called nobody here." in await text_of(response)
    response = await post_json(client, "/remove_friend/nobody", {})
    assert response.status_code == 404
    assert await response.get_json() == {"error": "There is no one called nobody here."}
    assert await count_rows(database, "relationship") == 0


@pytest.mark.parametrize("path", ["/add_friend/alice", "/remove_friend/alice"])
async def test_following_yourself_is_refused(client, database, alice_and_bob, path):
    response = await post_form(client, path, {}, "/user/alice")
    assert response.status_code == 400
    assert "You cannot follow or unfollow yourself." in await text_of(response)
    response = await post_json(client, path, {})
    assert response.status_code == 400
    assert await response.get_json() == {"error": "You cannot follow or unfollow yourself."}
    assert await count_rows(database, "relationship") == 0


async def test_json_callers_get_the_new_state(client, alice_and_bob):
    response = await post_json(client, "/add_friend/bob", {})
    assert response.status_code == 200
    assert await response.get_json() == {"following": True, "followers": 1}
    response = await post_json(client, "/remove_friend/bob", {})
    assert await response.get_json() == {"following": False, "followers": 0}


async def test_following_needs_a_login(client, database):
    await register(client, "bob")
    response = await post_form(client, "/add_friend/bob", {})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert await count_rows(database, "relationship") == 0


async def test_following_needs_the_csrf_token(client, database, alice_and_bob):
    response = await client.post("/add_friend/bob", form={})
    assert response.status_code == 403
    assert await count_rows(database, "relationship") == 0


async def test_the_button_returns_to_the_page_it_was_on(client, alice_and_bob):
    response = await add_friend(client, "bob", {"next": "/people?q=b"})
    assert response.headers["Location"] == "/people?q=b"
    # Only paths on this site: anything else falls back to the profile.
    response = await add_friend(client, "bob", {"next": "//evil.example/"})
    assert response.headers["Location"] == "/user/bob"


async def test_query_helpers(database):
    ids = await create_users(database, ["alice", "bob", "carol"])
    alice, bob, carol = ids["alice"], ids["bob"], ids["carol"]
    await follow(database, alice, bob)
    await follow(database, carol, bob)
    await follow(database, bob, carol)
    assert sorted(await follower_ids(database, bob)) == sorted([alice, carol])
    assert await following_ids(database, bob) == [carol]
    assert await follow_counts(database, bob) == (2, 1)
    assert await follow_counts(database, alice) == (0, 1)
    assert await followed_among(database, alice, [bob, carol]) == {bob}
    assert await followed_among(database, alice, []) == set()


async def test_profile_counts_and_lists(client, database, alice_and_bob):
    ids = await create_users(database, ["carol"])
    await follow(database, ids["carol"], ids["bob"])
    await follow(database, ids["alice"], ids["carol"])
    await add_friend(client, "bob")

    profile = await text_of(await client.get("/user/bob"))
    assert re.search(r"<strong>2</strong> followers", profile)
    assert re.search(r"<strong>0</strong> following", profile)

    followers_page = await text_of(await client.get("/user/bob/followers"))
    assert "People who follow bob" in followers_page
    assert listed_names(followers_page) == ["alice", "carol"]  # most recent first
    # alice looks: herself gets an Edit profile link, carol (whom she follows) Unfollow.
    assert follow_form_action(followers_page, "carol") == "remove_friend"
    assert follow_form_action(followers_page, "alice") is None

    following_page = await text_of(await client.get("/user/alice/following"))
    assert "People alice follows" in following_page
    assert listed_names(following_page) == ["bob", "carol"]


async def test_follower_lists_are_paginated(client, database):
    names = [f"fan{number:02}" for number in range(25)]
    ids = await create_users(database, ["star", *names])
    for name in names:
        await follow(database, ids[name], ids["star"])

    first = await text_of(await client.get("/user/star/followers"))
    assert listed_names(first) == names[::-1][:20]
    assert 'href="/user/star/followers?page=2"' in first
    second = await text_of(await client.get("/user/star/followers?page=2"))
    assert listed_names(second) == names[::-1][20:]
    assert 'href="/user/star/followers?page=1"' in second
    assert "?page=3" not in second


@pytest.mark.parametrize(
    ("page", "listed"),
    [
        # Not a page number at all: the first page.
        ("abc", ["fan"]),
        ("-4", ["fan"]),
        ("0", ["fan"]),
        ("1.5", ["fan"]),
        # A page number, just far beyond the last page: an empty page.
        ("99999999999999999999999", []),
    ],
)
async def test_page_numbers_that_make_no_sense_show_the_first_page(client, database, page, listed):
    ids = await create_users(database, ["star", "fan"])
    await follow(database, ids["fan"], ids["star"])
    response = await client.get(f"/user/star/followers?page={page}")
    assert response.status_code == 200
    page_text = await text_of(response)
    assert "People who follow star" in page_text
    assert listed_names(page_text) == listed


async def test_follower_list_of_unknown_user_is_a_404(client):
    response = await client.get("/user/nobody/following")
    assert response.status_code == 404
    assert "There is no one called nobody here." in await text_of(response)


async def test_people_page_lists_newest_first_with_follow_buttons(client, database):
    await create_users(database, ["old_timer", "bob"])
    await register_and_login(client, "alice")
    await add_friend(client, "bob")
    page = await text_of(await client.get("/people"))
    assert "Recently joined" in page
    assert listed_names(page) == ["alice", "bob", "old_timer"]
    assert follow_form_action(page, "bob") == "remove_friend"
    assert follow_form_action(page, "old_timer") == "add_friend"
    assert '<input type="hidden" name="next" value="/people">' in page


async def test_people_search_by_username_prefix(client, database):
    await create_users(database, ["alan", "al_x", "albert", "bob", "sal"])
    await register_and_login(client, "zoe")
    page = await text_of(await client.get("/people?q=al"))
    assert listed_names(page) == ["albert", "al_x", "alan"]
    # "_" is a username character here, not LIKE's any-one-character wildcard.
    page = await text_of(await client.get("/people?q=al_"))
    assert listed_names(page) == ["al_x"]
    page = await text_of(await client.get("/people?q=AL"))
    assert set(listed_names(page)) == {"albert", "al_x", "alan"}


async def test_people_search_without_match_or_with_bad_characters(client, database):
    await register_and_login(client, "zoe")
    page = await text_of(await client.get("/people?q=nobody"))
    assert "No one&#39;s username starts with that." in page
    response = await client.get("/people?q=%25%27+or+1%3D1")
    page = await text_of(response)
    assert response.status_code == 200
    assert "Usernames are 1 to 15 letters, digits or underscores" in page
    assert listed_names(page) == []


async def test_people_page_needs_a_login(client):
    response = await client.get("/people")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fpeople"


async def test_navbar_links_to_people_and_to_your_profile(client):
    await register_and_login(client, "alice")
    page = await text_of(await client.get("/"))
    assert 'href="/people">People</a>' in page
    assert re.search(r'id="navbar-profile"\s+href="/user/alice"', page)
    assert 'src="/static/images/user/profile.sm.png"' in page
    await logout(client)
    page = await text_of(await client.get("/login"))
    assert 'href="/people"' not in page
