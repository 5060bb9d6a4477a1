"""Posting, commenting, liking and the home page (through Quart's test client)."""

import json
import re

import pytest
import sqlalchemy as sa

from db import json_rows
from feed.channels import HOME, NOTICES, PROFILE, Channel
from feed.models import feed_table
from post.models import post_by_uid
from relationship.models import follow
from tests.helpers import (
    count_rows,
    create_users,
    post_form,
    post_json,
    register_and_login,
    replayed_home,
    text_of,
)
from tests.integrity import assert_integrity
from user.models import create_user, user_by_name

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def alice(client):
    """The person using `client`, logged in."""
    await register_and_login(client, "alice")
    return client


async def make_user(database, username: str):
    await create_user(database, username, "a password")
    return await user_by_name(database, username)


async def test_post_needs_login(client):
    await client.get("/login")
    response = await post_json(client, "/post", {"post": "hello"}, token_page="/login")
    assert response.status_code == 401
    assert await response.get_json() == {"error": "Please log in first."}


async def test_post_returns_it_and_shows_on_home(alice, database):
    response = await post_json(alice, "/post", {"post": "  Hello, world  "})
    post = await response.get_json()
    assert response.status_code == 201
    assert post["body"] == "Hello, world"
    assert post["author"]["username"] == "alice"
    assert len(post["uid"]) == 36
    assert post["created"].endswith("+00:00")
    home = await text_of(await alice.get("/"))
    assert f'id="post-{post["uid"]}"' in home
    assert "Hello, world" in home


@pytest.mark.parametrize(
    "payload",
    [{"post": ""}, {"post": "   "}, {"post": "x" * 281}, {"post": 42}, {}, {"post": None}],
    ids=["empty", "blank", "too-long", "number", "missing", "null"],
)
async def test_post_validation(alice, database, payload):
    response = await post_json(alice, "/post", payload)
    assert response.status_code == 400
    assert await response.get_json() == {"error": "Write between 1 and 280 characters."}
    assert await count_rows(database, "post") == 0


async def test_post_of_280_characters_with_emoji_is_kept_whole(alice):
    text = "😀" * 280
    response = await post_json(alice, "/post", {"post": text})
    assert response.status_code == 201
    assert text in await text_of(await alice.get("/"))


async def test_post_that_is_not_a_json_object_is_400(alice):
    for payload in ([1, 2], "text"):
        response = await post_json(alice, "/post", payload)
        assert response.status_code == 400
        assert await response.get_json() == {"error": "Send a JSON object."}


