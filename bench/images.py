"""Image uploads at their worst: six at once of each kind against a live
QuartFeed, and what they cost the server meanwhile: the worker's memory,
ImageMagick's files left behind, and how long a login takes.

    python -m bench.images

The server runs on loopback with a fresh SQLite database in a temporary
folder. Targets: the worker grows by less than 300 MB, no magick-* file is
left, a login takes under 200 ms while the uploads run, and a phone photo is
still accepted after them all.
"""

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from alembic import command
from alembic.config import Config
from wand.color import Color
from wand.image import Image

from bench.common import ROOT, milliseconds, percentile, print_table
from tests.helpers import CSRF_META, PASSWORD
from tests.images import (
    blank_png,
    deflated_zeros,
    gif_with_frames,
    jpeg_declaring,
    png_declaring,
    solid_image,
    with_png_chunks,
    ztxt_chunk,
)
from tests.live import LiveServer, Person, server_environment
from utilities.imaging import TEMPORARY_FOLDER_PREFIX

AT_ONCE = 6
WATCHER = "watcher"  # who logs in while the uploads run
LOGIN_INTERVAL_S = 0.1
RSS_INTERVAL_S = 0.02


def text_bomb(mebibytes: int) -> bytes:
    return with_png_chunks(solid_image(64, 64), ztxt_chunk(b"Bomb", deflated_zeros(mebibytes)))


def phone_photo() -> bytes:
    with Image(width=4032, height=3024, background=Color("skyblue")) as image:
        return image.make_blob("jpeg")


# (label, file name, what makes the file, how many are sent at once)
UPLOADS = [
    ("largest PNG, 4096 × 4095", "largest.png", lambda: blank_png(4096, 4095), AT_ONCE),
    ("PNG, zTXt inflating to 600 MB", "text.png", lambda: text_bomb(600), AT_ONCE),
    ("GIF, 8000 × 8000 middle frame", "frames.gif",
     lambda: gif_with_frames([(1, 1), (8000, 8000), (1, 1)]), AT_ONCE),
    ("PNG declaring 100,000 × 100,000", "huge.png",
     lambda: png_declaring(100_000, 100_000), AT_ONCE),
    ("JPEG with 1,000 scans", "scans.jpg", lambda: jpeg_declaring(640, 480, scans=1000), AT_ONCE),
    ("phone photo, 4032 × 3024 JPEG", "photo.jpg", phone_photo, 1),
]  # fmt: skip


def migrated_sqlite(folder: Path) -> str:
    url = f"sqlite+aiosqlite:///{folder / 'quartfeed.db'}"
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    return url


@dataclass
class Batch:
    """What happened while one batch of uploads ran."""

    statuses: list[int] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    logins_s: list[float] = field(default_factory=list)
    seconds: float = 0.0


async def upload(person: Person, filename: str, data: bytes) -> int:
    form = {"username": person.username, "csrf_token": person.csrf}
    files = {"profile_image": (filename, data, "application/octet-stream")}
    # The last of a batch waits for the others: longer than Person's usual timeout.
    response = await person.http.post("/profile/edit", data=form, files=files, timeout=120)
    return response.status_code


async def timed_login(server_url: str) -> float:
    """Seconds for the POST /login alone, which hashes the password."""
    async with httpx.AsyncClient(base_url=server_url) as http:
        token = CSRF_META.search((await http.get("/login")).text).group(1)
        form = {"username": WATCHER, "password": PASSWORD, "csrf_token": token}
        started = time.perf_counter()
        response = await http.post("/login", data=form)
        assert response.status_code == 302, "the bench login failed"
        return time.perf_counter() - started


async def log_in_until(done: asyncio.Event, server_url: str, batch: Batch) -> None:
    """Log in again and again while the uploads run: at least once, however short they are."""
    while True:
        batch.logins_s.append(await timed_login(server_url))
        if done.is_set():
            return
        await asyncio.sleep(LOGIN_INTERVAL_S)


