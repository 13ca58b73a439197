"""The library: every script in one directory, reloaded when a file changes.

Built once in ``create_app`` (DESIGN.md rule 3) and read on every call, so it is cheap on
access: at most once a second (by the injected clock) it compares the files' modification
times and sizes with what it loaded, and re-reads only the files that changed. A file that
becomes invalid keeps its last good version in service and its ``ScriptError`` is logged
(once per change) and listed in ``errors``; a deleted file's script is gone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from crm_core.clock import Clock, SystemClock
from scripts.errors import ScriptError
from scripts.loader import check_file, duplicate_name, script_files
from scripts.script import DEFAULT_LANGUAGE, Script

log = logging.getLogger("callcenter.scripts")

BUNDLED = Path(__file__).parent / "library"
RELOAD_SECONDS = 1.0


@dataclass
class _File:
    stamp: tuple[int, int]  # (mtime_ns, size) when last read
    script: Script | None  # the last good version (None: never valid)
    problems: list[ScriptError]


class Library:
    """``Library(path=None, clock=None)``: the scripts in ``path`` (default: the bundled
    ``scripts/library/``). A missing directory raises ``ScriptError``; broken files do not
    (see ``errors``)."""

    def __init__(self, path: str | Path | None = None, clock: Clock | None = None) -> None:
        self.path = Path(path) if path else BUNDLED
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._files: dict[Path, _File] = {}
        self._scripts: dict[str, Script] = {}
        self._errors: list[ScriptError] = []
        self._checked_at: datetime | None = None
        script_files(self.path)  # fail now on a directory that is not there
        self._scan()

    # ------------------------------------------------------------ reading

    def get(self, name: str) -> Script:
        """The script called ``name``; ``KeyError`` when the library has none."""
        self._maybe_reload()
        try:
            return self._scripts[name]
        except KeyError:
            raise KeyError(f"no script named {name!r} in {self.path}") from None

    def __contains__(self, name: object) -> bool:
        self._maybe_reload()
        return name in self._scripts

    def scripts(self) -> list[Script]:
        """Every script in service, by name."""
        self._maybe_reload()
        return sorted(self._scripts.values(), key=lambda s: s.name)

    @property
    def errors(self) -> list[ScriptError]:
        """The problems of the files as they are on disk now (in service: their last good
        versions, if they ever had one)."""
        self._maybe_reload()
        return list(self._errors)

    def render(
        self,
        name: str,
        key: str,
        lang: str | None = DEFAULT_LANGUAGE,
        context: Mapping[str, Any] | None = None,
        *,
        target: str = "text",
        **values: Any,
    ) -> str:
        """Text ``key`` of script ``name`` in ``lang`` (en-US when the script does not have
        it), with its variables from ``context`` and ``values`` (``customer={...}``), for
        ``target`` "text", "twiml" or "html". Missing variables never raise."""
        if values:
            context = {**(context or {}), **values}
        return self.get(name).render(key, lang, context, target)

    def text(
        self,
        name: str,
        key: str,
        lang: str | None = DEFAULT_LANGUAGE,
        context: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> str:
        """Plain text for ``<Say>`` (``VoiceResponse.say`` escapes it) or an SMS."""
        return self.render(name, key, lang, context, target="text", **values)

    # ------------------------------------------------------------ reloading

    def reload(self) -> None:
        """Look at the files now (access does it by itself at most once a second)."""
        with self._lock:
            self._scan()

    def _maybe_reload(self) -> None:
        now = self._clock.now()
        last = self._checked_at
        if last is not None and abs((now - last).total_seconds()) < RELOAD_SECONDS:
            return
        if self._lock.acquire(blocking=False):  # another thread is already looking
            try:
                self._scan()
            finally:
                self._lock.release()

    def _scan(self) -> None:
        self._checked_at = self._clock.now()
        try:
            paths = script_files(self.path)
        except ScriptError as exc:  # the directory went away: keep serving what we have
            self._note([exc])
            return
        files: dict[Path, _File] = {}
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            stamp = (stat.st_mtime_ns, stat.st_size)
            known = self._files.get(path)
            if known is not None and known.stamp == stamp:
                files[path] = known
                continue
            script, problems = check_file(path)
            if script is None and known is not None:
                script = known.script  # the last good version stays in service
            elif script is not None and known is not None and known.script is not None:
                log.info(
                    "script %s reloaded from %s (version %s)", script.name, path, script.version
                )
            files[path] = _File(stamp, script, problems)
        scripts: dict[str, Script] = {}
        problems: list[ScriptError] = []
        for entry in files.values():  # name order of the files: the first owns a name
            problems.extend(entry.problems)
            script = entry.script
            if script is None:
                continue
            if script.name in scripts:
                problems.append(duplicate_name(script, scripts[script.name]))
                continue
            scripts[script.name] = script
        self._files, self._scripts = files, scripts
        self._note(problems)

    def _note(self, problems: list[ScriptError]) -> None:
        for problem in problems:
            if problem not in self._errors:
                log.error("script file problem (last good version kept): %s", problem)
        self._errors = problems
