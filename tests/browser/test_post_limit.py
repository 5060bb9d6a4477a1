"""The length limit in the page is the server's, counted the server's way
(code points): the post form counts down from it, speaking only near it, and
a post that arrives live limits its comment box to it too."""

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


async def test_the_counter_speaks_only_near_the_limit(people):
    (alice,) = await people("alice")
    await alice.open_home()
    text = alice.page.get_by_label(re.compile(r"^What's new"))
    spoken = alice.page.locator("#post-chars-status")

    await text.fill("x" * (MAX_BODY_LENGTH - 21))
    await expect(alice.page.locator("#post-chars")).to_have_text("21 characters left")
    await expect(spoken).to_be_empty()
    await text.press("x")
    await expect(spoken).to_have_text("20 characters left")


async def test_an_emoji_is_one_character_and_an_accent_another(people):
    (alice,) = await people("alice")
    await alice.open_home()
    text = alice.page.get_by_label(re.compile(r"^What's new"))
    counter = alice.page.locator("#post-chars")

    emoji = "😀" * MAX_BODY_LENGTH  # 560 UTF-16 units, 280 code points
    await text.fill(emoji)
    await expect(counter).to_have_text("0 characters left")
    await alice.page.get_by_role("button", name="Post", exact=True).click()
    await expect(alice.post(emoji)).to_be_visible()

    accented = "e\u0301" * (MAX_BODY_LENGTH // 2) + "!"  # "é" as two code points
    await text.fill(accented)
    await expect(counter).to_have_text("1 character too many")
    await expect(text).to_have_js_property(
        "validationMessage", f"Write at most {MAX_BODY_LENGTH} characters."
    )
