"""The browser's own defences, sent with every answer: what a page may load and run, that
no other site may frame it, that a file is what its Content-Type says, how much of our
addresses other sites see, and (behind HTTPS) that the browser never comes back over HTTP.

The Content-Security-Policy allows only the app's own scripts, styles, images and fonts:
no inline script, no inline style, no ``eval``, no plugins, forms that post only here, and
no framing (``frame-ancestors 'none'``, with ``X-Frame-Options: DENY`` for old browsers).
The pages keep their data in ``<script type="application/json">`` blocks, which are data,
not script, so the policy does not touch them. What a page connects to besides the app:

- the Twilio Voice JavaScript SDK (``CARRIER=twilio``): its signalling WebSocket
  (``wss://voice-js.roaming.twilio.com`` and the edges' ``wss://*.twilio.com``), its call
  insights (``https://eventgw.twilio.com``, by fetch) and its ringing sounds
  (``https://sdk.twilio.com``, fetched and played). The call's audio is WebRTC (SRTP to
  Twilio's media servers), which the policy does not govern;
- the carrier simulator's softphone API when the simulator runs as its own process
  (``TWILIO_API_BASE_URL`` on another origin); embedded in the app it is the app's origin.

``Strict-Transport-Security`` is sent only when ``PUBLIC_BASE_URL`` is https: a browser
told so over plain HTTP would ignore it, and a local install on http must keep working.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Flask, Response

from crm_core.settings import Settings
from telephony.context import need

TWILIO_CONNECT = ("wss://*.twilio.com", "https://eventgw.twilio.com", "https://sdk.twilio.com")
TWILIO_MEDIA = ("https://sdk.twilio.com",)
HSTS = "max-age=31536000; includeSubDomains"  # one year, as browsers' preload lists ask


def _origin(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


@functools.lru_cache(maxsize=8)
def content_security_policy(carrier: str, api_base: str | None, public_base: str | None) -> str:
    """The policy for this carrier: the app's origin only, plus what the softphone of this
    carrier must reach (module docstring)."""
    connect, media = ["'self'"], ["'self'", "blob:"]
    if carrier == "twilio":
        connect += TWILIO_CONNECT
        media += TWILIO_MEDIA
    else:
        simulator, public = _origin(api_base), _origin(public_base)
        if simulator and simulator != public:  # the simulator runs as its own process
            connect.append(simulator)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": connect,
        "media-src": media,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def init_security(app: Flask) -> None:
    app.after_request(security_headers)


def security_headers(response: Response) -> Response:
    """Every answer says nosniff and its referrer policy; HTML pages also carry the CSP
    and refuse framing; behind https, HSTS."""
    headers, settings = response.headers, need(Settings)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if settings.public_base_url.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    if response.mimetype == "text/html":
        policy = content_security_policy(
            settings.carrier or "", settings.twilio_api_base_url, settings.public_base_url
        )
        headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Frame-Options", "DENY")
    return response
