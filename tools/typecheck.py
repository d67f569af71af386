"""Type-check regledger with mypy, which cannot read setuptools' package-dir mapping.

The folders ledger/, keys/, api/, sync/ and registry/ install as regledger.ledger, regledger.keys, … (see
[tool.setuptools.package-dir] in pyproject.toml), so mypy run on the checkout would see top-level packages named
`ledger` or `api` that the code never imports.  This script builds a throw-away tree of symlinks laid out the way
the package installs (.mypy_tree/src/regledger/ledger/x.py -> ledger/x.py, …), runs mypy on it with the settings in
pyproject.toml ([tool.mypy]: strict for regledger.ledger.* and regledger.keys.*, the default elsewhere), and prints
each finding with the path of the real file in the checkout.

    python tools/typecheck.py            # the package, benchmarks/ and tools/
    python tools/typecheck.py --package  # the package only

Exits with mypy's status: 0 when there is nothing to report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".mypy_tree"
SCRIPTS = ("benchmarks", "tools")


def package_dirs() -> dict[str, str]:
    """The installed package name of each source folder, as setuptools maps them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(config["tool"]["setuptools"]["package-dir"])


def build_tree() -> dict[str, str]:
    """Lay the sources out as installed; returns tree-relative prefixes to their real, checkout-relative paths."""
    shutil.rmtree(TREE, ignore_errors=True)
    prefixes = {}
    # Shallowest names first: regledger/ is a real directory of links before regledger/ledger/ is made in it.
    for package, folder in sorted(package_dirs().items(), key=lambda item: item[0].count(".")):
        target = TREE.joinpath("src", *package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for child in (ROOT / folder).iterdir():
            if child.name == "__pycache__" or (target / child.name).exists():
                continue
            (target / child.name).symlink_to(child)
        prefixes[f"{target.relative_to(TREE / 'src')}/"] = f"{folder}/"
    # Scripts are checked in place; each folder is its own import root, as when run as `python benchmarks/x.py`.
    for folder in SCRIPTS:
        (TREE / folder).symlink_to(ROOT / folder)
    return prefixes


def real_path(line: str, prefixes: dict[str, str]) -> str:
    """`regledger/ledger/entry.py:3: error: …` -> `ledger/entry.py:3: error: …` (longest prefix wins)."""
    line = line.removeprefix("src/")
    for tree_prefix in sorted(prefixes, key=len, reverse=True):
        if line.startswith(tree_prefix):
            return prefixes[tree_prefix] + line[len(tree_prefix) :]
    return line


def main(argv: list[str]) -> int:
    prefixes = build_tree()
    targets = ["src/regledger"]
    if "--package" not in argv:
        targets += [str(p.relative_to(ROOT)) for folder in SCRIPTS for p in sorted((ROOT / folder).rglob("*.py"))]
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(ROOT / ".mypy_cache"),
        *targets,
    ]
    env = {**os.environ, "MYPYPATH": os.pathsep.join([str(TREE / "src"), *(str(TREE / f) for f in SCRIPTS)])}
    result = subprocess.run(command, cwd=TREE, env=env, capture_output=True, text=True)
    for line in (result.stdout + result.stderr).splitlines():
        print(real_path(line, prefixes))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
