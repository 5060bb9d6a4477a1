"""Profile images: real ImageMagick on images the tests make, and every way an
upload can be refused without leaving anything behind."""

import os
import threading
from pathlib import Path

import pytest
from wand.exceptions import MissingDelegateError, PolicyError
from wand.image import Image

from tests.helpers import post_files, register_and_login, text_of, upload, user_ids
from tests.images import (
    PNG_METADATA_CHUNKS,
    animation,
    blank_png,
    cut_jpeg_with_thumbnail,
    deflated_zeros,
    gif_with_frames,
    noisy_jpeg,
    png_chunk_types,
    solid_image,
    with_jpeg_exif,
    with_png_chunks,
    with_png_text,
    ztxt_chunk,
)
from user.models import user_by_name
from utilities import imaging
from utilities.imaging import AVATAR_SIZES, image_format

EXPECTED_SIDES = {"raw": 480, "xlg": 200, "lg": 75, "sm": 50}  # for a 640 × 480 upload


async def upload_image(client, data: bytes, filename: str = "me.png", username: str = "alice"):
    files = {"profile_image": upload(data, filename)}
    return await post_files(client, "/profile/edit", {"username": username}, files, "/")


def media_files(app) -> list[Path]:
    return sorted(path for path in Path(app.config["MEDIA_ROOT"]).rglob("*") if path.is_file())


async def stored_image(database, username: str = "alice") -> str | None:
    return (await user_by_name(database, username))["image"]


@pytest.fixture
async def alice(client):
    await register_and_login(client, "alice")


async def test_a_png_becomes_four_square_pngs_without_metadata(app, client, database, alice):
    original = with_png_text(solid_image(640, 480), "Comment", "taken at home, 12 Elm St")
    response = await upload_image(client, original)
    assert response.status_code == 302
    assert response.headers["Location"] == "/user/alice"

    image_id = await stored_image(database)
    folder = Path(app.config["MEDIA_ROOT"]) / "user"
    assert media_files(app) == sorted(folder / f"{image_id}.{size}.png" for size in AVATAR_SIZES)
    for size in AVATAR_SIZES:
        png = (folder / f"{image_id}.{size}.png").read_bytes()
        with Image(blob=png) as image:
            assert image.format == "PNG"
            assert image.size == (EXPECTED_SIDES[size], EXPECTED_SIDES[size])
        assert not PNG_METADATA_CHUNKS & set(png_chunk_types(png))
        assert b"Elm St" not in png


async def test_exif_is_stripped_from_a_jpeg(app, client, database, alice):
    original = with_jpeg_exif(solid_image(300, 400, "jpeg"), "Jane Photographer")
    assert (await upload_image(client, original, "me.jpg")).status_code == 302
    for path in media_files(app):
        png = path.read_bytes()
        assert b"Jane Photographer" not in png and b"Exif" not in png
        with Image(blob=png) as image:
            assert not [key for key in image.metadata if key.startswith("exif:")]
            assert image.width == image.height


async def test_an_animated_gif_keeps_its_first_frame(app, client, database, alice):
    original = animation(["red", "lime", "blue"])
    assert (await upload_image(client, original, "me.gif")).status_code == 302
    raw = Path(app.config["MEDIA_ROOT"]) / "user" / f"{await stored_image(database)}.raw.png"
    with Image(filename=str(raw)) as image:
        assert image.size == (30, 30)
        assert len(image.sequence) == 1
        assert image[15, 15].red == 1.0 and image[15, 15].blue == 0.0


async def test_webp_is_accepted(app, client, database, alice):
    assert (await upload_image(client, solid_image(64, 64, "webp"), "me.webp")).status_code == 302
    assert len(media_files(app)) == len(AVATAR_SIZES)


