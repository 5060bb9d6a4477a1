"""The length limit in the page is the server's: the post form counts down
from it, and a post that arrives live limits its comment box to it too."""

import re

from playwright.async_api import expect

from post.models import MAX_BODY_LENGTH
from tests.browser import BROWSER_TESTS

pytestmark = BROWSER_TESTS


async def test_the_post_form_counts_down_from_the_servers_limit(people):
    (alice,) = await people("alice")
    await alice.open_home()
    counter = alice.page.locator("#post-chars")
    await expect(counter).to_have_text(f"{MAX_BODY_LENGTH} characters left")

    await alice.page.get_by_label(re.compile(r"^What's new")).fill("Hello")
    await expect(counter).to_have_text(f"{MAX_BODY_LENGTH - len('Hello')} characters left")

    await alice.page.get_by_role("button", name="Post", exact=True).click()
    await expect(alice.post("Hello")).to_be_visible()
    await expect(counter).to_have_text(f"{MAX_BODY_LENGTH} characters left")


async def test_a_post_rendered_live_limits_its_comments_like_the_server(alice_and_bob):
    alice, bob = alice_and_bob
    await alice.write_post("Any plans?")  # alice's from her request, bob's from the event
    for visitor in (alice, bob):
        comment_box = visitor.post("Any plans?").get_by_placeholder("Write a comment")
        await expect(comment_box).to_have_attribute("data-max-length", str(MAX_BODY_LENGTH))
