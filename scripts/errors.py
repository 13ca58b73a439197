"""The one exception of the script library: what is wrong, in which file, on which line."""

from __future__ import annotations

from pathlib import Path


class ScriptError(Exception):
    """A script file that cannot be used: ``file:line: message`` (line None: the whole file).

    Raised by ``load_script``; collected (never raised) by ``Library`` and ``check_dir``, so a
    broken file on a live system keeps its last good version and the problem is logged.
    """

    def __init__(self, file: str | Path, line: int | None, message: str) -> None:
        self.file = str(file)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"ScriptError({self.file!r}, {self.line!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScriptError):
            return NotImplemented
        return (self.file, self.line, self.message) == (other.file, other.line, other.message)

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.message))
