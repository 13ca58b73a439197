from datetime import timedelta

from crm_core.calls import insert_call_if_new
from crm_core.models import CallDirection, TaskKind, TaskStatus
from crm_core.tasks import DEFAULT_PRIORITY, open_task, task_of_call


def test_a_task_is_open_due_now_and_has_its_id(session, clock):
    now = clock.now()
    task = open_task(session, TaskKind.FOLLOW_UP, title="Reply to a text message", at=now)
    assert task.id is not None
    assert (task.status, task.created_at, task.due_at) == (TaskStatus.OPEN, now, now)
    assert task.priority == DEFAULT_PRIORITY


def test_a_task_keeps_the_time_and_priority_it_is_given(session, clock):
    now = clock.now()
    later = now + timedelta(hours=3)
    task = open_task(
        session, TaskKind.CALLBACK, title="Call back", at=now, due_at=later, priority=70
    )
    assert (task.due_at, task.created_at, task.priority) == (later, now, 70)


def test_a_repeated_request_finds_the_task_its_call_left(session, clock):
    call_id = insert_call_if_new(
        session,
        call_sid="CA" + "1" * 32,
        direction=CallDirection.INBOUND,
        from_number="+13135550101",
        to_number="+13135550100",
        clock=clock,
    )
    assert task_of_call(session, call_id, TaskKind.CALLBACK) is None
    task = open_task(session, TaskKind.CALLBACK, title="Call back", at=clock.now(), call_id=call_id)
    assert task_of_call(session, call_id, TaskKind.CALLBACK) is task
    assert task_of_call(session, call_id, TaskKind.VOICEMAIL) is None
