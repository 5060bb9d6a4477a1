"""Searching from the navbar's box, as a visitor: the post is found, and its
link opens it."""

from playwright.async_api import expect

from tests.browser import BROWSER_TESTS

pytestmark = BROWSER_TESTS


async def test_a_visitor_finds_a_post_from_the_navbar(people):
    (alice,) = await people("alice")
    (visitor,) = await people("visitor", signed_up=False)
    await alice.open_home()
    await alice.write_post("Ducks at dawn by the #pond")

    await visitor.page.goto("/groups")
    box = visitor.page.get_by_role("searchbox", name="Search posts, people and groups")
    await box.fill("#pond dawn")
    await box.press("Enter")
    found = visitor.page.locator("#found-posts .found-body")
    await expect(found).to_have_text(["Ducks at dawn by the #pond"])
    await expect(visitor.page.get_by_label("Words, a #tag, a name")).to_have_value("#pond dawn")

    await visitor.page.get_by_role("link", name="See the post by alice").click()
    await expect(visitor.post("Ducks at dawn by the #pond")).to_be_visible()
