"""The folders are layers: each may import only the layers below it (README, "Layout").

Read from the source with ``ast`` (no import side effects), so a new import that crosses a layer
fails here with the file and line, before it becomes a habit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "storeuptime_pipeline"

#: What each top-level folder or module of the package may import from the package (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "fileio": {"core"},
    "db": {"core"},
    "settings": {"core", "db"},
    "services": {"core", "db", "fileio", "settings"},
    "defs": {"core", "db", "fileio", "services", "settings"},
    "definitions": {"defs"},
    # The API launches the on-demand job by name and so reads it from defs.jobs.
    "api": {"core", "db", "services", "settings", "defs"},
    "generator": {"core"},
    "cli": {"core", "db", "fileio", "services", "settings", "defs", "api", "generator"},
}

#: Third-party frameworks a layer must not import: the core is pure, only defs/ and cli/ know Dagster.
FORBIDDEN_LIBRARIES: dict[str, set[str]] = {
    "core": {"dagster", "sqlalchemy", "fastapi", "psycopg2", "alembic"},
    "fileio": {"dagster", "sqlalchemy", "fastapi", "psycopg2", "alembic"},
    "db": {"dagster", "fastapi"},
    "services": {"fastapi"},
    "generator": {"dagster", "sqlalchemy", "fastapi"},
}


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, package layer or "", top-level library) of every import in the file."""
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "storeuptime_pipeline":
                layers = [a.name for a in node.names] if len(parts) == 1 else [parts[1]]
                found += [(node.lineno, layer, "") for layer in layers]
            else:
                found.append((node.lineno, "", parts[0]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "storeuptime_pipeline" and len(parts) > 1:
                    found.append((node.lineno, parts[1], ""))
                elif parts[0] != "storeuptime_pipeline":
                    found.append((node.lineno, "", parts[0]))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts or p.name == "env.py")


def test_every_folder_has_a_rule() -> None:
    assert {_layer(p) for p in SOURCES} - {"__init__"} <= set(ALLOWED)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_stay_within_the_layers(path: Path) -> None:
    layer = _layer(path)
    if layer == "__init__":
        return
    crossing = [
        f"{path.relative_to(PACKAGE)}:{line} imports {target or library}"
        for line, target, library in _imports(path)
        if (target and target != layer and target not in ALLOWED[layer])
        or (library and library in FORBIDDEN_LIBRARIES.get(layer, set()))
    ]
    assert not crossing, "\n".join(crossing)


def test_the_rule_can_fail(tmp_path: Path) -> None:
    """The check sees an import that crosses a layer (so a passing run means something)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from storeuptime_pipeline.defs.jobs import x\nimport dagster\n")
    assert [(t, lib) for _, t, lib in _imports(bad)] == [("defs", ""), ("", "dagster")]
