"""Where recording files live: a small interface, and the filesystem store behind it.

``Storage`` is what the rest of the package uses; an S3-compatible store can be added by
implementing the same five methods (``put`` streams, ``open`` gives a seekable binary file,
so serving with HTTP Range needs nothing else). Keys are relative paths we make ourselves
(``key_for``), never anything a request or the carrier supplied.

``FileStorage`` writes under one directory (``RECORDING_STORAGE_DIR``, default
``<instance>/recordings``). A file appears under its key only once it is complete: ``put``
streams into a temporary file in the same directory, flushes and fsyncs it, then renames it
into place (atomic on POSIX). A worker killed mid-download leaves at most a ``.part`` file,
which no reader ever opens; the download job's retry removes its key's, and
``sweep_partials`` any older ones.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 64 * 1024
PARTIAL_SUFFIX = ".part"
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,254}$")


class StorageError(Exception):
    """The store cannot do it (disk full, permission); the job retries or fails visibly."""


class Stored(tuple):
    """``(size_bytes, sha256 hex)`` of what ``put`` wrote."""

    __slots__ = ()

    def __new__(cls, size: int, sha256: str) -> Stored:
        return super().__new__(cls, (size, sha256))

    @property
    def size(self) -> int:
        return self[0]

    @property
    def sha256(self) -> str:
        return self[1]


class Storage(Protocol):
    def put(self, key: str, chunks: Iterable[bytes]) -> Stored:
        """Store the whole stream under ``key`` (replacing what was there), or nothing."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The stored file, binary, seekable. FileNotFoundError when there is none."""
        ...

    def size(self, key: str) -> int | None:
        """Its size in bytes, or None when there is no such file."""
        ...

    def delete(self, key: str) -> bool:
        """Remove it; False when it was not there."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A path on this machine, for ``send_file``; None for a remote store."""
        ...


def key_for(recording_sid: str, created: float | None = None, ext: str = "wav") -> str:
    """``2026/11/RE….wav``: a month per folder keeps directories small."""
    if not re.fullmatch(r"RE[0-9a-fA-F]{32}", recording_sid):
        raise ValueError(f"not a RecordingSid: {recording_sid[:40]!r}")
    if ext not in ("wav", "mp3"):
        raise ValueError(f"unknown format {ext!r}")
    when = time.gmtime(created if created is not None else time.time())
    return f"{when.tm_year:04d}/{when.tm_mon:02d}/{recording_sid}.{ext}"


class FileStorage:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key) or ".." in key.split("/"):
            raise ValueError(f"not a storage key: {key[:80]!r}")
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"not a storage key: {key[:80]!r}")
        return path

    def put(self, key: str, chunks: Iterable[bytes]) -> Stored:
        path = self._path(key)
        digest, size = hashlib.sha256(), 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, partial = tempfile.mkstemp(
                prefix=path.name + ".", suffix=PARTIAL_SUFFIX, dir=path.parent
            )
        except OSError as exc:
            raise StorageError(f"cannot write under {path.parent}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)  # atomic: readers see the old file or the whole new one
            _fsync_dir(path.parent)
        except BaseException as exc:  # also a kill's SystemExit: no half file under the key
            with suppress(OSError):
                os.unlink(partial)
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {key}: {exc}") from exc
            raise
        return Stored(size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def sweep_partials(self, older_than_seconds: float = 3600) -> int:
        """Remove ``.part`` files left by killed writers; returns how many."""
        cutoff, removed = time.time() - older_than_seconds, 0
        for partial in self.root.rglob(f"*{PARTIAL_SUFFIX}"):
            with suppress(OSError):
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    removed += 1
        return removed


def storage_at(directory: str | None, instance_path: str) -> Storage:
    """The store under ``RECORDING_STORAGE_DIR``, else ``<instance>/recordings``."""
    return FileStorage(directory or os.path.join(instance_path, "recordings"))


def storage_from_config(config: dict, instance_path: str) -> Storage:
    return storage_at(config.get("RECORDING_STORAGE_DIR"), instance_path)


def _fsync_dir(directory: Path) -> None:
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
