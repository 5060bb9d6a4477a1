"""Requests that race: each pair let go together (a barrier), many times, on
MySQL and on SQLite; each one also held in its worst order, checked by the
view but written after the other committed. Every outcome must be one that
the two in some order would give, no answer is a 500, and the database
keeps its invariants (tests/integrity.py). Then a mixed load of everything
at once."""

import asyncio
import contextvars
import random
from collections import Counter

import pytest
import sqlalchemy as sa

from feed import models
from group.models import group_table
from post.models import like_table, post_table
from tests.helpers import csrf_token_from, logged_in, without_rate_limits
from tests.integrity import assert_integrity

TRIALS = 15
MIXED_OPERATIONS = 1000  # the target: clean after a thousand
AT_ONCE = 12  # requests of the mixed load in flight together


@pytest.fixture
def app_config(app_config):
    """Races send far more than a person's allowance a minute."""
    return without_rate_limits(app_config)


async def answer(request) -> tuple[int, dict]:
    response = await request
    return response.status_code, await response.get_json()


class Person:
    """A logged-in test client that sends what the page's script sends."""

    def __init__(self, client, token: str) -> None:
        self.client, self.token = client, token

    async def send(self, path: str, payload: dict | None = None) -> tuple[int, dict]:
        """POST JSON (an empty object for joining and leaving); (status, JSON)."""
        headers = {"X-CSRFToken": self.token}
        return await answer(self.client.post(path, json=payload or {}, headers=headers))

    def start_group(self, name: str):
        """Start a group with the group list's form, asking for JSON."""
        form = {"csrf_token": self.token, "name": name}
        accept = {"Accept": "application/json"}
        return answer(self.client.post("/groups", form=form, headers=accept))

    async def post(self, text: str, group: str | None = None) -> str:
        status, post = await self.send("/post", {"post": text, "group": group})
        assert status == 201
        return post["uid"]

    def comment(self, uid: str):
        return self.send("/comment", {"post_uid": uid, "comment": "a comment"})


@pytest.fixture
async def people(app, database) -> dict[str, Person]:
    clients, _ = await logged_in(app, database, ["alice", "bob", "carol", "dan"])
    tokens = {name: await csrf_token_from(client, "/") for name, client in clients.items()}
    return {name: Person(client, tokens[name]) for name, client in clients.items()}


@pytest.fixture
async def group(people) -> str:
    """alice's group, which bob and carol joined: its slug."""
    status, created = await people["alice"].start_group("Owls")
    assert status == 201
    for name in ("bob", "carol"):
        assert (await people[name].send(f"/groups/{created['slug']}/join"))[0] == 200
    return created["slug"]


def on_its_own(request) -> asyncio.Task:
    """Run a request (a coroutine) in a context of its own, as a server runs
    each request. In the test's context, which holds the app context of the
    `database` fixture, concurrent requests would share that one, and with
    it `g`: each would see the user of whichever request set it last."""
    return asyncio.create_task(request, context=contextvars.Context())


async def at_once(*requests) -> list[tuple[int, dict]]:
    """Send the requests (coroutines) together: each waits at a barrier until all are ready."""
    barrier = asyncio.Barrier(len(requests))

    async def when_all_ready(request):
        await barrier.wait()
        return await request

    return await asyncio.gather(*(on_its_own(when_all_ready(request)) for request in requests))


async def live_rows(database, table: sa.Table, *where) -> int:
    return await database.fetch_val(sa.select(sa.func.count()).select_from(table).where(*where))


