"""A curated set of mutants: small, deliberate bugs on the paths that matter
most, each of which the test suite must catch.

    make mutants                                          # every mutant
    .venv/bin/python -m scripts.mutants replay-first-batch-only   # some, by name
    .venv/bin/python -m scripts.mutants --list            # what there is

The project is copied once to a temporary folder. Each mutant changes one
piece of code there, the tests named for it run, and the code is put back.
The mutant is killed when those tests fail; one that survives means a real
regression of that kind would pass unnoticed, and the command fails.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str  # what a developer might have done
    path: str
    original: str  # must appear exactly once in `path`
    mutated: str
    tests: tuple[str, ...]


STREAM_TESTS = ("tests/test_stream_guarantees.py", "tests/test_events.py")

MUTANTS = [
    Mutant(
        "replay-before-subscribe",
        "the stream replays from the database, then subscribes to the bus: what is "
        "published during the replay never reaches it",
        "feed/sse.py",
        """        for channel in self.orders:
            async for replayed in self.catch_up(channel):
                yield replayed
        while self.subscription.ended is None:
""",
        """        for channel in self.orders:
            async for replayed in self.catch_up(channel):
                yield replayed
        while not self.subscription.queue.empty():  # subscribed only now
            self.subscription.queue.get_nowait()
        while self.subscription.ended is None:
""",
        STREAM_TESTS,
    ),
    Mutant(
        "replay-first-batch-only",
        "the replay stops after its first batch of missed events",
        "feed/sse.py",
        "            if len(events) < REPLAY_BATCH:\n                break",
        "            break",
        STREAM_TESTS,
    ),
    Mutant(
        "early-event-sent-at-once",
        "a live event is sent as soon as it arrives, before the ones it follows",
        "feed/sse.py",
        "        if event_id > self.last_sent:  # otherwise sent already, e.g. by the replay\n"
        "            self.early[event_id] = tail",
        "        if event_id > self.last_sent:\n            return [(event_id, tail)]",
        (*STREAM_TESTS, "tests/test_lock_free.py"),
    ),
    Mutant(
        "gap-waits-for-ever",
        "an early event waits for the one before it however long it takes",
        "feed/sse.py",
        "            async with asyncio.timeout(min(waits, default=None)):",
        "            async with asyncio.timeout(None):",
        (*STREAM_TESTS, "tests/test_lock_free.py"),
    ),
    Mutant(
        "idle-stream-polls",
        "an idle stream asks the database every half second",
        "feed/sse.py",
        "            items = await self.next_items()\n",
        """            try:
                items = await asyncio.wait_for(self.next_items(), 0.5)
            except TimeoutError:
                for channel, order in self.orders.items():
                    await self.missed(channel, order.last_sent, REPLAY_BATCH)
                continue
""",
        ("tests/test_events.py",),
    ),
    Mutant(
        "replay-goes-on-after-the-end",
        "a stream that was ended (dropped, logged out) keeps replaying batch after batch",
        "feed/sse.py",
        """        while self.subscription.ended is None:
            events = await self.missed(channel, order.last_sent, REPLAY_BATCH)
            if self.subscription.ended is not None:
                return
""",
        """        while True:
            events = await self.missed(channel, order.last_sent, REPLAY_BATCH)
