#!/usr/bin/env python3
"""requirements.lock: write it (`make lock`) and check that it still matches pyproject.toml (.ci/run).

pyproject.toml keeps ranges, for people who install the package into their own environment;
requirements.lock pins the whole tree (runtime, every extra, the build backend) with hashes, so
`make install` gets the versions the tests passed with on every machine, with nothing but pip.

"The lock matches pyproject.toml" means: the lock was resolved from exactly the requirements that
pyproject.toml states now (requires-python, build-system requires, dependencies, every extra, and
the resolver settings below), as recorded in the lock's header, and every direct requirement is
pinned in the lock to a version its range allows (a hand-edited pin fails too). Comments, order
and spacing in pyproject.toml do not matter. The check reads two files: no network, no resolver,
standard library only (plus the `packaging` that every pip carries), so it runs before anything is
installed.

    python .ci/lockfile.py check              exit 1 with one line naming the difference
    python .ci/lockfile.py update [PKG...|all] re-resolve (keeping current pins unless asked)
    .venv/bin/python .ci/lockfile.py unlocked  what make install removes: installed, not in the lock
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = "pyproject.toml"
LOCK = "requirements.lock"

# The resolver: uv (fast, maintained, universal resolution: one file with markers that installs on
# Linux, macOS and Windows alike, hashes of every file of each version). Pinned, so two people
# running `make lock` on the same pyproject.toml get the same file. pip alone installs the result.
UV_VERSION = "0.13.9"
PYTHON_VERSION = "3.11"
UV_ARGS = ["--all-extras", "--universal", "--python-version", PYTHON_VERSION, "--generate-hashes"]
RESOLVER = f"uv=={UV_VERSION} pip compile {' '.join(UV_ARGS)}"

SPEC_INTRO = "# Resolved from (any change to these lines needs `make lock`; .ci/lockfile.py checks them):"
SPEC_PREFIX = "#   "
FIX = "run `make lock`"

_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?\s*$")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class LockError(Exception):
    """A one-line reason the lock cannot be used as it is."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _normalize(requirement: str) -> str:
    """Spacing and quote style are not part of what a requirement means; the name's case neither."""
    text = re.sub(r"\s+", "", requirement).replace('"', "'")
    match = _NAME.match(text)
    return canonical(match.group(1)) + text[match.end() :] if match else text


def spec_lines(root: Path = ROOT) -> list[str]:
    """What the lock is resolved from, one `<group> <requirement>` per line, in a stable order."""
    data = tomllib.loads((root / PYPROJECT).read_text(encoding="utf-8"))
    project = data.get("project", {})
    groups: list[tuple[str, list[str]]] = [
        ("requires-python", [project.get("requires-python", "")]),
        ("build-system", data.get("build-system", {}).get("requires", [])),
        ("dependencies", project.get("dependencies", [])),
    ]
    groups += sorted(
        (f"extra:{name}", reqs) for name, reqs in project.get("optional-dependencies", {}).items()
    )
    lines = [f"{group} {req}" for group, reqs in groups for req in sorted({_normalize(r) for r in reqs})]
    return [*lines, f"resolver {RESOLVER}"]


def _header(lines: list[str]) -> str:
    return "\n".join(
        [
            "# requirements.lock: the exact version and hashes of every package storeuptime installs",
            "# (runtime, dev tools, build backend), for `make install`. Written by `make lock`; do not edit.",
            SPEC_INTRO,
            *(SPEC_PREFIX + line for line in lines),
        ]
    )


