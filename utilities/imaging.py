"""Profile images: checked, cropped, resized and stored with Wand (ImageMagick).
(The URLs that show them are `utilities.avatars`'.)

An upload is untrusted input handed to a large C library, so it passes
several gates before and after ImageMagick sees it:

1. its first bytes must be those of a PNG, JPEG, GIF or WebP file;
2. its header is walked here, in Python, before any pixel is decoded: the
   width and height of every frame, the number of frames, the pixels of all
   frames together and, in a PNG, the text and colour profile once inflated
   must all be within the limits below, so that a small file cannot make
   ImageMagick decode gigabytes;
3. the security policy in utilities/policy.xml lets ImageMagick run only
   those four decoders, whatever the file claims to be, and the resource
   limits set below cap the memory, disk and threads it may use;
4. what is kept is re-encoded as PNG, without metadata, under a random name.

ImageMagick runs in a pool of IMAGE_WORKERS threads of its own, apart from
asyncio's default pool where passwords are hashed; at most IMAGES_IN_FLIGHT
uploads may be in it, running or waiting, and more are turned away.

Each stored image is four square PNGs, MEDIA_ROOT/user/<id>.<size>.png; the
user row keeps only <id>.
"""

import asyncio
import atexit
import logging
import os
import re
import secrets
import shutil
import struct
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from quart import Quart, current_app

from utilities.avatars import AVATAR_SIZES, avatar_url
from utilities.files import send_from_folder

# ImageMagick reads its security policy once, when Wand loads the library, so
# the policy's folder must be known before the first `import wand`.
os.environ["MAGICK_CONFIGURE_PATH"] = str(Path(__file__).resolve().parent)
# Pixels that do not fit in ImageMagick's memory limit go to magick-* files in
# this folder. Each process has its own, so that tidying it never touches a
# file another worker is using; the process id in its name tells whose it is.
TEMPORARY_FOLDER_PREFIX = "quartfeed-imagemagick-"
TEMPORARY_FOLDER = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_FOLDER_PREFIX}{os.getpid()}-"))
os.environ["MAGICK_TEMPORARY_PATH"] = str(TEMPORARY_FOLDER)

from wand.exceptions import WandException  # noqa: E402
from wand.image import Image  # noqa: E402
from wand.resource import limits  # noqa: E402

logger = logging.getLogger(__name__)

# Side in pixels of each size; "raw" keeps the side of the cropped upload.
AVATAR_SIDES = {"xlg": 200, "lg": 75, "sm": 50}

MAX_SIDE = 4096
# All the frames of an animation together may hold no more pixels than the
# largest still image, so that no upload costs much more to decode than it.
MAX_PIXELS = MAX_SIDE * MAX_SIDE
MAX_FRAMES = 256  # policy.xml gives ImageMagick the same list-length
# A PNG's text and colour profile, counted once inflated: libpng inflates them
# whole, outside ImageMagick's memory limit, and 600 KB of zTXt can inflate to
# 600 MB. Photos carry a few kilobytes of them.
MAX_METADATA_BYTES = 1024 * 1024
MAX_METADATA_CHUNKS = 64
# Each scan of a progressive JPEG is another pass over the whole image;
# ordinary files have about ten.
MAX_JPEG_SCANS = 100

NOT_AN_IMAGE = "Please choose a PNG, JPEG, GIF or WebP image."
DAMAGED_IMAGE = "That image is damaged or incomplete."
IMAGE_TOO_LARGE = f"Images can be at most {MAX_SIDE} × {MAX_SIDE} pixels."
TOO_MANY_FRAMES = f"Animations can have at most {MAX_FRAMES} frames."
ANIMATION_TOO_LARGE = (
    f"The frames of an animation can have at most {MAX_SIDE} × {MAX_SIDE} pixels in all."
)
TOO_MUCH_METADATA = "That image carries too much embedded text or colour profile data."
TOO_MANY_SCANS = (
    "That JPEG is saved in too many progressive passes; please save it as a standard JPEG."
)
TOO_BUSY = "Too many images are being processed right now; please try again in a minute."

