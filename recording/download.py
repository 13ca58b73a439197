"""The download job: a completed recording's file, from the carrier into our storage, once.

How the job is queued, retried and replaced: recording/download_queue.py.

One attempt (``Downloader.run``):

1. The row is read; anything but ``pending`` means the work is done (re-running a finished
   job changes nothing), except a stored file still to delete at the carrier.
2. ``Carrier.fetch_recording_media`` streams the WAV (basic auth with the account's
   credentials) through ``WavCheck`` into ``Storage.put``. The check raises before the
   stream ends when the bytes are not the recording: fewer or more than the carrier's
   Content-Length, a RIFF or data size that disagrees with the bytes (truncated or altered),
   other channels or a length other than the callback said. ``put`` then removes its
   temporary file: nothing appears under the key. A worker killed mid-download (SIGKILL,
   or SystemExit from the stream) leaves at most a ``.part`` file, removed by the retry.
3. The stored file is read back and hashed: its SHA-256 and size must be what was received.
4. The row becomes ``stored`` (key, size, SHA-256, content type, when).
5. With ``RECORDING_DELETE_AT_CARRIER`` (default true: once our verified copy is committed
   the carrier's copy only escapes our retention, erasure and access checks), the carrier's
   recording is deleted and ``deleted_at_carrier`` set.

Twilio publishes no checksum of a recording's media (the Recording resource has
``duration``, ``channels``, ``status`` and, with Voice Recording Encryption,
``encryption_details``), so what can be checked is the transfer (Content-Length), the
file's own structure, and the duration and channels the callback reported. An encrypted
recording fails the WAV check and is kept ``failed`` with that reason.

A failed attempt records ``attempts`` and ``error`` on the row and is retried; the last
one leaves it ``failed`` (logged at ERROR) for a person: ``GET /api/recordings?status=failed``.
A 404 from the carrier (the recording was deleted there) is final at once.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.clock import Clock
from crm_core.models import Call
from recording.models import Recording, RecordingStatus
from recording.storage import CHUNK, PARTIAL_SUFFIX, Storage, key_for
from telephony.carrier import Carrier

log = logging.getLogger("callcenter.recording")

WAV_TYPES = ("audio/x-wav", "audio/wav", "audio/wave")
HEADER_BYTES = 4096  # RIFF header, fmt and any LIST chunk before the data
DURATION_SLACK = 1.5  # seconds: the callback's duration is rounded to whole seconds


class DownloadRejected(Exception):
    """The bytes received are not the whole recording; the attempt is retried."""


class WavCheck:
    """Passes the chunks through, and raises DownloadRejected after the last one (before
    the stream ends, so ``Storage.put`` discards the file) unless they are one whole WAV
    of the size sent, the channels and about the duration expected."""

    def __init__(
        self,
        content_length: int | None,
        channels: int | None,
        duration_seconds: int | None,
        content_type: str | None = None,
    ) -> None:
        self.content_length = content_length
        self.channels = channels
        self.duration_seconds = duration_seconds
        self.content_type = (content_type or "").split(";")[0].strip().lower()
        self.size = 0

    def __call__(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        if self.content_type and self.content_type not in WAV_TYPES:
            raise DownloadRejected(f"expected a WAV file, the carrier sent {self.content_type}")
        head = bytearray()
        for chunk in chunks:
            if len(head) < HEADER_BYTES:
                head += chunk[: HEADER_BYTES - len(head)]
            self.size += len(chunk)
            if self.content_length is not None and self.size > self.content_length:
                raise DownloadRejected(f"more bytes than the {self.content_length} announced")
            yield chunk
        self.verify(bytes(head), self.size)

    def verify(self, head: bytes, size: int) -> None:
        if self.content_length is not None and size != self.content_length:
            raise DownloadRejected(f"received {size} of {self.content_length} bytes")
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise DownloadRejected("not a WAV file (no RIFF/WAVE header)")
        (riff_size,) = struct.unpack_from("<I", head, 4)
        if riff_size + 8 != size:
            raise DownloadRejected(f"RIFF header says {riff_size + 8} bytes, received {size}")
        channels = byte_rate = None
        position = 12
        while position + 8 <= len(head):
            chunk_id, chunk_size = (
                head[position : position + 4],
                struct.unpack_from("<I", head, position + 4)[0],
            )
            if chunk_id == b"fmt " and position + 24 <= len(head):
                channels, _rate, byte_rate = struct.unpack_from("<HII", head, position + 10)
            if chunk_id == b"data":
                if position + 8 + chunk_size not in (size, size - 1):  # a pad byte may follow
                    raise DownloadRejected(
                        f"data chunk says {chunk_size} bytes, {size - position - 8} received"
                    )
                break
            position += 8 + chunk_size + (chunk_size & 1)
        else:
            raise DownloadRejected("no data chunk in the WAV header")
        if channels is None or not byte_rate:
            raise DownloadRejected("no usable fmt chunk in the WAV header")
        if self.channels and channels != self.channels:
            raise DownloadRejected(f"{channels} channels, the carrier reported {self.channels}")
        seconds = chunk_size / byte_rate
        if (
            self.duration_seconds is not None
            and abs(seconds - self.duration_seconds) > DURATION_SLACK
        ):
            raise DownloadRejected(
                f"{seconds:.1f} s of audio, the carrier reported {self.duration_seconds} s"
            )


@dataclass
class Downloader:
    """One attempt at one recording; dependencies passed in (tests drive it directly)."""

    session_factory: sessionmaker
    carrier: Carrier
    storage: Storage
    clock: Clock
    delete_at_carrier: bool = True

    def run(self, recording_sid: str) -> RecordingStatus:
        with self.session_factory.begin() as session:
            row = _locked(session, recording_sid)
            if row is None:
                log.warning("no Recording row for RecordingSid=%s: nothing to do", recording_sid)
                return RecordingStatus.FAILED
            link_call(session, row)
            status, call_sid = row.status, row.call_sid
            if status == RecordingStatus.PENDING:
                row.attempts += 1
                key = key_for(recording_sid, row.created_at.timestamp())
                expected = (row.channels, row.duration_seconds)
        if status == RecordingStatus.PENDING:
            self._store(recording_sid, call_sid, key, *expected)
        elif status != RecordingStatus.STORED:
            return status  # absent, failed, deleted: nothing to fetch
        self._delete_at_carrier(recording_sid)
        return RecordingStatus.STORED

    def _store(
        self, sid: str, call_sid: str, key: str, channels: int | None, seconds: int | None
    ) -> None:
        _drop_partials(self.storage, key)  # a killed attempt's leftovers
        with self.carrier.fetch_recording_media(sid, "wav") as media:
            check = WavCheck(media.size, channels, seconds, media.content_type)
            stored = self.storage.put(key, check(media))
        again = _sha256(self.storage, key)
        if again != (stored.size, stored.sha256):
            self.storage.delete(key)
            raise DownloadRejected(f"stored file reads back as {again}, wrote {tuple(stored)}")
        with self.session_factory.begin() as session:
            row = _locked(session, sid)
            if row is None or row.status != RecordingStatus.PENDING:  # deleted meanwhile
                self.storage.delete(key)
                return
            row.status = RecordingStatus.STORED
            row.storage_key, row.size_bytes, row.sha256 = key, stored.size, stored.sha256
            row.content_type, row.stored_at, row.error = "audio/x-wav", self.clock.now(), None
        log.info(
            "recording stored RecordingSid=%s CallSid=%s key=%s size=%s sha256=%s",
            sid,
            call_sid,
            key,
            stored.size,
            stored.sha256,
        )

    def _delete_at_carrier(self, sid: str) -> None:
        if not self.delete_at_carrier:
            return
        with self.session_factory() as session:
            done = session.scalars(
                select(Recording.deleted_at_carrier).where(Recording.recording_sid == sid)
            ).one()
        if done:
            return
        self.carrier.delete_recording(sid)  # False (already gone) is as good
        with self.session_factory.begin() as session:
            _locked(session, sid).deleted_at_carrier = True

    def record_failure(self, sid: str, exc: Exception, *, final: bool) -> None:
        """Keep why the attempt failed on the row; the last attempt leaves it ``failed``."""
        message = f"{type(exc).__name__}: {exc}"[:2000]
        with self.session_factory.begin() as session:
            row = _locked(session, sid)
            if row is None:
                return
            row.error = message
            if final and row.status == RecordingStatus.PENDING:
                row.status = RecordingStatus.FAILED
            call_sid, attempts = row.call_sid, row.attempts
        if final:
            log.error(
                "recording download failed for good RecordingSid=%s CallSid=%s after %s "
                "attempts: %s",
                sid,
                call_sid,
                attempts,
                message,
            )
        else:
            log.warning(
                "recording download attempt %s failed RecordingSid=%s CallSid=%s: %s (retrying)",
                attempts,
                sid,
                call_sid,
                message,
            )


def _locked(session: Session, sid: str) -> Recording | None:
    return session.scalars(
        select(Recording).where(Recording.recording_sid == sid).with_for_update()
    ).one_or_none()


def link_call(session: Session, row: Recording) -> None:
    """Point the row at its Call once that row exists (a callback can come before it; each
    later callback and each attempt of the job try again)."""
    if row.call_id is None:
        row.call_id = session.scalars(select(Call.id).where(Call.call_sid == row.call_sid)).first()


def _sha256(storage: Storage, key: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with storage.open(key) as stored:
        while block := stored.read(CHUNK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _drop_partials(storage: Storage, key: str) -> None:
    """Remove temporary files an earlier, killed ``put`` of this key left (one job per
    recording runs at a time, so none of them is being written)."""
    path = storage.local_path(key)
    if path is None:
        return
    for partial in path.parent.glob(f"{path.name}.*{PARTIAL_SUFFIX}"):
        with suppress(OSError):
            partial.unlink()
            log.info("removed %s, left by an interrupted download", partial.name)
