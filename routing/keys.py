"""Every Redis key of the ACD, and only here (DESIGN.md rule 1).

All keys share one hash tag, ``{<prefix>}``, so every script's keys live in one slot and the
scripts run unchanged on Redis Cluster. Scripts never build a key: the caller passes each
one through KEYS, and these methods are the only place their names are made.

The truth is in two hashes, one JSON document per agent and per caller entry. The sorted
sets are indexes over them: who is ready to take a call in a queue (scored by the queue's
strategy), who waits in a queue (by priority, then original enqueue time), what is due when.
Scripts check every index hit against the hash and drop stale members as they meet them, so
an index never needs to be cleaned up by a key the caller could not have known.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "acd"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    # The truth
    @property
    def agents(self) -> str:
        """Hash: agent id → the agent's JSON state."""
        return f"{self.tag}:agents"

    @property
    def entries(self) -> str:
        """Hash: entry id → a waiting (or offered, or connected) caller's JSON state."""
        return f"{self.tag}:entries"

    @property
    def epoch(self) -> str:
        """String: set when the router first runs; missing means Redis lost its data."""
        return f"{self.tag}:epoch"

    @property
    def core(self) -> list[str]:
        """KEYS[1..6] of presence, enqueue, accept, release and caller_gone, in order."""
        return [self.agents, self.entries, self.deadlines, self.events, self.offers, self.counts]

    # Indexes
    def ready(self, queue: str, signature: str = "") -> str:
        """Sorted set of the agents ready for ``queue`` (scored by the queue's strategy), or
        of those among them who have the skills ``signature`` names: one set per signature,
        so a caller needing skills finds its agent at the head, never by a scan."""
        if not signature:
            return f"{self.tag}:ready:{queue}"
        return f"{self.tag}:ready:{queue}:{signature}"

    def waiting(self, queue: str, signature: str) -> str:
        """Sorted set of the entries in ``queue`` that need the skills ``signature`` names
        (beyond the queue's own), by priority then original enqueue time."""
        return f"{self.tag}:wait:{queue}:{signature or '-'}"

    def signatures(self, queue: str) -> str:
        """Set of the signatures that have had a waiting zset in ``queue``."""
        return f"{self.tag}:sigs:{queue}"

    @property
    def signatures_version(self) -> str:
        """Counter bumped whenever any queue gains a signature (callers cache the sets)."""
        return f"{self.tag}:sigver"

    @property
    def deadlines(self) -> str:
        """Sorted set of ``kind|id[|agent]`` by due time (ms): offers, wrap-ups, max waits,
        escalations, callbacks. Swept by the ticker."""
        return f"{self.tag}:deadlines"

    @property
    def legs(self) -> str:
        """Hash: ``<entry>|<agent>`` → the CallSid of the agent's leg of the call (ringing,
        then connected). Forgotten when the ringing stops; the ticker sweeps the legs of
        calls the router no longer has (sweep_legs.lua)."""
        return f"{self.tag}:legs"

    # What happened
    @property
    def events(self) -> str:
        """Stream (bounded) and pub/sub channel of every state change, for the wallboard."""
        return f"{self.tag}:events"

    @property
    def offers(self) -> str:
        """Stream of explained offers and estimates, drained into SQL."""
        return f"{self.tag}:offers"

    @property
    def counts(self) -> str:
        """Hash of live counts, ``<queue>|<agent state>`` and ``<queue>|waiting``."""
        return f"{self.tag}:counts"

    def stats(self, day: str) -> str:
        """Hash of the day's counters (local day, YYYY-MM-DD), ``<queue>|<counter>``:
        entered, answered, answered_in_sl, abandoned, wait_ms, talk_ms. Kept two days
        (EXPIRE); SQL keeps every day, and the rebuild after a loss recounts today's from it
        (routing/recovery.py)."""
        return f"{self.tag}:stats:{day}"

    def why(self, day: str) -> str:
        """Hash of the day's offers explained for supervisors (local day, YYYY-MM-DD):
        ``<entry>|<agent>`` → JSON (strategy, the agent's deciding values at the offer, the
        skills, how many could have taken it), ``<entry>`` → the agent offered last. Kept two
        days (EXPIRE), read by routing/why.py."""
        return f"{self.tag}:why:{day}"

    def handle_times(self, queue: str) -> str:
        """List of the queue's most recent handle times (seconds), newest first."""
        return f"{self.tag}:aht:{queue}"

    def holdtime(self, queue: str) -> str:
        """String: the queue's Asterisk-style holdtime, whole seconds, (3·old + new) / 4 over
        the waits of connected callers (routing/lua/holdtime.lua; routing/estimates.py)."""
        return f"{self.tag}:holdtime:{queue}"