MiB = 1024 * 1024
# Pixels stay in the worker's memory up to this much in all (8 bytes a pixel:
# about 2900 × 2900); the rest go to files in TEMPORARY_FOLDER, which ImageMagick reads
# and writes rather than maps, so that they stay in the kernel's page cache:
# as fast here, and never counted in the worker's own memory.
IMAGEMAGICK_MEMORY = 64 * MiB
# The largest image briefly needs about four copies of its pixels (450 MiB
# measured at 4096 × 4096); room for every worker at once, and to spare. A
# job that ran out of room would fail, and ImageMagick 6 does not give back
# the room a failed read had taken: every later large image would fail too.
IMAGEMAGICK_DISK = 2048 * MiB

IMAGE_WORKERS = 2
# Added to the niceness of the image threads: image work yields the CPU to
# logins and event streams when they want it.
IMAGE_WORKER_NICENESS = 10
# Uploads in the image pool at once, running or waiting for a worker. Each
# holds its bytes (up to MAX_CONTENT_LENGTH) meanwhile, so more are refused.
IMAGES_IN_FLIGHT = 8

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The bytes each accepted format starts with, and ImageMagick's name for it.
SIGNATURES = {
    PNG_SIGNATURE: "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}
PNG_METADATA_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"iCCP", b"eXIf"}
GIF_IMAGE, GIF_EXTENSION, GIF_TRAILER = 0x2C, 0x21, 0x3B
START_OF_IMAGE, END_OF_IMAGE, START_OF_SCAN = 0xD8, 0xD9, 0xDA
# Markers that stand alone, with no length and no segment, as libjpeg reads
# them: TEM (01), the restart markers (D0 to D7) and start-of-image. Reading
# two bytes after one as a length would skip whatever follows unread: scans.
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8), START_OF_IMAGE}
# Markers C0 to CF start a frame, except DHT (C4), JPG (C8) and DAC (CC).
START_OF_FRAME = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# In a scan's compressed data an FF byte is followed only by 00 or a restart
# marker (D0 to D7): FF and anything else starts the marker that ends it.
NEXT_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")
WEBP_BITSTREAMS = {b"VP8 ", b"VP8L"}


class ImageRejected(ValueError):
    """An upload that cannot become a profile image; the message says why."""


class ImagingBusy(ImageRejected):
    """Too many uploads are already waiting for the image workers."""


def image_format(data: bytes) -> str | None:
    """The format `data` starts like ("png", "jpeg", "gif", "webp"), or None."""
    # A WebP file is a RIFF container: "RIFF", four bytes of length, "WEBP".
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for signature, name in SIGNATURES.items():
        if data.startswith(signature):
            return name
    return None


# --- Headers: the sizes an upload declares, read without decoding it ---------


@dataclass
class Header:
    """The sizes an image's header declares, read without decoding a pixel."""

    frames: list[tuple[int, int]]  # width and height of each frame; one for a still image
    canvas: tuple[int, int] = (0, 0)  # what the frames are drawn on, in formats that have one


def _check_upload(data: bytes) -> str:
    """The upload's format, or ImageRejected before ImageMagick reads a byte."""
    format_name = image_format(data)
    if format_name is None:
        raise ImageRejected(NOT_AN_IMAGE)
    _check_header(_read_header(data, format_name))
    return format_name


def _read_header(data: bytes, format_name: str) -> Header:
    readers = {"png": _png_header, "gif": _gif_header, "jpeg": _jpeg_header, "webp": _webp_header}
    try:
        return readers[format_name](data)
    except (struct.error, IndexError) as error:  # the file ends inside a header
        raise ImageRejected(DAMAGED_IMAGE) from error


