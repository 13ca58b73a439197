"""Every Twilio webhook goes through one of two decorators here.

Both verify ``X-Twilio-Signature`` with twilio-python's RequestValidator against the URL
Twilio was configured with: ``PUBLIC_BASE_URL`` + the path + the query string, so it is
right behind a proxy or a TLS terminator, whatever Host header arrives. A missing or wrong
signature is 403 and is logged; nothing in the request can turn the check off (only the
``TWILIO_VERIFY_SIGNATURES=false`` development setting can).

``voice_webhook`` also guarantees the caller never hears an error: whatever goes wrong in
the view, Twilio gets valid TwiML (an apology, then voicemail) and the failure is logged
with the CallSid and kept as a TelephonyError a supervisor can see.
``callback_webhook`` (status, recording and conference callbacks) answers 204 in the same
circumstances: Twilio does not retry a callback, so the error record is what is kept.
``message_webhook`` (incoming texts) answers an empty messaging ``<Response/>`` then.

Redis unreachable (redis-py's ConnectionError or TimeoutError once its own retries are spent:
a restart, a failover) is not such a failure for a voice webhook: the caller hears "please
stay on the line" and Twilio asks the same step again a few seconds later (a hold loop,
``twiml.hold_then_retry``); the apology only if Redis stays away for good. Never an answer
that sends a caller to "everyone is away" while agents may be waiting for them.

A voice request for a call that is already over (``service.CallAlreadyEnded``: its CallSid's
Call row has a terminal status or an end time) is never merged into that row: it is logged
with the CallSid and answered with a short apology and a hang-up. ``/twilio/voice`` finds out
while reading its row; ``call_start_webhook`` (the TwiML App's Voice URL) asks first.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from urllib.parse import urlparse

from flask import Response, request
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    add_port,
    compare,
    get_signature_algorithm,
    remove_port,
)
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.settings import Settings
from telephony import service
from telephony.context import need
from telephony.twiml import apology_then_voicemail, call_already_ended, hold_then_retry, twiml

log = logging.getLogger("callcenter.telephony")
# The live state (Redis) cannot be reached for now: a moment's outage, not a bug.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


def public_url() -> str:
    """The URL Twilio requested, as Twilio saw it (the one it signed)."""
    base = need(Settings).public_base_url.rstrip("/")
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def signature_ok() -> bool:
    settings = need(Settings)
    if not settings.twilio_verify_signatures:
        return True
    signature = request.headers.get(SIGNATURE_HEADER, "")
    token = settings.twilio_auth_token
    if not signature or not token:
        return False
    validator = _validator(token)
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    url = public_url()
    try:
        if "bodySHA256" in request.args:  # JSON body: the signature covers its SHA-256
            body = request.get_data(as_text=True)
            return validator.validate(url, body, signature, algorithm=algorithm)
        # What RequestValidator.validate does for a form (the signature of the URL with or
        # without its port, since Twilio signs either), but one HMAC instead of two for the
        # usual request: the URL as configured, the one Twilio requested, is tried first.
        # A GET (a URL set to HTTP GET in Twilio's console) is signed on its URL alone.
        params = _Params(request.form.lists() if request.method == "POST" else ())
        return any(
            compare(validator.compute_signature(variant, params, algorithm), signature)
            for variant in _url_variants(url)
        )
    except ValueError:  # an algorithm twilio-python does not know
        return False


class _Params(dict):
    """The form as RequestValidator reads a multi-valued mapping (``getall``), without the
    two failed attribute look-ups it makes on a Werkzeug MultiDict for every parameter."""

    def getall(self, name: str) -> list[str]:
        return self[name]


@functools.lru_cache(maxsize=16)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


@functools.lru_cache(maxsize=256)
def _url_variants(url: str) -> tuple[str, ...]:
    """The URLs RequestValidator.validate accepts a signature for, ``url`` as given first."""
    parsed = urlparse(url)
    variants = (remove_port(parsed), add_port(parsed))
    return tuple(sorted(set(variants), key=lambda variant: variant != url))


def _refuse() -> Response:
    log.warning(
        "refused unsigned or mis-signed webhook %s %s CallSid=%s from %s",
        request.method,
        request.path,
        request.form.get("CallSid", "-"),
        request.remote_addr,
    )
    return Response("invalid signature", status=403, mimetype="text/plain")


def _record_failure(exc: BaseException, *, outage: bool = False) -> None:
    call_sid = request.form.get("CallSid") or request.form.get("MessageSid")
    if outage:  # expected while Redis restarts: one line, no traceback
        log.warning(
            "webhook %s: Redis unreachable (%s) CallSid=%s", request.path, exc, call_sid or "-"
        )
    else:
        log.exception("webhook %s failed CallSid=%s", request.path, call_sid or "-")
    try:
        with need(Database).session_factory.begin() as session:
            service.record_error(
                session,
                need(Clock),
                source="app",
                url=request.path,
                call_sid=call_sid,
                message=f"{type(exc).__name__}: {exc}",
                params=request.form.to_dict(),
            )
    except Exception:  # the database itself may be what failed; the log line stays
        log.exception("could not store the error record for CallSid=%s", call_sid or "-")


def _safely(build: Callable[[], str]) -> str:
    """A safe answer's TwiML; a bare hang-up if even that cannot be built (the script
    library itself failing): the caller still never hears an error."""
    try:
        return build()
    except Exception:
        log.exception("could not build the safe answer CallSid=%s", request.form.get("CallSid"))
        response = VoiceResponse()
        response.hangup()
        return str(response)


def _webhook(
    safe_answer: Callable[[object], Response],
    *,
    check_ended: bool = False,
    unreachable: Callable[[], str] | None = None,
):
    """The decorator every Twilio URL uses: the signature checked (403 otherwise), then the
    view's answer through ``safe_answer``, which on any exception gets None after the
    failure is recorded, and must still answer something Twilio can use. ``check_ended``:
    the request starts a call, refused (hung up) when its CallSid's call is over.
    ``unreachable``: the answer while Redis cannot be reached (recorded all the same)."""

    def decorator(view: Callable[..., object]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args, **kwargs) -> Response:
            if not signature_ok():
                return _refuse()
            try:
                if check_ended:
                    with need(Database).read_session_factory() as session:
                        service.refuse_if_ended(session, request.form.get("CallSid"))
                body = view(*args, **kwargs)
            except service.CallAlreadyEnded as exc:
                log.warning(
                    "voice request %s for the ended call CallSid=%s: not reopened, hung up",
                    request.path,
                    exc.call_sid,
                )
                body = _safely(call_already_ended)
            except UNREACHABLE as exc:
                _record_failure(exc, outage=True)
                body = _safely(unreachable) if unreachable is not None else None
            except Exception as exc:
                _record_failure(exc)
                body = None
            return safe_answer(body)

        wrapper.signed_webhook = True  # console.auth: signature-checked, so no CSRF token
        return wrapper

    return decorator


# A webhook that answers TwiML (the view returns the document as a string); on failure the
# caller hears an apology and can leave a message.
# While Redis is unreachable, the caller holds and the step is asked again.
voice_webhook = _webhook(
    lambda body: twiml(_safely(apology_then_voicemail) if body is None else body),
    unreachable=lambda: hold_then_retry(public_url()),
)
# A voice URL that starts a call and does not read its row first (the TwiML App's): the
# same, after one read that refuses a CallSid whose call is over.
call_start_webhook = _webhook(
    lambda body: twiml(_safely(apology_then_voicemail) if body is None else body),
    check_ended=True,
    unreachable=lambda: hold_then_retry(public_url()),
)
# A webhook Twilio only notifies (status, recording, conference): 204 whatever happens.
callback_webhook = _webhook(lambda body: Response(status=204))
# The incoming-message webhook: messaging TwiML, an empty <Response/> on failure.
message_webhook = _webhook(lambda body: twiml(str(MessagingResponse()) if body is None else body))