def read_lock(root: Path = ROOT) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The spec lines recorded in the lock header, and its (name, version, marker) entries."""
    path = root / LOCK
    if not path.exists():
        raise LockError(f"{LOCK} is missing: {FIX}")
    text = path.read_text(encoding="utf-8")
    if re.search(r"^(<<<<<<<|>>>>>>>|=======$)", text, re.MULTILINE):
        raise LockError(f"{LOCK} has unresolved merge conflicts: take either side, then {FIX}")
    raw = text.splitlines()
    if SPEC_INTRO not in raw:
        raise LockError(
            f"{LOCK} was not written by `make lock` (no record of what it was resolved from): {FIX}"
        )
    spec: list[str] = []
    for line in raw[raw.index(SPEC_INTRO) + 1 :]:
        if not line.startswith(SPEC_PREFIX):
            break
        spec.append(line[len(SPEC_PREFIX) :])
    entries = [(canonical(m[1]), m[2], (m[3] or "").strip()) for m in map(_ENTRY.match, raw) if m]
    return spec, entries


def _describe(recorded: list[str], current: list[str]) -> str:
    """The first differences, as `dependencies: pandas>=2.2 is now pandas>=2.2,<3` or `added x`."""

    def by_name(lines: list[str]) -> dict[tuple[str, str], list[str]]:
        table: dict[tuple[str, str], list[str]] = {}
        for line in lines:
            group, _, req = line.partition(" ")
            match = _NAME.match(req)
            table.setdefault((group, match.group(1) if match else ""), []).append(req)
        return table

    old, new = by_name(recorded), by_name(current)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        group = key[0].removeprefix("extra:")
        if key not in new:
            changes.append(f"{group}: removed {', '.join(old[key])}")
        elif key not in old:
            changes.append(f"{group}: added {', '.join(new[key])}")
        elif old[key] != new[key]:
            changes.append(f"{group}: {', '.join(old[key])} is now {', '.join(new[key])}")
    more = f"; and {len(changes) - 3} more" if len(changes) > 3 else ""
    return "; ".join(changes[:3]) + more if changes else "its recorded requirements were edited"


def _packaging():
    try:
        from packaging import markers, requirements, version
    except ImportError:  # pip vendors it: present wherever pip is, even before anything is installed
        try:
            from pip._vendor.packaging import markers, requirements, version
        except ImportError:
            return None
    return markers, requirements, version


def check(root: Path = ROOT) -> None:
    """Raise LockError when the lock is not the resolution of pyproject.toml as it is now."""
    recorded, entries = read_lock(root)
    current = spec_lines(root)
    if recorded != current:
        raise LockError(f"{LOCK} does not match {PYPROJECT} ({_describe(recorded, current)}): {FIX}")
    pinned: dict[str, list[str]] = {}
    for name, version, _marker in entries:
        pinned.setdefault(name, []).append(version)
    lib = _packaging()
    for line in current:
        group, _, text = line.partition(" ")
        if group in ("requires-python", "resolver"):
            continue
        if lib is None:
            name = canonical(_NAME.match(text).group(1))
            versions, allowed = pinned.get(name, []), None
        else:
            req = lib[1].Requirement(text.replace("'", '"'))
            if req.marker is not None:
                continue  # may legitimately be absent from the lock on the resolver's platforms
            name, versions = canonical(req.name), pinned.get(canonical(req.name), [])
            allowed = [v for v in versions if req.specifier.contains(lib[2].Version(v), prereleases=True)]
        if not versions:
            raise LockError(f"{LOCK} has no pin for {text} (the lock was edited by hand?): {FIX}")
        if allowed is not None and not allowed:
            raise LockError(f"{LOCK} pins {name}=={versions[0]} but {PYPROJECT} asks for {text}: {FIX}")


def locked_for_this_python(root: Path = ROOT) -> dict[str, str]:
    """{canonical name: version} of the lock entries whose markers hold here: what pip freeze must show."""
    lib = _packaging()
    if lib is None:
        raise RuntimeError("the packaging library is needed to evaluate the lock's markers")
    _, entries = read_lock(root)
    return {
        name: version for name, version, marker in entries if not marker or lib[0].Marker(marker).evaluate()
    }


def unlocked() -> list[str]:
    """Packages installed in this interpreter's environment that the lock does not hold (to remove)."""
    from importlib import metadata

    locked = locked_for_this_python()
    names = {canonical(dist.metadata["Name"]) for dist in metadata.distributions() if dist.metadata["Name"]}
    return sorted(names - locked.keys() - {"pip", "storeuptime"})


def _uv() -> Path:
    """A uv of the pinned version in its own small environment (never in .venv: not part of the lock)."""
    tools = ROOT / ".storeuptime" / "tools" / f"uv-{UV_VERSION}"
    uv = tools / ("Scripts" if os.name == "nt" else "bin") / "uv"
    if not uv.exists():
        shutil.rmtree(tools, ignore_errors=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
            pip = [str(uv.parent / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"]
            subprocess.run(pip, check=True)
        except subprocess.CalledProcessError as error:
            shutil.rmtree(tools, ignore_errors=True)
            raise LockError(
                f"could not install uv=={UV_VERSION} into {tools} (see above); {LOCK} is unchanged"
            ) from error
    return uv


def update(upgrade: list[str]) -> None:
    """Re-resolve pyproject.toml into the lock; current pins are kept unless named in `upgrade`."""
    lines = spec_lines()
    build = [line.partition(" ")[2] for line in lines if line.startswith("build-system ")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / LOCK
        try:
            read_lock()
            shutil.copyfile(ROOT / LOCK, out)  # uv prefers the versions already in the output file
        except LockError:
            pass
        flags = ["--upgrade"] if "all" in upgrade else [f"--upgrade-package={p}" for p in upgrade]
        # `-`: the build-system requires, on standard input (pip needs them: the project is installed
        # without build isolation, so that its build backend is the locked one too).
        command = [str(_uv()), "pip", "compile", PYPROJECT, "-", *UV_ARGS, *flags, "--no-header", "-o", out]
        result = subprocess.run(
            command, cwd=ROOT, input="\n".join(build) + "\n", text=True, stdout=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise LockError(f"uv could not resolve {PYPROJECT} (see above); {LOCK} is unchanged")
        body = out.read_text(encoding="utf-8")
        start = re.search(r"^[A-Za-z0-9]", body, re.MULTILINE)  # drop the previous header uv carried over
        text = _header(lines) + "\n" + (body[start.start() :] if start else body)
    if (ROOT / LOCK).exists() and (ROOT / LOCK).read_text(encoding="utf-8") == text:
        print(f"{LOCK}: unchanged", file=sys.stderr)  # and its date too, so make install has nothing to do
        return
    new = ROOT / f".{LOCK}.tmp"
    new.write_text(text, encoding="utf-8")
    new.replace(ROOT / LOCK)
    print(f"{LOCK}: {len(read_lock()[1])} pins written", file=sys.stderr)


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["check"]:
            check()
        elif argv[:1] == ["unlocked"]:
            print(" ".join(unlocked()))
        elif argv[:1] == ["update"]:
            update(argv[1:])
        else:
            print("usage: lockfile.py check | unlocked | update [PKG...|all]", file=sys.stderr)
            return 2
    except LockError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
