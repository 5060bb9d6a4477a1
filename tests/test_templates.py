"""The Jinja partial and broadcast.js render a post with the same markup, and
take every URL and the length limit from the server.

A post that arrives live must look exactly like one that was on the page when
it loaded. The JavaScript runs under Node.js, which `make` requires anyway.
"""

import json
import re
import shutil
import subprocess

import pytest
from quart import g, render_template

from post.models import MAX_BODY_LENGTH
from tests.conftest import ROOT, unavailable

BROADCAST_JS = ROOT / "static/js/broadcast.js"
TEMPLATES = ROOT / "templates"
# A string or template literal that starts with "/": a route written into
# the script instead of read from the page, where url_for() put it.
ROUTE_LITERAL = re.compile(r"""["'`]/""")
LIMIT = re.compile(rf"\b{MAX_BODY_LENGTH}\b")

XSS = "<script>alert('x')</script> \"><img src=x onerror=alert(1)> ${alert(1)} & javascript:x"

COMMENT_TIME = "2026-11-25T10:00:00+00:00"
RENDER_WITH_NODE = """
const broadcast = require(process.argv[1]);
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(broadcast.renderPost(input.post, input.viewer, input.maxLength).text);
"""


def author(username: str) -> dict:
    return {
        "username": username,
        "avatar": f"/media/user/{username}.sm.png",
        "url": f"/user/{username}",
    }


# The people the sample posts and comments mention (as post.present describes them).
MENTIONS = [{"username": "bob", "url": "/user/bob"}, {"username": "Carol", "url": "/user/Carol"}]


def sample_comment(number: int, body: str, likers: list[str], edited: str | None = None) -> dict:
    return {
        "uid": f"c{number}",
        "body": body,
        "mentions": MENTIONS,
        "created": COMMENT_TIME,
        "edited": edited,
        "author": author(f"c{number}"),
        "likes": len(likers),
        "likers": likers,
    }


def sample_post(
    body: str,
    likers: list[str],
    first_comment_likers: list[str] = (),
    group: dict | None = None,
    edited: str | None = None,
) -> dict:
    """alice's post, with two comments, by c0 and c1 (edited), in `group`
    or not, edited at `edited` or never."""
    comments = [
        sample_comment(0, "first", list(first_comment_likers)),
        sample_comment(1, XSS, [], edited=COMMENT_TIME),
    ]
    return {
        "uid": "3f0c8a9e-0000-4000-8000-000000000001",
        "body": body,
        "mentions": MENTIONS,
        "created": "2026-11-25T09:30:00.123456+00:00",
        "edited": edited,
        "author": author("alice"),
        "likes": len(likers),
        "likers": likers,
        "comments": comments,
        "group": group,
    }


def normalized(markup: str) -> str:
    """Markup with the indentation that templates add taken out."""
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", markup)).strip()


