"""Executable architecture rules: what may import what, and the public surface."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


LAYERS = ("ledger", "keys", "api", "sync", "registry")


def _top(module: str) -> str:
    """The distribution's own layers by their folder name (`regledger.ledger.x` -> `ledger`), others by package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "regledger" and len(parts) > 1 and parts[1] in LAYERS else parts[0]


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(_top(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(_top(node.module))
    return names


@pytest.mark.parametrize("path", sorted(p for d in (*LAYERS, "regledger", "tests", "benchmarks", "tools")
                                        for p in (ROOT / d).rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_one_import_namespace(path):
    """Issue 11: the layers install as subpackages of `regledger`; nothing imports them as top-level packages,
    which would load a second copy of each module beside the first (and break next to any other `api`)."""
    tree = ast.parse(path.read_text())
    top = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    top |= {n.module.split(".")[0] for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    assert not top & set(LAYERS), path


@pytest.mark.parametrize("path", sorted((ROOT / "ledger").glob("*.py")), ids=lambda p: p.name)
def test_ledger_never_imports_web_or_network(path):
    assert not imports_of(path) & {"fastapi", "httpx", "starlette", "uvicorn", "requests"}


@pytest.mark.parametrize("path", sorted((ROOT / "sync").glob("*.py")), ids=lambda p: p.name)
def test_sync_does_network_io_only_in_its_fetchers(path):
    """httpx errors become SyncError in one place; the verification and the fold never touch the network."""
    if path.name == "fetch.py":
        return
    assert not imports_of(path) & {"fastapi", "httpx", "starlette", "uvicorn", "requests"}, path


MIGRATIONS = ROOT / "ledger" / "migrations"


@pytest.mark.parametrize("path", sorted([*(ROOT / "ledger").rglob("*.py"), *(ROOT / "keys").glob("*.py"),
                                         *(ROOT / "regledger").glob("*.py"), *(ROOT / "sync").glob("*.py")]),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_only_sqlstore_touches_sql(path):
    """SQL lives in ledger/sqlstore.py, and the schema's revisions in ledger/migrations/ (Alembic), only."""
    if path == ROOT / "ledger" / "sqlstore.py" or MIGRATIONS in path.parents:
        return
    assert not imports_of(path) & {"sqlmodel", "sqlalchemy", "psycopg", "sqlite3", "alembic"}, path


def test_migrations_touch_only_sql():
    """The schema's revisions know tables, not the ledger: they import nothing of it but each other."""
    for path in MIGRATIONS.rglob("*.py"):
        assert imports_of(path) <= {"__future__", "alembic", "sqlalchemy", "functools", "pathlib"}, path


def test_pure_core_modules_do_no_io():
    for name in ("hashes", "merkle", "proof", "tiles", "note", "checkpoint", "entry", "keyring"):
        assert not imports_of(ROOT / "ledger" / f"{name}.py") & {"os", "pathlib", "socket", "subprocess"}, name


def test_public_names_exist():
    import importlib

    for mod in ("ledger.errors", "ledger.hashes", "ledger.merkle", "ledger.proof", "ledger.tiles", "ledger.note",
                "ledger.checkpoint", "ledger.entry", "ledger.store", "ledger.keyring", "ledger.sequencer",
                "ledger.audit", "ledger.cosignature", "keys", "keys.keystore", "sync.policy", "sync.pull",
                "sync.fetch", "sync.cascade", "sync.manage", "sync.worker"):
        m = importlib.import_module(f"regledger.{mod}")
        for name in m.__all__:
            assert hasattr(m, name), f"{mod}.{name}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = [b.split("```")[0].strip() for b in readme.split("```sh\n")[1:]]
    assert len(blocks) == 2, "the README keeps exactly two set-up commands"
    demo_cmd, test_cmd = blocks
    assert demo_cmd.endswith("regledger demo")
    assert test_cmd in (ROOT / ".ci" / "run").read_text().splitlines()


SOURCE = sorted(p for pkg in ("ledger", "keys", "sync", "registry", "api", "regledger")
                for p in (ROOT / pkg).rglob("*.py"))


def _message_tests(tree: ast.AST) -> list[str]:
    """`x in str(...)` / `"literal" in y`: a decision taken on text, where a type or a code should say it."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare) or not any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            continue
        on_str_call = any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "str"
                          for c in node.comparators)
        literal = node.left.value if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) else None
        if on_str_call or (literal is not None and literal.startswith(("HTTP ", "locked", "busy"))):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", SOURCE, ids=lambda p: str(p.relative_to(ROOT)))
def test_failures_are_told_by_type_or_code_not_by_message(path):
    """Issue 11: a peer's refusal is a PeerRefusedError with .status (not "HTTP 409" in its text), SQLite busy
    is its error code (not "locked"/"busy" in the message), a workflow refusal's HTTP status comes from its
    type; and no exception (UnboundLocalError) stands in for an explicit branch."""
    tree = ast.parse(path.read_text())
    assert _message_tests(tree) == [], path
    caught = {ast.unparse(h.type) for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.type}
    assert not any("UnboundLocalError" in c for c in caught), path


def test_the_message_rule_catches_what_it_names():
    for text in ('"HTTP 409" not in str(exc)', '"locked" in text or "busy" in text', "detail in str(err)"):
        assert _message_tests(ast.parse(text)), text
    assert _message_tests(ast.parse("exc.status != 409 or kind in KINDS")) == []


def test_sync_uses_only_the_fetcher_protocol():
    """What pull asks of a fetcher is declared in sync.fetch.Fetcher, not probed with getattr."""
    for path in sorted((ROOT / "sync").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr",
                                                                                                  "hasattr"):
                assert not (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "fetcher"), \
                    f"{path.name} line {node.lineno}: {ast.unparse(node)}"


def test_problem_status_of_a_workflow_refusal_comes_from_its_type():
    """api.problems chooses 403/409/422 by the refusal's class, never by its field path."""
    from regledger.registry.workflow import NotPermittedError, StepNotAllowedError, StepPayloadError, WorkflowError

    tree = ast.parse((ROOT / "api" / "problems.py").read_text())
    status_fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_ledger_status")
    assert not [n for n in ast.walk(status_fn) if isinstance(n, ast.Attribute) and n.attr == "field"]
    for kind in (NotPermittedError, StepNotAllowedError, StepPayloadError):
        assert issubclass(kind, WorkflowError)
    registry = (ROOT / "registry" / "workflow.py").read_text()
    assert "raise WorkflowError(" not in registry, "raise the kind of refusal it is"
