"""A living first run: `make demo` serves QuartFeed with a few people who
follow each other, post, comment and like, and keeps them at it every few
seconds, so that whoever logs in sees the feed move.

Everything goes through the app's own HTTP interface, as a browser would, so
what a visitor sees arrive is the real live feed, whatever the database and
bus behind it. Run it again and it carries on with the people it made.

    make demo                                   # serves on http://127.0.0.1:5000
    .venv/bin/python -m scripts.demo --port 5001   # with a server of its own
"""

import argparse
import asyncio
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from wand.color import Color
from wand.image import Image

from scripts.draw_default_avatar import draw_person

ROOT = Path(__file__).resolve().parent.parent
CSRF_META = 'name="csrf-token" content="'
PASSWORD = "quartfeed-demo"
VISITOR = "demo"  # the account a newcomer logs in with; it follows everyone
# Each person and the colour of their profile image.
CAST = {
    "ada": "#0d6efd",
    "grace": "#6f42c1",
    "linus": "#198754",
    "margaret": "#d63384",
    "alan": "#fd7e14",
}
OPENING_POSTS = [
    ("ada", "Just finished the SSE chapter: the home page updates without a single reload."),
    ("grace", "Reminder: a bug is just a feature nobody has written a test for yet."),
    ("linus", "Talk is cheap. Show me the feed."),
    ("margaret", "Shipped the fan-out: one INSERT … SELECT for every follower."),
    ("alan", "Can a feed think? It can at least remember where you left off (Last-Event-ID)."),
]
OPENING_COMMENTS = [
    ("grace", 0, "Template literals and an escaping tag: no innerHTML surprises."),
    ("linus", 1, "Or a test nobody has written yet."),
    ("ada", 3, "And the database does the loop. Lovely."),
]
TOPICS = [
    "async views", "Alembic migrations", "Server-Sent Events", "the event bus",
    "SQLAlchemy Core", "Hypercorn", "CSRF tokens", "profile images", "pytest fixtures",
]  # fmt: skip
POST_SHAPES = [
    "Reading about {topic} again. It gets better every time.",
    "Today I learned something new about {topic}.",
    "Hot take: {topic} deserve more love.",
    "Pairing on {topic} this afternoon, who is in?",
]
COMMENTS = ["Agreed!", "Ha, so true.", "Tell me more.", "Same here.", "Nice one.", "+1"]


@dataclass
class Member:
    """One person of the demo, logged in over HTTP."""

    username: str
    http: httpx.AsyncClient
    csrf: str = ""

    async def _form(self, path: str, fields: dict, files: dict | None = None) -> httpx.Response:
        page = await self.http.get(path)
        token = page.text.split(CSRF_META, 1)[1].split('"', 1)[0]
        return await self.http.post(path, data={"csrf_token": token, **fields}, files=files)

    async def join(self) -> bool:
        """Register, which logs in; or, where an earlier run took the name
        (then False), log in."""
        credentials = {"username": self.username, "password": PASSWORD}
        registered = (await self._form("/register", credentials)).status_code == 302
        if not registered and (await self._form("/login", credentials)).status_code != 302:
            raise SystemExit(f"Could not log in as {self.username}: is this a demo database?")
        page = await self.http.get("/")
        self.csrf = page.text.split(CSRF_META, 1)[1].split('"', 1)[0]
        return registered

    async def set_avatar(self, colour: str) -> None:
        image = {"profile_image": ("avatar.png", avatar_png(colour), "image/png")}
        await self._form("/profile/edit", {"username": self.username}, files=image)

    async def follow(self, username: str) -> None:
        await self._send(f"/add_friend/{username}", {})

    async def _send(self, path: str, payload: dict) -> dict:
        headers = {"X-CSRFToken": self.csrf, "Accept": "application/json"}
        response = await self.http.post(path, json=payload, headers=headers)
        return response.json() if response.status_code < 300 else {}

    async def post(self, text: str) -> str | None:
        return (await self._send("/post", {"post": text})).get("uid")

    async def comment(self, post_uid: str, text: str) -> None:
        await self._send("/comment", {"post_uid": post_uid, "comment": text})

    async def like(self, post_uid: str) -> None:
        await self._send("/like", {"post_uid": post_uid})