def _check_header(header: Header) -> None:
    if not header.frames:
        raise ImageRejected(DAMAGED_IMAGE)
    for width, height in [header.canvas, *header.frames]:
        if width > MAX_SIDE or height > MAX_SIDE:
            raise ImageRejected(IMAGE_TOO_LARGE)
    if len(header.frames) > MAX_FRAMES:
        raise ImageRejected(TOO_MANY_FRAMES)
    if sum(width * height for width, height in header.frames) > MAX_PIXELS:
        raise ImageRejected(ANIMATION_TOO_LARGE)


def _png_header(data: bytes) -> Header:
    """IHDR's size, and each frame's if it is an animated PNG (APNG)."""
    chunks = list(_png_chunks(data))
    kind, image_header = chunks[0]
    if kind != b"IHDR":
        raise ImageRejected(DAMAGED_IMAGE)
    size = struct.unpack_from(">II", image_header)
    # An APNG describes each frame in an fcTL chunk: sequence number, width, height, …
    frames = [struct.unpack_from(">II", chunk, 4) for kind, chunk in chunks if kind == b"fcTL"]
    _check_png_metadata([(kind, chunk) for kind, chunk in chunks if kind in PNG_METADATA_CHUNKS])
    return Header(frames or [size], canvas=size)


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Each chunk's type and data, from the first to IEND."""
    position = len(PNG_SIGNATURE)
    while True:
        length, kind = struct.unpack_from(">I4s", data, position)
        start = position + 8
        if start + length + 4 > len(data):  # the data and its CRC are cut short
            raise ImageRejected(DAMAGED_IMAGE)
        yield kind, data[start : start + length]
        if kind == b"IEND":
            return
        position = start + length + 4


def _check_png_metadata(chunks: list[tuple[bytes, bytes]]) -> None:
    """Refuse more text and colour profile chunks, or larger ones once
    inflated, than MAX_METADATA_CHUNKS and MAX_METADATA_BYTES allow."""
    if len(chunks) > MAX_METADATA_CHUNKS:
        raise ImageRejected(TOO_MUCH_METADATA)
    room = MAX_METADATA_BYTES
    for kind, chunk in chunks:
        room -= _png_metadata_size(kind, chunk, room)
        if room < 0:
            raise ImageRejected(TOO_MUCH_METADATA)


def _png_metadata_size(kind: bytes, chunk: bytes, room: int) -> int:
    """The bytes a text, EXIF or colour profile chunk holds once inflated,
    counting no further than room + 1."""
    _keyword, _, rest = chunk.partition(b"\0")
    if kind in (b"zTXt", b"iCCP"):  # keyword or profile name, compression method, zlib data
        return _inflated_size(rest[1:], room)
    if kind == b"iTXt" and rest[:1] == b"\1":  # compressed, as its flag after the keyword says
        # After the flag: compression method, language, translated keyword, text.
        _language, _, rest = rest[2:].partition(b"\0")
        _translated_keyword, _, text = rest.partition(b"\0")
        return _inflated_size(text, room)
    return len(chunk)


def _inflated_size(compressed: bytes, room: int) -> int:
    """The size of zlib data once inflated, or room + 1 if larger: no more is inflated."""
    try:
        return len(zlib.decompressobj().decompress(compressed, room + 1))
    except zlib.error:  # libpng skips a damaged text chunk
        return len(compressed)


def _gif_header(data: bytes) -> Header:
    """The logical screen and every frame's image descriptor.

    A small first frame can hide a huge one later, so every block is walked:
    extensions and image data are runs of sub-blocks, each a length byte and
    that many bytes, ended by a zero.
    """
    screen_width, screen_height, flags = struct.unpack_from("<HHB", data, 6)
    position = 13 + _gif_color_table_size(flags)
    frames = []
    while position < len(data) and data[position] != GIF_TRAILER:
        if data[position] == GIF_EXTENSION:  # introducer, label, sub-blocks
            position = _after_gif_sub_blocks(data, position + 2)
        elif data[position] == GIF_IMAGE:
            _left, _top, width, height, flags = struct.unpack_from("<HHHHB", data, position + 1)
            frames.append((width, height))
            # The 10-byte descriptor, a colour table, the LZW code size, sub-blocks.
            position = _after_gif_sub_blocks(data, position + 11 + _gif_color_table_size(flags))
        else:
            raise ImageRejected(DAMAGED_IMAGE)
    return Header(frames, canvas=(screen_width, screen_height))


