"""Your account (/settings): a display name and a bio, a new password that
logs out every other session, and deleting the account, which leaves
nothing of the person readable and takes nothing of anyone else's."""

from pathlib import Path

import sqlalchemy as sa

from db import utc_now
from feed import models as feed_models
from feed.models import event_table, feed_table, removal_table, write_account_closed
from group.models import create_group, group_by_slug, group_members, join_group
from notification.models import notification_table
from post.models import like_table, mention_table, post_by_uid, post_table
from relationship.models import follow, relationship_table
from tests import test_sse
from tests.helpers import (
    PASSWORD,
    create_users,
    csrf_token_from,
    logged_in,
    login,
    post_files,
    post_form,
    post_json,
    register_and_login,
    replayed_home,
    text_of,
    upload,
)
from tests.images import solid_image
from tests.integrity import assert_integrity
from tests.live import Person
from tests.test_channels import ended_with
from user.models import session_table, user_by_name, user_table

NEW_PASSWORD = "a brand new passphrase"


async def save_profile(client, display_name: str, bio: str = ""):
    form = {"display_name": display_name, "bio": bio}
    return await post_form(client, "/settings", form, "/settings")


async def change_password(client, current: str, new: str = NEW_PASSWORD):
    form = {"current_password": current, "new_password": new}
    return await post_form(client, "/settings/password", form, "/settings")


async def delete_account(client, password: str = PASSWORD):
    return await post_form(client, "/settings/delete", {"password": password}, "/settings")


async def sent(client, path: str, payload: dict) -> dict:
    """What a JSON write answered."""
    return await (await post_json(client, path, payload)).get_json()


async def is_logged_in(client) -> bool:
    return (await client.get("/")).status_code == 200


# --- Display name and bio -------------------------------------------------------


async def test_the_display_name_shows_beside_the_name_and_the_bio_on_the_profile(app, database):
    clients, users = await logged_in(app, database, ["alice", "bob"])
    alice = clients["alice"]
    response = await save_profile(alice, "  Alice <Liddell>  ", "Down the\nrabbit <b>hole</b>")
    assert response.status_code == 302
    await follow(database, users["bob"]["id"], users["alice"]["id"])
    await post_json(alice, "/post", {"post": "Curiouser"})
    shown_name = '<span class="display-name text-body-secondary">Alice &lt;Liddell&gt;</span>'
    home = await text_of(await clients["bob"].get("/"))
    assert f'href="/user/alice">alice</a> {shown_name}' in home
    profile = await text_of(await clients["bob"].get("/user/alice"))
    assert "Down the\nrabbit &lt;b&gt;hole&lt;/b&gt;" in profile
    assert "Alice &lt;Liddell&gt;" in profile
    followers = await text_of(await clients["bob"].get("/user/bob/following"))
    assert shown_name in followers


async def test_the_display_name_travels_in_the_event_and_its_replay(app, database, feed):
    clients, users = await logged_in(app, database, ["alice"])
    await save_profile(clients["alice"], "Alice L.")
    post = await sent(clients["alice"], "/post", {"post": "Curiouser"})
    assert post["author"]["display_name"] == "Alice L."
    (_, action, data), *_ = await replayed_home(feed, users["alice"]["id"])
    assert action == "post"
    assert data["post"]["author"]["display_name"] == "Alice L."


async def test_an_empty_display_name_is_none(app, database):
    clients, users = await logged_in(app, database, ["alice"])
    await save_profile(clients["alice"], "Alice", "a bio")
    await save_profile(clients["alice"], "   ", "")
    alice = await user_by_name(database, "alice")
    assert (alice["display_name"], alice["bio"]) == (None, None)


REFUSED = [
    ("A" * 51, "", "A display name is at most 50 characters"),
    ("bell\x07", "", "A display name cannot contain control characters"),
    ("two\nlines", "", "A display name cannot contain control characters"),
    ("evil\u202eeman", "", "A display name cannot contain control characters"),
    ("Alice", "b" * 161, "A bio is at most 160 characters"),
    ("Alice", "nul\x00", "A bio cannot contain control characters"),
]