def held_back(monkeypatch, name: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold each call of `feed.models.<name>` (a write, with its transaction)
    after the view's checks: (reached, when the call is held; release, to let
    it go on)."""
    reached, release = asyncio.Event(), asyncio.Event()
    write = getattr(models, name)

    async def held(*args):
        reached.set()
        await release.wait()
        return await write(*args)

    monkeypatch.setattr(models, name, held)
    return reached, release


async def in_worst_order(monkeypatch, name: str, late, first) -> tuple[tuple, tuple]:
    """Send `late`, hold its write (`name`) until `first` has been answered,
    then let it go: (late's answer, first's answer)."""
    reached, release = held_back(monkeypatch, name)
    late_answer = on_its_own(late)
    await reached.wait()
    first_answer = await first
    release.set()
    return await late_answer, first_answer


# --- Deleting against commenting and liking ----------------------------------


@pytest.mark.parametrize(
    ("write", "path"), [("write_comment", "/comment"), ("write_like", "/like")]
)
async def test_a_comment_or_like_written_after_the_deletion_of_its_post_is_refused(
    people, database, monkeypatch, write, path
):
    uid = await people["alice"].post("soon gone")
    late, deletion = await in_worst_order(
        monkeypatch,
        write,
        people["bob"].send(path, {"post_uid": uid, "comment": "too late"}),
        people["alice"].send("/delete", {"post_uid": uid}),
    )
    assert (late[0], deletion[0]) == (404, 200)
    assert await live_rows(database, post_table, post_table.c.deleted.is_(None)) == 0
    assert await live_rows(database, like_table) == 0
    await assert_integrity(database)


async def test_deleting_and_commenting_at_once_end_as_one_after_the_other(people, database):
    for trial in range(TRIALS):
        uid = await people["alice"].post(f"post {trial}")
        deletion, comment = await at_once(
            people["alice"].send("/delete", {"post_uid": uid}), people["bob"].comment(uid)
        )
        assert deletion[0] == 200
        assert comment[0] in (201, 404)  # before the deletion (and deleted with it), or after
    assert await live_rows(database, post_table, post_table.c.deleted.is_(None)) == 0
    await assert_integrity(database)


async def test_deleting_and_liking_at_once_end_as_one_after_the_other(people, database):
    for trial in range(TRIALS):
        uid = await people["alice"].post(f"post {trial}")
        _, comment = await people["bob"].comment(uid)
        answers = await at_once(
            people["alice"].send("/delete", {"post_uid": uid}),
            people["carol"].send("/like", {"post_uid": uid}),
            people["carol"].send("/like", {"post_uid": comment["uid"]}),
            people["alice"].send("/like", {"post_uid": comment["uid"]}),
        )
        assert answers[0][0] == 200
        assert {status for status, _ in answers[1:]} <= {200, 404}
    assert await live_rows(database, like_table) == 0
    await assert_integrity(database)


# --- Leaving a group against posting into it ---------------------------------


async def test_a_post_written_after_its_author_left_the_group_is_refused(
    people, group, database, monkeypatch
):
    post, leave = await in_worst_order(
        monkeypatch,
        "write_post",
        people["bob"].send("/post", {"post": "still here?", "group": group}),
        people["bob"].send(f"/groups/{group}/leave"),
    )
    assert (post[0], leave[0]) == (403, 200)
    assert await live_rows(database, post_table) == 0
    await assert_integrity(database)


async def test_leaving_and_posting_at_once_end_as_one_after_the_other(people, group, database):
    posted = 0
    for trial in range(TRIALS):
        leave, post = await at_once(
            people["bob"].send(f"/groups/{group}/leave"),
            people["bob"].send("/post", {"post": f"post {trial}", "group": group}),
        )
        assert leave[0] == 200
        assert post[0] in (201, 403)  # as a member, or after leaving
        posted += post[0] == 201
        assert (await people["bob"].send(f"/groups/{group}/join"))[0] == 200
    assert await live_rows(database, post_table) == posted
    await assert_integrity(database)  # each post among its author's own feed rows


async def test_an_ex_member_takes_back_their_like(people, group, database):
    uid = await people["alice"].post("liked", group)
    assert (await people["bob"].send("/like", {"post_uid": uid}))[0] == 200
    assert (await people["bob"].send(f"/groups/{group}/leave"))[0] == 200
    assert (await people["bob"].send("/like", {"post_uid": uid}))[0] == 403
    assert await people["bob"].send("/unlike", {"post_uid": uid}) == (
        200,
        {"liked": False, "likes": 0, "likers": []},
    )
    await assert_integrity(database)


# --- Starting groups of one name at once -------------------------------------


async def test_groups_of_one_name_started_at_once_get_one_slug_each_or_a_409(people, database):
    answers = await at_once(*(people["alice"].start_group("Owls") for _ in range(10)))
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {201, 409} and statuses[201] >= 1
    slugs = [created["slug"] for status, created in answers if status == 201]
    assert len(set(slugs)) == len(slugs) == await live_rows(database, group_table)
    await assert_integrity(database)


# --- Everything at once -------------------------------------------------------


class MixedLoad:
    """Random operations of four people, in and out of a group: posting,
    commenting, liking, unliking, deleting, joining and leaving. It knows
    the uids written so far; what others deleted meanwhile answers 404."""

    # What each operation may answer: a 404 for what was deleted meanwhile,
    # a 403 for a group the person left meanwhile, a 400 for leaving as owner.
    ANSWERS = {
        "/post": {201, 403},
        "/comment": {201, 403, 404},
        "/like": {200, 403, 404},
        "/unlike": {200, 404},
        "/delete": {200, 404},
        "join": {200},
        "leave": {200, 400},
    }

    def __init__(self, people: dict[str, Person], group: str, seed: int) -> None:
        self.people, self.group = people, group
        self.random = random.Random(seed)
        self.posts: list[tuple[str, str]] = []  # (author, uid) of the posts written
        self.written: list[tuple[str, str]] = []  # the same of posts and comments

    def operation(self) -> tuple[str, object]:
        """(what kind, the request) of one random operation."""
        name = self.random.choice(list(self.people))
        person = self.people[name]
        kind = self.random.choice(list(self.ANSWERS) if self.posts else ["/post"])
        if kind in ("join", "leave"):
            return kind, person.send(f"/groups/{self.group}/{kind}")
        if kind == "/post":
            return kind, self.remembered(name, person.send(kind, self.new_post()), self.posts)
        if kind == "/comment":
            _, uid = self.random.choice(self.posts)
            return kind, self.remembered(name, person.comment(uid))
        author, uid = self.random.choice(self.written)
        return kind, (self.people[author] if kind == "/delete" else person).send(
            kind, {"post_uid": uid}
        )

    def new_post(self) -> dict:
        group = self.group if self.random.random() < 0.5 else None
        return {"post": "a post", "group": group}

    async def remembered(self, author: str, request, *lists: list) -> tuple[int, dict]:
        """The answer to `request`, which writes a post or a comment; what
        it wrote is remembered, in `lists` too."""
        status, written = await request
        if status == 201:
            for remembered in (self.written, *lists):
                remembered.append((author, written["uid"]))
        return status, written

    async def run(self, operations: int) -> Counter:
        """Run the operations, AT_ONCE at a time; how many of each kind
        got each answer."""
        answers = Counter()
        for _ in range(0, operations, AT_ONCE):
            kinds, requests = zip(*(self.operation() for _ in range(AT_ONCE)), strict=True)
            for kind, (status, _) in zip(kinds, await at_once(*requests), strict=True):
                answers[kind, status] += 1
        return answers


async def test_a_mixed_concurrent_load_keeps_every_invariant(people, group, database):
    answers = await MixedLoad(people, group, seed=27).run(MIXED_OPERATIONS)
    unexpected = {
        (kind, status): count
        for (kind, status), count in answers.items()
        if status not in MixedLoad.ANSWERS[kind]
    }
    assert not unexpected, f"unexpected answers: {unexpected} of {answers}"
    await assert_integrity(database)
