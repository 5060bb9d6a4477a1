"""The search page: posts and comments by their words, people by their
names, groups by their names and descriptions, a section at a time, in
pages. Anyone may search, as anyone may read what it finds."""

import unicodedata
from dataclasses import replace
from functools import partial

from quart import Blueprint, abort, g, render_template, request

from db import get_database
from feed.service import get_feed
from group.models import groups_about
from relationship.models import followed_among
from search.models import found_posts, search_terms
from search.present import found_item
from user.models import people_named_like
from utilities.pagination import Page, fetch_page, page_number
from utilities.ratelimit import rate_limit

search_app = Blueprint("search", __name__)

MAX_SEARCH_LENGTH = 200
# The navbar's box, on every page, and the search page's take it from here.
search_app.add_app_template_global(MAX_SEARCH_LENGTH, "MAX_SEARCH_LENGTH")
POSTS, PEOPLE, GROUPS = "posts", "people", "groups"
# The page's tabs, in order: ?section= and what each is called.
SECTIONS = {POSTS: "Posts", PEOPLE: "People", GROUPS: "Groups"}
# Text no one types into a search box: controls (NUL, line breaks, tabs…)
# and the halves of a character that UTF-8 cannot encode.
UNTYPABLE_CATEGORIES = ("Cc", "Cs")

EMPTY_SEARCH = "Type a word to search for."
NO_WORD = "Search for a word: at least one letter or digit."
CONTROL_CHARACTERS = "A search cannot contain control characters such as tabs or line breaks."


def search_error(text: str) -> str | None:
    """Why `text` (trimmed) cannot be searched for, or None."""
    if not text:
        return EMPTY_SEARCH
    if len(text) > MAX_SEARCH_LENGTH:
        return f"A search is at most {MAX_SEARCH_LENGTH} characters; this one has {len(text):,}."
    if any(unicodedata.category(character) in UNTYPABLE_CATEGORIES for character in text):
        return CONTROL_CHARACTERS
    if not search_terms(text):
        return NO_WORD
    return None


def chosen_section() -> str:
    section = request.args.get("section", POSTS)
    if section not in SECTIONS:
        abort(400, description=f"Search in one of: {', '.join(SECTIONS)}.")
    return section


async def count_search() -> None:
    """Searching costs the database more than most pages: limited, per
    person, or per address for visitors."""
    if g.user:
        await rate_limit("SEARCH_LIMIT_PER_USER", g.user["id"])
    else:
        await rate_limit("SEARCH_LIMIT_PER_ADDRESS", request.remote_addr)


async def found_in(section: str, text: str, number: int) -> Page:
    """Page `number` of what `section` finds for `text`."""
    database = get_database()
    if section == PEOPLE:
        return await fetch_page(partial(people_named_like, database, text), number)
    if section == GROUPS:
        viewer_id = g.user["id"] if g.user else None
        return await fetch_page(partial(groups_about, database, viewer_id, text), number)
    found = await fetch_page(partial(found_posts, database, search_terms(text)), number)
    return replace(found, items=[found_item(row, get_feed().present) for row in found.items])


async def followed_ids(found: Page) -> set[int]:
    """Which of the people found the viewer follows (their buttons say Unfollow)."""
    if g.user is None:
        return set()
    return await followed_among(get_database(), g.user["id"], [row["id"] for row in found.items])


async def render_search(text: str, section: str, **context):
    return await render_template(
        "search/search.html",
        text=text,
        section=section,
        sections=SECTIONS,
        **context,
    )


@search_app.route("/search")
async def search():
    """?q= in ?section= (posts and comments by default), ?page= at a time."""
    section = chosen_section()
    if "q" not in request.args:
        return await render_search("", section, found=None)
    await count_search()
    text = request.args["q"].strip()
    if error := search_error(text):
        return await render_search(text, section, found=None, error=error), 400
    found = await found_in(section, text, page_number(request.args))
    followed = await followed_ids(found) if section == PEOPLE else set()
    return await render_search(text, section, found=found, followed_ids=followed)
