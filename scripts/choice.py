"""Which script an agent reads on a call: one rule for every screen that shows it (the
agent desk beside the live call, the QA page beside a recorded one). Plain values in, so
that any package may ask (recording/ may not import console/):

* an outbound call (dialled by an agent or the dialer, or the ACD's callback-in-queue):
  ``outbound_sales``;
* an inbound call to queue Q: ``inbound_Q`` if the library has it, else ``inbound``, else
  the ``elevator_pitch``. Queues carry no agent-script setting, so the library's file names
  are the configuration: a manager adds ``inbound_sales.yaml`` and it is used at once;
* no call at all (practice): ``outbound_sales``.
"""

from __future__ import annotations

from scripts.schema import Kind

OUTBOUND_SCRIPT = "outbound_sales"
INBOUND_SCRIPT = "inbound"
PITCH_SCRIPT = "elevator_pitch"
AGENT_KINDS = (Kind.OUTBOUND, Kind.PITCH)  # scripts an agent reads (steps or sections)


def is_outbound(direction: object, *, callback: bool = False) -> bool:
    """A call we placed: a direction other than ``inbound`` (``outbound-dial``,
    ``outbound-api``, an enum member or its text), or the ACD's callback-in-queue."""
    if callback:
        return True
    value = getattr(direction, "value", direction)
    return value is not None and str(value) != "inbound"


def agent_script(
    library, *, direction: object = None, queue: str | None = None, callback: bool = False
) -> tuple[str, str]:
    """(script name, why in words) for a call of ``direction`` to ``queue`` (the rule of
    the module docstring). ``direction`` None and no ``queue``: no call, practice."""
    if direction is None and not queue and not callback:
        return OUTBOUND_SCRIPT, "no current call: the outbound script, for practice"
    if is_outbound(direction, callback=callback):
        return OUTBOUND_SCRIPT, "an outbound call"
    for name in ([f"inbound_{queue}"] if queue else []) + [INBOUND_SCRIPT]:
        if name in library and library.get(name).kind in AGENT_KINDS:
            return name, f"an inbound call to queue {queue or '-'}: the library's {name}"
    return PITCH_SCRIPT, (
        f"an inbound call to queue {queue or '-'}: the library has no inbound_{queue or '<queue>'}"
        " or inbound script, so the elevator pitch"
    )
