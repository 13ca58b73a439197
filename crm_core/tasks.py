"""Tasks: the work left for a person (call back, reply to a text, listen to a voicemail).

Every part of the engine that leaves a person something to do makes its Task here, so a
Task is always made the same way: open, created and (unless told otherwise) due at the
moment of the write that asks for it, flushed so the caller can name its id on the
timeline. The moment is the caller's (``at``), not a clock read here: the task belongs to
a larger write (a call's outcome, a voicemail, a text) whose rows share one time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import Task, TaskKind

# A customer waiting on an answer (a voicemail, a text, a callback they asked for) ranks
# above routine work (the column's default, 50); 70 is for one the engine already failed.
DEFAULT_PRIORITY = 60


def open_task(
    session: Session,
    kind: TaskKind,
    *,
    title: str,
    at: datetime,
    due_at: datetime | None = None,
    priority: int = DEFAULT_PRIORITY,
    customer_id: int | None = None,
    lead_id: int | None = None,
    call_id: int | None = None,
    phone: str | None = None,
    notes: str | None = None,
    owner_id: int | None = None,
    pool: str | None = None,
) -> Task:
    """A new open Task, due at ``at`` unless ``due_at`` says when; owned by ``owner_id`` or
    left to ``pool`` (a queue's team). ``phone`` is the number to call back, as the caller
    decided it (None when there is no number to dial)."""
    task = Task(
        kind=kind,
        customer_id=customer_id,
        lead_id=lead_id,
        call_id=call_id,
        phone=phone,
        title=title,
        notes=notes,
        due_at=at if due_at is None else due_at,
        owner_id=owner_id,
        pool=pool,
        priority=priority,
        created_at=at,
    )
    session.add(task)
    session.flush()
    return task


def task_of_call(session: Session, call_id: int | None, kind: TaskKind) -> Task | None:
    """The ``kind`` task a call already left, if any. Twilio repeats a request it got no
    answer to (a voicemail's action, a callback choice): the repeat finds this one instead
    of leaving a second task for the same message."""
    return session.scalars(select(Task).where(Task.call_id == call_id, Task.kind == kind)).first()
