"""Keeps the line anchors of docs/steps.md on the code they name.

Each reference there is a link such as [`create_app`](../application.py#L31):
a function, class or table (`Feed.publish_post` for a method) defined in that
file, and the line where. When the code moves,

    .venv/bin/python -m scripts.course_map

points every anchor at the line again; tests/test_course_map.py fails while
an anchor is off or a reference names something that no longer exists.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE_MAP = ROOT / "docs" / "steps.md"
REFERENCE = re.compile(r"\[`(?P<name>[\w.]+)`\]\(\.\./(?P<path>[^)#]+)#L(?P<line>\d+)\)")


def _line_defining(lines: list[str], name: str, start: int) -> int | None:
    """The index of the first line from `start` that defines `name`."""
    escaped = re.escape(name)
    definition = re.compile(
        rf"^\s*(?:async def|def|class|function)\s+{escaped}\b|^{escaped}\s*[:=]"
    )
    for index in range(start, len(lines)):
        if definition.match(lines[index]):
            return index
    return None


def definition_line(path: Path, name: str) -> int | None:
    """The line number (from 1) where `name` is defined in `path`, or None."""
    if not path.is_file():
        return None
    lines = path.read_text().splitlines()
    index = 0
    for part in name.split("."):  # a method is looked for after its class
        index = _line_defining(lines, part, index)
        if index is None:
            return None
    return index + 1


def references(text: str) -> list[re.Match]:
    return list(REFERENCE.finditer(text))


def with_anchors_updated(text: str) -> str:
    def anchor(match: re.Match) -> str:
        line = definition_line(ROOT / match["path"], match["name"])
        if line is None:
            raise SystemExit(f"{match['path']} defines no {match['name']}")
        return f"[`{match['name']}`](../{match['path']}#L{line})"

    return REFERENCE.sub(anchor, text)


def main() -> None:
    COURSE_MAP.write_text(with_anchors_updated(COURSE_MAP.read_text()))


if __name__ == "__main__":
    sys.exit(main())
