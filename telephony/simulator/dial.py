"""<Dial> with <Number> and <Client>: ring every leg, bridge the first to answer.

(<Dial><Conference> is in conference.py, <Dial><Queue> in dial_queue.py, and the ``record``
attribute in recordings.py.)

As Twilio documents it: each leg is a child call (``outbound-dial``, ParentCallSid) that
rings for ``timeout`` seconds (30 by default); a noun's ``url`` runs on the answered leg
before it is bridged (a whisper); when the bridge ends or nobody answers, the ``action`` is
requested with DialCallStatus, DialCallSid and DialCallDuration, or, without an action, the
verbs after <Dial> run. If the caller hangs up, the legs are dropped and the action is
requested with its TwiML ignored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from telephony.simulator.model import Dialing, SimCall
from telephony.simulator.model import absolute as _absolute
from telephony.simulator.model import number as _number

if TYPE_CHECKING:
    from telephony.simulator.engine import Simulator

DEFAULT_TIMEOUT = 30.0


class Dial:
    """Mixed into Simulator."""

    def _verb_dial(self: Simulator, call: SimCall, verb: ET.Element) -> bool:
        conference = verb.find("Conference")
        if conference is not None:
            return self._verb_dial_conference(call, verb, conference)
        queue = verb.find("Queue")
        if queue is not None:
            return self._verb_dial_queue(call, verb, queue)
        nouns = [n for n in verb if n.tag in ("Number", "Client")]
        if not nouns and (verb.text or "").strip():
            nouns = [ET.Element("Number")]
            nouns[0].text = verb.text.strip()
        if not nouns:
            call.errors.append(f"<Dial> with {[n.tag for n in verb]} is not simulated; skipped")
            return False
        timeout = _number(verb.get("timeout"), DEFAULT_TIMEOUT)
        dialing = Dialing(dict(verb.attrib), call.doc_url, list(call.program), self.elapsed())
        call.program = []
        call.dialing = dialing
        self._dial_record(call, "ringing")
        for noun in nouns:
            target = (noun.text or "").strip()
            if noun.tag == "Client":
                identity = noun.findtext("Identity") or target
                target = identity if identity.startswith("client:") else f"client:{identity}"
            url = noun.get("url")
            events = set((noun.get("statusCallbackEvent") or "completed").split())
            child = self.create_call(
                to=target,
                from_=verb.get("callerId") or call.from_,
                url=_absolute(url, call.doc_url) if url else None,
                status_callback=noun.get("statusCallback"),
                events=events,
                timeout=timeout,
                parent_sid=call.sid,
            )
            child.dial_parent = call
            dialing.children.append(child)
        return True

    def _bridge(self: Simulator, child: SimCall) -> None:
        """The leg answered (and heard its whisper): connect it, drop the other legs."""
        parent = child.dial_parent
        dialing = parent.dialing if parent is not None else None
        if dialing is None or dialing.child is not None or parent.ended:
            self._end(child, "completed")  # too late: someone else answered, or nobody waits
            return
        dialing.child, dialing.bridged_at = child, self.elapsed()
        self._dial_record(parent, "answer")
        for other in dialing.children:
            if other is not child and not other.ended:
                self._end(other, "canceled")
        for party, peer in ((parent.party, child.to), (child.party, parent.from_)):
            if party is not None:
                party.did("connected", peer)

    def _drop_legs(self: Simulator, call: SimCall, dialing) -> None:
        """Every leg of the caller's <Dial> hangs up (a caller taken from a queue goes back
        to it), and the caller stops waiting to dequeue."""
        if dialing.queue is not None and call in dialing.queue.dequeuers:
            dialing.queue.dequeuers.remove(call)
        for leg in dialing.children:
            if leg.dequeued is not None:
                self._release_dequeued(leg)
            elif not leg.ended:
                self._end(leg, "completed" if leg is dialing.child else "canceled")

    def _leg_ended(self: Simulator, child: SimCall) -> None:
        """A leg ended: the bridge is over, or one more leg nobody answered."""
        parent = child.dial_parent
        dialing = parent.dialing if parent is not None else None
        if dialing is None or parent.ended:
            return
        if dialing.child is child:
            self._dial_done(parent, "completed")
        elif dialing.child is None and all(c.ended for c in dialing.children):
            statuses = {c.status for c in dialing.children}
            status = (
                "busy"
                if statuses == {"busy"}
                else "failed"
                if statuses == {"failed"}
                else "no-answer"
            )
            self._dial_done(parent, status)

    def _dial_done(self: Simulator, call: SimCall, status: str) -> None:
        dialing, call.dialing = call.dialing, None
        extra = {"DialCallStatus": status}
        leg = dialing.child or (dialing.children[0] if dialing.children else None)
        if leg is not None:
            extra["DialCallSid"] = leg.sid
        if dialing.child is not None:
            extra["DialCallDuration"] = str(int(self.elapsed() - dialing.bridged_at))
            extra["DialBridged"] = "true"
        extra |= dialing.queue_params | self._dial_record_done(dialing)
        call.token += 1
        action = dialing.attrs.get("action")
        if call.ended:  # the caller hung up: the action is notified, its TwiML not used
            if action:
                self._post_quietly(_absolute(action, dialing.doc_url), self._params(call) | extra)
            return
        if action:
            url = _absolute(action, dialing.doc_url)
            self.after(0, self._action, call, call.token, url, extra)
        else:
            call.program = dialing.rest
            self.after(0, self._continue, call, call.token)

    def _abort_dial(self: Simulator, call: SimCall) -> None:
        """The caller hung up while in <Dial>: drop every leg (a caller taken from a queue is
        not dropped: it goes on to its <Enqueue> action)."""
        dialing = call.dialing
        self._drop_legs(call, dialing)
        if call.dialing is not None:  # not already settled by a leg ending
            self._dial_done(call, "completed" if dialing.child else "canceled")
