"""When Redis lost its data: rebuild the ACD from the carrier and SQL.

The router keeps an epoch key. A Redis restarted without its data (or flushed) no longer
has it; the first process to notice sets a new one (SET NX: exactly one wins) and rebuilds:

* the callers still holding in the carrier's queues go back in line, each at the time it
  joined the queue (the carrier's ``date_enqueued``), in the queue named like the carrier's;
  a priority or skills the IVR gave it are not kept anywhere else and start over as normal;
* every agent is offline (the agents' hash is gone), and a ``reannounce`` event asks every
  softphone page to post its presence again, so nobody is double-booked: an agent on a
  call comes back when the page says so, not before;
* calls already bridged carry on in their conference; their end finds no entry (a no-op),
  so their talk time is not added to the Call row.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from telephony.carrier import CarrierError

log = logging.getLogger("callcenter.routing.recovery")


def epoch_lost(deps: Any) -> bool:
    """True once, in one process, when the epoch key is missing; that process rebuilds."""
    router = deps.router
    token = f"{router.clock.now().isoformat()} {uuid.uuid4().hex}"
    if not router.redis.set(router.keys.epoch, token, nx=True):
        return False
    log.info("no routing epoch in Redis (a first start, or Redis lost its data): %s", token)
    rebuild(deps)
    return True


def rebuild(deps: Any) -> int:
    """Put the carrier's holding callers back in line; returns how many."""
    router = deps.router
    try:
        holding = deps.carrier.holding_callers()
    except CarrierError:
        log.exception("could not list the callers holding at the carrier; none restored")
        holding = []
    queues = router._queues()
    restored = 0
    for caller in holding:
        if caller.queue not in queues or router.entry(caller.call_sid) is not None:
            continue
        outcome = router.enqueue(
            caller.call_sid,
            caller.queue,
            call_sid=caller.call_sid,
            enqueued_at=caller.enqueued_at,
            empty_check=False,
        )
        deps.dispatcher.run(outcome.actions)
        restored += 1
    event = json.dumps({"type": "reannounce", "restored": restored})
    router.redis.xadd(router.keys.events, {"e": event}, maxlen=10_000, approximate=True)
    router.redis.publish(router.keys.events, event)
    if restored:
        log.warning("Redis had lost the ACD's state: %d holding callers back in line", restored)
    return restored