""",
        STREAM_TESTS,
    ),
    Mutant(
        "no-reset-for-a-cursor-far-behind",
        "a cursor any number of events behind is replayed event by event, never reset",
        "feed/sse.py",
        "        elif asked is False or not last - MAX_REPLAY <= asked <= last:",
        "        elif asked is False or not asked <= last:",
        ("tests/test_channels.py",),
    ),
    Mutant(
        "session-end-not-heard",
        "a session's end (logout, revocation) does not reach its open streams",
        "feed/events.py",
        """        if isinstance(message, SessionEnded):
            for subscription in list(self._streams_of_session.get(message.session_key, ())):
                subscription.end(LOGGED_OUT)
        else:
            self.deliver(message)""",
        """        if isinstance(message, SessionEnded):
            return
        self.deliver(message)""",
        ("tests/test_events.py",),
    ),
    Mutant(
        "counters-not-raised",
        "the fan-out numbers each channel's row without raising its counter",
        "feed/models.py",
        "    await database.execute(raised.bound(**chosen))\n",
        "",
        ("tests/test_feed.py", "tests/test_lock_free.py"),
    ),
    Mutant(
        "deadlock-not-retried",
        "a transaction MySQL rolled back to break a deadlock fails the request",
        "db.py",
        "                if not _is_deadlock(error):",
        "                if True:",
        ("tests/test_transactions.py",),
    ),
    Mutant(
        "leavers-still-hear-the-group",
        "a comment in a group reaches everyone who had the post, members or not",
        "feed/models.py",
        "        if self.group_id is not None:\n"
        "            return Audience(MEMBERS, self.group_id)\n",
        "",
        ("tests/test_group_streams.py",),
    ),
    Mutant(
        "group-stream-not-told",
        "an action in a group reaches the members' home feeds but not the group's stream",
        "feed/models.py",
        "        return [profile] if self.group_id is None else "
        "[profile, Channel(GROUP, self.group_id)]",
        "        return [profile]",
        ("tests/test_group_streams.py",),
    ),
    Mutant(
        "anyone-deletes",
        "anyone logged in may delete any post or comment",
        "post/views.py",
        '    return user_id in (post["user_id"], post["parent_user_id"])',
        "    return True",
        ("tests/test_delete_and_comment_likes.py",),
    ),
    Mutant(
        "deleted-posts-replayed",
        "deleting a post keeps what its events said: a stream that reconnects replays it",
        "feed/models.py",
        "    deleted_ids = await delete_posts(database, [post_id], now)\n"
        "    await _forget_events_about(database, deleted_ids)\n",
        "    deleted_ids = await delete_posts(database, [post_id], now)\n",
        ("tests/test_delete_and_comment_likes.py",),
    ),
    Mutant(
        "unchanged-like-fanned-out",
        "a like that changes nothing still tells every reader",
        "feed/models.py",
        "    if not changed:\n        return likers, None\n",
        "",
        ("tests/test_stream_guarantees.py", "tests/test_feed.py"),
    ),
    Mutant(
        "a-like-raises-again-and-again",
        "every like raises its post, however often its liker toggled it",
        "feed/models.py",
        "    raises = like and post_id == thread.post_id and not liked_lately\n",
        "    raises = like and post_id == thread.post_id\n",
        ("tests/test_feed.py",),
    ),
    Mutant(
        "liked-comment-raises-its-post",
        "liking a comment raises its post to the top of the home page, as liking the post does",
        "feed/models.py",
        "    raises = like and post_id == thread.post_id and not liked_lately\n",
        "    raises = like and not liked_lately\n",
        ("tests/test_delete_and_comment_likes.py", "tests/test_feed.py"),
    ),
    Mutant(
        "fan-out-forgets-author",
        "a new post reaches the followers but not its author",
        "feed/models.py",
        "reader_id < self.key and (through is None or self.key <= through)",
        "False",
        ("tests/test_feed.py",),
    ),
    Mutant(
        "fanout-starts-over",
        "each batch of a fan-out starts from its lane's lowest reader: they hear of it again",
        "feed/models.py",
        'max(after, event["reached"] or after), through)',
        "after, through)",
        ("tests/test_fanout.py",),
    ),
    Mutant(
        "comment-overtakes-its-post",
        "a comment does not wait for its post's fan-out: readers the post reaches later miss it",
        "feed/models.py",
        "    if is_new_thread or not await _fanning_out_in(database, thread.post_id):\n",
        "    if True:\n",
        ("tests/test_fanout.py",),
    ),
    Mutant(
        "deleted-post-still-fanned-out",
        "deleting a post leaves its fan-out running: readers it had not reached get it after",
        "feed/models.py",
        "        await database.execute(forgotten.values(data=None))\n"
        "        await _stop_fanouts(database, event_ids)\n",
        "        await database.execute(forgotten.values(data=None))\n",
        ("tests/test_fanout.py",),
    ),
    Mutant(
        "comment-does-not-bump",
        "a comment no longer raises its post to the top of the home page",
        "feed/models.py",
        "thread.audience(), thread, happening, describe(uid), raises=True\n",
        "thread.audience(), thread, happening, describe(uid)\n",
        ("tests/test_feed.py",),
    ),
    Mutant(
        "redis-publish-stays-local",
        "the Redis bus hands an event to this process's streams only",
        "feed/broker.py",
        "                pipeline.spublish(self._channel(shard), text)",
        "                self._bus.receive(message)",
        ("tests/test_stream_guarantees.py",),
    ),
    Mutant(
        "replay-before-confirmation",
        "a stream replays as soon as it has asked Redis for its shards, before Redis "
        "confirms: an event published in between reaches it by neither",
        "feed/events.py",
        "        return await self.backend.confirmed(shards)",
        "        return True",
        ("tests/test_shards.py",),
    ),
    Mutant(
        "every-process-hears-every-reader",
        "every home channel shares one shard: each process receives the events of every reader",
        "feed/events.py",
        "    first = user_id - user_id % HOME_SHARD_SIZE",
        "    first = 0",
        ("tests/test_shards.py",),
    ),
    Mutant(
        "logout-told-on-no-readers-shard",
        "a logout travels on a shard of its own, which no stream holds",
        "feed/events.py",
        "        return {home_shard(self.user_id): self}",
        '        return {"sessions": self}',
        ("tests/test_shards.py",),
    ),
    Mutant(
        "shards-never-left",
        "a process stays subscribed to a shard after its last stream there has ended",
        "feed/events.py",
        "        self.backend.unsubscribe(unneeded)",
        "        self.backend.unsubscribe([])",
        ("tests/test_shards.py",),
    ),
    Mutant(
        "full-queue-drops-silently",
        "a stream whose queue is full loses events instead of being ended",
        "feed/events.py",
        '            logger.info("Dropped a stream of user %s: %d events behind", self.user_id, '
        "QUEUE_SIZE)\n"
        "            self.end(DROPPED)",
        "            pass",
        ("tests/test_events.py",),
    ),
    Mutant(
        "csrf-exempts-the-api",
        "posting, commenting and liking skip the CSRF check",
        "utilities/csrf.py",
        "    if request.method in SAFE_METHODS or request.routing_exception is not None:",
        "    if request.method in SAFE_METHODS or request.routing_exception is not None or (\n"
        '        request.path in {"/post", "/comment", "/like", "/unlike"}\n'
        "    ):",
        ("tests/test_security.py",),
    ),
    Mutant(
        "csrf-skips-json",
        "requests with a JSON body skip the CSRF check",
        "utilities/csrf.py",
        "    if request.method in SAFE_METHODS or request.routing_exception is not None:",
        "    if request.method in SAFE_METHODS or request.is_json:",
        ("tests/test_security.py",),
    ),
    Mutant(
        "open-redirect",
        "a `next` of //elsewhere sends the browser to another site after login",
        "utilities/redirects.py",
        """    if not target or not target.startswith("/") or target.startswith(("//", "/\\\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in target):
        return None""",
        """    if not target or not target.startswith("/"):
        return None""",
        ("tests/test_user.py",),
    ),
    Mutant(
        "profile-form-not-saved",
        "a plain-form profile edit redirects without saving",
        "user/views.py",
        "    if not await save_profile(username, new_image):",
        '    if request.mimetype == "multipart/form-data" and not await save_profile(\n'
        "        username, new_image\n"
        "    ):",
        ("tests/test_profile.py",),
    ),
    Mutant(
        "template-literals-unescaped",
        "broadcast.js puts what people wrote into the page as markup",
        "static/js/broadcast.js",
        "  return escapeHTML(value);\n}",
        "  return String(value);\n}",
        ("tests/test_templates.py", "tests/browser/test_safety.py"),
    ),
    Mutant(
        "login-without-dummy-hash",
        "an unknown username is answered before any hash is checked (a timing oracle)",
        "user/models.py",
        "    if user is None:\n"
        "        await verify_password(password, _DUMMY_HASH)\n"
        "        return None",
        "    if user is None:\n        return None",
        ("tests/test_user.py",),
    ),
    Mutant(
        "old-hash-kept",
        "an old PBKDF2 hash is never replaced by an Argon2 one",
        "user/models.py",
        "    if new_hash is not None:  # the only moment the password itself is known",
        "    if False:",
        ("tests/test_user.py",),
    ),
    Mutant(
        "logout-keeps-session",
        "logging out forgets the cookie but the session stays valid on the server",
        "user/views.py",
        "            user_id = await end_session(get_database(), session_id)",
        "            user_id = None",
        ("tests/test_user.py",),
    ),
    Mutant(
        "sessions-never-expire",
        "a session is accepted after its end",
        "user/models.py",
        '            session_table.c.expires > sa.bindparam("now"),\n',
        "",
        ("tests/test_user.py",),
    ),
    Mutant(
        "rate-limit-one-extra",
        "a limit lets one attempt more through than it says",
        "utilities/ratelimit.py",
        "    if attempts > limit.count:",
        "    if attempts > limit.count + 1:",
        ("tests/test_ratelimit.py",),
    ),
    Mutant(
        "rate-limit-not-shared",
        "each process counts attempts on its own even with Redis as the broker",
        "utilities/ratelimit.py",
        '    if broker_url.startswith("memory://"):\n        return MemoryCounter()',
        "    return MemoryCounter()",
        ("tests/test_ratelimit.py",),
    ),
    Mutant(
        "login-limit-ignores-case",
        "changing a username's case starts a fresh count of login attempts",
        "user/views.py",
        '"LOGIN_LIMIT_PER_ACCOUNT", username_key(username))',
        '"LOGIN_LIMIT_PER_ACCOUNT", username)',
        ("tests/test_ratelimit.py",),
    ),
    Mutant(
        "stream-cap-lifted",
        "one person can open any number of streams",
        "feed/events.py",
        "        if len(streams) >= MAX_STREAMS_PER_USER:",
        "        if False:",
        ("tests/test_sse.py",),
    ),
    Mutant(
        "first-frame-only",
        "only an animation's first frame is checked against the size limit",
        "utilities/imaging.py",
        "    for width, height in [header.canvas, *header.frames]:",
        "    for width, height in [header.canvas, *header.frames[:1]]:",
        ("tests/test_image_bombs.py",),
    ),
    Mutant(
        "png-text-not-measured",
        "a PNG's compressed text is not inflated and measured before decoding",
        "utilities/imaging.py",
        "        room -= _png_metadata_size(kind, chunk, room)",
        "        room -= len(chunk)",
        ("tests/test_image_bombs.py",),
    ),
]


def copy_project(destination: Path) -> None:
    """The files git knows (committed or not ignored), and Bootstrap's copy."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    if (ROOT / "static" / "vendor").is_dir():
        shutil.copytree(ROOT / "static" / "vendor", destination / "static" / "vendor")


def tests_pass(project: Path, tests: tuple[str, ...]) -> bool:
    environment = {**os.environ, "CI": "true", "PYTHONPATH": str(project)}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    result = subprocess.run(command, cwd=project, env=environment, capture_output=True)
    return result.returncode == 0


def apply(mutant: Mutant, project: Path) -> str:
    """Mutate the copy; return the file's original text, to put back."""
    path = project / mutant.path
    text = path.read_text()
    if text.count(mutant.original) != 1:
        raise SystemExit(
            f"{mutant.name}: its original code is not in {mutant.path} exactly once; "
            "update the mutant to the code as it is now"
        )
    mutated = text.replace(mutant.original, mutant.mutated)
    if path.suffix == ".py":
        compile(mutated, mutant.path, "exec")  # a mutant that cannot even load proves nothing
    path.write_text(mutated)
    return text


def chosen(names: list[str]) -> list[Mutant]:
    if not names:
        return MUTANTS
    unknown = set(names) - {mutant.name for mutant in MUTANTS}
    if unknown:
        raise SystemExit(f"No such mutant: {', '.join(sorted(unknown))} (see --list)")
    return [mutant for mutant in MUTANTS if mutant.name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    arguments = parser.parse_args()
    mutants = chosen(arguments.names)
    if arguments.list:
        for mutant in mutants:
            print(f"{mutant.name:32} {mutant.bug}")
        return
    with tempfile.TemporaryDirectory(prefix="quartfeed-mutants-") as folder:
        project = Path(folder)
        copy_project(project)
        every_test = tuple(sorted({test for mutant in mutants for test in mutant.tests}))
        if not tests_pass(project, every_test):
            raise SystemExit("The tests fail without any mutant: fix them first.")
        survivors = []
        for mutant in mutants:
            started = time.monotonic()
            original = apply(mutant, project)
            killed = not tests_pass(project, mutant.tests)
            (project / mutant.path).write_text(original)
            verdict = "killed" if killed else "SURVIVED"
            seconds = time.monotonic() - started
            print(f"{verdict:8} {mutant.name:32} {seconds:5.1f} s  {mutant.bug}", flush=True)
            if not killed:
                survivors.append(mutant.name)
    killed_count = len(mutants) - len(survivors)
    print(f"\n{killed_count} of {len(mutants)} mutants killed ({killed_count / len(mutants):.0%})")
    if survivors:
        raise SystemExit(f"Survived: {', '.join(survivors)}")


if __name__ == "__main__":
    main()
