"""Why an agent was offered a call, in words a supervisor reads on the wallboard.

Every offer writes its reasons into the day's why hash (routing/keys.py ``why``; the Lua
``note_why`` in _lib.lua) at the instant it is made: the queue's strategy, the agent's
values that strategy ranks by (idle since, calls and talk time today, when last offered a
call of the queue), the agent's skills and the skills the call needed, how many agents
could have taken it, and who handed it over for a transfer. Kept two days. This module
reads it back; nothing is recomputed from the agent's state now, which has moved on.

Which offer: the one to the agent the call is connected to (or ringing) now, else the
latest one made.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from routing.model import levels

if TYPE_CHECKING:
    from routing.service import Router
from routing.scripts import from_ms

RULES = {
    "longest_idle": "longest idle among the ready agents",
    "ring_all": "every ready agent at once; the first to accept took it",
    "round_robin": "the agent offered a call in this queue least recently",
    "fewest_calls": "fewest calls today, then longest idle",
    "least_talk_time": "least talk time today, then longest idle",
    "skills_weighted": "highest skill level in the skills needed, then longest idle",
}


def explain(router: Router, entry_id: str) -> dict[str, Any] | None:
    """``{entry, queue, agent_id, agent, strategy, offered_at, eligible, reasons}`` for the
    call's offer (see the module doc), or None when no offer of it is known."""
    record = _record(router, entry_id)
    if record is None:
        return None
    at = from_ms(record["at"])
    return {
        "entry": entry_id,
        "queue": record.get("queue") or "",
        "agent_id": int(record["agent"]),
        "agent": record.get("name") or f"agent {record['agent']}",
        "strategy": record.get("strategy") or "",
        "offered_at": at.isoformat(),
        "eligible": int(record.get("eligible") or 1),
        "reasons": reasons(router, record),
    }


def _record(router: Router, entry_id: str) -> dict[str, Any] | None:
    today = router.clock.now().astimezone(router.zone).date()
    days = [today.isoformat(), (today - timedelta(days=1)).isoformat()]
    live = router.entry(entry_id) or {}
    wanted = live.get("agent") or (live.get("offered") or [None])[-1]
    for day in days:
        key = router.keys.why(day)
        agent = wanted or _text(router.redis.hget(key, entry_id))
        raw = router.redis.hget(key, f"{entry_id}|{agent}") if agent else None
        if raw:
            return json.loads(raw)
    return None


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw else None


def reasons(router: Router, record: dict[str, Any]) -> list[str]:
    """Human-readable lines, the deciding one first."""
    name = record.get("name") or f"agent {record['agent']}"
    strategy = record.get("strategy") or ""
    at = from_ms(record["at"])
    lines: list[str] = []
    if record.get("by"):
        by = (router.agent(record["by"]) or {}).get("name") or f"agent {record['by']}"
        lines.append(f"{by} transferred the call to {name} ({record.get('rule', '')}).")
        return lines + _skills(router, record)
    if str(record.get("rule", "")).startswith("an agent became available"):
        lines.append(
            f"{name} became available while the caller waited, and took the call of highest "
            "priority that had waited longest among the queues they have the skills for."
        )
    else:
        rule = RULES.get(strategy, record.get("rule") or strategy)
        lines.append(f"Queue {record.get('queue')} routes by {strategy}: {rule}.")
    lines.append(_deciding(router, record, name, strategy, at))
    lines.extend(_skills(router, record))
    eligible = int(record.get("eligible") or 1)
    lines.append(
        f"Up to {eligible} agent{'s' if eligible != 1 else ''} could take the call then "
        "(ready in the queue with the skills it needed; agents offered another call a moment "
        "before may still be among them)."
    )
    return lines


def _deciding(router: Router, record: dict, name: str, strategy: str, at) -> str:
    idle = from_ms(record.get("idle_since") or record["at"])
    idle_for = _duration((at - idle).total_seconds())
    idle_line = f"idle since {_clock(router, idle)} ({idle_for} before the offer)"
    if strategy == "fewest_calls":
        return f"{name} had taken {record.get('calls', 0)} calls today; {idle_line}."
    if strategy == "least_talk_time":
        return f"{name} had talked {_duration(record.get('talk', 0))} today; {idle_line}."
    if strategy == "skills_weighted":
        score, parts = _score(router, record)
        return f"{name}'s skill score was {score} ({parts}); {idle_line}."
    if strategy == "round_robin":
        last = record.get("last_offered")
        when = f"at {_clock(router, from_ms(last))}" if last else "not yet"
        return f"{name} had last been offered a call of this queue {when}."
    return f"{name} had been {idle_line}."


def _needed(router: Router, record: dict) -> dict[str, int]:
    config = router.queues().get(record.get("queue") or "")
    needed = dict(config.required_skills) if config else {}
    for skill, level in (record.get("need") or {}).items():
        needed[skill] = max(int(level), needed.get(skill, 0))
    return needed


def _skills(router: Router, record: dict) -> list[str]:
    needed, have = _needed(router, record), record.get("skills") or {}
    if not needed:
        return ["The call needed no particular skill."]
    matched = ", ".join(
        f"{skill} {have.get(skill, 0)} (needs {level})" for skill, level in sorted(needed.items())
    )
    return [f"Skills matched: {matched}."]


def _score(router: Router, record: dict) -> tuple[int, str]:
    have = record.get("skills") or {}
    config = router.queues().get(record.get("queue") or "")
    if config is None:
        return 0, "queue unknown"
    score = levels(have, config, record.get("need") or {})
    names = sorted(set(config.required_skills) | set(record.get("need") or {}))
    return score, " + ".join(f"{n} {have.get(n, 0)}" for n in names) or "no skills"


def instants(router: Router, entry_id: str) -> dict[str, str]:
    """The router-zone clock text (``09:30:05``) of each instant the offer's reasons name →
    its ISO time, so a page can show it in the viewer's own zone."""
    record = _record(router, entry_id) or {}
    out = {}
    for key in ("idle_since", "last_offered", "at"):
        if record.get(key):
            when = from_ms(record[key])
            out[_clock(router, when)] = when.isoformat()
    return out


def _clock(router: Router, when) -> str:
    return when.astimezone(router.zone).strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
