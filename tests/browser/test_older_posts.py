"""Older posts on a profile and on a group page, as on home: scrolling down
adds them to the list until there are no more."""

from playwright.async_api import expect

from feed.models import PAGE_SIZE
from tests.browser import BROWSER_TESTS
from tests.live import Person

pytestmark = BROWSER_TESTS

POSTS = PAGE_SIZE + 3  # more than a page


async def scroll_to_every_post(reader, newest_first: list[str]) -> None:
    """The page shows a page of posts, and one more each time the reader
    scrolls to the bottom, until it has them all."""
    pages = -(-len(newest_first) // PAGE_SIZE)
    for page in range(1, pages + 1):
        await expect(reader.post_bodies).to_have_text(newest_first[: page * PAGE_SIZE])
        await reader.page.mouse.wheel(0, 10_000)
    await expect(reader.page.get_by_text("No more posts")).to_be_visible()


async def test_a_profile_and_a_group_page_show_older_posts_as_you_scroll(people, server):
    (bob,) = await people("bob")
    alice = await Person(server.url, "alice").sign_up()
    group = await alice.http.post(
        "/groups",
        data={"name": "Walkers", "csrf_token": alice.csrf},
        headers={"Accept": "application/json"},
    )
    slug = group.json()["slug"]
    on_profile = [f"Profile post {number}" for number in range(POSTS)]
    in_group = [f"Group post {number}" for number in range(POSTS)]
    for text in on_profile:
        await alice.post(text)
    for text in in_group:
        await alice.send("/post", {"post": text, "group": slug})

    await bob.page.goto("/user/alice")
    # The profile shows every post of alice's, those in the group too.
    await scroll_to_every_post(bob, [*in_group[::-1], *on_profile[::-1]])
    await bob.page.goto(f"/groups/{slug}")
    await scroll_to_every_post(bob, in_group[::-1])
    await alice.close()
