"""What becomes a link in a post or a comment: web addresses, and @name of
people who exist. Everything else is text, escaped.

static/js/broadcast.js (richText) follows the same rules to the character,
so a post that arrives live looks exactly like one rendered here
(tests/test_templates.py compares the two). Both therefore use only ASCII
character classes: Python's and JavaScript's ideas of a "word" or a
"space" differ beyond ASCII, so a character outside ASCII (a right-to-left
mark, a zero-width joiner, a full-width "＠") ends an address or a name,
and is never part of one.
"""

import re

from markupsafe import Markup, escape

# Only http and https: never javascript:, data: or anything a browser would
# run or open in place. The characters an address may hold (RFC 3986),
# quotes and angle brackets left out.
_ADDRESS = r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+"
# A name as usernames are written (user.models.USERNAME_PATTERN), not inside
# a word or an e-mail address, and not the start of a longer name.
_NAME = r"(?<![A-Za-z0-9_])@([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_])"
LINKABLE = re.compile(f"({_ADDRESS})|{_NAME}")
# Punctuation that ends a sentence rather than an address: "see https://x.org."
TRAILING_PUNCTUATION = re.compile(r"[.,!?;:)\]]+$")
# Addresses longer than this are shown cut, with an ellipsis; the link is whole.
SHOWN_ADDRESS_LENGTH = 40
LINK_REL = "nofollow ugc noopener noreferrer"


def mentioned_names(text: str) -> list[str]:
    """The names written as @name in `text`, each once, in order."""
    names = (match[2] for match in LINKABLE.finditer(text) if match[2])
    return list(dict.fromkeys(names))


def shown_address(address: str) -> str:
    """An address as a link shows it: without its scheme, cut when long."""
    shown = address.split("://", 1)[1]
    if len(shown) > SHOWN_ADDRESS_LENGTH:
        return shown[: SHOWN_ADDRESS_LENGTH - 1] + "…"
    return shown


def _address_link(address: str) -> Markup:
    return Markup('<a href="{}" rel="{}">{}</a>').format(address, LINK_REL, shown_address(address))


def _name_link(written: str, person: dict) -> Markup:
    return Markup('<a class="mention" href="{}">@{}</a>').format(person["url"], written)


def rich_text(text: str, mentions: list[dict]) -> Markup:
    """`text` as markup: its addresses, and its @names of `mentions` (the
    people it mentions, as they are now: username and url), as links.
    Usernames compare without case, as user.models.username_key does."""
    people = {person["username"].lower(): person for person in mentions}
    parts, shown_up_to = [], 0
    for match in LINKABLE.finditer(text):
        address, name = match[1], match[2]
        if address:
            address = TRAILING_PUNCTUATION.sub("", address)
            if address.endswith("://"):  # nothing was left after the scheme
                continue
            link = _address_link(address)
        elif name.lower() in people:
            link = _name_link(name, people[name.lower()])
        else:
            continue
        parts += [escape(text[shown_up_to : match.start()]), link]
        shown_up_to = match.start() + len(address or match[0])
    parts.append(escape(text[shown_up_to:]))
    return Markup("").join(parts)
