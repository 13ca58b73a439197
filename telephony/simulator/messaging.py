"""Incoming texts: the Messaging webhook, messaging TwiML, and Twilio's own keyword handling.

What Twilio does with a text to a long code (its "opt-out keywords" support article and the
incoming-message webhook guide), and so what this does:

* STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE and OPTOUT (the whole message, any
  case) opt the sender out of that number: Twilio answers with its confirmation, and every
  later message from the number to the sender fails with error 21610 until the sender texts
  START, YES or UNSTOP (another confirmation). HELP and INFO get Twilio's help answer.
* The message is still delivered to the number's Messaging webhook, with MessageSid,
  SmsSid, SmsMessageSid, AccountSid, From, To, Body, NumMedia, NumSegments, SmsStatus,
  ApiVersion and MediaUrlN/MediaContentTypeN.
* Each ``<Message>`` in the TwiML answer is sent (to the sender unless it names ``to``);
  ``<Redirect>`` fetches more messaging TwiML. An unreadable answer or an HTTP error is
  logged (11200, 12100) and nothing is sent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from telephony.simulator.errors import SimulationError, Unsubscribed
from telephony.simulator.model import API_VERSION, absolute, sid

# Twilio's default keywords for a long code, as its documentation lists them ("Twilio support
# for opt-out keywords"; the Advanced Opt-Out guide): the carrier's contract, so the carrier
# keeps its own copy, as the app keeps its own idea of what Twilio will do.
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
STOPPED = (
    "You have successfully been unsubscribed. You will not receive any more messages from "
    "this number. Reply START to resubscribe."
)
STARTED = (
    "You have successfully been re-subscribed to messages from this number. Reply HELP for "
    "help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)
HELPED = "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
MAX_REDIRECTS = 10


class Messaging:
    """Mixed into the Simulator, which provides the lock, clock, transport and messages."""

    def opted_out(self, number: str, recipient: str) -> bool:
        return (number, recipient) in self._opt_outs

    def check_may_send(self, from_: str, to: str) -> None:
        if self.opted_out(from_, to):
            raise Unsubscribed(f"{to} has opted out of messages from {from_}")

    def text(
        self, from_: str, to: str, body: str, *, media: list[tuple[str, str]] = ()
    ) -> dict[str, Any]:
        """A text from ``from_`` to one of the configured numbers; returns the inbound message."""
        number = self.numbers.get(to)
        if number is None:
            raise SimulationError(f"{to} is not a configured number")
        with self.lock:
            message = {
                "sid": sid("MM" if media else "SM"),
                "to": to,
                "from": from_,
                "body": body,
                "status": "received",
                "direction": "inbound",
                "created_at": self.clock.now(),
                "status_callback": None,
                "media": list(media),
            }
            self.messages[message["sid"]] = message
            self._carrier_keyword(to, from_, body)
            if number.sms_url:
                self._deliver(number.sms_url, self._message_params(message))
            return message

    def sent_to(self, recipient: str) -> list[str]:
        """The bodies of every message sent to ``recipient``, oldest first."""
        return [
            m["body"]
            for m in self.messages.values()
            if m["to"] == recipient and m.get("direction") != "inbound"
        ]

    def send_message(
        self, to: str, from_: str, body: str, status_callback: str | None, *, carrier=False
    ) -> dict[str, Any]:
        """Messages create: queued, then sent and delivered a second apart (with callbacks).

        Raises Unsubscribed (21610) when ``to`` texted STOP to ``from_``; ``carrier`` is for
        Twilio's own keyword confirmations, which go out regardless.
        """
        if not carrier:
            self.check_may_send(from_, to)
        message = {
            "sid": sid("SM"),
            "to": to,
            "from": from_,
            "body": body,
            "status": "queued",
            "direction": "outbound-reply" if carrier else "outbound-api",
            "created_at": self.clock.now(),
            "status_callback": status_callback,
        }
        self.messages[message["sid"]] = message
        self.after(0, self._message_status, message, "sent")
        self.after(1, self._message_status, message, "delivered")
        return message

    def _message_status(self, message: dict[str, Any], status: str) -> None:
        message["status"] = status
        if message["status_callback"]:
            self._post_quietly(
                message["status_callback"],
                {
                    "AccountSid": self.account_sid,
                    "MessageSid": message["sid"],
                    "SmsSid": message["sid"],
                    "MessageStatus": status,
                    "SmsStatus": status,
                    "To": message["to"],
                    "From": message["from"],
                    "ApiVersion": API_VERSION,
                },
            )

    # ---------------------------------------------------------------- internals
    def _carrier_keyword(self, number: str, sender: str, body: str) -> None:
        word = body.strip().upper()
        if word in OPT_OUT:
            self._opt_outs.add((number, sender))
            self.send_message(sender, number, STOPPED, None, carrier=True)
        elif word in OPT_IN:
            self._opt_outs.discard((number, sender))
            self.send_message(sender, number, STARTED, None, carrier=True)
        elif word in HELP:
            self.send_message(sender, number, HELPED, None, carrier=True)

    def _message_params(self, message: dict[str, Any]) -> dict[str, str]:
        params = {
            "MessageSid": message["sid"],
            "SmsSid": message["sid"],
            "SmsMessageSid": message["sid"],
            "AccountSid": self.account_sid,
            "From": message["from"],
            "To": message["to"],
            "Body": message["body"],
            "NumMedia": str(len(message["media"])),
            "NumSegments": str(max(1, -(-len(message["body"]) // 160))),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        for i, (url, content_type) in enumerate(message["media"]):
            params[f"MediaUrl{i}"] = url
            params[f"MediaContentType{i}"] = content_type
        return params

    def _deliver(self, url: str, params: dict[str, str]) -> None:
        for _ in range(MAX_REDIRECTS):
            reply = self._post(url, params)  # the lock let go meanwhile
            if reply.status != 200:
                self.errors.append(f"11200: messaging webhook {url} answered {reply.status}")
                return
            if not reply.body.strip():
                return  # an empty answer: nothing to send
            try:
                root = ET.fromstring(reply.body)
            except ET.ParseError:
                root = None
            if root is None or root.tag != "Response":
                self.errors.append(f"12100: messaging webhook {url} answered invalid TwiML")
                return
            redirect = None
            for verb in root:
                if verb.tag == "Message":
                    self._reply(verb, params)
                elif verb.tag == "Redirect":
                    redirect = absolute((verb.text or "").strip(), url)
                    break
                else:
                    self.errors.append(f"12200: <{verb.tag}> is not a messaging verb; skipped")
            if redirect is None:
                return
            url = redirect
        self.errors.append(f"messaging webhook redirected more than {MAX_REDIRECTS} times")

    def _reply(self, verb: ET.Element, params: dict[str, str]) -> None:
        body = "".join(verb.itertext()).strip() if verb.find("Body") is None else None
        if body is None:
            body = (verb.findtext("Body") or "").strip()
        to = verb.get("to") or params["From"]
        from_ = verb.get("from") or params["To"]
        if self.opted_out(from_, to):
            self.errors.append(f"21610: {to} has opted out of messages from {from_}")
            return
        self.send_message(to, from_, body, verb.get("statusCallback"))
