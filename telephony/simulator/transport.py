"""How the simulator reaches the app: signed form POSTs, in-process (WSGI) or over HTTP.

Both sign exactly as Twilio does (RequestValidator.compute_signature over the absolute URL
and the form) and add the documented headers, so the app's own verification runs unchanged.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.structures
from twilio.request_validator import RequestValidator
from werkzeug.test import Client

USER_AGENT = "TwilioProxy/1.1"


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str


class Transport(Protocol):
    def post(self, url: str, params: dict[str, str], auth_token: str) -> Reply: ...


def _headers(url: str, params: dict[str, str], auth_token: str) -> dict[str, str]:
    signature = RequestValidator(auth_token).compute_signature(url, params)
    return {"X-Twilio-Signature": signature, "User-Agent": USER_AGENT}


class SimulatorLock:
    """The simulator's lock: re-entrant, and let go entirely while a webhook is out.

    Twilio does not stop while it waits for an app's answer: the app, inside a webhook, may
    call the REST API (offer a call to an agent, redirect a caller), and that call must not
    wait for the webhook it is part of. Over HTTP (``callcenter simulator``, its own process)
    the REST call arrives on another thread; ``released`` lets it in. In one process
    (``WsgiTransport``) it arrives on this thread, where the lock is re-entrant anyway.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go of every level this thread holds, then take them all back."""
        depth = 0
        while True:
            try:
                self._lock.release()
            except RuntimeError:  # not (or no longer) held by this thread
                break
            depth += 1
        try:
            yield
        finally:
            for _ in range(depth):
                self._lock.acquire()


class WsgiTransport:
    """Calls a WSGI app directly: no sockets, deterministic, for tests."""

    def __init__(self, wsgi_app) -> None:
        self.client = Client(wsgi_app)

    def post(self, url: str, params: dict[str, str], auth_token: str) -> Reply:
        parts = urlsplit(url)
        response = self.client.post(
            parts.path,
            query_string=parts.query,
            data=params,
            headers=_headers(url, params, auth_token),
            base_url=f"{parts.scheme}://{parts.netloc}",
        )
        try:
            return Reply(response.status_code, response.get_data(), response.mimetype or "")
        finally:
            response.close()


class HttpTransport:
    """Real HTTP requests, for the demo and load tests (15 s timeout, as Twilio's)."""

    def __init__(self, timeout: float = 15.0) -> None:
        self.session = requests.Session()
        self.timeout = timeout

    def post(self, url: str, params: dict[str, str], auth_token: str) -> Reply:
        try:
            response = self.session.post(
                url, data=params, headers=_headers(url, params, auth_token), timeout=self.timeout
            )
        except requests.RequestException as exc:
            return Reply(0, str(exc).encode(), "")
        return Reply(
            response.status_code,
            response.content,
            response.headers.get("Content-Type", "").split(";")[0],
        )


class WsgiAdapter(requests.adapters.BaseAdapter):
    """A requests transport adapter that hands each request to a WSGI app in this thread.

    Mounted on the app's Carrier session (``carrier.http.session.mount(base, adapter)``), it
    lets the real twilio-python client reach the simulator's REST app while the simulator is
    itself inside a webhook (its lock held by this thread): no socket, no second thread.
    """

    def __init__(self, wsgi_app) -> None:
        super().__init__()
        self.client = Client(wsgi_app)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        parts = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        reply = self.client.open(
            parts.path,
            method=request.method,
            query_string=parts.query,
            data=body,
            headers=dict(request.headers),
            base_url=f"{parts.scheme}://{parts.netloc}",
        )
        try:
            response = requests.Response()
            response.status_code = reply.status_code
            response.headers = requests.structures.CaseInsensitiveDict(reply.headers)
            response._content = reply.get_data()
            response._content_consumed = True  # iter_content (a streamed download) slices it
            response.raw = io.BytesIO(response._content)
            response.url = request.url
            response.request = request
            response.encoding = "utf-8"
            return response
        finally:
            reply.close()

    def close(self) -> None:
        """Nothing pooled."""
