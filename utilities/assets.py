"""Static files under names that change with their content, so that
browsers may keep them for a year.

Templates write `asset_url("css/quartfeed.css")` and get
/static/css/quartfeed.3f2a9c1d5e.css: the file's name with the first ten
hex digits of its content's SHA-256. Only a name that carries the file's
current hash is served with a year-long cache lifetime; the plain name
still works, with the default one. The hashes are read from the files
themselves (again whenever one changes), so no build step can leave a
page pointing at an old copy.
"""

import hashlib
import logging
import os
import re
from functools import lru_cache
from pathlib import Path

from quart import Quart, url_for

logger = logging.getLogger(__name__)

ONE_YEAR_S = 365 * 24 * 3600
DIGEST_LENGTH = 10
HASHED_NAME = re.compile(
    rf"(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})(?P<suffix>\.\w+)"
)
# What `make setup` builds from npm (see the Makefile): without it the pages
# have no styles, which the log and every page then say.
BUILT_ASSETS = ("vendor/bootstrap/bootstrap.min.css", "vendor/bootstrap/bootstrap.bundle.min.js")
MISSING_ASSETS = "Bootstrap is missing from static/vendor/: run `make setup` to build it."


@lru_cache(maxsize=256)
def _digest(path: str, modified_ns: int, size: int) -> str:
    """The hash of a file's content; a change of its time or size reads it again."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:DIGEST_LENGTH]


def content_digest(folder: str, filename: str) -> str | None:
    """The hash of `filename` in `folder`, None if there is no such file."""
    path = os.path.join(folder, filename)
    try:
        status = os.stat(path)
    except OSError:
        return None
    return _digest(path, status.st_mtime_ns, status.st_size)


def hashed_name(folder: str, filename: str) -> str:
    """css/site.css -> css/site.<hash>.css (the name itself if the file is missing)."""
    digest = content_digest(folder, filename)
    if digest is None:
        return filename
    stem, suffix = os.path.splitext(filename)
    return f"{stem}.{digest}{suffix}"


def original_name(folder: str, filename: str) -> str | None:
    """The file that a hashed name stands for, if the hash is its content's."""
    match = HASHED_NAME.fullmatch(filename)
    if match is None:
        return None
    original = match["stem"] + match["suffix"]
    return original if content_digest(folder, original) == match["digest"] else None


def missing_assets(folder: str) -> list[str]:
    return [name for name in BUILT_ASSETS if not os.path.isfile(os.path.join(folder, name))]


def init_app(app: Quart) -> None:
    folder = app.static_folder

    def asset_url(filename: str) -> str:
        return url_for("static", filename=hashed_name(folder, filename))

    app.jinja_env.globals["asset_url"] = asset_url
    # `quart run` straight after a clone serves pages without styles: say why.
    missing = missing_assets(folder)
    app.config["MISSING_ASSETS"] = MISSING_ASSETS if missing else None
    if missing:
        logger.warning("%s (missing: %s)", MISSING_ASSETS, ", ".join(missing))