def render_in_node(post: dict, viewer: str) -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js is not installed")
    result = subprocess.run(
        [node, "-e", RENDER_WITH_NODE, str(BROADCAST_JS)],
        input=json.dumps({"post": post, "viewer": viewer, "maxLength": MAX_BODY_LENGTH}),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


async def render_in_jinja(app, post: dict, viewer: str) -> str:
    async with app.test_request_context("/"):
        g.user = {"username": viewer} if viewer else None  # "": a visitor
        return await render_template("post/_post.html", post=post)


# A group whose name is markup: the label shows it as text.
GROUP = {"name": XSS, "url": "/groups/img-src-x"}


@pytest.mark.parametrize(
    ("body", "likers", "comment_likers", "viewer", "group"),
    [
        ("Hello, world", [], [], "bob", None),
        (XSS, ["bob", "carol"], [], "bob", None),
        ("one like", ["carol"], [], "bob", None),
        # alice may delete her post and the comments on it; she liked one.
        ("a liked comment", [], ["alice", "bob"], "alice", None),
        ("seen by a visitor", ["bob"], ["bob"], "", None),
        ("in a group", [], [], "bob", GROUP),
    ],
    ids=[
        "plain",
        "xss-liked-by-viewer",
        "one-like",
        "liked-comment-by-author",
        "visitor",
        "group",
    ],
)
async def test_partial_and_javascript_render_the_same_post(
    app, body, likers, comment_likers, viewer, group
):
    post = sample_post(body, likers, comment_likers, group)
    server_side = normalized(await render_in_jinja(app, post, viewer))
    browser_side = normalized(render_in_node(post, viewer))
    assert server_side == browser_side
    assert "<script>" not in server_side and "<img src=x" not in server_side
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in server_side
    if group:
        assert 'in <a href="/groups/img-src-x">' in server_side


@pytest.mark.parametrize("viewer", ["alice", "c1", "bob"])
async def test_partial_and_javascript_render_the_same_edits(app, viewer):
    """An edited post and comment are marked so, with the time on hover;
    Edit shows on one's own only (alice's post, c1's comment)."""
    post = sample_post("fixed a typo", [], edited="2026-11-25T11:00:00+00:00")
    server_side = normalized(await render_in_jinja(app, post, viewer))
    assert server_side == normalized(render_in_node(post, viewer))
    assert server_side.count('class="edited"') == 2
    assert 'title="2026-11-25T11:00:00+00:00" data-edited-time>edited</time>' in server_side
    edits = re.findall(r'class="[^"]*edit-button" aria-describedby="([^"]*)"', server_side)
    mine = {"alice": ["post-body-" + post["uid"]], "c1": ["comment-body-c1"], "bob": []}
    assert edits == mine[viewer]


LONG_ADDRESS = "https://example.com/" + "a" * 80
# What people write, with addresses, mentions, tags, markup and odd Unicode.
RICH_BODIES = {
    "addresses": "see https://example.com/a?b=1&c=2, and http://x.org. (https://y.org/p)",
    "long-address": f"a long one: {LONG_ADDRESS} there",
    "mentions": "@bob, @CAROL and @nobody; not mail@bob.com nor @bob_has_a_long_name",
    "twice": "@bob @bob",
    "tags": "#quart #tag stay text",
    "markup": '<b>hi</b> https://x.org/"onload=alert(1)// javascript:alert(1) data:text/html,x',
    "schemes-only": "https:// http://) HTTPS://x.org ftp://x.org",
    "rtl-marks": "\u200fhttps://example.com/\u200f @bob\u200f \u202e@bob \u061c@Carol",
    "zero-width-joiner": "👩\u200d💻 @bob\u200d https://例え.jp/パス https://x.org/\u200dy",
    "full-width-at": "＠bob ＠Carol @bob",
}


@pytest.mark.parametrize("body", RICH_BODIES.values(), ids=RICH_BODIES.keys())
async def test_partial_and_javascript_link_the_same_addresses_and_names(app, body):
    post = sample_post(body, [])
    post["comments"][0]["body"] = body
    server_side = normalized(await render_in_jinja(app, post, "bob"))
    assert server_side == normalized(render_in_node(post, "bob"))


async def test_what_becomes_a_link(app):
    """Addresses (shown without their scheme, cut when long) and people who
    exist; nothing else, whatever it looks like."""
    bodies = " | ".join(RICH_BODIES.values())
    markup = await render_in_jinja(app, sample_post(bodies, []), "bob")
    body = re.search(r'<p class="post-body[^>]*>(.*?)</p>', markup, re.DOTALL)[1]
    links = re.findall(r'<a (?:class="mention" )?href="([^"]*)"[^>]*>([^<]*)</a>', body)
    rel = 'rel="nofollow ugc noopener noreferrer"'
    assert body.count(rel) == len([href for href, _ in links if href.startswith("http")])
    assert links == [
        ("https://example.com/a?b=1&amp;c=2", "example.com/a?b=1&amp;c=2"),
        ("http://x.org", "x.org"),
        ("https://y.org/p", "y.org/p"),
        (LONG_ADDRESS, LONG_ADDRESS.removeprefix("https://")[:39] + "…"),
        ("/user/bob", "@bob"),
        ("/user/Carol", "@CAROL"),
        ("/user/bob", "@bob"),
        ("/user/bob", "@bob"),
        ("https://x.org/", "x.org/"),
        ("https://example.com/", "example.com/"),
        ("/user/bob", "@bob"),
        ("/user/bob", "@bob"),
        ("/user/Carol", "@Carol"),
        ("/user/bob", "@bob"),
        ("https://x.org/", "x.org/"),
        ("/user/bob", "@bob"),
    ]
    assert "<b>" not in body and "&lt;b&gt;hi&lt;/b&gt;" in body
    assert "#quart #tag stay text" in body and "＠bob ＠Carol" in body


# The text of a Delete button: whose post or comment it deletes.
DELETE_BUTTON = re.compile(r"""\bDelete<span class="visually-hidden"> (\w+'s \w+)</span>""")


@pytest.mark.parametrize(
    ("viewer", "deletable"),
    [
        ("alice", ["alice's post", "c0's comment", "c1's comment"]),  # the post's author
        ("c1", ["c1's comment"]),  # a comment's author
        ("carol", []),
        ("", []),  # a visitor
    ],
)
async def test_delete_shows_only_to_who_may_use_it(app, viewer, deletable):
    post = sample_post("a post", [], ["c1"])
    for markup in (await render_in_jinja(app, post, viewer), render_in_node(post, viewer)):
        assert DELETE_BUTTON.findall(markup) == deletable


def test_a_comment_shows_its_likes_and_whether_the_viewer_liked_it():
    """What the partial and the script agree on (above) is there."""
    markup = normalized(render_in_node(sample_post("a post", [], ["alice", "bob"]), "bob"))
    first_comment = markup[markup.index('id="comment-c0"') : markup.index('id="comment-c1"')]
    assert ">2 likes · Liked by alice, bob</div>" in first_comment
    like_button = re.search(r'aria-pressed="(\w+)"[^>]*>Like<span[^>]*> (\w+)', first_comment)
    assert like_button.groups() == ("true", "c0")


def lines_matching(pattern: re.Pattern, path) -> list[str]:
    """`file:line: text` for each line of `path` where `pattern` occurs."""
    lines = path.read_text().splitlines()
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(lines, start=1)
        if pattern.search(line)
    ]


def test_broadcast_js_writes_no_route_and_no_limit_of_its_own():
    assert lines_matching(ROUTE_LITERAL, BROADCAST_JS) == []
    assert lines_matching(LIMIT, BROADCAST_JS) == []


def test_the_templates_take_the_limit_from_the_server():
    """They render MAX_BODY_LENGTH, a template global set from post/models.py."""
    written = [
        line
        for template in sorted(TEMPLATES.rglob("*.html"))
        for line in lines_matching(LIMIT, template)
    ]
    assert written == []
