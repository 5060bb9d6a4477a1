"""Editing what you wrote, from the keyboard: Edit opens the text as it was
written, Escape leaves it, Save shows the new text marked "edited", on
every open page at once."""

import re

from playwright.async_api import expect

from tests.browser import BROWSER_TESTS

pytestmark = BROWSER_TESTS

ADDRESS = "https://example.com/a/long/address/that/the/link/shows/cut/short"
SHOWN = "example.com/a/long/address/that/the/lin…"  # as its link shows it


async def test_an_edit_made_from_the_keyboard_reaches_an_open_page_live(alice_and_bob):
    alice, bob = alice_and_bob
    # Its link shows the address cut short: the post is not its text, as written.
    await alice.page.get_by_label(re.compile(r"^What's new")).fill(f"Picnic at noo, see {ADDRESS}")
    await alice.page.get_by_role("button", name="Post", exact=True).click()
    await bob.show_new_posts()
    await expect(bob.page.locator("#posts .edit-button")).to_have_count(0)  # not his

    post = alice.post(f"Picnic at noo, see {SHOWN}")
    edit = post.get_by_role("button", name="Edit alice's post")
    await edit.focus()
    await alice.page.keyboard.press("Enter")
    box = post.get_by_role("textbox", name="Edit alice's post")
    await expect(box).to_be_focused()
    await expect(box).to_have_value(f"Picnic at noo, see {ADDRESS}")  # the address whole
    await alice.page.keyboard.press("Escape")
    await expect(edit).to_be_focused()

    await edit.press("Enter")
    await box.fill(f"Picnic at noon, see {ADDRESS}")
    await box.press("Tab")
    await alice.page.keyboard.press("Enter")  # on Save
    edited = alice.post(f"Picnic at noon, see {SHOWN}")
    await expect(edited.get_by_role("button", name="Edit alice's post")).to_be_focused()
    for page in (alice, bob):
        post = page.post(f"Picnic at noon, see {SHOWN}")
        await expect(post.locator(".edited")).to_have_text("· edited")
        await expect(post.locator("[data-edited-time]")).to_have_attribute(
            "title", re.compile("^Edited ")
        )
    await bob.expect_no_reload()
