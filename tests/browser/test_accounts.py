"""Joining, logging in and out, and changing one's name and picture."""

import re

from playwright.async_api import Locator, expect

from tests.browser import BROWSER_TESTS
from tests.images import solid_image

pytestmark = BROWSER_TESTS


async def test_registering_lands_on_home_with_a_guide_then_log_out_and_in(people):
    (alice,) = await people("alice", signed_up=False)
    await alice.register()
    await expect(alice.alert).to_have_text("Welcome to QuartFeed, alice!")
    await expect(alice.page).to_have_url(re.compile(r"/$"))
    guide = alice.page.locator("#feed-empty")
    await expect(guide.get_by_role("heading")).to_have_text("Nothing here yet.")
    await guide.get_by_role("link", name="People").click()
    await expect(alice.page.get_by_role("heading", name="People")).to_be_visible()

    await alice.log_out()
    await alice.log_in()
    await expect(alice.page.get_by_text("Nothing here yet.")).to_be_visible()

    await alice.log_out()
    await expect(alice.page.get_by_role("link", name="Login")).to_be_visible()
    await alice.page.goto("/")
    await expect(alice.page.get_by_role("heading", name="Log in")).to_be_visible()


async def test_the_register_form_checks_its_rules_before_sending(people):
    (alice,) = await people("alice", signed_up=False)
    await alice.page.goto("/register")
    password = alice.page.get_by_label("Password")
    await expect(password).to_have_accessible_description(
        "At least 8 characters, and not your username."
    )
    await alice.submit_credentials("/register", "Register", "alice", password="short")
    # The browser kept the form from being sent: nothing typed is lost.
    await expect(alice.page).to_have_url(re.compile(r"/register$"))
    await expect(alice.page.get_by_label("Username")).to_have_value("alice")
    await expect(password).to_have_value("short")
    assert await password.evaluate("field => field.validity.tooShort")


async def test_wrong_password_is_refused(people):
    (alice,) = await people("alice")
    await alice.log_out()
    await alice.submit_credentials("/login", "Log in", "alice", password="not my password")
    await expect(alice.alert).to_have_text("Incorrect username or password")


async def expect_uploaded_image(image: Locator, size: str, side: int) -> None:
    """`image` shows the uploaded picture at `size` (not the default one), loaded."""
    await expect(image).to_have_attribute("src", re.compile(rf"^/media/user/\w+\.{size}\.png$"))
    await expect(image).to_have_js_property("naturalWidth", side)


async def test_new_username_and_avatar_show_in_navbar_profile_and_feed(people):
    (alice,) = await people("alice")
    await alice.open_home()
    await alice.write_post("Before my new look")

    await alice.edit_profile("alice_2", image=solid_image(120, 120, color="darkorange"))
    await expect(alice.alert).to_have_text("Your profile has been updated")
    await expect(alice.page.locator("#profile-username")).to_have_text("alice_2")
    await expect_uploaded_image(alice.page.locator("#profile-image"), "xlg", 200)
    await expect(alice.navbar_username).to_have_text("alice_2")
    await expect_uploaded_image(alice.page.locator("#navbar-profile img"), "sm", 50)

    await alice.open_home()
    post = alice.post("Before my new look")
    await expect(post.locator(".post-author")).to_have_text("alice_2")
    await expect_uploaded_image(post.locator("img.avatar"), "sm", 50)
