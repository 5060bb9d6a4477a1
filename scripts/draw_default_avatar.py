"""Draw the profile image shown for users who have not uploaded one.

Writes static/images/user/profile.{raw,xlg,lg,sm}.png, the same sizes an
upload becomes. Run it again after changing the drawing:

    .venv/bin/python scripts/draw_default_avatar.py
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# First: it sets ImageMagick's policy and limits before Wand loads the library.
from utilities.imaging import AVATAR_SIZES, avatar_png  # noqa: E402, I001
from wand.color import Color  # noqa: E402
from wand.drawing import Drawing  # noqa: E402
from wand.image import Image  # noqa: E402

SIDE = 400
BACKGROUND = Color("#dee2e6")  # Bootstrap's gray-300
FIGURE = Color("#6c757d")  # Bootstrap's secondary gray


def draw_person(image: Image, figure: Color = FIGURE) -> None:
    """A head and shoulders, the silhouette most sites use for "no photo"."""
    side = image.width
    with Drawing() as drawing:
        drawing.fill_color = figure
        drawing.circle((side / 2, side * 0.38), (side / 2, side * 0.2))
        drawing.ellipse((side / 2, side * 0.95), (side * 0.32, side * 0.3))
        drawing(image)


def main() -> None:
    folder = ROOT / "static" / "images" / "user"
    folder.mkdir(parents=True, exist_ok=True)
    with Image(width=SIDE, height=SIDE, background=BACKGROUND) as image:
        draw_person(image)
        for size in AVATAR_SIZES:
            (folder / f"profile.{size}.png").write_bytes(avatar_png(image, size))


if __name__ == "__main__":
    main()
