"""Texts to the dealership's numbers: opt-out keywords into the consent ledger, the rest to agents.

Twilio's incoming-message webhook (``POST /twilio/sms``) carries MessageSid, From, To, Body,
NumMedia with MediaUrlN/MediaContentTypeN, the From/To location fields and, when Advanced
Opt-Out is on, OptOutType. Twilio's own keyword handling is what the law needs from the
carrier: on a long code it answers STOP, START and HELP itself and blocks later messages to a
sender who opted out (error 21610). What it cannot do is tell the CRM, so here:

* an opt-out keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT) appends
  ``sms: revoked`` for the sender's number to the consent ledger; an opt-in keyword (START,
  YES, UNSTOP) appends ``sms: granted``; HELP/INFO changes nothing. As with Twilio, only a
  message that is the keyword alone counts ("stop calling me at work" is a message for a
  person). Voice consent is not touched: a texted STOP is about texts, and do-not-call is
  recorded when the customer asks for it (``POST /api/customers/<id>/consent``).
* any other message becomes a follow-up task in the ``sms`` pool, due now, and a line on the
  customer's timeline, so an agent answers it.

The answer to Twilio is always an empty ``<Response/>``: the keyword confirmations are
Twilio's (its defaults, or the Advanced Opt-Out texts), and replies come from agents.
Each MessageSid is handled once: a repeated delivery changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core.clock import Clock
from crm_core.customers import match_or_create_from_caller_id, record_consent
from crm_core.models import ActivityKind, Channel, ConsentStatus, TaskKind
from crm_core.schemas import ConsentIn
from crm_core.tasks import open_task
from crm_core.timeline import add_activity
from telephony.events import _e164, _integer, _text
from telephony.models import TextMessage

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
MAX_BODY = 1600  # Twilio's limit for a concatenated message
MAX_MEDIA = 10  # Twilio delivers at most 10 media per message
SMS_POOL = "sms"


@dataclass(frozen=True)
class MessageEvent:
    message_sid: str | None
    account_sid: str | None
    from_: str | None
    to: str | None
    body: str
    num_media: int
    media: tuple[tuple[str, str | None], ...]  # (url, content type)
    opt_out_type: str | None
    from_e164: str | None
    to_e164: str | None

    @classmethod
    def from_form(cls, form: Any, *, region: str = "US") -> MessageEvent:
        """Never raises: a value that cannot be read becomes None (or empty)."""
        from_, to = _text(form.get("From")), _text(form.get("To"))
        num_media = max(0, min(_integer(form.get("NumMedia")) or 0, MAX_MEDIA))
        media = tuple(
            (url, _text(form.get(f"MediaContentType{i}")))
            for i in range(num_media)
            if (url := _text(form.get(f"MediaUrl{i}")))
        )
        body = form.get("Body")
        return cls(
            message_sid=_text(form.get("MessageSid")) or _text(form.get("SmsSid")),
            account_sid=_text(form.get("AccountSid")),
            from_=from_,
            to=to,
            body=(body if isinstance(body, str) else "").replace("\x00", "")[:MAX_BODY],
            num_media=num_media,
            media=media,
            opt_out_type=(_text(form.get("OptOutType")) or "").upper() or None,
            from_e164=_e164(from_, region),
            to_e164=_e164(to, region),
        )

    @property
    def keyword(self) -> str | None:
        """ "stop", "start", "help" or None. Advanced Opt-Out's OptOutType wins when present."""
        if self.opt_out_type in {"STOP", "START", "HELP"}:
            return self.opt_out_type.lower()
        word = self.body.strip().upper()
        if word in OPT_OUT:
            return "stop"
        if word in OPT_IN:
            return "start"
        if word in HELP:
            return "help"
        return None


def receive_text(
    session: Session, event: MessageEvent, clock: Clock, *, region: str = "US"
) -> TextMessage | None:
    """Record one incoming text and act on it. None when it was already handled (or has no
    MessageSid to know that by)."""
    if not event.message_sid:
        return None
    sid = event.message_sid[:64]
    if session.scalars(select(TextMessage.id).where(TextMessage.message_sid == sid)).first():
        return None
    now = clock.now()
    message = TextMessage(
        message_sid=sid,
        received_at=now,
        from_number=(event.from_e164 or event.from_ or "")[:64] or None,
        to_number=(event.to_e164 or event.to or "")[:64] or None,
        keyword=event.keyword,
        num_media=event.num_media,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # the same message delivered twice at once
        return None
    if event.from_e164 is None:  # a short code or alphanumeric sender: no one to tell
        return message
    customer, _ = match_or_create_from_caller_id(session, event.from_e164, clock, region=region)
    message.customer_id = customer.id
    if message.keyword in {"stop", "start"}:
        status = ConsentStatus.REVOKED if message.keyword == "stop" else ConsentStatus.GRANTED
        record_consent(
            session,
            customer.id,
            ConsentIn(
                channel=Channel.SMS,
                address=event.from_e164,
                status=status,
                source="sms_keyword",
                note=f"Texted {event.body.strip()[:32].upper() or message.keyword.upper()}",
            ),
            clock,
        )
        return message
    if message.keyword == "help":
        return message
    media = [{"url": url, "content_type": kind} for url, kind in event.media]
    task = open_task(
        session,
        TaskKind.FOLLOW_UP,
        title="Reply to a text message"
        + (f" ({len(media)} attachment{'s' if len(media) != 1 else ''})" if media else ""),
        at=now,
        customer_id=customer.id,
        phone=event.from_e164,
        notes=event.body or None,
        pool=SMS_POOL,
    )
    message.task_id = task.id
    add_activity(
        session,
        customer_id=customer.id,
        kind=ActivityKind.SMS,
        summary=f"Texted: {event.body[:200]}" if event.body else "Sent a picture message",
        at=now,
        data={"message_sid": sid, "body": event.body, "media": media, "task_id": task.id},
    )
    return message


def erase_texts(session: Session, customer_id: int) -> None:
    """Erasure hook: the numbers go; the row stays, so a redelivery is still recognised."""
    session.execute(
        update(TextMessage)
        .where(TextMessage.customer_id == customer_id)
        .values(from_number=None, to_number=None)
    )
