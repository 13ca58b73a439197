"""The HTTP client under twilio-python: where requests go, and when one is sent again.

``CarrierHttpClient`` is twilio-python's own ``TwilioHttpClient`` with two additions, made
only by overriding its public ``request()``:

* **Where.** Every URL on ``https://api.twilio.com`` (or the edge/region forms twilio-python
  builds from ``TWILIO_EDGE``/``TWILIO_REGION``) is sent to ``base_url`` instead, path and
  query kept; with the default base URL nothing changes. This is how the same client talks
  to Twilio in production and to the local simulator in development and tests.

* **When again.** A request is repeated with exponential backoff and jitter when repeating
  it cannot do anything twice:

  - 429 and 503, always. Twilio documents that a request answered 429 "is never processed
    and is always safe to retry" (https://www.twilio.com/docs/errors/20429); 503 is its
    "temporarily unable to service the request, please wait and try again". A numeric
    ``Retry-After`` on either is honoured, up to ``max_delay``.
  - 500, 502, 504 and connection errors (refused, reset, timed out) only when the request
    is safe to repeat: GET/HEAD/OPTIONS/PUT/DELETE, or a POST to an existing resource
    (``…/Calls/CA….json``, ``…/Participants/CA….json``, ``…/Recordings/RE….json``), which
    sets the same state again. Never a POST that creates (``/Calls.json``,
    ``/Messages.json``, ``/Participants.json``, ``/Recordings.json``): the first one may
    have been carried out before the error, and a second would ring a customer twice.

Every request is logged at INFO (method, path, final status; never credentials, never the
query string, which can hold phone numbers) and every retry at WARNING.
"""

from __future__ import annotations

import functools
import logging
import math
import random as _random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

log = logging.getLogger("callcenter.telephony.http")

TWILIO_API = "https://api.twilio.com"

# api.twilio.com, api.<region>.twilio.com, api.<edge>.<region>.twilio.com
_API_HOST = re.compile(r"^api(\.[a-z0-9-]+){0,2}\.twilio\.com$")
# The last path segment of an instance resource: a SID (two letters, 32 hex digits) + .json
_INSTANCE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}\.json$")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ALWAYS_RETRY = frozenset({429, 503})  # the request was not carried out
RETRY_IF_REPEATABLE = frozenset({500, 502, 504})  # it may have been
TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout)

R = TypeVar("R", Response, requests.Response)


def repeatable(method: str, path: str) -> bool:
    """Whether sending this request twice does no more than sending it once."""
    method = method.upper()
    if method in IDEMPOTENT_METHODS:
        return True
    if method == "POST":  # an update of an existing resource, not a create on a list
        return bool(_INSTANCE.match(path.rsplit("/", 1)[-1]))
    return False


def retry_after(value: str | None) -> float | None:
    """A numeric ``Retry-After`` in seconds; None when absent or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class CarrierHttpClient(TwilioHttpClient):
    """twilio-python's HTTP client, pointed at ``base_url`` and retrying what is safe to.

    ``sleep`` and ``random`` are injected so tests run the backoff without waiting;
    ``max_attempts`` counts the first try (4: up to three retries). ``timeout`` (seconds)
    bounds connecting and each read; twilio-python's own default is to wait for ever.
    """

    def __init__(
        self,
        base_url: str | None = TWILIO_API,
        *,
        max_attempts: int = 4,
        base_delay: float = 0.25,
        max_delay: float = 4.0,
        timeout: float | None = 15.0,
        sleep: Callable[[float], Any] = time.sleep,
        random: Callable[[], float] = _random.random,
        proxy: dict[str, str] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        super().__init__(pool_connections=True, timeout=timeout, proxy=proxy)
        base = (base_url or TWILIO_API).rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        self.base_url = base
        self._base = None if base == TWILIO_API else parts
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.random = random

    def rewrite(self, url: str) -> str:
        """``url`` with the Twilio API origin replaced by ``base_url``."""
        if self._base is None:
            return url
        parts = urlsplit(url)
        if (
            parts.scheme != "https"
            or not _API_HOST.match(parts.hostname or "")
            or parts.port not in (None, 443)
        ):
            return url
        base = self._base
        path = base.path.rstrip("/") + parts.path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """twilio-python's request, sent to ``base_url`` and retried when safe (see module)."""
        target = self.rewrite(url)
        send = functools.partial(
            super().request,
            method,
            target,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        return self._attempts(method, target, send)

    def stream(
        self,
        method: str,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        """A streamed response (recording media) through the same session, origin and retries.

        Redirects are followed; requests drops the Authorization header when a redirect
        leaves the host. The caller must close the response.
        """
        target = self.rewrite(url)
        session = self.session
        assert session is not None  # always pooled (see __init__)
        send = functools.partial(
            session.request,
            method.upper(),
            target,
            auth=auth,
            headers=headers,
            timeout=self.timeout if timeout is None else timeout,
            stream=True,
            allow_redirects=True,
            proxies=self.proxy or None,
        )
        return self._attempts(method, target, send, discard=requests.Response.close)

    def close(self) -> None:
        """Close the pooled connections."""
        if self.session is not None:
            self.session.close()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): exponential, capped,
        with "equal jitter" (between half and all of the step) so clients spread out."""
        step = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return step / 2 + self.random() * step / 2

    def delay(self, attempt: int, status: int, headers: Mapping[str, str] | None) -> float:
        """The wait before retrying an answer: the server's Retry-After, else backoff."""
        if status in ALWAYS_RETRY and headers is not None:
            seconds = retry_after(headers.get("Retry-After"))
            if seconds is not None:
                return min(seconds, self.max_delay)
        return self.backoff(attempt)

    def _attempts(
        self,
        method: str,
        url: str,
        send: Callable[[], R],
        *,
        discard: Callable[[R], Any] | None = None,
    ) -> R:
        method = method.upper()
        path = urlsplit(url).path
        may_repeat = repeatable(method, path)
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            try:
                response = send()
            except TRANSPORT_ERRORS as exc:
                if last or not may_repeat:
                    log.info(
                        "twilio %s %s -> %s (attempt %d)",
                        method,
                        path,
                        type(exc).__name__,
                        attempt,
                    )
                    raise
                wait = self.backoff(attempt)
                log.warning(
                    "twilio %s %s: %s; retry %d of %d in %.2fs",
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    self.max_attempts - 1,
                    wait,
                )
            else:
                status = response.status_code
                retry = status in ALWAYS_RETRY or (may_repeat and status in RETRY_IF_REPEATABLE)
                if last or not retry:
                    log.info("twilio %s %s -> %d (attempt %d)", method, path, status, attempt)
                    return response
                wait = self.delay(attempt, status, response.headers)
                log.warning(
                    "twilio %s %s -> %d; retry %d of %d in %.2fs",
                    method,
                    path,
                    status,
                    attempt,
                    self.max_attempts - 1,
                    wait,
                )
                if discard is not None:
                    discard(response)
            self.sleep(wait)