async def test_the_new_image_is_shown_and_served(client, database, alice):
    await upload_image(client, solid_image(640, 480))
    image_id = await stored_image(database)
    profile = await text_of(await client.get("/user/alice"))
    assert f'src="/media/user/{image_id}.xlg.png"' in profile
    assert f'src="/media/user/{image_id}.sm.png"' in profile  # the navbar
    response = await client.get(f"/media/user/{image_id}.lg.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    with Image(blob=await response.get_data()) as image:
        assert image.size == (75, 75)


@pytest.fixture
def media_on_another_host(app_config):
    """MEDIA_URL as a full URL: a CDN or another server serves MEDIA_ROOT.

    Requested before `client`, it changes the configuration the app is made with."""
    app_config["MEDIA_URL"] = "https://media.example.test/avatars"


async def test_media_on_another_host_is_linked_not_served(
    media_on_another_host, app, client, database, alice
):
    await upload_image(client, solid_image(640, 480))
    image_id = await stored_image(database)
    profile = await text_of(await client.get("/user/alice"))
    assert f'src="https://media.example.test/avatars/user/{image_id}.xlg.png"' in profile
    assert "media" not in {rule.endpoint for rule in app.url_map.iter_rules()}


async def test_replacing_an_image_removes_the_old_files(app, client, database, alice):
    await upload_image(client, solid_image(640, 480, color="red"))
    first_id = await stored_image(database)
    await upload_image(client, solid_image(480, 640, color="blue"))
    second_id = await stored_image(database)
    assert second_id != first_id
    assert [path.name.split(".")[0] for path in media_files(app)] == [second_id] * 4


async def test_a_name_and_an_image_change_together(client, database, alice):
    response = await upload_image(client, solid_image(100, 100), username="alicia")
    assert response.headers["Location"] == "/user/alicia"
    assert await stored_image(database, "alicia") is not None


NOT_AN_IMAGE = "Please choose a PNG, JPEG, GIF or WebP image."
DAMAGED = "That image is damaged or incomplete."


@pytest.mark.parametrize(
    ("make_data", "filename", "message"),
    [
        (lambda: b"just some text, not a picture\n", "notes.png", NOT_AN_IMAGE),
        (lambda: b"BM" + bytes(100), "old.bmp", NOT_AN_IMAGE),
        (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", NOT_AN_IMAGE),
        (lambda: b"", "empty.png", NOT_AN_IMAGE),
        (lambda: b"\x89PNG\r\n\x1a\n" + bytes(200), "fake.png", DAMAGED),
        (lambda: noisy_jpeg()[:20_000], "cut.jpg", DAMAGED),
        (cut_jpeg_with_thumbnail, "cut.jpg", DAMAGED),
        (lambda: solid_image(640, 480)[:-40], "cut.png", DAMAGED),
        (lambda: blank_png(5000, 5000), "huge.png", "Images can be at most 4096 × 4096 pixels."),
        (
            lambda: with_png_chunks(solid_image(64, 64), ztxt_chunk(b"Bomb", deflated_zeros(600))),
            "text.png",
            "That image carries too much embedded text or colour profile data.",
        ),
        (
            lambda: gif_with_frames([(1, 1), (8000, 8000), (1, 1)]),
            "frames.gif",
            "Images can be at most 4096 × 4096 pixels.",
        ),
    ],
    ids=[
        "text",
        "bmp",
        "svg",
        "empty",
        "png-signature-only",
        "jpeg-cut",
        "jpeg-cut-with-thumbnail",
        "png-cut",
        "5000x5000",
        "png-ztxt-inflating-to-600mb",
        "gif-8000-middle-frame",
    ],  # fmt: skip
)
async def test_bad_uploads_are_refused_and_change_nothing(
    app, client, database, alice, make_data, filename, message
):
    response = await upload_image(client, make_data(), filename, username="renamed")
    assert response.status_code == 400
    assert message in await text_of(response)
    assert media_files(app) == []
    assert set(await user_ids(database)) == {"alice"}  # the new name was not saved either
    assert await stored_image(database) is None


async def test_a_jpeg_with_bytes_after_its_end_is_accepted(app, client, alice):
    # Some phones append data of their own after the end-of-image marker.
    photo = solid_image(300, 200, "jpeg") + b"phone trailer \xff\xd8 data"
    assert (await upload_image(client, photo, "phone.jpg")).status_code == 302
    assert len(media_files(app)) == len(AVATAR_SIZES)


async def test_a_failed_upload_keeps_the_previous_image(app, client, database, alice):
    await upload_image(client, solid_image(64, 64))
    before = (await stored_image(database), media_files(app))
    response = await upload_image(client, b"not an image", "x.png")
    assert response.status_code == 400
    assert (await stored_image(database), media_files(app)) == before


async def test_a_body_over_max_content_length_is_a_413(app, client, database, alice):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = await upload_image(client, b"\x89PNG\r\n\x1a\n" + os.urandom(limit))
    assert response.status_code == 413
    assert "That upload is too large." in await text_of(response)
    assert media_files(app) == []
    assert await stored_image(database) is None


async def test_imagemagick_works_in_its_own_pool(client, monkeypatch, alice):
    threads = []
    store = imaging._store

    def store_and_record_thread(*args):
        threads.append(threading.current_thread())
        return store(*args)

    monkeypatch.setattr(imaging, "_store", store_and_record_thread)
    assert (await upload_image(client, solid_image(64, 64))).status_code == 302
    # Not the event loop, nor asyncio's default pool, where passwords are hashed.
    assert [thread.name.split("_")[0] for thread in threads] == ["imaging"]


@pytest.fixture
def image_pool_full():
    """Every place in the image pool taken, as by uploads still being worked on."""
    for _ in range(imaging.IMAGES_IN_FLIGHT):
        imaging._places_in_pool.acquire()
    yield
    for _ in range(imaging.IMAGES_IN_FLIGHT):
        imaging._places_in_pool.release()


async def test_an_upload_is_turned_away_while_the_image_pool_is_full(
    app, client, database, alice, image_pool_full
):
    response = await upload_image(client, solid_image(64, 64))
    assert response.status_code == 503  # not the image's fault: try again later
    assert response.headers["Retry-After"] == "60"
    assert "Too many images are being processed right now" in await text_of(response)
    assert media_files(app) == []
    assert await stored_image(database) is None


async def test_imagemagick_policy_allows_only_the_four_formats():
    assert os.environ["MAGICK_CONFIGURE_PATH"].endswith("utilities")
    svg = b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"
    # Where ImageMagick has an SVG coder the policy refuses it; where it has
    # none, SVG cannot be read at all. MVG's coder is always built in.
    with pytest.raises((PolicyError, MissingDelegateError)):
        Image(blob=svg, format="svg")
    with pytest.raises(PolicyError):
        Image(blob=b"viewbox 0 0 10 10", format="mvg")
    with pytest.raises(PolicyError):
        Image(filename="xc:red")  # ImageMagick's built-in "solid colour" reader
    with Image(width=4, height=4) as image, pytest.raises(PolicyError):
        image.make_blob("bmp")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (b"\x89PNG\r\n\x1a\nrest", "png"),
        (b"\xff\xd8\xff\xe0rest", "jpeg"),
        (b"GIF87arest", "gif"),
        (b"GIF89arest", "gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_formats_are_recognised_by_their_first_bytes(start, expected):
    assert image_format(start) == expected


async def test_media_urls_cannot_leave_media_root(client):
    response = await client.get("/media/../settings.py")
    assert response.status_code == 404
    response = await client.get("/media/user/%2e%2e/%2e%2e/settings.py")
    assert response.status_code == 404


async def test_default_images_ship_in_every_size(client):
    for size in AVATAR_SIZES:
        response = await client.get(f"/static/images/user/profile.{size}.png")
        assert response.status_code == 200
        with Image(blob=await response.get_data()) as image:
            assert image.width == image.height
            if size != "raw":
                assert image.width == EXPECTED_SIDES[size]