def _gif_color_table_size(flags: int) -> int:
    """Bytes of the colour table after a screen or image descriptor with these flags."""
    return 3 * 2 ** ((flags & 0x07) + 1) if flags & 0x80 else 0


def _after_gif_sub_blocks(data: bytes, position: int) -> int:
    while (length := data[position]) != 0:
        position += 1 + length
    return position + 1


def _jpeg_header(data: bytes) -> Header:
    """The start-of-frame's size; the whole file is walked, so that one cut short
    (which libjpeg fills with grey without an error) or with too many scans is
    refused."""
    frames, scans = [], 0
    for marker, segment in _jpeg_segments(data):
        if marker in START_OF_FRAME:
            height, width = struct.unpack_from(">HH", segment, 1)  # after the sample precision
            frames.append((width, height))
        elif marker == START_OF_SCAN:
            scans += 1
    if scans > MAX_JPEG_SCANS:
        raise ImageRejected(TOO_MANY_SCANS)
    return Header(frames)


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Each marker after start-of-image with its segment's data, up to end-of-image.

    Each segment (FF, a marker byte, a two-byte length) is skipped by its
    length, so an EXIF thumbnail's own markers are never read as the image's;
    a standalone marker has no length, and nothing after it is skipped.
    Bytes after end-of-image, which some phones append, are not read either.
    """
    position = 2  # after the start-of-image marker
    while True:
        prefix, marker = struct.unpack_from("BB", data, position)
        if prefix != 0xFF:
            raise ImageRejected(DAMAGED_IMAGE)
        if marker == 0xFF:  # padding before a marker
            position += 1
            continue
        if marker == END_OF_IMAGE:
            return
        if marker in STANDALONE_MARKERS:
            yield marker, b""
            position += 2
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        yield marker, data[position + 4 : position + 2 + length]
        position = position + 2 + length
        if marker == START_OF_SCAN:
            position = _end_of_scan(data, position)


def _end_of_scan(data: bytes, position: int) -> int:
    """Where the compressed data of a scan that starts at `position` ends."""
    next_marker = NEXT_MARKER_IN_SCAN.search(data, position)
    return next_marker.start() if next_marker else len(data)


def _webp_header(data: bytes) -> Header:
    """The canvas (VP8X) and the size of every frame's bitstream, animation
    frames (ANMF) included."""
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if len(data) < 8 + riff_size:
        raise ImageRejected(DAMAGED_IMAGE)
    canvas, frames = (0, 0), []
    for kind, chunk in _riff_chunks(data[12 : 8 + riff_size]):
        # VP8X: flags, 3 reserved bytes, then width - 1 and height - 1 in 3 bytes each.
        if kind == b"VP8X":
            canvas = (_uint24(chunk, 4) + 1, _uint24(chunk, 7) + 1)
        elif kind == b"ANMF":  # position, size and timing in 16 bytes, then the frame's own chunks
            frames += [
                _webp_bitstream_size(frame_kind, frame_chunk)
                for frame_kind, frame_chunk in _riff_chunks(chunk[16:])
                if frame_kind in WEBP_BITSTREAMS
            ]
        elif kind in WEBP_BITSTREAMS:
            frames.append(_webp_bitstream_size(kind, chunk))
    return Header(frames, canvas)


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Each chunk's four-letter type and data."""
    position = 0
    while position < len(data):
        kind, size = struct.unpack_from("<4sI", data, position)
        start = position + 8
        if start + size > len(data):
            raise ImageRejected(DAMAGED_IMAGE)
        yield kind, data[start : start + size]
        position = start + size + size % 2  # chunks are padded to an even length


