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


def sample_comment(number: int, body: str, likers: list[str]) -> dict:
    return {
        "uid": f"c{number}",
        "body": body,
        "created": COMMENT_TIME,
        "author": author(f"c{number}"),
        "likes": len(likers),
        "likers": likers,
    }


def sample_post(
    body: str, likers: list[str], first_comment_likers: list[str] = (), group: dict | None = None
) -> dict:
    """alice's post, with two comments, by c0 and c1, in `group` or not."""
    comments = [
        sample_comment(0, "first", list(first_comment_likers)),
        sample_comment(1, XSS, []),
    ]
    return {
        "uid": "3f0c8a9e-0000-4000-8000-000000000001",
        "body": body,
        "created": "2026-11-25T09:30:00.123456+00:00",
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