async def read_rss_until(done: asyncio.Event, server: LiveServer, batch: Batch) -> None:
    while not done.is_set():
        batch.rss_kib.append(server.rss_kib())
        await asyncio.sleep(RSS_INTERVAL_S)


async def run_batch(server: LiveServer, uploaders: list[Person], filename: str, data: bytes):
    """Send the uploads at once, logging in and reading the server's RSS meanwhile."""
    batch, done = Batch(), asyncio.Event()

    async def send_uploads() -> None:
        started = time.perf_counter()
        uploads = (upload(person, filename, data) for person in uploaders)
        batch.statuses = await asyncio.gather(*uploads)
        batch.seconds = time.perf_counter() - started
        done.set()

    await asyncio.gather(
        send_uploads(), log_in_until(done, server.url, batch), read_rss_until(done, server, batch)
    )
    return batch


def imagemagick_files(server: LiveServer) -> int:
    """magick-* files in the temporary folders of the server's processes."""
    temporary = Path(tempfile.gettempdir())
    folders = [
        folder
        for pid in server.pids()
        for folder in temporary.glob(f"{TEMPORARY_FOLDER_PREFIX}{pid}-*")
    ]
    return sum(len(list(folder.glob("magick-*"))) for folder in folders)


def stray_files() -> set[Path]:
    """magick-* files straight in the system's temporary folder, from any process."""
    return set(Path(tempfile.gettempdir()).glob("magick-*"))


def describe(statuses: list[int]) -> str:
    accepted = statuses.count(302)
    refused = statuses.count(400)
    other = len(statuses) - accepted - refused
    return f"{accepted} kept, {refused} refused" + (f", {other} other" if other else "")


async def measure(server: LiveServer) -> list[list]:
    people = [Person(server.url, f"uploader{number}") for number in range(AT_ONCE)]
    watcher = Person(server.url, WATCHER)
    for person in [*people, watcher]:
        await person.sign_up()
    idle_logins = [await timed_login(server.url) for _ in range(10)]
    # Load ImageMagick in the worker first: its start-up is not what is measured.
    await upload(people[0], "warm-up.png", solid_image(64, 64))
    idle = [milliseconds(percentile(idle_logins, 0.5)), milliseconds(max(idle_logins))]
    rows = [["no uploads (logins only)", "", "", "", "", "", *idle]]
    strays_before = stray_files()
    for label, filename, make_data, at_once in UPLOADS:
        before_kib = server.rss_kib()
        batch = await run_batch(server, people[:at_once], filename, make_data())
        rows.append([
            label, describe(batch.statuses), batch.seconds,
            (max(batch.rss_kib, default=before_kib) - before_kib) / 1024,
            server.rss_kib() / 1024,
            imagemagick_files(server) + len(stray_files() - strays_before),
            milliseconds(percentile(batch.logins_s, 0.5)), milliseconds(max(batch.logins_s)),
        ])  # fmt: skip
    for person in [*people, watcher]:
        await person.close()
    return rows


def main() -> list[list]:
    with tempfile.TemporaryDirectory(prefix="quartfeed-bench-images-") as folder:
        environment = server_environment(
            migrated_sqlite(Path(folder)), media_root=str(Path(folder) / "media")
        )
        with LiveServer(environment) as server:
            started_kib = server.rss_kib()
            rows = asyncio.run(measure(server))
            growth_mb = (server.rss_kib() - started_kib) / 1024
    headers = ["uploads", "result", "seconds", "RSS peak growth MB", "RSS after MB",
               "magick-* left", "login p50 ms", "login max ms"]  # fmt: skip
    print_table(
        f"Image uploads, {AT_ONCE} at once (targets: growth < 300 MB, none left, login < 200 ms)",
        headers,
        rows,
    )
    print(f"Server RSS growth since start-up, after all batches: {growth_mb:.0f} MB")
    return rows


if __name__ == "__main__":
    main()
