"""Groups: their slugs, membership and its rules, the group list and its
search, a group's page, and starting, joining and leaving over HTTP."""

import re

import pytest
import sqlalchemy as sa
from markupsafe import escape

from db import utc_now
from feed.models import PAGE_SIZE, group_posts
from group.models import (
    MEMBERS_SHOWN,
    create_group,
    group_by_slug,
    group_members,
    group_table,
    join_group,
    leave_group,
    list_groups,
    slug_base,
)
from group.views import (
    DESCRIPTION_RULE,
    INVISIBLE_NAME_RULE,
    NAME_RULE,
    NO_SUCH_GROUP,
    OWNER_CANNOT_LEAVE,
)
from post.models import UNSTORABLE_TEXT_RULE, add_like, insert_post, post_table
from tests.helpers import (
    count_rows,
    create_users,
    csrf_token_from,
    post_json,
    register_and_login,
    text_of,
    user_ids,
)

XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_DESCRIPTION = "<script>alert('description')</script>"
LISTED_SLUG = re.compile(r'<li class="list-group-item" data-slug="([a-z0-9-]+)">')
MEMBER_COUNT = re.compile(r'data-slug="([a-z0-9-]+)">.*?member-count">\s*(\d+) members?<', re.S)
MEMBER_NAME = re.compile(r'data-username="(\w+)"')


def listed_slugs(page: str) -> list[str]:
    """The groups the group list shows, top to bottom."""
    return LISTED_SLUG.findall(page)


def member_names(page: str) -> list[str]:
    """The members a group's page shows, top to bottom."""
    return MEMBER_NAME.findall(page)


def shown(message: str) -> str:
    """`message` as a page shows it, escaped by Jinja."""
    return str(escape(message))


async def send_form(client, path: str, form: dict | None = None, as_json: bool = False):
    """A form sent as the group pages send it, CSRF token included; `as_json`
    asks for the answer in JSON, as a script would."""
    token = await csrf_token_from(client, "/groups")
    headers = {"Accept": "application/json"} if as_json else {}
    return await client.post(path, form={"csrf_token": token, **(form or {})}, headers=headers)


async def post_in_group(database, group_id: int, author_id: int, body: str, parent=None) -> int:
    """A post (or a comment, with `parent`) made in the group; its id.

    Written through the models: sending a post into a group over HTTP is
    not part of this slice."""
    post_id, _ = await insert_post(database, author_id, body, utc_now(), parent)
    query = post_table.update().where(post_table.c.id == post_id).values(group_id=group_id)
    await database.execute(query)
    return post_id


async def group_id_of(database, slug: str) -> int:
    return (await group_by_slug(database, slug, None))["id"]


@pytest.fixture
async def alice(client):
    """The person using `client`, logged in."""
    await register_and_login(client, "alice")
    return client


# --- Slugs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Night Owls", "night-owls"),
        ("Café Society!", "cafe-society"),
        ("  --Hello__World--  ", "hello-world"),
        ("C++ & Rust, 2026", "c-rust-2026"),
        ("😀 🎉 !!!", ""),
        ("日本語", ""),
        # Cut to 50 characters, never ending with a hyphen.
        ("a" * 49 + " b", "a" * 49),
    ],
)
def test_a_slug_is_the_name_in_lowercase_ascii_words(name, slug):
    assert slug_base(name) == slug


async def test_slugs_are_unique_and_numbered(database):
    alice = (await create_users(database, ["alice"]))["alice"]
    slugs = [await create_group(database, alice, "Night Owls") for _ in range(3)]
    assert slugs == ["night-owls", "night-owls-2", "night-owls-3"]
    # A name whose slug is already someone's number is numbered in turn.
    assert await create_group(database, alice, "Night Owls 2") == "night-owls-2-2"
    nameless = [await create_group(database, alice, name) for name in ("!!!", "😀", "日本")]
    assert nameless == ["group-1", "group-2", "group-3"]
    assert await create_group(database, alice, "Group") == "group"


# --- Membership ------------------------------------------------------------------


async def test_the_creator_owns_the_group_and_joining_twice_keeps_one_membership(database):
    ids = await create_users(database, ["alice", "bob"])
    slug = await create_group(database, ids["alice"], "Night Owls", "After midnight")
    group = await group_by_slug(database, slug, ids["alice"])
    assert (group["name"], group["description"]) == ("Night Owls", "After midnight")
    assert (group["members"], group["viewer_role"]) == (1, "owner")

    for _ in range(2):
        await join_group(database, group["id"], ids["bob"])
    assert await count_rows(database, "membership") == 2
    as_bob = await group_by_slug(database, slug, ids["bob"])
    assert (as_bob["members"], as_bob["viewer_role"]) == (2, "member")
    assert (await group_by_slug(database, slug, None))["viewer_role"] is None
    members = await group_members(database, group["id"])
    assert [(member["username"], member["role"]) for member in members] == [
        ("alice", "owner"),
        ("bob", "member"),
    ]


