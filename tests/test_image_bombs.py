"""Image bombs: small uploads that declare huge images, hidden frames or text
that inflates a thousandfold, refused from their headers before ImageMagick
decodes anything; and the image pool, which keeps working after a burst of
the largest uploads it accepts."""

import asyncio
import gc
import struct
import subprocess
import zlib

import pytest
from wand.color import Color
from wand.image import Image
from wand.resource import limits

from tests.images import (
    animation,
    apng_frame_control,
    blank_png,
    compressed_itxt_chunk,
    deflated_zeros,
    gif_with_frames,
    iccp_chunk,
    jpeg_declaring,
    jpeg_hiding_scans_behind_tem,
    png_chunk,
    png_declaring,
    solid_image,
    vp8_declaring,
    vp8l_declaring,
    vp8x_canvas,
    webp,
    webp_animation,
    with_garbled_pixels,
    with_png_chunks,
    with_png_text,
    ztxt_chunk,
)
from utilities import imaging
from utilities.imaging import (
    ANIMATION_TOO_LARGE,
    DAMAGED_IMAGE,
    IMAGE_TOO_LARGE,
    MAX_SIDE,
    TOO_MANY_FRAMES,
    TOO_MANY_SCANS,
    TOO_MUCH_METADATA,
    ImageRejected,
)

HUGE_FRAME = (8000, 8000)
LARGEST_FRAME = (MAX_SIDE, MAX_SIDE)


def png_with(*chunks: bytes) -> bytes:
    return with_png_chunks(solid_image(64, 64), *chunks)


def animated_png(*frame_sizes: tuple[int, int]) -> bytes:
    controls = [apng_frame_control(number, *size) for number, size in enumerate(frame_sizes)]
    animation_control = png_chunk(b"acTL", struct.pack(">II", len(frame_sizes), 0))
    return png_declaring(64, 64, animation_control, *controls)


HOSTILE_FILES = [
    # The finding: 600 KB whose zTXt inflates to 600 MB, outside ImageMagick's limits.
    pytest.param(
        lambda: png_with(ztxt_chunk(b"Comment", deflated_zeros(600))),
        TOO_MUCH_METADATA,
        id="png-ztxt-600mb",
    ),
    pytest.param(
        lambda: png_with(compressed_itxt_chunk(b"XML", deflated_zeros(64))),
        TOO_MUCH_METADATA,
        id="png-itxt-64mb",
    ),
    pytest.param(
        lambda: png_with(iccp_chunk(deflated_zeros(64))), TOO_MUCH_METADATA, id="png-iccp-64mb"
    ),
    pytest.param(
        lambda: png_with(png_chunk(b"tEXt", b"Comment\0" + b"x" * 2**21)),
        TOO_MUCH_METADATA,
        id="png-text-2mb",
    ),
    pytest.param(
        lambda: png_with(*[png_chunk(b"tEXt", b"a\0b")] * 100),
        TOO_MUCH_METADATA,
        id="png-100-texts",
    ),
    pytest.param(lambda: png_declaring(100_000, 100_000), IMAGE_TOO_LARGE, id="png-100000-square"),
    pytest.param(lambda: png_declaring(MAX_SIDE + 1, 1), IMAGE_TOO_LARGE, id="png-4097-wide"),
    pytest.param(
        lambda: animated_png((64, 64), HUGE_FRAME), IMAGE_TOO_LARGE, id="apng-8000-frame"
    ),
    pytest.param(
        lambda: animated_png(*[LARGEST_FRAME] * 3), ANIMATION_TOO_LARGE, id="apng-3-largest-frames"
    ),
    # The finding: only the first frame's size was checked.
    pytest.param(
        lambda: gif_with_frames([(1, 1), HUGE_FRAME, (1, 1)]),
        IMAGE_TOO_LARGE,
        id="gif-8000-middle-frame",
    ),
    pytest.param(
        lambda: gif_with_frames([(1, 1)], screen=HUGE_FRAME),
        IMAGE_TOO_LARGE,
        id="gif-8000-screen",
    ),
    pytest.param(lambda: gif_with_frames([(1, 1)] * 300), TOO_MANY_FRAMES, id="gif-300-frames"),
    pytest.param(
        lambda: gif_with_frames([LARGEST_FRAME] * 2),
        ANIMATION_TOO_LARGE,
        id="gif-2-largest-frames",
    ),
    pytest.param(lambda: gif_with_frames([(1, 1)])[:-3], DAMAGED_IMAGE, id="gif-cut-in-a-frame"),
    pytest.param(lambda: jpeg_declaring(65535, 65535), IMAGE_TOO_LARGE, id="jpeg-65535-square"),
    pytest.param(lambda: jpeg_declaring(64, 64, scans=1000), TOO_MANY_SCANS, id="jpeg-1000-scans"),
    pytest.param(
        lambda: jpeg_hiding_scans_behind_tem(1000), TOO_MANY_SCANS, id="jpeg-scans-behind-tem"
    ),
    pytest.param(
        lambda: webp(vp8_declaring(16383, 16383)), IMAGE_TOO_LARGE, id="webp-lossy-16383-square"
    ),
    pytest.param(
        lambda: webp(vp8l_declaring(16384, 16384)),
        IMAGE_TOO_LARGE,
        id="webp-lossless-16384-square",
    ),
    pytest.param(
        lambda: webp(vp8x_canvas(2**24, 2**24), vp8l_declaring(64, 64)),
        IMAGE_TOO_LARGE,
        id="webp-canvas-16m-square",
    ),
    pytest.param(
        lambda: webp_animation([(64, 64), HUGE_FRAME], canvas=(64, 64)),
        IMAGE_TOO_LARGE,
        id="webp-8000-frame",
    ),
    pytest.param(
        lambda: webp_animation([LARGEST_FRAME] * 2, LARGEST_FRAME),
        ANIMATION_TOO_LARGE,
        id="webp-2-largest-frames",
    ),
    pytest.param(lambda: webp(vp8l_declaring(64, 64))[:-4], DAMAGED_IMAGE, id="webp-cut"),
]