async def test_a_bad_display_name_or_bio_is_refused_with_its_reason(app, database):
    clients, _ = await logged_in(app, database, ["alice"])
    for display_name, bio, message in REFUSED:
        response = await save_profile(clients["alice"], display_name, bio)
        assert response.status_code == 400, display_name
        assert message in await text_of(response)
    alice = await user_by_name(database, "alice")
    assert (alice["display_name"], alice["bio"]) == (None, None)


async def test_settings_need_a_login_and_the_csrf_token(app, database):
    visitor = app.test_client()
    assert (await visitor.get("/settings")).status_code == 302
    clients, _ = await logged_in(app, database, ["alice"])
    forged = await clients["alice"].post("/settings/delete", form={"password": PASSWORD})
    assert forged.status_code == 403
    assert await user_by_name(database, "alice") is not None


# --- Password ---------------------------------------------------------------------


async def test_a_wrong_current_password_changes_nothing(app, database):
    clients, _ = await logged_in(app, database, ["alice"])
    response = await change_password(clients["alice"], "not my password")
    assert response.status_code == 403
    assert "That is not your current password" in await text_of(response)
    assert (await login(app.test_client(), "alice", PASSWORD)).status_code == 302


async def test_a_new_password_follows_the_rules(app, database):
    clients, _ = await logged_in(app, database, ["alice"])
    response = await change_password(clients["alice"], PASSWORD, "short")
    assert response.status_code == 400
    assert "Passwords are at least 8 characters" in await text_of(response)


async def test_a_new_password_ends_every_other_session_and_keeps_this_one(app, database):
    clients, _ = await logged_in(app, database, ["alice"])
    laptop, phone = clients["alice"], app.test_client()
    await login(phone, "alice")
    response = await change_password(laptop, PASSWORD)
    assert response.status_code == 302
    assert await is_logged_in(laptop)
    assert not await is_logged_in(phone)
    assert (await login(app.test_client(), "alice", PASSWORD)).status_code == 200  # refused
    assert (await login(app.test_client(), "alice", NEW_PASSWORD)).status_code == 302


# --- Deleting the account ------------------------------------------------------


async def test_a_wrong_password_deletes_nothing(app, database):
    clients, _ = await logged_in(app, database, ["alice"])
    response = await delete_account(clients["alice"], "not my password")
    assert response.status_code == 403
    assert "That is not your current password" in await text_of(response)
    assert await is_logged_in(clients["alice"])


async def rows(database, table: sa.Table, *conditions) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(*conditions)
    return await database.fetch_val(query)


async def image_files(media_root: str) -> list[str]:
    return sorted(path.name for path in (Path(media_root) / "user").glob("*.png"))


