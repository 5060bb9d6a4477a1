"""Where a profile image is seen: the URL of one size of it.

Uploaded images are under MEDIA_URL; people without one get the default
image shipped in static/. Only the setting is needed, no request: live
events are described while no request is being answered.
"""

AVATAR_SIZES = ("raw", "xlg", "lg", "sm")
STATIC_URL = "/static"  # Quart's static_url_path, which the app keeps


def avatar_url(media_url: str, image: str | None, size: str = "sm") -> str:
    """The URL of a user's profile image `image` at one size, or the default image's."""
    if image is None:
        return f"{STATIC_URL}/images/user/profile.{size}.png"
    return f"{media_url}/user/{image}.{size}.png"
