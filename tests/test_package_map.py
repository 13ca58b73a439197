"""The package map is enforced, not only written down.

docs/architecture.md's table says what each package must not import; ``.ci/run`` checks it
with import-linter, whose contracts live in pyproject.toml. These tests keep the two equal
(a row changed in one place and not the other fails here, with the contract to paste), and
check what a forbidden-import contract cannot: that no two packages import each other.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
PYPROJECT = ROOT / "pyproject.toml"

# Every package of ours, in the table's order (the ones not built yet are forbidden all the
# same: a contract naming a package that does not exist is kept trivially).
OURS = (
    "telephony",
    "ivr",
    "routing",
    "scripts",
    "recording",
    "compliance",
    "leads",
    "outbound",
    "appointments",
    "reports",
    "crm_core",
    "console",
)
BUILT = ("crm_core", "console", "ivr", "routing", "scripts", "recording", "telephony")


def _table() -> dict[str, str]:
    """package → its "must not import" cell, from the map's table."""
    rows: dict[str, str] = {}
    layout = ARCHITECTURE.read_text().split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    for line in layout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0] != "`app.py`":
            rows[cells[0].strip("`").rstrip("/").replace("/", ".")] = cells[2]
    return rows


def _forbidden(package: str, cell: str) -> list[str]:
    """The modules a row forbids, as import-linter names them."""
    if package == "telephony.simulator":  # "anything of ours": every other module of ours
        siblings = sorted(
            f"telephony.{path.stem if path.is_file() else path.name}"
            for path in (ROOT / "telephony").iterdir()
            if (path.suffix == ".py" and path.stem != "__init__")
            or (path.is_dir() and path.name not in ("simulator", "__pycache__"))
        )
        return sorted([*(p for p in OURS if p != "telephony"), "app", *siblings])
    if cell.startswith("everything but"):
        allowed = {word.strip(" ,") for word in cell.removeprefix("everything but").split()}
        return sorted([*(p for p in OURS if p != package and p not in allowed), "app"])
    if cell.startswith("anything above it"):
        return sorted([*(p for p in OURS if p != package), "app", "flask"])
    names = re.findall(r"\b([a-z_]+)\b", cell.split(";")[0].replace("Flask", "flask"))
    return sorted({n for n in names if n in (*OURS, "app", "flask")})


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {
        c["source_modules"][0]: c
        for c in config["contracts"]
        if c["type"] == "forbidden" and not c.get("allow_indirect_imports")
    }


def test_every_row_of_the_map_is_a_contract():
    table, contracts = _table(), _contracts()
    assert set(OURS) <= set(table), "the map lists every package"
    wrong = {}
    for package, cell in table.items():
        if not (ROOT / package.replace(".", "/") / "__init__.py").exists():
            continue  # not built yet: its contract comes with it
        expected = _forbidden(package, cell)
        actual = sorted(contracts.get(package, {}).get("forbidden_modules", []))
        if actual != expected:
            wrong[package] = expected
    assert not wrong, "pyproject.toml's contracts differ from the map; use:\n" + "\n".join(
        f'source_modules = ["{p}"]\nforbidden_modules = {e!r}' for p, e in wrong.items()
    )


def test_the_import_contract_roots_are_the_packages_that_exist():
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    existing = {p for p in OURS if (ROOT / p / "__init__.py").exists()}
    assert set(config["root_packages"]) - {"migrations"} == existing


def _graph():
    existing = [p for p in (*OURS, "migrations") if (ROOT / p / "__init__.py").exists()]
    return existing, grimp.build_graph(*existing, include_external_packages=True, cache_dir=None)


def test_no_two_packages_import_each_other():
    """A cycle between packages, even through a function-level import, is a defect."""
    existing, graph = _graph()
    cycles = [
        (a, b)
        for i, a in enumerate(existing)
        for b in existing[i + 1 :]
        if graph.chain_exists(a, b, as_packages=True) and graph.chain_exists(b, a, as_packages=True)
    ]
    assert not cycles, f"packages importing each other: {cycles}"


def test_no_package_reaches_up_to_the_app():
    """The app factory wires the packages; a package that imports it wires upward."""
    _, graph = _graph()
    importers = graph.find_modules_that_directly_import("app") if "app" in graph.modules else set()
    assert not importers
