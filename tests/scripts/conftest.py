from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def script_dir(tmp_path) -> Path:
    directory = tmp_path / "scripts"
    directory.mkdir()
    return directory
