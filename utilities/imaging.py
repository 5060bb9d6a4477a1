"""Profile images: where they live and the URLs that show them."""

from quart import current_app, url_for

AVATAR_SIZES = ("raw", "xlg", "lg", "sm")


def avatar_url(image: str | None, size: str = "sm") -> str:
    """The URL of a user's profile image at one size, or the default image."""
    if image is None:
        return url_for("static", filename=f"images/user/profile.{size}.png")
    return f"{current_app.config['MEDIA_URL']}/user/{image}.{size}.png"
