"""``TwilioCarrier``: the Carrier (telephony.carrier) on the real twilio-python Client."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.rest import Client

from telephony.carrier import (
    CALL_EVENTS,
    CHUNK_SIZE,
    INVALID_CALL_STATE,
    MEDIA_TYPES,
    RECORDING_EVENTS,
    CarrierError,
    CarrierNotFound,
    CarrierUnavailable,
    HoldingCaller,
    RecordingMedia,
)
from telephony.http import TWILIO_API, CarrierHttpClient

log = logging.getLogger("callcenter.telephony.carrier")


def _is_sid(value: str, prefix: str) -> bool:
    return (
        len(value) == 34
        and value.startswith(prefix)
        and all(c in "0123456789abcdefABCDEF" for c in value[2:])
    )


def _call_over(error: CarrierError) -> bool:
    return isinstance(error, CarrierNotFound) or error.code == INVALID_CALL_STATE


def _error(
    operation: str,
    sids: Mapping[str, str],
    *,
    message: str,
    status: int | None,
    code: int | None,
) -> CarrierError:
    if status == 404:
        kind: type[CarrierError] = CarrierNotFound
    elif status is None or status == 429 or status >= 500:
        kind = CarrierUnavailable
    else:
        kind = CarrierError
    return kind(message, operation=operation, status=status, code=code, sids=sids)


class TwilioCarrier:
    """The Carrier on Twilio (or any Twilio-compatible server at ``base_url``).

    Authenticates with the API key when one is given (recommended: revocable, and the
    account's auth token stays out of the app), else with the account SID and auth token;
    either way requests are made for ``account_sid``.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str | None = None,
        *,
        api_key_sid: str | None = None,
        api_key_secret: str | None = None,
        base_url: str = TWILIO_API,
        http_client: CarrierHttpClient | None = None,
    ) -> None:
        if not account_sid:
            raise ValueError("TWILIO_ACCOUNT_SID is required")
        if api_key_sid and api_key_secret:
            username, password = api_key_sid, api_key_secret
        elif auth_token:
            username, password = account_sid, auth_token
        else:
            raise ValueError(
                "Twilio credentials: TWILIO_AUTH_TOKEN, or TWILIO_API_KEY_SID and "
                "TWILIO_API_KEY_SECRET"
            )
        self.account_sid = account_sid
        self.http = http_client or CarrierHttpClient(base_url=base_url)
        self._auth = (username, password)
        self.client = Client(username, password, account_sid, http_client=self.http)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, http_client: CarrierHttpClient | None = None
    ) -> TwilioCarrier:
        """From the app's settings (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
        TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET, TWILIO_API_BASE_URL)."""
        return cls(
            config.get("TWILIO_ACCOUNT_SID") or "",
            config.get("TWILIO_AUTH_TOKEN"),
            api_key_sid=config.get("TWILIO_API_KEY_SID"),
            api_key_secret=config.get("TWILIO_API_KEY_SECRET"),
            base_url=config.get("TWILIO_API_BASE_URL") or TWILIO_API,
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return f"<TwilioCarrier {self.account_sid} at {self.http.base_url}>"

    def close(self) -> None:
        """Close pooled connections (tests, short-lived commands)."""
        self.http.close()

    def __enter__(self) -> TwilioCarrier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _errors(self, operation: str, *, quiet: bool = False, **sids: str) -> Iterator[None]:
        """Twilio's exceptions (and transport failures) as CarrierError, logged at WARNING
        unless ``quiet`` (the caller expects some and logs what it decides)."""
        try:
            yield
        except TwilioRestException as exc:
            error = _error(operation, sids, message=exc.msg, status=exc.status, code=exc.code)
            raise self._logged(error, quiet) from exc
        except TwilioServiceException as exc:
            message = exc.detail or exc.title
            error = _error(operation, sids, message=message, status=exc.status, code=exc.code)
            raise self._logged(error, quiet) from exc
        except requests.RequestException as exc:
            message = f"{type(exc).__name__}: no answer from {self.http.base_url}"
            error = _error(operation, sids, message=message, status=None, code=None)
            raise self._logged(error, quiet) from exc

    @staticmethod
    def _logged(error: CarrierError, quiet: bool = False) -> CarrierError:
        if not quiet:
            log.warning("%s", error)
        return error

    # Calls

    def create_call(
        self,
        to: str,
        from_: str,
        url: str,
        *,
        status_callback: str,
        status_callback_events: Sequence[str] = CALL_EVENTS,
        timeout: int | None = None,
        record: bool = False,
        machine_detection: str | None = None,
    ) -> str:
        with self._errors("create_call"):
            call = self.client.calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_event=list(status_callback_events),
                status_callback_method="POST",
                timeout=timeout,
                record=record,
                machine_detection=machine_detection,
            )
        log.info("create_call CallSid=%s", call.sid)
        return call.sid

    def redirect_call(self, call_sid: str, url: str) -> None:
        with self._errors("redirect_call", CallSid=call_sid):
            self.client.calls(call_sid).update(url=url, method="POST")
        log.info("redirect_call CallSid=%s", call_sid)

    def hang_up(self, call_sid: str) -> bool:
        """Status=completed, then, if Twilio rejects the state, Status=canceled.

        Twilio documents (https://www.twilio.com/docs/voice/api/call-resource, "Update a
        Call resource"): ``canceled`` "will attempt to hang up calls that are queued or
        ringing; however, it will not affect calls already in progress", ``completed``
        "will attempt to hang up a call even if it's already in progress". So
        ``completed`` is sent first and ends the call in any live state in one request.
        Should a server refuse it for a call not yet answered (HTTP 400), ``canceled`` is
        the documented way to stop a ringing call, so it is tried next.

        A call that has already ended answers 404 (unknown/gone) or error 21220 ("Invalid
        call state", https://www.twilio.com/docs/api/errors/21220): the goal, a call that
        is over, holds, so that is success and returns False.
        """
        for status in ("completed", "canceled"):
            try:
                with self._errors("hang_up", quiet=True, CallSid=call_sid):
                    self.client.calls(call_sid).update(status=status)
            except CarrierError as error:
                if status == "completed" and error.status == 400:
                    log.info("hang_up CallSid=%s Status=completed refused: %s", call_sid, error)
                    continue  # not accepted in this state: try canceled
                if _call_over(error):
                    log.info("hang_up CallSid=%s: already ended", call_sid)
                    return False
                raise self._logged(error) from error.__cause__
            log.info("hang_up CallSid=%s Status=%s", call_sid, status)
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    # Conference participants

    def _conference(self, conference_name_or_sid: str) -> str:
        """The path segment for a conference: its SID, or its friendly name, escaped."""
        if _is_sid(conference_name_or_sid, "CF"):
            return conference_name_or_sid
        return quote(conference_name_or_sid, safe="")

    def add_participant(
        self,
        conference_name_or_sid: str,
        to: str,
        from_: str,
        *,
        muted: bool = False,
        coach_call_sid: str | None = None,
        early_media: bool = True,
        status_callback: str | None = None,
        timeout: int | None = None,
        label: str | None = None,
        status_callback_events: Sequence[str] = CALL_EVENTS,
    ) -> str:
        conference = self._conference(conference_name_or_sid)
        with self._errors("add_participant", Conference=conference_name_or_sid):
            participant = self.client.conferences(conference).participants.create(
                from_=from_,
                to=to,
                muted=muted,
                coaching=True if coach_call_sid else None,
                call_sid_to_coach=coach_call_sid,
                early_media=early_media,
                status_callback=status_callback,
                status_callback_event=list(status_callback_events) if status_callback else None,
                timeout=timeout,
                label=label,
            )
        log.info(
            "add_participant ConferenceSid=%s CallSid=%s",
            participant.conference_sid or conference_name_or_sid,
            participant.call_sid,
        )
        return participant.call_sid

    def find_conference(self, name: str) -> str | None:
        with self._errors("find_conference", FriendlyName=name):
            found = self.client.conferences.list(friendly_name=name, status="in-progress", limit=1)
        return found[0].sid if found else None

    def _update_participant(
        self, operation: str, conference_sid: str, call_sid: str, **changes: Any
    ) -> None:
        with self._errors(operation, ConferenceSid=conference_sid, CallSid=call_sid):
            self.client.conferences(conference_sid).participants(call_sid).update(**changes)
        secret = ("hold_url", "announce_url")  # an announce URL carries the keyed digits
        shown = " ".join(f"{k}={v}" for k, v in changes.items() if k not in secret)
        log.info("%s ConferenceSid=%s CallSid=%s %s", operation, conference_sid, call_sid, shown)

    def mute(self, conference_sid: str, call_sid: str, muted: bool) -> None:
        self._update_participant("mute", conference_sid, call_sid, muted=muted)

    def hold(
        self,
        conference_sid: str,
        call_sid: str,
        hold: bool,
        hold_url: str | None = None,
        *,
        hold_method: str = "POST",
    ) -> None:
        music = {"hold_url": hold_url, "hold_method": hold_method} if hold and hold_url else {}
        self._update_participant("hold", conference_sid, call_sid, hold=hold, **music)

    def coach(self, conference_sid: str, call_sid: str, coach_call_sid: str | None) -> None:
        if coach_call_sid:
            self._update_participant(
                "coach",
                conference_sid,
                call_sid,
                coaching=True,
                call_sid_to_coach=coach_call_sid,
            )
        else:
            self._update_participant("coach", conference_sid, call_sid, coaching=False)

    def announce(self, conference_sid: str, call_sid: str, url: str) -> None:
        self._update_participant(
            "announce", conference_sid, call_sid, announce_url=url, announce_method="POST"
        )

    def end_conference_on_exit(self, conference_sid: str, call_sid: str, end: bool) -> None:
        self._update_participant(
            "end_conference_on_exit", conference_sid, call_sid, end_conference_on_exit=end
        )

    def remove_participant(self, conference_sid: str, call_sid: str) -> bool:
        try:
            with self._errors(
                "remove_participant", quiet=True, ConferenceSid=conference_sid, CallSid=call_sid
            ):
                self.client.conferences(conference_sid).participants(call_sid).delete()
        except CarrierNotFound:
            log.info(
                "remove_participant ConferenceSid=%s CallSid=%s: already gone",
                conference_sid,
                call_sid,
            )
            return False
        except CarrierError as error:
            raise self._logged(error) from error.__cause__
        log.info("remove_participant ConferenceSid=%s CallSid=%s", conference_sid, call_sid)
        return True

    # Recordings

    def start_recording(
        self,
        call_sid: str,
        *,
        channels: str = "dual",
        status_callback: str | None = None,
        track: str = "both",
        status_callback_events: Sequence[str] = RECORDING_EVENTS,
    ) -> str:
        with self._errors("start_recording", CallSid=call_sid):
            recording = self.client.calls(call_sid).recordings.create(
                recording_channels=channels,
                recording_status_callback=status_callback,
                recording_status_callback_method="POST" if status_callback else None,
                recording_status_callback_event=(
                    list(status_callback_events) if status_callback else None
                ),
                recording_track=track,
            )
        log.info("start_recording CallSid=%s RecordingSid=%s", call_sid, recording.sid)
        return recording.sid

    def _set_recording(
        self, operation: str, call_sid: str, recording_sid: str, **changes: Any
    ) -> None:
        with self._errors(operation, CallSid=call_sid, RecordingSid=recording_sid):
            self.client.calls(call_sid).recordings(recording_sid).update(**changes)
        log.info("%s CallSid=%s RecordingSid=%s", operation, call_sid, recording_sid)

    def pause_recording(
        self, call_sid: str, recording_sid: str, pause_behavior: str = "skip"
    ) -> None:
        self._set_recording(
            "pause_recording",
            call_sid,
            recording_sid,
            status="paused",
            pause_behavior=pause_behavior,
        )

    def resume_recording(self, call_sid: str, recording_sid: str) -> None:
        self._set_recording("resume_recording", call_sid, recording_sid, status="in-progress")

    def stop_recording(self, call_sid: str, recording_sid: str) -> None:
        self._set_recording("stop_recording", call_sid, recording_sid, status="stopped")

    def media_url(self, recording_sid: str, fmt: str = "wav") -> str:
        """Where Twilio serves the file: the Recording's URI with ``.wav`` or ``.mp3``."""
        if fmt not in MEDIA_TYPES:
            raise ValueError(f"fmt must be one of {sorted(MEDIA_TYPES)}, not {fmt!r}")
        base = self.client.api.base_url.rstrip("/")
        return f"{base}/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}.{fmt}"

    def fetch_recording_media(self, recording_sid: str, fmt: str = "wav") -> RecordingMedia:
        """GET the file with basic auth (needed when the account enforces HTTP auth on media
        URLs), streamed: the chunks are read only as the caller iterates."""
        url = self.media_url(recording_sid, fmt)
        with self._errors("fetch_recording_media", RecordingSid=recording_sid):
            response = self.http.stream("GET", url, auth=self._auth, headers={"Accept": "*/*"})
        if not response.ok:
            try:
                payload = response.json()
            except ValueError:
                payload = {}
            finally:
                response.close()
            payload = payload if isinstance(payload, dict) else {}
            raise self._logged(
                _error(
                    "fetch_recording_media",
                    {"RecordingSid": recording_sid},
                    message=str(payload.get("message") or response.reason or "error"),
                    status=response.status_code,
                    code=payload.get("code"),
                )
            )
        length = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        size = int(length) if length and length.isdigit() and not encoded else None
        content_type = response.headers.get("Content-Type") or MEDIA_TYPES[fmt]
        log.info("fetch_recording_media RecordingSid=%s size=%s", recording_sid, size)
        return RecordingMedia(
            response.iter_content(CHUNK_SIZE), content_type, size, close=response.close
        )

    def delete_recording(self, recording_sid: str) -> bool:
        try:
            with self._errors("delete_recording", quiet=True, RecordingSid=recording_sid):
                self.client.recordings(recording_sid).delete()
        except CarrierNotFound:
            log.info("delete_recording RecordingSid=%s: already gone", recording_sid)
            return False
        except CarrierError as error:
            raise self._logged(error) from error.__cause__
        log.info("delete_recording RecordingSid=%s", recording_sid)
        return True

    # Queues

    def holding_callers(self) -> list[HoldingCaller]:
        found = []
        with self._errors("holding_callers"):
            for queue in self.client.queues.list():
                for member in self.client.queues(queue.sid).members.list():
                    found.append(
                        HoldingCaller(queue.friendly_name, member.call_sid, member.date_enqueued)
                    )
        return found

    # Messages

    def send_message(
        self, to: str, from_: str, body: str, *, status_callback: str | None = None
    ) -> str:
        with self._errors("send_message"):
            message = self.client.messages.create(
                to=to, from_=from_, body=body, status_callback=status_callback
            )
        log.info("send_message MessageSid=%s", message.sid)
        return message.sid
