"""Every page for everyone: axe-core finds nothing serious at a desktop's and
a phone's width, in light and dark mode, and nothing is wider than a 320 px
screen, however long the words, links and names in it.

axe-core comes from the npm registry (package.json) and is put into the
page by Playwright, not served by QuartFeed.
"""

import re

from playwright.async_api import Page, expect

from tests.browser import BROWSER_TESTS
from tests.conftest import ROOT, unavailable
from tests.live import Person

pytestmark = BROWSER_TESTS

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 390)
COLOR_SCHEMES = ("light", "dark")
SMALLEST_WIDTH = 320
HEIGHT = 800

# The longest of everything a person can write: a username of 15 characters,
# a word and a link as long as a post or comment allows.
LONG_NAME = "Maximilianovich"
LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitän" * 6
LONG_URL = "https://example.org/" + "a-very-long-path/" * 15

SERIOUS_VIOLATIONS = """async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations
    .filter((violation) => ["serious", "critical"].includes(violation.impact))
    .map((violation) => {
      const where = violation.nodes.map((node) => node.target.join(" ")).join(", ");
      return `${violation.id} (${violation.help}): ${where}`;
    });
}"""
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


async def prepare_for_audits(page: Page) -> None:
    """axe-core in every page this context opens (as an init script, so the
    page's Content Security Policy still applies to everything else), and no
    transitions: colours are measured as they end, not halfway."""
    if not AXE.is_file():
        unavailable(f"axe-core is not installed at {AXE}: run make setup")
    await page.context.add_init_script(path=AXE)
    await page.emulate_media(reduced_motion="reduce")


async def audit(page: Page) -> list[str]:
    """What is wrong with the open page: serious or critical axe violations at
    each width in each color mode, and a page wider than the smallest screen."""
    problems = []
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": HEIGHT})
        for scheme in COLOR_SCHEMES:
            await page.emulate_media(color_scheme=scheme)
            await expect(page.locator("html")).to_have_attribute("data-bs-theme", scheme)
            violations = await page.evaluate(SERIOUS_VIOLATIONS)
            problems += [f"{page.url} at {width} px, {scheme}: {found}" for found in violations]
    await page.set_viewport_size({"width": SMALLEST_WIDTH, "height": HEIGHT})
    overflow = await page.evaluate(OVERFLOW)
    if overflow > 0:
        problems.append(f"{page.url} is {overflow} px wider than a {SMALLEST_WIDTH} px screen")
    return problems


async def audit_each(page: Page, paths: list[str]) -> list[str]:
    problems = []
    for path in paths:
        await page.goto(path)
        problems += await audit(page)
    return problems


async def write_long_content(server_url: str, author: Person, reader: str) -> None:
    """`author`, who follows `reader`, posts a long word; carol comments with
    a long link and likes it; `author` likes the post and carol's comment."""
    carol = await Person(server_url, "carol").sign_up()
    post = await author.post(LONG_WORD[:280])
    await author.post("A short one")
    comment = await carol.comment(post["uid"], LONG_URL)
    await carol.like(post["uid"])
    await author.like(post["uid"])
    await author.like(comment["uid"])
    await author.send(f"/add_friend/{reader}", {})
    await carol.close()


async def test_every_page_passes_axe_in_both_modes_and_fits_a_small_screen(people, server):
    (bob,) = await people("bob")
    (visitor,) = await people("visitor", signed_up=False)
    author = await Person(server.url, LONG_NAME).sign_up()
    await bob.follow(author)
    await write_long_content(server.url, author, reader="bob")
    group_name = LONG_WORD[:50]
    slug = await author.start_group(group_name, LONG_WORD[:280])
    await author.close()
    await bob.join_group(slug, group_name)  # a member's page, with the post box
    group = f"/groups/{slug}"
    for person in (bob, visitor):
        await prepare_for_audits(person.page)

    await bob.open_home()
    await expect(bob.post_bodies).to_have_count(2)
    # bob's own comment, with its Delete button asking "Delete? Yes No", and
    # a comment form open too.
    await bob.comment(LONG_WORD[:280], "Me too")
    await bob.page.get_by_role("button", name="Delete bob's comment").click()
    await bob.page.get_by_role("button", name=re.compile("^Comment on ")).first.click()
    problems = await audit(bob.page)
    profile = f"/user/{LONG_NAME}"
    problems += await audit_each(
        bob.page,
        [
            profile,
            f"{profile}/followers",
            f"{profile}/following",
            "/people",
            "/profile/edit",
            "/settings",
            "/groups",
            group,
            "/search?q=example",  # carol's long link
            "/user/no_one_here",  # the 404 page
        ],
    )
    visited = ["/login", "/register", profile, "/groups", group, "/search?q=max&section=people"]
    problems += await audit_each(visitor.page, visited)
    assert not problems, "\n".join(problems)
