"""Images that tests upload, made on the spot: with Wand where ImageMagick can
draw them, by hand where a test needs bytes ImageMagick would not write."""

import functools
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


def animation(colors: list[str], format_name: str = "gif") -> bytes:
    """A GIF (or WebP) of 40 × 30 pixels, one frame of each colour, the first frame first."""
    with Image() as frames:
        for color in colors:
            with Image(width=40, height=30, background=Color(color)) as frame:
                frames.sequence.append(frame)
        frames.format = format_name  # make_blob(format) would clone: it fails on a bare sequence
        return frames.make_blob()


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


def with_png_chunks(png: bytes, *chunks: bytes) -> bytes:
    """`png` with more chunks (made by png_chunk) just before IEND."""
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + b"".join(chunks) + png[iend:]


def with_png_text(png: bytes, keyword: str, text: str) -> bytes:
    """`png` with a tEXt chunk (keyword, NUL, text) just before IEND."""
    return with_png_chunks(png, png_chunk(b"tEXt", keyword.encode() + b"\0" + text.encode()))


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


# --- Hostile files ----------------------------------------------------------
# Small files that declare far more than they hold. Most are only ever meant
# to be refused before decoding, so their pixel data is a token few bytes.

MEBIBYTE = bytes(1024 * 1024)


@functools.cache
def deflated_zeros(mebibytes: int) -> bytes:
    """zlib data that inflates to that many mebibytes of zero bytes, made in a
    fraction of a second without holding them all.

    One mebibyte deflated and then flushed with Z_FULL_FLUSH ends on a byte
    boundary and refers to nothing before it, so its bytes can be repeated.
    """
    compressor = zlib.compressobj(9)
    first = compressor.compress(MEBIBYTE) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(MEBIBYTE) + compressor.flush(zlib.Z_FULL_FLUSH)
    last_block = compressor.flush()[:-4]  # without the checksum of just two mebibytes
    checksum = 1  # Adler-32's starting value
    for _ in range(mebibytes):
        checksum = zlib.adler32(MEBIBYTE, checksum)
    return first + again * (mebibytes - 1) + last_block + struct.pack(">I", checksum)


def ztxt_chunk(keyword: bytes, compressed: bytes) -> bytes:
    return png_chunk(b"zTXt", keyword + b"\0\0" + compressed)  # NUL, then method 0: zlib


def compressed_itxt_chunk(keyword: bytes, compressed: bytes) -> bytes:
    # Keyword, NUL, compressed flag 1, method 0, language, NUL, translated keyword, NUL, text.
    return png_chunk(b"iTXt", keyword + b"\0\1\0en\0" + keyword + b"\0" + compressed)


def iccp_chunk(compressed_profile: bytes) -> bytes:
    return png_chunk(b"iCCP", b"profile\0\0" + compressed_profile)


def png_declaring(width: int, height: int, *chunks: bytes) -> bytes:
    """A PNG whose header declares width × height, with a token IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + b"".join(chunks)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 8))
        + png_chunk(b"IEND", b"")
    )


def apng_frame_control(sequence: int, width: int, height: int) -> bytes:
    """An APNG fcTL chunk: a frame of width × height at (0, 0), shown for 1/10 s."""
    control = struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, 1, 10, 0, 0)
    return png_chunk(b"fcTL", control)


def gif_with_frames(sizes: list[tuple[int, int]], screen: tuple[int, int] = (1, 1)) -> bytes:
    """A GIF89a with a frame of each size, each holding a single pixel of colour 0.

    A larger frame ends early, which a decoder only finds once it has made
    room for all of its pixels.
    """
    blocks = [b"GIF89a", struct.pack("<HHBBB", *screen, 0x80, 0, 0), bytes(6)]  # 2-colour table
    comment = b"\x21\xfe" + b"\x05hello" + b"\0"  # an extension to step over
    # LZW minimum code size 2, then one 2-byte sub-block: the 3-bit codes
    # 4 (clear), 0 (the pixel) and 5 (end), packed from the lowest bit up.
    pixel = b"\x02" + b"\x02\x44\x01" + b"\0"
    for width, height in sizes:
        descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
        blocks += [comment, descriptor, pixel]
    return b"".join(blocks) + b"\x3b"


def riff_chunk(kind: bytes, data: bytes) -> bytes:
    padding = b"\0" * (len(data) % 2)
    return kind + struct.pack("<I", len(data)) + data + padding


def webp(*chunks: bytes) -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def vp8l_declaring(width: int, height: int) -> bytes:
    """A lossless WebP bitstream chunk whose header declares width × height."""
    size_bits = (width - 1) | (height - 1) << 14
    return riff_chunk(b"VP8L", b"\x2f" + struct.pack("<I", size_bits) + bytes(8))


def vp8_declaring(width: int, height: int) -> bytes:
    """A lossy WebP bitstream chunk whose header declares width × height."""
    frame_tag = b"\x10\x02\x00"  # a key frame
    return riff_chunk(b"VP8 ", frame_tag + b"\x9d\x01\x2a" + struct.pack("<HH", width, height))


def webp_size(width: int, height: int) -> bytes:
    """Width - 1 and height - 1 in three bytes each, as VP8X and ANMF hold them."""
    return (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")


def vp8x_canvas(width: int, height: int, animated: bool = False) -> bytes:
    flags = 0x02 if animated else 0
    return riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + webp_size(width, height))


def webp_animation(frame_sizes: list[tuple[int, int]], canvas: tuple[int, int]) -> bytes:
    """An animated WebP: a VP8X canvas, ANIM, and an ANMF chunk per frame."""
    frames = []
    for width, height in frame_sizes:
        # At (0, 0), this size, for 100 ms, then the frame's own bitstream.
        header = bytes(6) + webp_size(width, height) + b"\x64\x00\x00\x00"
        frames.append(riff_chunk(b"ANMF", header + vp8l_declaring(width, height)))
    return webp(vp8x_canvas(*canvas, animated=True), riff_chunk(b"ANIM", bytes(6)), *frames)


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_declaring(width: int, height: int, scans: int = 1) -> bytes:
    """A greyscale JPEG whose start-of-frame declares width × height, with
    `scans` scans of a token byte of data each."""
    frame = jpeg_segment(0xC2, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    scan = jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x00"
    return b"\xff\xd8" + frame + scan * scans + b"\xff\xd9"


def jpeg_hiding_scans_behind_tem(scans: int) -> bytes:
    """A 64 × 64 progressive JPEG whose `scans` scans follow a TEM marker
    (FF 01), which has no length. A reader that takes the next two bytes
    (FF DA, of the first scan) for one skips 65,498 bytes: the file is made
    that long from there, its last scan padded, so such a reader lands on
    end-of-image and sees no scan at all."""
    frame = jpeg_segment(0xC2, struct.pack(">BHHB", 8, 64, 64, 1) + b"\x01\x11\x00")
    header = jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    scan = header + b"\x00"
    skipped = 0xFFDA  # what the first scan's marker reads as, taken for a length
    last_scan = header + b"\x00" * (skipped - len(scan) * (scans - 1) - len(header))
    return b"\xff\xd8" + frame + b"\xff\x01" + scan * (scans - 1) + last_scan + b"\xff\xd9"


def with_garbled_pixels(png: bytes) -> bytes:
    """`png` with bytes in the middle of its compressed pixels overwritten:
    the header is sound, so a decoder finds out only halfway through."""
    data_start = png.index(b"IDAT") + 4
    (length,) = struct.unpack_from(">I", png, data_start - 8)
    middle = data_start + length // 2
    return png[:middle] + b"\xff" * 16 + png[middle + 16 :]
