"""Numbered pages (?page=2) for lists of people, and the ?before=<id> of
pages of posts."""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from quart import abort, request
from werkzeug.datastructures import MultiDict

PAGE_SIZE = 20
# Beyond this the OFFSET grows large enough to trouble the database; nobody
# pages that far by hand.
MAX_PAGE = 10_000


@dataclass
class Page:
    items: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_number(args: MultiDict) -> int:
    """The ?page= number: 1 when it is missing or not a number, at most MAX_PAGE."""
    number = args.get("page", 1, type=int)  # a value that is not an int gives 1
    return min(max(number, 1), MAX_PAGE)


async def fetch_page(
    fetch: Callable[..., Awaitable[list]], number: int, size: int = PAGE_SIZE
) -> Page:
    """Call `fetch(limit=, offset=)` for page `number`.

    It asks for one row more than a page holds: if that row comes back,
    there is a next page, and no COUNT query was needed to know it.
    """
    rows = await fetch(limit=size + 1, offset=(number - 1) * size)
    return Page(items=rows[:size], number=number, has_next=len(rows) > size)


def page_url(number: int) -> str:
    """This page's URL with ?page=number, keeping the other query parameters.

    Built from the path, not with url_for(): parameters such as ?username=,
    ?endpoint= or ?_method= would collide with url_for's own arguments.
    """
    args = request.args.copy()
    args["page"] = str(number)
    return f"{quote(request.path)}?{urlencode(list(args.items(multi=True)))}"


# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
ID_DIGITS = re.compile(r"[0-9]{1,19}")
# Ids are signed 64-bit integers; SQLite cannot even bind a larger number.
MAX_ID = 2**63 - 1


def id_argument(value: str | None, name: str) -> int | None:
    """An id from the query string (?before= of a page of posts); 400 if it is not one."""
    if value is None or value == "":
        return None
    if ID_DIGITS.fullmatch(value) is None or int(value) > MAX_ID:
        abort(400, description=f"{name} must be an id (a whole number).")
    return int(value)
