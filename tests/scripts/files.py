"""Writing script files in tests, with a fresh modification time each time."""

from __future__ import annotations

import itertools
import os
import textwrap
from pathlib import Path

_stamps = itertools.count(1_700_000_000)


def write(path: Path, text: str) -> Path:
    """Write ``text`` (dedented) and give the file a modification time later than any before,
    so a reload sees the change whatever the file system's timestamp resolution."""
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    stamp = next(_stamps) * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    return path