async def test_the_owner_leaves_only_once_alone(database):
    ids = await create_users(database, ["alice", "bob", "carol"])
    slug = await create_group(database, ids["alice"], "Night Owls")
    group_id = await group_id_of(database, slug)
    await join_group(database, group_id, ids["bob"])

    assert await leave_group(database, group_id, ids["alice"]) is False
    assert (await group_by_slug(database, slug, ids["alice"]))["viewer_role"] == "owner"
    # Leaving twice, or a group one never joined, changes nothing either.
    for user in ("bob", "bob", "carol"):
        assert await leave_group(database, group_id, ids[user]) is True
    assert await count_rows(database, "membership") == 1

    assert await leave_group(database, group_id, ids["alice"]) is True
    group = await group_by_slug(database, slug, ids["alice"])
    assert (group["members"], group["viewer_role"]) == (0, None)
    assert [row["slug"] for row in await list_groups(database, None, limit=10)] == [slug]


async def test_the_list_puts_the_viewers_groups_first_then_the_largest(database):
    ids = await create_users(database, ["alice", "bob", "carol", "dave"])
    small = await create_group(database, ids["alice"], "Small")
    big = await create_group(database, ids["bob"], "Big")
    medium = await create_group(database, ids["carol"], "Medium")
    empty = await create_group(database, ids["dave"], "Empty")
    for slug, joiners in ((big, ["carol", "dave"]), (medium, ["dave"])):
        for joiner in joiners:
            await join_group(database, await group_id_of(database, slug), ids[joiner])
    await leave_group(database, await group_id_of(database, empty), ids["dave"])

    for_alice = await list_groups(database, ids["alice"], limit=10)
    assert [(row["slug"], row["members"]) for row in for_alice] == [
        (small, 1),
        (big, 3),
        (medium, 2),
        (empty, 0),
    ]
    for_dave = await list_groups(database, ids["dave"], limit=10)
    assert [row["slug"] for row in for_dave] == [big, medium, small, empty]
    for_a_visitor = await list_groups(database, None, limit=10)
    assert [row["slug"] for row in for_a_visitor] == [big, medium, small, empty]
    assert [row["slug"] for row in await list_groups(database, None, limit=2, offset=2)] == [
        small,
        empty,
    ]


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("OWL", ["100% Owls", "owl watchers", "Night Owls"]),
        ("owls", ["100% Owls", "Night Owls"]),
        # LIKE's wildcards are taken literally.
        ("%", ["100% Owls"]),
        ("_", ["a_b club"]),
        ("a_b", ["a_b club"]),
        ("nobody", []),
    ],
)
async def test_search_finds_names_containing_the_text_whatever_its_case(database, search, found):
    alice = (await create_users(database, ["alice"]))["alice"]
    for name in ("Night Owls", "owl watchers", "100% Owls", "a_b club", "axb club"):
        await create_group(database, alice, name)
    rows = await list_groups(database, None, limit=10, search=search)
    assert [row["name"] for row in rows] == found  # as large: the newest first


async def test_group_posts_are_its_own_posts_newest_first_without_comments(database):
    ids = await create_users(database, ["alice", "bob"])
    owls = await group_id_of(database, await create_group(database, ids["alice"], "Owls"))
    larks = await group_id_of(database, await create_group(database, ids["bob"], "Larks"))
    first = await post_in_group(database, owls, ids["alice"], "first")
    await post_in_group(database, owls, ids["bob"], "a comment", parent=first)
    await post_in_group(database, larks, ids["bob"], "in another group")
    await insert_post(database, ids["alice"], "outside any group", utc_now())
    await post_in_group(database, owls, ids["bob"], "second")
    rows = await group_posts(database, owls)
    assert [(row["body"], row["username"]) for row in rows] == [
        ("second", "bob"),
        ("first", "alice"),
    ]


# --- Starting a group over HTTP -----------------------------------------------------


