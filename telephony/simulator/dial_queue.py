"""<Dial><Queue>: the dialing call takes the caller at the front of a queue, as Twilio
documents it.

* "When dialing a queue, the caller will be connected with the first enqueued call in the
  specified queue. If the queue is empty, Dial will wait until the next person joins the
  queue or until the <Dial> timeout duration is reached" (then DialCallStatus is
  ``no-answer``). "If the queue does not exist, Dial will post an error status to its action
  URL" (``failed``).
* The noun's ``url`` is TwiML "executed on the queued caller's end before the two parties
  are connected" (only Play, Say, Pause and Redirect; anything else is skipped with a 12200
  warning), requested with QueueSid, QueueTime and DequeingCallSid; the same three go to the
  Dial ``action`` along with DialCallStatus, DialCallSid (the dequeued call) and
  DialCallDuration.
* The dequeued caller's <Enqueue> ``action`` "is hit once when the bridged parties
  disconnect", with QueueResult ``bridged``, QueueSid and QueueTime: if that caller is still
  on the line, its TwiML runs next (without an action, the verbs after <Enqueue> do).
* ``reservationSid`` and ``postWorkActivitySid`` belong to TaskRouter and are ignored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from telephony.simulator.dial import DEFAULT_TIMEOUT
from telephony.simulator.model import SCHEMA_VALIDATION_WARNING, Dialing, SimCall, SimQueue
from telephony.simulator.model import absolute as _absolute
from telephony.simulator.model import number as _number
from telephony.simulator.schema import QUEUE_URL_VERBS, conform

if TYPE_CHECKING:
    from telephony.simulator.engine import Simulator


class DialQueue:
    """Mixed into Simulator."""

    def _verb_dial_queue(
        self: Simulator, call: SimCall, verb: ET.Element, noun: ET.Element
    ) -> bool:
        dialing = Dialing(dict(verb.attrib), call.doc_url, list(call.program), self.elapsed())
        call.program = []
        call.dialing = dialing
        url = noun.get("url")
        dialing.queue_url = _absolute(url, call.doc_url) if url else None
        queue = self.queues.get((noun.text or "").strip())
        if queue is None:  # no such queue: an error status to the action
            self.after(0, self._dial_queue_over, call, dialing, "failed")
            return True
        dialing.queue = queue
        self._dial_record(call, "ringing")
        if queue.members:
            self._dequeue(call, queue.members[0])
        else:  # wait for the next caller to join, up to the <Dial> timeout
            queue.dequeuers.append(call)
            timeout = _number(verb.get("timeout"), DEFAULT_TIMEOUT)
            self.after(timeout, self._dial_queue_over, call, dialing, "no-answer")
        return True

    def _dial_queue_over(self: Simulator, call: SimCall, dialing: Dialing, status: str) -> None:
        if call.dialing is not dialing or dialing.children or call.ended:
            return  # a caller was dequeued meanwhile, or the <Dial> is already over
        if dialing.queue is not None and call in dialing.queue.dequeuers:
            dialing.queue.dequeuers.remove(call)
        self._dial_done(call, status)

    def _joined_queue(self: Simulator, queue: SimQueue, member: SimCall) -> None:
        """Called by <Enqueue> once ``member`` is in the queue: a <Dial><Queue> waiting on
        the empty queue takes it at once."""
        while queue.dequeuers and member in queue.members:
            dialer = queue.dequeuers.pop(0)
            if not dialer.ended and dialer.dialing is not None:
                self._dequeue(dialer, member)

    def _dequeue(self: Simulator, dialer: SimCall, member: SimCall) -> None:
        """Take ``member`` out of its queue for ``dialer``: its ``url`` TwiML, then the bridge."""
        queued, member.queued = member.queued, None
        queue = queued.queue
        queued.waited = self.elapsed() - queued.since
        queue.members.remove(member)
        queue.recent_waits.append(queued.waited)
        member.dequeued = queued
        member.token += 1  # the hold music stops
        member.gather = None
        member.program = []
        member.dial_parent = dialer  # until the bridge ends, it is the dialer's other leg
        dialing = dialer.dialing
        dialing.children.append(member)
        dialing.queue_params = {
            "QueueSid": queue.sid,
            "QueueTime": str(int(queued.waited)),
            "DequeingCallSid": dialer.sid,
        }
        if member.party is not None:
            member.party.did("dequeued", queue.name)
        if dialing.queue_url:
            url, params = dialing.queue_url, dict(dialing.queue_params)
            self.after(0, self._before_bridge, member, member.token, url, params)
        else:  # nothing to hear first: its empty program ends in the bridge (verbs.py _run)
            self.after(0, self._continue, member, member.token)

    def _before_bridge(
        self: Simulator, member: SimCall, token: int, url: str, params: dict[str, str]
    ) -> None:
        if member.token != token or member.ended:
            return
        if self._fetch(member, url, params):
            for message in conform(member.program, QUEUE_URL_VERBS):
                self._notify(member, SCHEMA_VALIDATION_WARNING, "warning", message, url)
        self._run(member)  # when the document runs out, _run bridges the member

    def _release_dequeued(self: Simulator, member: SimCall) -> None:
        """The bridge (or the dial) is over: the dequeued caller's <Enqueue> action is requested
        with QueueResult bridged; if that caller is still there, it goes on from there."""
        queued, member.dequeued = member.dequeued, None
        extra = {
            "QueueResult": "bridged",
            "QueueSid": queued.queue.sid,
            "QueueTime": str(int(queued.waited)),
        }
        if member.ended:  # hung up: the action is notified, its TwiML not used
            if queued.action:
                self._post_quietly(queued.action, self._params(member) | extra)
            return
        member.dial_parent = None
        member.token += 1
        member.gather = None
        member.program = []
        if queued.action:
            self.after(0, self._action, member, member.token, queued.action, extra)
        else:
            member.program = queued.rest
            self.after(0, self._continue, member, member.token)