async def test_deleting_an_account_leaves_nothing_of_theirs_and_all_of_the_others(
    app, app_config, database
):
    clients, users = await logged_in(app, database, ["alice", "bob", "carol"])
    alice, bob, carol = (clients[name] for name in ("alice", "bob", "carol"))
    alice_id, bob_id, carol_id = (users[name]["id"] for name in ("alice", "bob", "carol"))
    image = {"profile_image": upload(solid_image(64, 64))}
    await post_files(alice, "/profile/edit", {"username": "alice"}, image, "/profile/edit")
    assert await image_files(app_config["MEDIA_ROOT"])
    await save_profile(alice, "Alice L.", "a bio")
    await follow(database, alice_id, bob_id)
    await follow(database, bob_id, alice_id)
    hers = await sent(alice, "/post", {"post": "mine"})
    bobs = await sent(bob, "/post", {"post": "bob's, hi @alice"})
    for client, text in ((alice, "alice on bob's"), (carol, "carol on bob's")):
        await post_json(client, "/comment", {"post_uid": bobs["uid"], "comment": text})
    await post_json(carol, "/comment", {"post_uid": hers["uid"], "comment": "carol on hers"})
    await post_json(alice, "/like", {"post_uid": bobs["uid"]})
    await post_json(carol, "/like", {"post_uid": bobs["uid"]})
    slug = await create_group(database, alice_id, "Tea party")
    empty_slug = await create_group(database, alice_id, "Alone")
    group = await group_by_slug(database, slug, None)
    for member_id in (carol_id, bob_id):  # carol joins first: she inherits it
        await join_group(database, group["id"], member_id)

    response = await delete_account(alice)

    assert response.status_code == 302
    assert not await is_logged_in(alice)
    # Pages leave her out at once, before her rows are forgotten, a batch at a time.
    bob_page = await text_of(await bob.get("/"))
    assert "1 like · Liked by carol" in bob_page and "alice on bob" not in bob_page
    await app.extensions["feed"].finish_removals()
    gone = await database.fetch_one(user_table.select().where(user_table.c.id == alice_id))
    assert gone["username"] == f"~{alice_id}" and gone["deleted"] is not None
    assert (gone["display_name"], gone["bio"], gone["image"]) == (None, None, None)
    assert await image_files(app_config["MEDIA_ROOT"]) == []
    assert (await alice.get("/user/alice")).status_code == 404
    theirs = {
        "live posts and comments": (post_table, post_table.c.user_id == alice_id, NOT_GONE),
        "likes": (like_table, like_table.c.user_id == alice_id),
        "follows": (relationship_table, follows_with(alice_id)),
        "sessions": (session_table, session_table.c.user_id == alice_id),
        "notifications": (notification_table, notification_table.c.user_id == alice_id),
        "mentions of her": (mention_table, mention_table.c.user_id == alice_id),
        "readable events": (event_table, event_table.c.fm_user_id == alice_id, READABLE),
    }
    left = {name: await rows(database, *where) for name, where in theirs.items()}
    assert left == {name: 0 for name in theirs} | {"readable events": 1}  # the farewell
    # Carol's comment on bob's post stays; hers on alice's post went with it.
    comments = await database.fetch_all(
        sa.select(post_table.c.body).where(post_table.c.user_id == carol_id, NOT_GONE)
    )
    assert [row["body"] for row in comments] == ["carol on bob's"]
    assert await post_by_uid(database, bobs["uid"]) is not None
    members = await group_members(database, group["id"])
    assert [(member["username"], member["role"]) for member in members] == [
        ("carol", "owner"),
        ("bob", "member"),
    ]
    assert (await group_by_slug(database, empty_slug, None))["members"] == 0
    await assert_integrity(database)
    # Her name is free for someone new, who starts with nothing of hers.
    newcomer = app.test_client()
    await register_and_login(newcomer, "alice")
    assert hers["uid"] not in await text_of(await newcomer.get("/user/alice"))


NOT_GONE = post_table.c.deleted.is_(None)
READABLE = event_table.c.data.is_not(None)


def follows_with(user_id: int) -> sa.ColumnElement[bool]:
    follows = relationship_table.c
    return sa.or_(follows.fm_user_id == user_id, follows.to_user_id == user_id)


async def test_a_deleted_accounts_posts_leave_every_replay(app, database, feed):
    clients, users = await logged_in(app, database, ["alice", "bob"])
    await follow(database, users["bob"]["id"], users["alice"]["id"])
    await post_json(clients["alice"], "/post", {"post": "soon gone"})
    await delete_account(clients["alice"])
    await feed.finish_removals()  # the fan-out workers' part
    replayed = await replayed_home(feed, users["bob"]["id"])
    assert [(action, data) for _, action, data in replayed] == [
        ("delete", {"post_uid": None, "comment_uid": None, "author": "alice"})
    ]
    assert await rows(database, feed_table, feed_table.c.to_user_id == users["bob"]["id"]) == 2, (
        "the post's row stays, unreadable: the home page leaves deleted posts out"
    )


