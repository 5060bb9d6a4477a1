"""Serving files from a folder, where the name comes from the URL."""

import errno

from quart import send_from_directory
from werkzeug.exceptions import NotFound


async def send_from_folder(folder: str, filename: str):
    """The file `filename` inside `folder`, or 404.

    `send_from_directory` already refuses names that leave the folder, but a
    name too long for the file system makes it raise OSError: no such file
    can exist, so that is a 404 too, not a server error.
    """
    try:
        return await send_from_directory(folder, filename)
    except OSError as error:
        if error.errno != errno.ENAMETOOLONG:
            raise
        raise NotFound() from None
