"""Fixtures of the recording tests (each helper adds its own; keep them small)."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from crm_core.models import Call, CallDirection
from recording.models import Recording, RecordingStatus
from recording.storage import FileStorage, key_for


class Recordings:
    """Makes calls with a stored recording: the row, and its file in the test's store."""

    def __init__(self, deps, clock, storage: FileStorage) -> None:
        self.deps, self.clock, self.storage = deps, clock, storage
        self._n = itertools.count(1)

    def add(
        self,
        agent_id: int | None = None,
        data: bytes = b"RIFF" + bytes(range(256)) * 40,
        *,
        customer_id: int | None = None,
        created_at: datetime | None = None,
        status: RecordingStatus = RecordingStatus.STORED,
        legal_hold: bool = False,
    ) -> Recording:
        n = next(self._n)
        call_sid, sid = f"CA{n:032x}", f"RE{n:032x}"
        created = created_at or self.clock.now()
        key = key_for(sid, created.timestamp())
        stored = self.storage.put(key, iter([data])) if status == RecordingStatus.STORED else None
        with self.deps.session_factory.begin() as s:
            call = Call(
                call_sid=call_sid,
                direction=CallDirection.INBOUND,
                created_at=created,
                agent_id=agent_id,
                customer_id=customer_id,
            )
            s.add(call)
            s.flush()
            recording = Recording(
                recording_sid=sid,
                call_sid=call_sid,
                call_id=call.id,
                status=status,
                channels=2,
                duration_seconds=60,
                created_at=created,
                storage_key=key if stored else None,
                content_type="audio/wav",
                size_bytes=stored.size if stored else None,
                sha256=stored.sha256 if stored else None,
                legal_hold=legal_hold,
            )
            s.add(recording)
            s.flush()
            s.expunge(recording)
        return recording


@pytest.fixture
def recordings(app, deps, clock) -> Recordings:
    from recording.storage import Storage
    from telephony.context import provided

    return Recordings(deps, clock, provided(app.extensions).get(Storage))