async def test_plain_form_posts_without_javascript(alice):
    response = await post_form(alice, "/post", {"post": "from a form"}, token_page="/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "from a form" in await text_of(await alice.get("/"))


async def test_plain_form_with_empty_post_says_why(alice, database):
    await post_form(alice, "/post", {"post": " "}, token_page="/")
    assert "Write between 1 and 280 characters." in await text_of(await alice.get("/"))
    assert await count_rows(database, "post") == 0


async def test_fan_out_reaches_author_and_followers_only(alice, database):
    author = await user_by_name(database, "alice")
    followers = [await make_user(database, f"fan{i}") for i in range(3)]
    stranger = await make_user(database, "stranger")
    for follower in followers:
        await follow(database, follower["id"], author["id"])
    await post_json(alice, "/post", {"post": "to my fans"})
    readers = await database.fetch_all(sa.select(feed_table.c.to_user_id))
    assert sorted(row[0] for row in readers) == sorted(
        [author["id"]] + [follower["id"] for follower in followers]
    )
    assert stranger["id"] not in {row[0] for row in readers}


# Round trips of a post with its fan-out: BEGIN, the post, its event, three
# statements for the home channels, three for the other channels (the
# author's profile) and COMMIT; SQLite also opens a connection for the
# transaction.
POST_ROUND_TRIPS = {"mysql": 10, "sqlite": 11}


async def test_fan_out_takes_the_same_statements_whatever_the_followers(
    database, round_trips, feed
):
    author = await make_user(database, "author")
    for i in range(30):
        follower = await make_user(database, f"f{i}")
        await follow(database, follower["id"], author["id"])
    before, trips_before = database.statements, round_trips.count
    _, event = await feed.create_post(author, "hello all")
    assert database.statements - before == 2 + 3 + 3  # the post and its event, then two fan-outs
    assert round_trips.count - trips_before == POST_ROUND_TRIPS[database.url.dialect]
    rows = await database.fetch_all(sa.select(feed_table.c.to_user_id, feed_table.c.seq))
    homes = {channel.key: seq for channel, seq in event.told.items() if channel.kind == HOME}
    assert homes == {row[0]: row[1] for row in rows}
    assert len(homes) == 31
    assert set(event.told.values()) == {1}  # everyone's first event, and the profile's
    assert Channel(PROFILE, author["id"]) in event.told


async def test_event_ids_of_a_huge_fan_out_are_read_back_whole(database):
    # 100,000 pairs make about 1.5 MB of JSON, more than MariaDB's default
    # group_concat_max_len (1 MiB), which would cut the text short.
    digit = sa.union_all(*[sa.select(sa.literal(d).label("d")) for d in range(10)]).subquery()
    places = [digit.alias(f"place{power}") for power in range(5)]
    number = sum(place.c.d * 10**power for power, place in enumerate(places)) + 100_000
    text = await database.fetch_val(sa.select(json_rows(number, number)).select_from(*places))
    pairs = dict(json.loads(text))
    assert len(text) > 1024 * 1024
    assert len(pairs) == 100_000 and pairs[100_000] == 100_000 and pairs[199_999] == 199_999


async def test_comment_and_its_errors(alice, database):
    post = await (await post_json(alice, "/post", {"post": "a post"})).get_json()
    response = await post_json(alice, "/comment", {"post_uid": post["uid"], "comment": "first!"})
    comment = await response.get_json()
    assert response.status_code == 201
    assert comment["body"] == "first!"
    home = await text_of(await alice.get("/"))
    assert f'id="comment-{comment["uid"]}"' in home
    unknown = await post_json(alice, "/comment", {"post_uid": "nope", "comment": "hi"})
    assert unknown.status_code == 404
    assert await unknown.get_json() == {"error": "That post does not exist."}
    nested = await post_json(alice, "/comment", {"post_uid": comment["uid"], "comment": "hi"})
    assert nested.status_code == 400
    assert "cannot be commented on" in (await nested.get_json())["error"]
    empty = await post_json(alice, "/comment", {"post_uid": post["uid"], "comment": ""})
    assert empty.status_code == 400


async def test_like_and_unlike_are_idempotent(alice, database):
    post = await (await post_json(alice, "/post", {"post": "like me"})).get_json()
    uid = {"post_uid": post["uid"]}
    first = await (await post_json(alice, "/like", uid)).get_json()
    second = await (await post_json(alice, "/like", uid)).get_json()
    assert first == second == {"liked": True, "likes": 1, "likers": ["alice"]}
    assert await count_rows(database, "like") == 1
    assert "1 like · Liked by alice" in await text_of(await alice.get("/"))
    gone = await (await post_json(alice, "/unlike", uid)).get_json()
    again = await (await post_json(alice, "/unlike", uid)).get_json()
    assert gone == again == {"liked": False, "likes": 0, "likers": []}
    assert await count_rows(database, "like") == 0
    missing = await post_json(alice, "/like", {"post_uid": "no-such-post"})
    assert missing.status_code == 404


async def test_comment_by_stranger_bumps_post_to_the_top(database, feed):
    author = await make_user(database, "author")
    reader = await make_user(database, "reader")
    stranger = await make_user(database, "stranger")
    await follow(database, reader["id"], author["id"])
    older, _ = await feed.create_post(author, "older post")
    await feed.create_post(author, "newer post")
    parent = await post_by_uid(database, older["uid"])
    _, event = await feed.create_comment(stranger, parent, "nice")
    assert set(event.told) == {
        Channel(HOME, author["id"]),
        Channel(HOME, reader["id"]),
        Channel(PROFILE, author["id"]),
        Channel(NOTICES, author["id"]),  # the author is notified
    }
    page = await feed.home_page(reader["id"])
    assert [post["body"] for post in page["posts"]] == ["older post", "newer post"]
    assert page["posts"][0]["comments"][0]["body"] == "nice"


async def test_like_bumps_post_too(database, feed):
    author = await make_user(database, "author")
    liker = await make_user(database, "liker")
    older, _ = await feed.create_post(author, "older")
    await feed.create_post(author, "newer")
    post = await post_by_uid(database, older["uid"])
    state, event = await feed.change_like(liker, post, like=True)
    assert state["likes"] == 1
    assert event.action == "like"
    page = await feed.home_page(author["id"])
    assert page["posts"][0]["body"] == "older"
    assert page["posts"][0]["likers"] == ["liker"]


async def test_user_text_is_escaped_in_html(alice):
    await post_json(alice, "/post", {"post": XSS})
    home = await text_of(await alice.get("/"))
    assert XSS not in home
    assert "&lt;img src=x onerror=alert(1)&gt;" in home


# Round trips of a full home page: the user, the posts, their comments and
# their likers, no transaction; SQLite opens a connection for each.
HOME_ROUND_TRIPS = {"mysql": 4, "sqlite": 8}


async def test_home_page_takes_constant_statements(alice, database, round_trips, feed):
    async def statements_for_home() -> int:
        before, trips_before = database.statements, round_trips.count
        response = await alice.get("/")
        assert response.status_code == 200
        trips.append(round_trips.count - trips_before)
        return database.statements - before

    trips = []

    author = await user_by_name(database, "alice")
    likers = [await make_user(database, f"liker{i}") for i in range(5)]
    await feed.create_post(author, "the only post")
    one_post = await statements_for_home()
    for number in range(11):  # one more than the page shows
        post, _ = await feed.create_post(author, f"post {number}")
        parent = await post_by_uid(database, post["uid"])
        for comment_number in range(5):
            await feed.create_comment(likers[comment_number], parent, "c")
        for liker in likers:
            await feed.change_like(liker, await post_by_uid(database, post["uid"]), like=True)
    page = await text_of(await alice.get("/"))
    assert page.count('class="card post') == 10
    assert page.count('class="comment ') == 50
    assert "5 likes · Liked by liker0, liker1" in page
    many_posts = await statements_for_home()
    assert many_posts == one_post
    assert many_posts <= 5
    assert trips == [HOME_ROUND_TRIPS[database.url.dialect]] * 2


async def test_older_pages_for_infinite_scroll(alice, database, feed):
    author = await user_by_name(database, "alice")
    for number in range(25):
        await feed.create_post(author, f"post {number}")
    home = await text_of(await alice.get("/"))
    assert home.count('class="card post') == 10
    assert "post 24" in home and "post 15" in home and "post 14" not in home
    before = home.split('data-next-before="')[1].split('"')[0]
    seen = []
    while before:
        response = await alice.get(
            f"/feed?before={before}", headers={"Accept": "application/json"}
        )
        page = await response.get_json()
        seen += [post["body"] for post in page["posts"]]
        before = page["next_before"]
    assert seen == [f"post {number}" for number in range(14, -1, -1)]


async def test_older_page_as_html_without_javascript(alice, database, feed):
    author = await user_by_name(database, "alice")
    for number in range(11):
        await feed.create_post(author, f"post {number}")
    home = await text_of(await alice.get("/"))
    link = home.split('id="older-link" href="')[1].split('"')[0]
    older = await text_of(await alice.get(link.replace("&amp;", "&")))
    assert "post 0" in older and "post 1<" not in older
    assert "No more posts" in older


@pytest.mark.parametrize("before", ["abc", "-1", "1.5", "", "9" * 30])
async def test_older_page_with_bad_cursor_is_400(alice, before):
    response = await alice.get(f"/feed?before={before}", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "error" in await response.get_json()


async def test_empty_home_says_what_to_do(alice):
    home = await text_of(await alice.get("/"))
    assert "Nothing here yet" in home
    assert re.search(r'data-stream-cursor="[A-Za-z0-9_-]+/home=0/notices=0"', home)


async def test_profile_lists_the_users_posts_with_comments(alice, database, feed):
    author = await user_by_name(database, "alice")
    other = await make_user(database, "bob")
    post, _ = await feed.create_post(author, "on my profile")
    await feed.create_post(other, "not alice's")
    parent = await post_by_uid(database, post["uid"])
    await feed.create_comment(other, parent, "a comment from bob")
    profile = await text_of(await alice.get("/user/alice"))
    assert f'id="post-{post["uid"]}"' in profile
    assert "a comment from bob" in profile
    assert "not alice's" not in profile
    assert "bob has not posted yet." not in profile
    assert "not alice&#39;s" in await text_of(await alice.get("/user/bob"))
    await make_user(database, "carol")
    assert "carol has not posted yet." in await text_of(await alice.get("/user/carol"))


async def test_liking_and_unliking_again_and_again_stores_only_the_last(database, feed):
    """120 toggles (a minute's allowance) on a post that 101 people read add
    one row per reader, not 120; only the first like raised the post, and a
    replay tells the post's state as it is now."""
    followers = [f"reader{n}" for n in range(100)]
    ids = await create_users(database, ["author", "liker", "other", *followers])
    for name in followers:
        await follow(database, ids[name], ids["author"])
    author, liker = await user_by_name(database, "author"), await user_by_name(database, "liker")
    post, _ = await feed.create_post(author, "toggle me")
    await feed.create_post(author, "newer")
    row = await post_by_uid(database, post["uid"])
    await feed.change_like(liker, row, like=True)
    assert await top_post_of(feed, ids["reader0"]) == "toggle me"  # the first like raised it
    await feed.create_post(author, "newest")
    for toggle in range(119):
        await feed.change_like(liker, row, like=toggle % 2 == 1)
    likes = sa.select(sa.func.count()).where(feed_table.c.action.in_(["like", "unlike"]))
    assert await database.fetch_val(likes) == 101
    assert await top_post_of(feed, ids["reader0"]) == "newest"  # toggling raised it no more
    *_, (_, action, data) = await replayed_home(feed, ids["reader0"])
    assert (action, data["likers"]) == ("unlike", [])  # the 120th toggle
    await assert_integrity(database)


async def top_post_of(feed, reader_id: int) -> str:
    return (await feed.home_page(reader_id))["posts"][0]["body"]
