"""Executable architecture rules: what may import what, and the public surface."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "ledger").glob("*.py")), ids=lambda p: p.name)
def test_ledger_never_imports_web_or_network(path):
    assert not imports_of(path) & {"fastapi", "httpx", "starlette", "uvicorn", "requests"}


@pytest.mark.parametrize("path", sorted((ROOT / "sync").glob("*.py")), ids=lambda p: p.name)
def test_sync_does_network_io_only_in_its_fetchers(path):
    """httpx errors become SyncError in one place; the verification and the fold never touch the network."""
    if path.name == "fetch.py":
        return
    assert not imports_of(path) & {"fastapi", "httpx", "starlette", "uvicorn", "requests"}, path


@pytest.mark.parametrize("path", sorted([*(ROOT / "ledger").glob("*.py"), *(ROOT / "keys").glob("*.py"),
                                         *(ROOT / "regledger").glob("*.py"), *(ROOT / "sync").glob("*.py")]),
                         ids=lambda p: p.name)
def test_only_sqlstore_touches_sql(path):
    if path.name == "sqlstore.py":
        return
    assert not imports_of(path) & {"sqlmodel", "sqlalchemy", "psycopg", "sqlite3"}, path


def test_pure_core_modules_do_no_io():
    for name in ("hashes", "merkle", "proof", "tiles", "note", "checkpoint", "entry", "keyring"):
        assert not imports_of(ROOT / "ledger" / f"{name}.py") & {"os", "pathlib", "socket", "subprocess"}, name


def test_public_names_exist():
    import importlib

    for mod in ("ledger.errors", "ledger.hashes", "ledger.merkle", "ledger.proof", "ledger.tiles", "ledger.note",
                "ledger.checkpoint", "ledger.entry", "ledger.store", "ledger.keyring", "ledger.sequencer",
                "ledger.audit", "ledger.cosignature", "keys", "keys.keystore", "sync.policy", "sync.pull",
                "sync.fetch", "sync.cascade", "sync.manage", "sync.worker"):
        m = importlib.import_module(mod)
        for name in m.__all__:
            assert hasattr(m, name), f"{mod}.{name}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = [b.split("```")[0].strip() for b in readme.split("```sh\n")[1:]]
    assert len(blocks) == 2, "the README keeps exactly two set-up commands"
    demo_cmd, test_cmd = blocks
    assert demo_cmd.endswith("regledger demo")
    assert test_cmd in (ROOT / ".ci" / "run").read_text().splitlines()
