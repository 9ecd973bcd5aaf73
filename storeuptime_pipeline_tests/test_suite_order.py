"""The suite's scheduling hook (conftest): the long-running files must exist and be started first."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from storeuptime_pipeline_tests.conftest import LONG_RUNNING_FILES, pytest_collection_modifyitems

TESTS = Path(__file__).resolve().parent


def test_every_long_running_file_exists() -> None:
    # A renamed or split file would silently fall back to the end of the queue.
    missing = [name for name in LONG_RUNNING_FILES if not (TESTS / name).is_file()]
    assert missing == []


def test_long_running_files_come_first_and_each_file_keeps_its_order() -> None:
    names = sorted(p.relative_to(TESTS).as_posix() for p in TESTS.rglob("test_*.py"))
    items = [SimpleNamespace(path=TESTS / name, nodeid=f"{name}::{n}") for name in names for n in (1, 2)]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    files = list(dict.fromkeys(item.path.relative_to(TESTS).as_posix() for item in items))
    assert files[: len(LONG_RUNNING_FILES)] == list(LONG_RUNNING_FILES)
    assert files[len(LONG_RUNNING_FILES) :] == [n for n in names if n not in LONG_RUNNING_FILES]
    assert all(items[i].nodeid.endswith("::1") for i in range(0, len(items), 2))