def avatar_png(colour: str, side: int = 200) -> bytes:
    """A white silhouette on the person's colour."""
    with Image(width=side, height=side, background=Color(colour)) as image:
        draw_person(image, Color("#ffffff"))
        return image.make_blob("png")


@dataclass
class Demo:
    """The people of the demo and the posts they can answer."""

    members: dict[str, Member]
    recent_posts: list[str] = field(default_factory=list)
    # (username, post uid) already liked: liking again would change nothing.
    likes: set[tuple[str, str]] = field(default_factory=set)
    chance: random.Random = field(default_factory=random.Random)

    def remember(self, uid: str | None) -> None:
        if uid:
            self.recent_posts = [uid, *self.recent_posts][:10]

    async def opening_scene(self) -> None:
        """The first posts, comments and likes of a new demo database."""
        uids = [await self.members[name].post(text) for name, text in OPENING_POSTS]
        for name, index, text in OPENING_COMMENTS:
            await self.members[name].comment(uids[index], text)
        for index, name in enumerate(CAST):
            await self.like(name, uids[(index + 1) % len(uids)])
        for uid in reversed(uids):
            self.remember(uid)

    async def next_moment(self) -> str:
        """One thing happens: someone posts, comments or likes. Returns what."""
        member = self.members[self.chance.choice(list(CAST))]
        choice = self.chance.random()
        if choice < 0.4 or not self.recent_posts:
            text = self.chance.choice(POST_SHAPES).format(topic=self.chance.choice(TOPICS))
            self.remember(await member.post(text))
            return f"{member.username} posted: {text}"
        post_uid = self.chance.choice(self.recent_posts)
        if choice < 0.75 or (member.username, post_uid) in self.likes:
            text = self.chance.choice(COMMENTS)
            await member.comment(post_uid, text)
            return f"{member.username} commented: {text}"
        await self.like(member.username, post_uid)
        return f"{member.username} liked a post"

    async def like(self, username: str, post_uid: str) -> None:
        await self.members[username].like(post_uid)
        self.likes.add((username, post_uid))


async def gather_cast(base_url: str) -> Demo:
    """Everyone joins (the first time: with a profile image, following each other)."""
    members = {}
    first_time = False
    for username in [*CAST, VISITOR]:
        member = Member(username, httpx.AsyncClient(base_url=base_url, timeout=30))
        if await member.join():
            first_time = True
            if username in CAST:
                await member.set_avatar(CAST[username])
            for other in [*CAST, VISITOR]:
                if other != username:
                    await member.follow(other)
        members[username] = member
    demo = Demo(members)
    if first_time:
        await demo.opening_scene()
    return demo


async def close(demo: Demo) -> None:
    for member in demo.members.values():
        await member.http.aclose()


async def keep_busy(base_url: str, pause_s: float) -> None:
    demo = await gather_cast(base_url)
    print(f"\nQuartFeed demo at {base_url}: log in as {VISITOR!r}, password {PASSWORD!r}.")
    print("Someone posts, comments or likes every few seconds; Ctrl-C stops the demo.\n")
    try:
        while True:
            print(" ", await demo.next_moment(), flush=True)
            await asyncio.sleep(pause_s * demo.chance.uniform(0.5, 1.5))
    finally:
        await close(demo)


def start_server(host: str, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "hypercorn", "--bind", f"{host}:{port}"]
    return subprocess.Popen([*command, "application:create_app()"], cwd=ROOT)


def wait_until_healthy(base_url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # the server is still starting
    raise SystemExit(f"QuartFeed did not answer at {base_url}/healthz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--pause", type=float, default=4, help="seconds between moments")
    arguments = parser.parse_args()
    base_url = f"http://{arguments.host}:{arguments.port}"
    server = start_server(arguments.host, arguments.port)
    try:
        wait_until_healthy(base_url)
        asyncio.run(keep_busy(base_url, arguments.pause))
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
