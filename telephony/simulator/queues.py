"""<Enqueue> and <Leave>: callers holding in a queue, as Twilio documents it.

While a call is queued, the ``waitUrl`` TwiML is its program (Say, Play, Pause, Gather,
Redirect, Hangup, Leave); when that document runs out it is requested again, with
QueuePosition, QueueTime, AvgQueueTime, CurrentQueueSize and MaxQueueSize. Leaving the
queue requests the Enqueue ``action`` with QueueResult: ``leave`` (its TwiML runs next),
``hangup`` and ``redirected`` (requested, its TwiML ignored), ``queue-full``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from telephony.simulator.model import Queued, SimCall, SimQueue, sid
from telephony.simulator.model import absolute as _absolute

if TYPE_CHECKING:
    from telephony.simulator.engine import Simulator

DEFAULT_WAIT = "<Response><Play>http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3</Play></Response>"


class Queues:
    """Mixed into Simulator."""

    def queue(self: Simulator, name: str) -> SimQueue:
        found = self.queues.get(name)
        if found is None:
            found = self.queues[name] = SimQueue(sid("QU"), name, self.clock.now())
        return found

    def _verb_enqueue(self: Simulator, call: SimCall, verb: ET.Element) -> bool:
        queue = self.queue((verb.text or "").strip() or "default")
        action = verb.get("action")
        queued = Queued(
            queue=queue,
            since=self.elapsed(),
            action=_absolute(action, call.doc_url) if action else None,
            method=verb.get("method", "POST"),
            wait_url=_absolute(verb.get("waitUrl"), call.doc_url) if verb.get("waitUrl") else None,
            wait_method=verb.get("waitUrlMethod", "POST"),
            rest=list(call.program),
        )
        if len(queue.members) >= queue.max_size:
            call.queued = queued
            self._leave_queue(call, "queue-full")
            return True
        queue.members.append(call)
        call.queued = queued
        call.token += 1
        self.after(0, self._queue_wait, call, call.token)
        self._joined_queue(queue, call)  # a <Dial><Queue> may be waiting for it
        return True

    def _queue_params(self: Simulator, call: SimCall) -> dict[str, str]:
        queued = call.queued
        queue = queued.queue
        return {
            "QueueSid": queue.sid,
            "QueuePosition": str(queue.members.index(call) + 1),
            "QueueTime": str(int(self.elapsed() - queued.since)),
            "AvgQueueTime": str(queue.average_wait()),
            "CurrentQueueSize": str(len(queue.members)),
            "MaxQueueSize": str(queue.max_size),
        }

    def _queue_wait(self: Simulator, call: SimCall, token: int) -> None:
        """(Re)start the hold program: fetch waitUrl, or Twilio's default music."""
        if call.token != token or call.ended or call.queued is None:
            return
        # A wait document that ends at once would be requested again and again in the same
        # instant; Twilio's requests come at most about once a second, and so do ours.
        early = call.queued.last_wait_fetch + 1.0 - self.elapsed()
        if early > 0:
            self.after(early, self._queue_wait, call, token)
            return
        call.queued.last_wait_fetch = self.elapsed()
        if call.queued.wait_url is None:
            call.program = self._parse(DEFAULT_WAIT)
        else:
            self._fetch(call, call.queued.wait_url, self._queue_params(call))
        self._run(call)

    def _verb_leave(self: Simulator, call: SimCall, verb: ET.Element) -> bool:
        if call.queued is None:
            return False  # <Leave> outside a queue does nothing
        self._leave_queue(call, "leave")
        return True

    def _leave_queue(self: Simulator, call: SimCall, result: str) -> None:
        """Take the call out of its queue and tell the Enqueue action why."""
        queued, call.queued = call.queued, None
        queue = queued.queue
        waited = self.elapsed() - queued.since
        if call in queue.members:
            queue.members.remove(call)
            queue.recent_waits.append(waited)
        extra = {"QueueResult": result, "QueueSid": queue.sid, "QueueTime": str(int(waited))}
        call.token += 1
        call.gather = None
        call.program = []
        if result in ("leave", "queue-full"):
            if queued.action:  # its TwiML is what the caller hears next
                self.after(0, self._action, call, call.token, queued.action, extra)
            else:  # no action: on with the verbs after <Enqueue>
                call.program = queued.rest
                self.after(0, self._continue, call, call.token)
        elif queued.action:  # hangup, redirected: Twilio notifies, the TwiML is not used
            self._post_quietly(queued.action, self._params(call) | extra)
