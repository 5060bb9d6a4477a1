"""Older posts on profile and group pages, as on home: ?before=<post id>
gives the next page, as JSON for infinite scroll or as a page without script."""

import re

import pytest

from db import utc_now
from feed.models import PAGE_SIZE
from group.models import create_group, group_by_slug
from post.models import insert_post, post_table
from tests.helpers import create_users, text_of

POSTS = 2 * PAGE_SIZE + 3  # two full pages and a bit
OLDER_LINK = re.compile(r'id="older-link" href="([^"]+)"')
BODY = re.compile(r'<p class="post-body[^>]*>([^<]*)</p>')


async def posts_by(database, author_id: int, group_id: int | None = None) -> list[str]:
    """POSTS posts by the author (in the group if given), newest first."""
    bodies = [f"Post {number}" for number in range(POSTS)]
    for body in bodies:
        post_id, _ = await insert_post(database, author_id, body, utc_now())
        if group_id is not None:
            update = post_table.update().where(post_table.c.id == post_id)
            await database.execute(update.values(group_id=group_id))
    return bodies[::-1]


async def profile_of_alice(database) -> tuple[str, list[str]]:
    ids = await create_users(database, ["alice"])
    return "/user/alice", await posts_by(database, ids["alice"])


async def group_of_alice(database) -> tuple[str, list[str]]:
    ids = await create_users(database, ["alice"])
    slug = await create_group(database, ids["alice"], "Walkers")
    group = await group_by_slug(database, slug, None)
    return f"/groups/{slug}", await posts_by(database, ids["alice"], group["id"])


PAGES = pytest.mark.parametrize("page_of_posts", [profile_of_alice, group_of_alice])


@PAGES
async def test_the_older_link_pages_through_every_post_without_script(
    client, database, page_of_posts
):
    path, newest_first = await page_of_posts(database)
    shown, url = [], path
    while url:
        page = await text_of(await client.get(url))
        shown += BODY.findall(page)
        link = OLDER_LINK.search(page)
        url = link.group(1) if link else None
        if url:
            assert url.startswith(f"{path}?before=")
    assert shown == newest_first
    assert "No more posts" in page
    assert "data-stream-cursor" not in page  # an older page is not live


@PAGES
async def test_infinite_scroll_gets_every_post_as_json(client, database, page_of_posts):
    path, newest_first = await page_of_posts(database)
    first_page = await text_of(await client.get(path))
    before = re.search(r'data-next-before="(\d+)"', first_page).group(1)
    shown = BODY.findall(first_page)
    while before:
        answer = await client.get(
            f"{path}?before={before}", headers={"Accept": "application/json"}
        )
        page = await answer.get_json()
        shown += [post["body"] for post in page["posts"]]
        before = page["next_before"]
    assert shown == newest_first


@PAGES
async def test_a_before_that_is_not_an_id_is_a_400(client, database, page_of_posts):
    path, _ = await page_of_posts(database)
    response = await client.get(f"{path}?before=12abc")
    assert response.status_code == 400


async def test_the_profile_page_takes_constant_statements(client, database):
    async def statements_for(path: str) -> int:
        before = database.statements
        response = await client.get(path)
        assert response.status_code == 200
        return database.statements - before

    ids = await create_users(database, ["alice", "bob"])
    await insert_post(database, ids["alice"], "the only post", utc_now())
    one_post = await statements_for("/user/alice")
    await posts_by(database, ids["bob"])
    many_posts = await statements_for("/user/bob")
    older_page = await statements_for(f"/user/bob?before={2**40}")
    assert many_posts == one_post == older_page