async def test_pages_leave_a_closed_account_out_before_its_rows_go(app, database):
    """Between the closing transaction and the workers' batches, nothing of
    the person shows: not their post, their comment, their like or them."""
    clients, users = await logged_in(app, database, ["alice", "bob"])
    alice, bob = clients["alice"], clients["bob"]
    await follow(database, users["bob"]["id"], users["alice"]["id"])
    hers = await sent(alice, "/post", {"post": "soon gone"})
    bobs = await sent(bob, "/post", {"post": "bob's"})
    await post_json(alice, "/comment", {"post_uid": bobs["uid"], "comment": "hers, on bob's"})
    await post_json(alice, "/like", {"post_uid": bobs["uid"]})
    farewell = {"post_uid": None, "comment_uid": None, "author": "alice"}
    await write_account_closed(database, users["alice"]["id"], utc_now(), farewell)

    page = await text_of(await bob.get("/"))
    assert "bob&#39;s" in page
    assert not any(text in page for text in ("soon gone", "hers, on bob", "Liked by"))
    assert (await bob.get(f"/posts/{hers['uid']}")).status_code == 404
    assert "/user/alice" not in await text_of(await bob.get("/user/bob/following"))


async def test_a_farewell_to_more_followers_than_a_batch(app, database, feed, monkeypatch):
    """Each follower hears of it once, through the fan-out's batches, and
    their follows go only once it has reached them all."""
    monkeypatch.setattr(feed_models, "FAREWELL_BATCH", 2)
    ids = await create_users(database, ["alice", *(f"fan{n}" for n in range(5))])
    for n in range(5):
        await follow(database, ids[f"fan{n}"], ids["alice"])
    alice = await user_by_name(database, "alice")
    assert await feed.close_account(alice)
    await feed.finish_fanouts()  # beside the workers its write woke
    farewell = ("delete", {"post_uid": None, "comment_uid": None, "author": "alice"})
    for n in range(5):
        replayed = await replayed_home(feed, ids[f"fan{n}"])
        assert [(action, data) for _, action, data in replayed] == [farewell]
    assert await rows(database, relationship_table, follows_with(ids["alice"])) == 0
    assert await rows(database, removal_table) == 0
    assert not await feed.close_account(alice)  # once is enough


async def test_deleting_needs_the_form_of_this_session(app, database):
    clients, _ = await logged_in(app, database, ["alice"])
    token = await csrf_token_from(clients["alice"], "/settings")
    response = await clients["alice"].post(
        "/settings/delete", form={"csrf_token": token, "password": ""}
    )
    assert response.status_code == 403
    assert await is_logged_in(clients["alice"])


# --- Live, over a real server --------------------------------------------------

# The live server of this module, and the people who sign up on it.
server = test_sse.server
live_people = test_sse.people


async def send_form(person: Person, path: str, form: dict) -> None:
    response = await person.http.post(path, data={**form, "csrf_token": person.csrf})
    assert response.status_code == 302, response.text


async def test_a_live_event_names_the_author_as_they_chose(live_people, database):
    alice, bob = await live_people("alice", "bob")
    await send_form(alice, "/settings", {"display_name": "Alice L.", "bio": ""})
    await test_sse.follows(database, bob, alice)
    async with bob.stream() as stream:
        await alice.post("Curiouser and curiouser")
        event = await stream.next()
    assert event.data["post"]["author"]["display_name"] == "Alice L."


async def test_a_new_password_ends_the_streams_of_other_sessions(server, live_people):
    (laptop,) = await live_people("alice")
    phone = await Person(server.url, "alice").log_in()
    try:
        async with phone.stream() as stream:
            await stream.subscribed()
            form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            await send_form(laptop, "/settings/password", form)
            assert await ended_with(stream) == ("logout", {})
        assert (await phone.http.get("/")).status_code == 302  # to the login page
        assert (await laptop.http.get("/")).status_code == 200
    finally:
        await phone.close()


async def test_a_followers_open_page_hears_the_account_go(live_people, database):
    alice, bob = await live_people("alice", "bob")
    await test_sse.follows(database, bob, alice)
    async with bob.stream() as stream:
        await alice.post("soon gone")
        await stream.next()
        await send_form(alice, "/settings/delete", {"password": PASSWORD})
        farewell = await stream.next()
    assert (farewell.name, farewell.data) == (
        "delete",
        {"post_uid": None, "comment_uid": None, "author": "alice"},
    )