def _webp_bitstream_size(kind: bytes, chunk: bytes) -> tuple[int, int]:
    if kind == b"VP8L":  # a signature byte, then width - 1 and height - 1 in 14 bits each
        (bits,) = struct.unpack_from("<I", chunk, 1)
        return (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1
    # VP8: a 3-byte frame tag and a 3-byte start code, then width and height in
    # 14 bits each (the top two bits are a scaling hint).
    width, height = struct.unpack_from("<HH", chunk, 6)
    return width & 0x3FFF, height & 0x3FFF


def _uint24(data: bytes, position: int) -> int:
    low, high = struct.unpack_from("<HB", data, position)
    return low | high << 16


# --- ImageMagick ---------------------------------------------------------------


def _read_first_frame(data: bytes, format_name: str) -> Image:
    """Decode the upload, whose header has passed, and keep its first frame."""
    image = Image(blob=data, format=format_name)
    # Removed in place: a copy made through image.sequence[0] would keep its
    # pixels in ImageMagick until Python's garbage collector came by.
    del image.sequence[1:]
    return image


def _prepare(image: Image) -> None:
    """Upright, sRGB, no metadata, and cropped to the centred square."""
    image.auto_orient()  # phones record rotation in EXIF, which strip() removes
    image.transform_colorspace("srgb")
    image.strip()
    image.reset_coords()  # a GIF frame may sit at an offset in its canvas
    side = min(image.width, image.height)
    image.crop(width=side, height=side, gravity="center")
    image.reset_coords()


def _avatar_path(media_root: str, image_id: str, size: str) -> Path:
    return Path(media_root) / "user" / f"{image_id}.{size}.png"


def avatar_png(image: Image, size: str) -> bytes:
    """One size of a square image, encoded as PNG without metadata."""
    with image.clone() as copy:
        if size in AVATAR_SIDES:
            copy.resize(AVATAR_SIDES[size], AVATAR_SIDES[size])
        # Without this, the PNG encoder adds creation and modification dates.
        copy.options["png:exclude-chunk"] = "date,time"
        return copy.make_blob("png")


def _write_whole(path: Path, data: bytes) -> None:
    """Write under a temporary name, then rename: readers never see half a file."""
    partial = path.with_name(path.name + ".part")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def save_avatar_sizes(image: Image, media_root: str) -> str:
    """Write every size of a square `image` under a fresh id, and return the id.

    If any size fails, the sizes already written are removed again.
    """
    image_id = secrets.token_hex(16)
    (Path(media_root) / "user").mkdir(parents=True, exist_ok=True)
    try:
        for size in AVATAR_SIZES:
            _write_whole(_avatar_path(media_root, image_id, size), avatar_png(image, size))
    except BaseException:
        remove_profile_image(image_id, media_root)
        raise
    return image_id


def _store(data: bytes, media_root: str) -> str:
    format_name = _check_upload(data)
    try:
        with _read_first_frame(data, format_name) as image:
            _prepare(image)
            return save_avatar_sizes(image, media_root)
    except WandException as error:
        raise ImageRejected(DAMAGED_IMAGE) from error


# --- The image pool, ImageMagick's limits and its temporary files -------------


def _limit_imagemagick() -> None:
    """Limits for this process, within policy.xml's (which cannot be raised).

    The header checks refuse anything larger first; these catch what slips
    past them. There is no `time` limit on purpose: ImageMagick 6 counts it
    from the first image the process ever read, then ends the whole process.
    """
    limits["width"] = MAX_SIDE
    limits["height"] = MAX_SIDE
    limits["area"] = MAX_PIXELS  # ImageMagick 6 keeps larger pixel caches on disk
    limits["memory"] = IMAGEMAGICK_MEMORY
    limits["map"] = 0
    limits["disk"] = IMAGEMAGICK_DISK
    limits["thread"] = 1  # one core per image: IMAGE_WORKERS bounds the cores in all


def _remove_folders_of_ended_processes() -> None:
    """Temporary folders left by workers that were killed, magick-* files and all."""
    for folder in TEMPORARY_FOLDER.parent.glob(f"{TEMPORARY_FOLDER_PREFIX}*"):
        process_id = folder.name.removeprefix(TEMPORARY_FOLDER_PREFIX).split("-")[0]
        if process_id.isdigit() and _has_ended(int(process_id)):
            shutil.rmtree(folder, ignore_errors=True)


def _has_ended(process_id: int) -> bool:
    try:
        os.kill(process_id, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, and belongs to another user
        return False
    return False


def _remove_leftover_files() -> None:
    leftovers = list(TEMPORARY_FOLDER.glob("magick-*"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    if leftovers:
        logger.warning("Removed %d temporary files that ImageMagick left", len(leftovers))


class _RunningJobs:
    """Counts the image jobs running, and tidies TEMPORARY_FOLDER when none is.

    ImageMagick deletes a magick-* file once it is done with the pixels in
    it; a file still there when no job is running was left by a failure.
    """

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @contextmanager
    def job(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:  # held while tidying, so that no job starts meanwhile
                self._count -= 1
                if self._count == 0:
                    _remove_leftover_files()


def _lower_this_threads_priority() -> None:
    # On Linux each thread has a niceness of its own, and nice() adds to the
    # calling thread's alone; elsewhere it would slow the whole process down.
    if sys.platform == "linux":
        os.nice(IMAGE_WORKER_NICENESS)


# Once per process, when this module is first imported.
_limit_imagemagick()
_remove_folders_of_ended_processes()
atexit.register(shutil.rmtree, TEMPORARY_FOLDER, ignore_errors=True)
_image_pool = ThreadPoolExecutor(
    max_workers=IMAGE_WORKERS,
    thread_name_prefix="imaging",
    initializer=_lower_this_threads_priority,
)
_places_in_pool = threading.BoundedSemaphore(IMAGES_IN_FLIGHT)
_running_jobs = _RunningJobs()


def _run_job(data: bytes, media_root: str) -> str:
    with _running_jobs.job():
        return _store(data, media_root)


async def store_profile_image(data: bytes, media_root: str) -> str:
    """Check, crop and save an uploaded image; return its id for the user row.

    Raises ImageRejected with a message for the user (ImagingBusy when the
    image pool is full). The work runs in the image pool, so the event loop,
    and every open event stream, keeps running meanwhile.
    """
    if not _places_in_pool.acquire(blocking=False):
        raise ImagingBusy(TOO_BUSY)
    job = _image_pool.submit(_run_job, data, media_root)
    # The place is given back when the job ends, or is dropped unstarted
    # because the request was cancelled: not before, as the thread is still busy.
    job.add_done_callback(lambda _job: _places_in_pool.release())
    return await asyncio.wrap_future(job)


def remove_profile_image(image_id: str, media_root: str) -> None:
    """Delete every size of a stored image; sizes already gone are fine."""
    for size in AVATAR_SIZES:
        _avatar_path(media_root, image_id, size).unlink(missing_ok=True)


async def send_media(filename: str):
    """Serve an uploaded file; paths outside MEDIA_ROOT are refused."""
    return await send_from_folder(current_app.config["MEDIA_ROOT"], filename)


def init_app(app: Quart) -> None:
    # A path (/media) is served by this app; a full URL (https://cdn…/media)
    # names another server that serves MEDIA_ROOT, so there is no route here.
    if app.config["MEDIA_URL"].startswith("/"):
        app.add_url_rule(f"{app.config['MEDIA_URL']}/<path:filename>", "media", send_media)
    app.jinja_env.globals["avatar_url"] = partial(avatar_url, app.config["MEDIA_URL"])