async def test_starting_a_group_leads_to_its_page(alice, database):
    form = {"name": "  Night Owls ", "description": "We post after midnight."}
    response = await send_form(alice, "/groups", form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/groups/night-owls"
    page = await text_of(await alice.get("/groups/night-owls"))
    assert "Created Night Owls" in page
    assert '<h1 class="h3 mb-1" id="group-name">Night Owls</h1>' in page
    assert "We post after midnight." in page
    assert member_names(page) == ["alice"]
    assert "Owner</span>" in page
    assert "Leave group</button>" in page


async def test_starting_a_group_answers_json_when_asked(alice):
    response = await send_form(alice, "/groups", {"name": "Night Owls"}, as_json=True)
    assert response.status_code == 201
    assert await response.get_json() == {"slug": "night-owls", "url": "/groups/night-owls"}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, NAME_RULE),
        ({"name": ""}, NAME_RULE),
        ({"name": "   "}, NAME_RULE),
        ({"name": "x" * 51}, NAME_RULE),
        ({"name": "😀" * 51}, NAME_RULE),
        ({"name": "Owls", "description": "x" * 281}, DESCRIPTION_RULE),
        ({"name": "nul\x00inside"}, UNSTORABLE_TEXT_RULE),
        ({"name": "Owls", "description": "nul\x00inside"}, UNSTORABLE_TEXT_RULE),
        ({"name": "\u200b\u200b"}, INVISIBLE_NAME_RULE),
        ({"name": "\u3164"}, INVISIBLE_NAME_RULE),
        ({"name": "\u2800\u2800"}, INVISIBLE_NAME_RULE),
        ({"name": "\ufeff"}, INVISIBLE_NAME_RULE),
        ({"name": "\u0301\u0308"}, INVISIBLE_NAME_RULE),
        ({"name": "Owls \u202egnp.exe"}, INVISIBLE_NAME_RULE),
        ({"name": "\u2067Owls\u2069"}, INVISIBLE_NAME_RULE),
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "long",
        "emoji",
        "long-description",
        "nul",
        "nul-text",
        "zero-width-spaces",
        "hangul-filler",
        "braille-blank",
        "byte-order-mark",
        "lone-combining-marks",
        "right-to-left-override",
        "right-to-left-isolate",
    ],
)
async def test_a_name_or_description_out_of_bounds_is_refused_with_the_rule(
    alice, database, form, message
):
    response = await send_form(alice, "/groups", form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/groups"
    assert shown(message) in await text_of(await alice.get("/groups"))
    response = await send_form(alice, "/groups", form, as_json=True)
    assert response.status_code == 400
    assert await response.get_json() == {"error": message}
    assert await count_rows(database, "group") == 0


async def test_lengths_are_counted_in_code_points(alice):
    form = {"name": "😀" * 50, "description": "é" * 280}
    response = await send_form(alice, "/groups", form)
    assert response.headers["Location"] == "/groups/group-1"
    page = await text_of(await alice.get("/groups/group-1"))
    assert "😀" * 50 in page and "é" * 280 in page


@pytest.mark.parametrize("name", ["Cafe\u0301", "夜のふくろう", "بومة", "👩\u200d💻 coders"])
async def test_names_people_can_see_are_taken_whatever_their_script(alice, database, name):
    """Accents written as marks, any script, right-to-left letters, and a
    zero-width joiner inside an emoji are all names people can read."""
    response = await send_form(alice, "/groups", {"name": name}, as_json=True)
    assert response.status_code == 201
    assert await database.fetch_val(sa.select(group_table.c.name)) == name


async def test_starting_a_group_needs_a_login(client, database):
    response = await send_form(client, "/groups", {"name": "Night Owls"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fgroups"
    response = await send_form(client, "/groups", {"name": "Night Owls"}, as_json=True)
    assert response.status_code == 401
    assert await count_rows(database, "group") == 0


async def test_starting_joining_and_leaving_need_the_csrf_token(alice, database):
    await send_form(alice, "/groups", {"name": "Night Owls"})
    for path in ("/groups", "/groups/night-owls/join", "/groups/night-owls/leave"):
        response = await alice.post(path, form={"name": "Larks"})
        assert response.status_code == 403
    assert await count_rows(database, "group") == 1
    assert await count_rows(database, "membership") == 1


# --- Joining and leaving over HTTP ---------------------------------------------------


@pytest.fixture
async def bob_and_alices_group(client, database) -> str:
    """alice's group "Night Owls"; bob is logged in on `client`. Returns its slug."""
    await create_users(database, ["alice"])
    await register_and_login(client, "bob")
    return await create_group(database, (await user_ids(database))["alice"], "Night Owls")


async def test_join_and_leave_go_back_to_the_group_page(client, database, bob_and_alices_group):
    slug = bob_and_alices_group
    page = await text_of(await client.get(f"/groups/{slug}"))
    assert "Join group</button>" in page
    assert 'id="post-form"' not in page

    response = await send_form(client, f"/groups/{slug}/join")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/groups/{slug}"
    page = await text_of(await client.get(f"/groups/{slug}"))
    assert "Joined Night Owls" in page
    assert member_names(page) == ["alice", "bob"]
    assert "Leave group</button>" in page
    assert '<input type="hidden" name="group" value="night-owls">' in page
    assert 'action="/post"' in page

    for _ in range(2):  # leaving twice is leaving once
        response = await send_form(client, f"/groups/{slug}/leave")
        assert response.status_code == 302
        assert response.headers["Location"] == f"/groups/{slug}"
    page = await text_of(await client.get(f"/groups/{slug}"))
    assert "Left Night Owls" in page
    assert member_names(page) == ["alice"]
    assert 'id="post-form"' not in page
    assert await count_rows(database, "membership") == 1


async def test_join_and_leave_answer_json(client, bob_and_alices_group):
    slug = bob_and_alices_group
    for _ in range(2):
        response = await post_json(client, f"/groups/{slug}/join", {})
        assert response.status_code == 200
        assert await response.get_json() == {"member": True, "members": 2}
    for _ in range(2):
        response = await post_json(client, f"/groups/{slug}/leave", {})
        assert await response.get_json() == {"member": False, "members": 1}


async def test_joining_needs_a_login(client, database):
    alice = (await create_users(database, ["alice"]))["alice"]
    slug = await create_group(database, alice, "Night Owls")
    response = await send_form(client, f"/groups/{slug}/join")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=%2Fgroups%2F{slug}%2Fjoin"
    response = await send_form(client, f"/groups/{slug}/join", as_json=True)
    assert response.status_code == 401
    assert await count_rows(database, "membership") == 1
    page = await text_of(await client.get(f"/groups/{slug}"))
    assert f'href="/login?next=/groups/{slug}">Log in to join</a>' in page


async def test_the_owner_cannot_leave_while_others_remain(alice, database):
    await send_form(alice, "/groups", {"name": "Night Owls"})
    ids = await create_users(database, ["bob"])
    group_id = await group_id_of(database, "night-owls")
    await join_group(database, group_id, ids["bob"])

    response = await send_form(alice, "/groups/night-owls/leave")
    assert response.headers["Location"] == "/groups/night-owls"
    page = await text_of(await alice.get("/groups/night-owls"))
    assert shown(OWNER_CANNOT_LEAVE) in page
    assert "Leave group</button>" in page
    response = await send_form(alice, "/groups/night-owls/leave", as_json=True)
    assert response.status_code == 400
    assert await response.get_json() == {"error": OWNER_CANNOT_LEAVE}
    assert await count_rows(database, "membership") == 2

    await leave_group(database, group_id, ids["bob"])
    response = await send_form(alice, "/groups/night-owls/leave")
    page = await text_of(await alice.get("/groups/night-owls"))
    assert "Left Night Owls" in page
    assert "No one is a member now." in page
    assert "0 members" in page


@pytest.mark.parametrize(
    "slug", ["no-such-group", "Night-Owls", "night-owls-", "x" * 61, "%00", "caf%C3%A9"]
)
async def test_unknown_groups_are_404s(alice, slug):
    await send_form(alice, "/groups", {"name": "Night Owls"})
    response = await alice.get(f"/groups/{slug}")
    assert response.status_code == 404
    assert NO_SUCH_GROUP in await text_of(response)
    response = await send_form(alice, f"/groups/{slug}/join")
    assert response.status_code == 404
    response = await post_json(alice, f"/groups/{slug}/leave", {})
    assert response.status_code == 404
    assert await response.get_json() == {"error": NO_SUCH_GROUP}


# --- The pages ------------------------------------------------------------------------


async def test_the_group_list_shows_counts_searches_and_your_groups_first(client, database):
    ids = await create_users(database, ["bob", "carol"])
    owls = await create_group(database, ids["bob"], "Night Owls")
    larks = await create_group(database, ids["carol"], "Morning Larks")
    await join_group(database, await group_id_of(database, larks), ids["bob"])

    page = await text_of(await client.get("/groups"))
    assert listed_slugs(page) == [larks, owls]
    assert MEMBER_COUNT.findall(page) == [(larks, "2"), (owls, "1")]
    assert 'id="new-group-form"' not in page
    assert "to start a group or join one." in page

    await register_and_login(client, "alice")
    await send_form(client, "/groups", {"name": "Alice's Own"})
    page = await text_of(await client.get("/groups"))
    assert listed_slugs(page) == ["alice-s-own", larks, owls]
    assert 'id="new-group-form"' in page
    assert "Owner</span>" in page

    page = await text_of(await client.get("/groups?q=OWL"))
    assert listed_slugs(page) == [owls]
    assert "Groups whose name contains “OWL”" in page
    page = await text_of(await client.get("/groups?q=nothing+like+it"))
    assert listed_slugs(page) == []
    assert "No group&#39;s name contains that." in page


async def test_the_group_list_is_paginated(client, database):
    alice = (await create_users(database, ["alice"]))["alice"]
    slugs = [await create_group(database, alice, f"Group {number:02}") for number in range(25)]
    first = await text_of(await client.get("/groups"))
    assert listed_slugs(first) == slugs[::-1][:20]
    second = await text_of(await client.get("/groups?page=2"))
    assert listed_slugs(second) == slugs[::-1][20:]
    assert 'href="/groups?page=1"' in second


async def test_the_group_page_shows_posts_with_comments_and_likes(client, database):
    ids = await create_users(database, ["alice", "bob"])
    slug = await create_group(database, ids["alice"], "Night Owls", "After midnight")
    group_id = await group_id_of(database, slug)
    first = await post_in_group(database, group_id, ids["alice"], "first post")
    await post_in_group(database, group_id, ids["bob"], "nice one", parent=first)
    await add_like(database, first, ids["bob"], utc_now())
    await post_in_group(database, group_id, ids["bob"], "second post")

    page = await text_of(await client.get(f"/groups/{slug}"))
    bodies = re.findall(r'<p class="post-body mb-1" id="post-body-[^"]+">([^<]+)</p>', page)
    assert bodies == ["second post", "first post"]
    assert re.search(r'<span class="comment-body" id="comment-body-[^"]+">nice one</span>', page)
    assert "1 like · Liked by bob" in page


async def test_markup_in_a_group_name_and_description_is_shown_as_text(alice):
    form = {"name": XSS_NAME, "description": XSS_DESCRIPTION}
    response = await send_form(alice, "/groups", form)
    slug = response.headers["Location"].rsplit("/", 1)[1]
    assert slug == "img-src-x-onerror-alert-1"
    for path, query in ((f"/groups/{slug}", {}), ("/groups", {}), ("/groups", {"q": XSS_NAME})):
        page = await text_of(await alice.get(path, query_string=query))
        assert XSS_NAME not in page and XSS_DESCRIPTION not in page
        assert shown(XSS_NAME) in page
    assert shown(XSS_DESCRIPTION) in page


async def test_the_navbar_links_to_groups_for_everyone(client):
    assert 'href="/groups">Groups</a>' in await text_of(await client.get("/login"))
    await register_and_login(client, "alice")
    assert 'href="/groups">Groups</a>' in await text_of(await client.get("/"))


# Round trips of a group page: the viewer, the group, where its stream
# starts, its members, its posts, their comments and their likers, no
# transaction; SQLite opens a connection for each.
GROUP_PAGE_ROUND_TRIPS = {"mysql": 7, "sqlite": 14}


async def test_the_group_page_takes_constant_statements(alice, database, round_trips):
    async def statements_for_group_page() -> int:
        before, trips_before = database.statements, round_trips.count
        response = await alice.get("/groups/night-owls")
        assert response.status_code == 200
        trips.append(round_trips.count - trips_before)
        return database.statements - before

    trips = []
    await send_form(alice, "/groups", {"name": "Night Owls"})
    ids = await user_ids(database)
    group_id = await group_id_of(database, "night-owls")
    await post_in_group(database, group_id, ids["alice"], "the only post")
    one_post = await statements_for_group_page()

    people = await create_users(database, [f"owl{number}" for number in range(MEMBERS_SHOWN + 5)])
    for number in range(MEMBERS_SHOWN + 5):
        await join_group(database, group_id, people[f"owl{number}"])
    for number in range(25):
        post_id = await post_in_group(database, group_id, ids["alice"], f"post {number}")
        for commenter in range(3):
            await post_in_group(database, group_id, people[f"owl{commenter}"], "c", post_id)
        for liker in range(5):
            await add_like(database, post_id, people[f"owl{liker}"], utc_now())
    page = await text_of(await alice.get("/groups/night-owls"))
    assert page.count('class="card post') == PAGE_SIZE
    assert page.count('class="comment ') == 3 * PAGE_SIZE
    assert 'id="older-link"' in page
    assert "5 likes · Liked by owl0, owl1" in page
    assert len(member_names(page)) == MEMBERS_SHOWN
    assert "and 6 more" in page
    many_posts = await statements_for_group_page()
    assert many_posts == one_post == 7
    assert trips == [GROUP_PAGE_ROUND_TRIPS[database.url.dialect]] * 2
