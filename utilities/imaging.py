"""Profile images: checked, cropped, resized and stored with Wand (ImageMagick),
and the URLs that show them.

An upload is untrusted input handed to a large C library, so it passes
several gates before and after ImageMagick sees it:

1. its first bytes must be those of a PNG, JPEG, GIF or WebP file;
2. the security policy in utilities/policy.xml lets ImageMagick run only
   those four decoders, whatever the file claims to be;
3. its width and height are read from the header before any pixel is
   decoded, and more than MAX_SIDE pixels a side is refused;
4. what is kept is re-encoded as PNG, without metadata, under a random name.

Each stored image is four square PNGs, MEDIA_ROOT/user/<id>.<size>.png; the
user row keeps only <id>.
"""

import asyncio
import os
import secrets
from pathlib import Path

from quart import Quart, current_app, url_for

# ImageMagick reads its security policy once, when Wand loads the library, so
# the policy's folder must be known before the first `import wand`.
os.environ["MAGICK_CONFIGURE_PATH"] = str(Path(__file__).resolve().parent)

from wand.exceptions import WandException  # noqa: E402
from wand.image import Image  # noqa: E402

from utilities.files import send_from_folder  # noqa: E402

AVATAR_SIZES = ("raw", "xlg", "lg", "sm")
# Side in pixels of each size; "raw" keeps the side of the cropped upload.
AVATAR_SIDES = {"xlg": 200, "lg": 75, "sm": 50}
MAX_SIDE = 4096

NOT_AN_IMAGE = "Please choose a PNG, JPEG, GIF or WebP image."
DAMAGED_IMAGE = "That image is damaged or incomplete."
IMAGE_TOO_LARGE = f"Images can be at most {MAX_SIDE} × {MAX_SIDE} pixels."

# The bytes each accepted format starts with, and ImageMagick's name for it.
SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}
JPEG_END = b"\xff\xd9"
START_OF_SCAN = 0xDA


class ImageRejected(ValueError):
    """An upload that cannot become a profile image; the message says why."""


def image_format(data: bytes) -> str | None:
    """The format `data` starts like ("png", "jpeg", "gif", "webp"), or None."""
    # A WebP file is a RIFF container: "RIFF", four bytes of length, "WEBP".
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for signature, name in SIGNATURES.items():
        if data.startswith(signature):
            return name
    return None


def _check_upload(data: bytes) -> str:
    """The upload's format, or ImageRejected before ImageMagick reads a byte."""
    format_name = image_format(data)
    if format_name is None:
        raise ImageRejected(NOT_AN_IMAGE)
    # libjpeg fills a JPEG that was cut short with grey and reports no error,
    # so check for the end-of-image marker here; the other decoders refuse.
    if format_name == "jpeg" and not _jpeg_reaches_its_end(data):
        raise ImageRejected(DAMAGED_IMAGE)
    return format_name


def _jpeg_reaches_its_end(data: bytes) -> bool:
    """Whether a JPEG's compressed image is followed by its end-of-image marker.

    The header segments (FF, a marker byte, a two-byte length) are skipped up
    to the first start-of-scan, so an EXIF thumbnail's own end marker does not
    count. In the compressed data an FF byte is always followed by 00 or a
    restart marker, so FF D9 there is the real end. Bytes after it, which some
    phones append, are allowed.
    """
    position = 2  # after the start-of-image marker
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # padding before a marker
            position += 1
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == START_OF_SCAN:
            return data.find(JPEG_END, position + 2 + length) != -1
        position += 2 + length
    return False


def _read_first_frame(data: bytes, format_name: str) -> Image:
    """Decode the upload (the first frame of an animation) once its size is known."""
    with Image.ping(blob=data, format=format_name) as header:
        if header.width > MAX_SIDE or header.height > MAX_SIDE:
            raise ImageRejected(IMAGE_TOO_LARGE)
    image = Image(blob=data, format=format_name)
    if len(image.sequence) > 1:
        with image:
            return Image(image=image.sequence[0])
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


async def store_profile_image(data: bytes, media_root: str) -> str:
    """Check, crop and save an uploaded image; return its id for the user row.

    Raises ImageRejected with a message for the user. ImageMagick works for
    tens of milliseconds, in a thread so that the event loop (and every open
    event stream) keeps running meanwhile.
    """
    return await asyncio.to_thread(_store, data, media_root)


def remove_profile_image(image_id: str, media_root: str) -> None:
    """Delete every size of a stored image; sizes already gone are fine."""
    for size in AVATAR_SIZES:
        _avatar_path(media_root, image_id, size).unlink(missing_ok=True)


def avatar_url(image: str | None, size: str = "sm") -> str:
    """The URL of a user's profile image at one size, or the default image."""
    if image is None:
        return url_for("static", filename=f"images/user/profile.{size}.png")
    return f"{current_app.config['MEDIA_URL']}/user/{image}.{size}.png"


async def send_media(filename: str):
    """Serve an uploaded file; paths outside MEDIA_ROOT are refused."""
    return await send_from_folder(current_app.config["MEDIA_ROOT"], filename)


def init_app(app: Quart) -> None:
    # A path (/media) is served by this app; a full URL (https://cdn…/media)
    # names another server that serves MEDIA_ROOT, so there is no route here.
    if app.config["MEDIA_URL"].startswith("/"):
        app.add_url_rule(f"{app.config['MEDIA_URL']}/<path:filename>", "media", send_media)
    app.jinja_env.globals["avatar_url"] = avatar_url