@pytest.mark.parametrize(("make_file", "message"), HOSTILE_FILES)
def test_hostile_files_are_refused_from_their_headers(make_file, message):
    # _check_upload is pure Python: refused here, ImageMagick never sees the file.
    with pytest.raises(ImageRejected) as refusal:
        imaging._check_upload(make_file())
    assert str(refusal.value) == message


def png_with_text_and_profile() -> bytes:
    text = with_png_text(solid_image(64, 64), "Comment", "hello")
    srgb_sized_profile = zlib.compress(bytes(3144))
    return with_png_chunks(
        text, ztxt_chunk(b"Title", zlib.compress(b"Me")), iccp_chunk(srgb_sized_profile)
    )


def lossless_webp_with_alpha() -> bytes:
    with Image(width=300, height=200, background=Color("rgba(0, 128, 128, 0.5)")) as image:
        image.options["webp:lossless"] = "true"
        return image.make_blob("webp")


def progressive_jpeg() -> bytes:
    with Image(width=300, height=200, background=Color("teal")) as image:
        image.interlace_scheme = "plane"
        return image.make_blob("jpeg")


@pytest.mark.parametrize(
    ("make_file", "format_name"),
    [
        (png_with_text_and_profile, "png"),
        (lambda: blank_png(*LARGEST_FRAME), "png"),
        (lambda: animated_png((64, 64), (32, 32)), "png"),
        (lambda: animation(["red", "lime", "blue"]), "gif"),
        (lambda: solid_image(300, 200, "jpeg"), "jpeg"),
        (progressive_jpeg, "jpeg"),
        (lambda: solid_image(300, 200, "webp"), "webp"),
        (lossless_webp_with_alpha, "webp"),
        (lambda: animation(["red", "lime", "blue"], "webp"), "webp"),
        (lambda: webp(vp8l_declaring(*LARGEST_FRAME)), "webp"),
    ],
    ids=[
        "png-with-text-and-profile",
        "png-largest",
        "apng",
        "gif-animated",
        "jpeg",
        "jpeg-progressive",
        "webp",
        "webp-lossless-with-alpha",
        "webp-animated",
        "webp-largest",
    ],
)
def test_ordinary_files_pass_the_header_checks(make_file, format_name):
    assert imaging._check_upload(make_file()) == format_name


