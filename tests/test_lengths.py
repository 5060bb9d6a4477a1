"""One rule for the length of a post or comment, the same in the page and on
the server: Unicode code points, without the spaces around the text."""

import pytest

from post.models import MAX_BODY_LENGTH, character_count, clean_body
from tests.helpers import run_with_broadcast_js

COUNT_WITH_NODE = """
const { characterCount } = require(process.argv[1]);
const texts = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(texts.map(characterCount)));
"""

SAMPLES = {
    "emoji": ("😀" * 3, 3),
    "combining accent": ("e\u0301", 2),
    "precomposed accent": ("\u00e9", 1),
    "family emoji (joined by zero-width joiners)": ("👩\u200d👩\u200d👧", 5),
    "flag (two regional indicators)": ("🇫🇷", 2),
    "spaces around": ("  hi \n\t", 2),
    "no-break spaces around": ("\u00a0hi\u00a0", 2),
    "spaces inside": ("a b", 3),
    "blank": ("   ", 0),
}


def count_in_node(texts: list[str]) -> list[int]:
    return run_with_broadcast_js(COUNT_WITH_NODE, texts)


def test_the_page_and_the_server_count_alike():
    texts = [text for text, _ in SAMPLES.values()]
    expected = [count for _, count in SAMPLES.values()]
    assert [character_count(text) for text in texts] == expected
    assert count_in_node(texts) == expected


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("😀" * MAX_BODY_LENGTH, True),
        ("😀" * (MAX_BODY_LENGTH + 1), False),
        ("e\u0301" * (MAX_BODY_LENGTH // 2), True),
        ("e\u0301" * (MAX_BODY_LENGTH // 2) + "e", False),
        (" " + "x" * MAX_BODY_LENGTH + " ", True),
    ],
    ids=["280-emoji", "281-emoji", "140-accented", "281-code-points", "280-padded"],
)
def test_the_server_takes_up_to_the_limit_in_code_points(text, kept):
    assert (clean_body(text) is not None) is kept
