"""Security headers added to every response."""

from quart import Quart, current_app, g

# Scripts, styles, images and connections only from this site: nothing inline,
# no CDN. Bootstrap's CSS draws a few icons as data: URIs, hence img-src data:.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# Powerful browser features the site never uses: a script injected despite
# the CSP still cannot turn on the camera or ask where someone is.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in [
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
}

# Browsers that have seen it use HTTPS only for a year, even when someone
# types http://. Not for subdomains: they may be other people's sites.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


async def add_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Only a site served over HTTPS may ask for it (see SESSION_COOKIE_SECURE).
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    # Someone's feed must not stay in a shared computer's cache, to be shown
    # by the Back button after logout. Files are loaded without a user
    # (g.user is None), so they stay cacheable; a view's own choice wins.
    if g.get("user") is not None:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Quart) -> None:
    app.after_request(add_security_headers)
