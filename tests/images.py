"""Images that tests upload, made on the spot: with Wand where ImageMagick can
draw them, by hand where a test needs bytes ImageMagick would not write."""

import struct
import zlib

from wand.color import Color
from wand.image import Image

# Chunks that carry text, dates or EXIF rather than pixels.
PNG_METADATA_CHUNKS = {"tEXt", "zTXt", "iTXt", "eXIf", "tIME"}


def solid_image(width: int, height: int, format_name: str = "png", color: str = "teal") -> bytes:
    with Image(width=width, height=height, background=Color(color)) as image:
        return image.make_blob(format_name)


def noisy_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A JPEG of random noise: large, so that cutting it leaves a readable start."""
    with Image(width=width, height=height, background=Color("gray")) as image:
        image.noise("gaussian", attenuate=1.0)
        return image.make_blob("jpeg")


def animated_gif(colors: list[str], width: int = 40, height: int = 30) -> bytes:
    """A GIF with one frame of each colour, the first frame first."""
    with Image() as animation:
        for color in colors:
            with Image(width=width, height=height, background=Color(color)) as frame:
                animation.sequence.append(frame)
        animation.format = "gif"  # make_blob("gif") would clone, which fails on a bare sequence
        return animation.make_blob()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC of type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_chunk_types(png: bytes) -> list[str]:
    """The types of a PNG's chunks, in file order."""
    types, position = [], 8  # after the signature
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        types.append(png[position + 4 : position + 8].decode("ascii"))
        position += 12 + length  # length, type, data, CRC
    return types


def with_png_text(png: bytes, keyword: str, text: str) -> bytes:
    """`png` with a tEXt chunk (keyword, NUL, text) just before IEND."""
    iend = png.rindex(b"IEND") - 4
    chunk = png_chunk(b"tEXt", keyword.encode() + b"\0" + text.encode())
    return png[:iend] + chunk + png[iend:]


def with_app1_segment(jpeg: bytes, payload: bytes) -> bytes:
    """`jpeg` with an APP1 segment (where EXIF lives) right after its start marker."""
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def with_jpeg_exif(jpeg: bytes, artist: str) -> bytes:
    """`jpeg` with an EXIF block holding one tag (Artist)."""
    value = artist.encode() + b"\0"
    # A little-endian TIFF header, then one directory entry that points at the value.
    tiff = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHII", 0x013B, 2, len(value), 8 + 2 + 12 + 4) + struct.pack("<I", 0)
    return with_app1_segment(jpeg, b"Exif\0\0" + tiff + value)


def cut_jpeg_with_thumbnail() -> bytes:
    """A JPEG cut short whose header holds a whole small JPEG, as EXIF thumbnails do:
    the thumbnail's end-of-image marker must not pass for the image's own."""
    thumbnail = solid_image(8, 8, "jpeg")
    return with_app1_segment(noisy_jpeg(), b"Exif\0\0" + thumbnail)[:20_000]


def blank_png(width: int, height: int) -> bytes:
    """A valid black-and-white PNG of any size, built without ImageMagick.

    One bit a pixel and zlib make even 5000 × 5000 pixels a few kilobytes,
    in milliseconds.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    row = b"\0" + bytes((width + 7) // 8)  # filter byte, then the pixels
    pixels = zlib.compress(row * height, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )
