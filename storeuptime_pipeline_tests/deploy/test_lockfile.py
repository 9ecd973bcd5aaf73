"""requirements.lock: .ci/run refuses a lock that no longer matches pyproject.toml, and .venv is the lock.

The lock checks run on temporary copies of the files they read (.ci/, pyproject.toml,
requirements.lock; a stub Makefile stands in for the test suite), so every kind of change is tried
without touching the checkout. No network: the check needs none.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE_STARTED = "stub suite started"


def _lockfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("storeuptime_lockfile", ROOT / ".ci" / "lockfile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lockfile = _lockfile()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """What .ci/run reads, copied; `make test` there only says that it was reached."""
    shutil.copytree(ROOT / ".ci", tmp_path / ".ci")
    for name in ("pyproject.toml", "requirements.lock"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "Makefile").write_text(f"test:\n\t@echo {SUITE_STARTED}\n")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}: the test needs updating"
    path.write_text(text.replace(old, new, 1))


def _pandas(repo: Path) -> str:
    """The pandas requirement as pyproject.toml writes it now (`pandas>=2.2`)."""
    return re.search(r'"(pandas[^"]*)"', (repo / "pyproject.toml").read_text())[1]


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / ".ci" / "lockfile.py"), "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _fails_with(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result
    assert len(lines) == 1, f"not one line: {result.stderr!r}"
    assert lines[0].endswith("run `make lock`"), lines[0]
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_the_committed_lock_matches_pyproject() -> None:
    result = _check(ROOT)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_ci_run_stops_before_the_suite_when_a_range_changed_without_make_lock(repo: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    untouched = subprocess.run(
        ["bash", ".ci/run"], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert untouched.returncode == 0 and SUITE_STARTED in untouched.stdout, untouched

    old = _pandas(repo)
    _edit(repo / "pyproject.toml", f'"{old}"', f'"{old},<99"')
    changed = subprocess.run(
        ["bash", ".ci/run"], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert SUITE_STARTED not in changed.stdout
    line = _fails_with(changed, f"dependencies: {old} is now {old},<99")
    assert line == (
        f"error: requirements.lock does not match pyproject.toml (dependencies: {old} is now {old},<99): "
        "run `make lock`"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"sqlalchemy>=2.0,<3",', '"SQLAlchemy >= 2.0, < 3",  # spacing and case'),
        ("[project.optional-dependencies]", "# a comment\n[project.optional-dependencies]"),
        ("line-length = 110", "line-length = 100"),
    ],
    ids=["spacing-and-case", "comment", "tool-settings"],
)
def test_changes_that_do_not_touch_the_requirements_pass(repo: Path, old: str, new: str) -> None:
    _edit(repo / "pyproject.toml", old, new)
    result = _check(repo)
    assert (result.returncode, result.stderr) == (0, "")


def test_reordering_requirements_passes(repo: Path) -> None:
    _edit(repo / "pyproject.toml", '    "tzdata",\n', "")
    _edit(repo / "pyproject.toml", "dependencies = [\n", 'dependencies = [\n    "tzdata",\n')
    assert _check(repo).returncode == 0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"tzdata",', '"tzdata",\n    "humanize>=4",', "dependencies: added humanize>=4"),
        ('    "tzdata",\n', "", "dependencies: removed tzdata"),
        ('"pytest>=8",', '"pytest>=9",', "dev: pytest>=8 is now pytest>=9"),
        ('"pyyaml>=6",\n]', '"pyyaml>=6",\n]\ncelery = ["dagster-celery"]', "celery: added dagster-celery"),
        (
            'requires-python = ">=3.11,<3.12"',
            'requires-python = ">=3.11"',
            "requires-python: >=3.11,<3.12 is now",
        ),
        ('"setuptools>=69"', '"setuptools>=70"', "build-system: setuptools>=69 is now setuptools>=70"),
    ],
    ids=["added", "removed", "extra-range", "new-extra", "requires-python", "build-system"],
)
def test_a_requirement_change_without_make_lock_fails(repo: Path, old: str, new: str, message: str) -> None:
    _edit(repo / "pyproject.toml", old, new)
    _fails_with(_check(repo), "does not match pyproject.toml", message)


def test_a_hand_edited_pin_outside_the_range_fails(repo: Path) -> None:
    version = dict((n, v) for n, v, _ in lockfile.read_lock(repo)[1])["pandas"]
    _edit(repo / "requirements.lock", f"\npandas=={version} ", "\npandas==2.1.0 ")
    _fails_with(_check(repo), "pins pandas==2.1.0 but pyproject.toml asks for pandas>=")


def test_a_lock_missing_a_direct_requirement_fails(repo: Path) -> None:
    lock = repo / "requirements.lock"
    lock.write_text(re.sub(r"^tzdata==.*?(?=^\S)", "", lock.read_text(), flags=re.MULTILINE | re.DOTALL))
    _fails_with(_check(repo), "has no pin for tzdata")


def test_a_lock_with_merge_conflicts_fails(repo: Path) -> None:
    _edit(repo / "requirements.lock", "\nalembic==", "\n<<<<<<< HEAD\n=======\n>>>>>>> h9\nalembic==")
    _fails_with(_check(repo), "unresolved merge conflicts")


def test_a_lock_not_written_by_make_lock_fails(repo: Path) -> None:
    _edit(repo / "requirements.lock", lockfile.SPEC_INTRO, "# written by hand")
    _fails_with(_check(repo), "not written by `make lock`")


def test_a_missing_lock_fails(repo: Path) -> None:
    (repo / "requirements.lock").unlink()
    _fails_with(_check(repo), "requirements.lock is missing")


def test_pip_freeze_of_this_environment_equals_the_lock() -> None:
    """`make install` installed exactly the lock: same names, same versions, nothing else."""
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    installed = {}
    for line in freeze.splitlines():
        if line.startswith(("#", "-e ")) or not line.strip():
            continue  # the editable project itself
        name, _, version = line.partition("==")
        installed[lockfile.canonical(name)] = version
    installed.pop("pip")  # the installer, not part of what is installed
    installed.pop("storeuptime", None)
    locked = lockfile.locked_for_this_python()
    differences = sorted(
        f"{name}: installed {installed.get(name, 'nothing')}, locked {locked.get(name, 'nothing')}"
        for name in installed.keys() | locked.keys()
        if installed.get(name) != locked.get(name)
    )
    assert not differences, (
        f"the environment is not the lock (`rm .venv/.installed; make install` puts it back): {'; '.join(differences)}"
    )