def phone_photo() -> bytes:
    with Image(width=4032, height=3024, background=Color("skyblue")) as image:
        return image.make_blob("jpeg")


def imagemagick_usage() -> dict[str, int]:
    """Bytes of pixels ImageMagick holds now, in memory and in files."""
    return {name: limits.resource(name) for name in ("memory", "map", "disk")}


NOTHING_HELD = {"memory": 0, "map": 0, "disk": 0}


@pytest.fixture
def imagemagick_at_rest():
    """Images that earlier tests dropped keep their pixels in ImageMagick
    until Python's garbage collector comes by: collect them first."""
    gc.collect()
    assert imagemagick_usage() == NOTHING_HELD


async def test_a_burst_of_the_largest_uploads_leaves_imagemagick_as_it_was(
    imagemagick_at_rest, tmp_path
):
    # Not square, so that cropping copies the pixels once more: the costliest kind.
    largest = blank_png(MAX_SIDE, MAX_SIDE - 1)
    stored = await asyncio.gather(
        *(imaging.store_profile_image(largest, str(tmp_path)) for _ in range(6))
    )
    assert len(set(stored)) == 6
    # ImageMagick used to keep the room that failed jobs had taken, and refuse
    # every large image afterwards, photos included.
    assert await imaging.store_profile_image(phone_photo(), str(tmp_path))
    assert list(imaging.TEMPORARY_FOLDER.iterdir()) == []
    assert imagemagick_usage() == NOTHING_HELD


async def test_a_large_damaged_upload_leaves_imagemagick_as_it_was(imagemagick_at_rest, tmp_path):
    damaged = with_garbled_pixels(blank_png(*LARGEST_FRAME))
    with pytest.raises(ImageRejected):
        await imaging.store_profile_image(damaged, str(tmp_path))
    assert list(imaging.TEMPORARY_FOLDER.iterdir()) == []
    assert imagemagick_usage() == NOTHING_HELD


def test_imagemagick_spills_pixels_into_the_apps_own_folder():
    with Image(width=MAX_SIDE, height=MAX_SIDE):  # beyond the memory limit
        spilled = [path.name for path in imaging.TEMPORARY_FOLDER.iterdir()]
    assert len(spilled) == 1 and spilled[0].startswith("magick-")
    assert list(imaging.TEMPORARY_FOLDER.iterdir()) == []


async def test_files_left_behind_are_removed_after_the_next_job(tmp_path, caplog):
    leftover = imaging.TEMPORARY_FOLDER / "magick-left-by-a-failed-job"
    leftover.write_bytes(b"pixels")
    await imaging.store_profile_image(solid_image(64, 64), str(tmp_path))
    assert not leftover.exists()
    assert "Removed 1 temporary files that ImageMagick left" in caplog.text


def test_folders_of_ended_processes_are_removed_at_start():
    ended = subprocess.Popen(["true"])
    ended.wait()
    folder = imaging.TEMPORARY_FOLDER.with_name(f"{imaging.TEMPORARY_FOLDER_PREFIX}{ended.pid}-x")
    folder.mkdir()
    (folder / "magick-left-by-a-killed-worker").write_bytes(b"pixels")
    imaging._remove_folders_of_ended_processes()
    assert not folder.exists()
    assert imaging.TEMPORARY_FOLDER.is_dir()  # this process is alive


def test_standalone_markers_between_segments_are_read_as_libjpeg_reads_them():
    """TEM and restart markers have no length: the walk goes on right after
    them, and libjpeg, which decodes the file, agrees."""
    jpeg = progressive_jpeg()
    marked = jpeg[:2] + b"\xff\x01\xff\xd0" + jpeg[2:]
    assert imaging._check_upload(marked) == "jpeg"
    with Image(blob=marked) as image:
        assert image.size == (300, 200)
