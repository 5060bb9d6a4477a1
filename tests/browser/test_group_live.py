"""Two people in a group, each with its page open: each sees the other's
posts, comments, likes on comments and deletions arrive live, through the
group's own stream; a group post on a member's home page names the group."""

import re

from playwright.async_api import expect

from tests.browser import BROWSER_TESTS

pytestmark = BROWSER_TESTS


async def test_two_members_see_each_other_live_on_the_group_page(people):
    alice, bob = await people("alice", "bob")
    await alice.start_group("Gardeners")
    await expect(alice.alert).to_have_text("Created Gardeners")
    slug = alice.page.url.rsplit("/", 1)[1]
    await bob.join_group(slug, "Gardeners")
    for member in (alice, bob):
        await member.page.evaluate("document.body.dataset.openedByTest = 'yes'")

    # alice posts with the group's composer, home's own: it counts what she
    # types, and neither her page nor bob's reloads.
    await alice.page.get_by_label("Post in Gardeners").fill("Tomatoes are in")
    await expect(alice.page.locator("#post-chars")).to_have_text("265 characters left")
    await alice.page.get_by_role("button", name="Post", exact=True).click()
    await bob.show_new_posts()
    await expect(bob.post("Tomatoes are in")).to_be_visible()
    await expect(alice.post("Tomatoes are in")).to_be_visible()
    await alice.expect_no_reload()

    await bob.comment("Tomatoes are in", "Save me some")
    await expect(alice.comments_on("Tomatoes are in")).to_have_text(["Save me some"])
    await alice.like_comment("Save me some")
    await expect(bob.comment_likes_of("Save me some")).to_have_text("1 like · Liked by alice")
    await bob.delete(bob.comment_of("Save me some"), "comment")
    await expect(alice.comments_on("Tomatoes are in")).to_have_count(0)
    await alice.delete(alice.post("Tomatoes are in"), "post")
    await expect(bob.post("Tomatoes are in")).to_have_count(0)
    await bob.expect_no_reload()


async def test_a_group_post_on_a_members_home_page_names_its_group(people):
    alice, bob = await people("alice", "bob")
    await alice.start_group("Night <b>Owls</b>")
    slug = alice.page.url.rsplit("/", 1)[1]
    await bob.join_group(slug, "Night <b>Owls</b>")
    await bob.open_home()
    await alice.page.get_by_label(re.compile(r"^Post in ")).fill("Who is up?")
    await alice.page.get_by_role("button", name="Post", exact=True).click()
    await bob.show_new_posts()
    label = bob.post("Who is up?").locator(".post-group")
    await expect(label).to_have_text("in Night <b>Owls</b>")  # live, and as text
    await expect(label.get_by_role("link")).to_have_attribute("href", f"/groups/{slug}")
    await bob.page.reload()
    await expect(bob.post("Who is up?").locator(".post-group")).to_have_text(
        "in Night <b>Owls</b>"
    )
