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


@pytest.mark.parametrize(
    "path",
    sorted(p for d in (*LAYERS, "regledger", "tests", "benchmarks", "tools") for p in (ROOT / d).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_one_import_namespace(path):
    """Issue 11: the layers install as subpackages of `regledger`; nothing imports them as top-level packages,
    which would load a second copy of each module beside the first (and break next to any other `api`)."""
    tree = ast.parse(path.read_text())
    top = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    top |= {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0
    }
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


@pytest.mark.parametrize(
    "path",
    sorted(
        [
            *(ROOT / "ledger").rglob("*.py"),
            *(ROOT / "keys").glob("*.py"),
            *(ROOT / "regledger").glob("*.py"),
            *(ROOT / "sync").glob("*.py"),
        ]
    ),
    ids=lambda p: str(p.relative_to(ROOT)),
)
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

    for mod in (
        "ledger.errors",
        "ledger.hashes",
        "ledger.merkle",
        "ledger.proof",
        "ledger.tiles",
        "ledger.note",
        "ledger.checkpoint",
        "ledger.entry",
        "ledger.store",
        "ledger.keyring",
        "ledger.sequencer",
        "ledger.audit",
        "ledger.cosignature",
        "keys",
        "keys.keystore",
        "sync.policy",
        "sync.pull",
        "sync.fetch",
        "sync.cascade",
        "sync.manage",
        "sync.worker",
    ):
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


SOURCE = sorted(
    p for pkg in ("ledger", "keys", "sync", "registry", "api", "regledger") for p in (ROOT / pkg).rglob("*.py")
)


def _message_tests(tree: ast.AST) -> list[str]:
    """`x in str(...)` / `"literal" in y`: a decision taken on text, where a type or a code should say it."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare) or not any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            continue
        on_str_call = any(
            isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "str" for c in node.comparators
        )
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
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
            ):
                assert not (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "fetcher"), (
                    f"{path.name} line {node.lineno}: {ast.unparse(node)}"
                )


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


# -- issue 11: dependencies point one way, and an entry is accepted by one fold ---------------------------


def _layer_files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize(
    "layer, forbidden",
    [
        ("keys", {"ledger", "sync", "registry", "api"}),
        ("ledger", {"api", "sync", "registry"}),
        ("sync", {"registry", "api"}),
    ],
)
def test_dependencies_point_one_way(layer, forbidden):
    """keys/ is the bottom (ledger re-exports its error roots); ledger/ knows no domain, cascade or web; the
    cascade reaches the register only through the sync.domain hook.  Imports inside functions count too."""
    found = {str(p.relative_to(ROOT)): sorted(imports_of(p) & forbidden) for p in _layer_files(layer)}
    assert {p: f for p, f in found.items() if f} == {}


def _relative_imports(path: Path) -> set[str]:
    """`from .x import y` / `from . import x` / `from ..routes import x`, as dotted names relative to api/."""
    names = set()
    base = path.relative_to(ROOT / "api").parent.parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            here = list(base[: len(base) - (node.level - 1)]) if node.level > 1 else list(base)
            mod = here + (node.module.split(".") if node.module else [])
            names.update(".".join(mod + [a.name]) for a in node.names)
            names.add(".".join(mod))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("regledger.api."):
            names.add(node.module.removeprefix("regledger.api."))
            names.update(f"{node.module.removeprefix('regledger.api.')}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                a.name.removeprefix("regledger.api.") for a in node.names if a.name.startswith("regledger.api.")
            )
    return names


ROUTERS = {p.stem for p in (ROOT / "api" / "routes").glob("*.py") if p.stem != "__init__"}


@pytest.mark.parametrize(
    "path",
    sorted([*(ROOT / "api" / "routes").glob("*.py"), ROOT / "api" / "pages.py"]),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_routers_do_not_import_sibling_routers(path):
    """What two routers share (e.g. registration lookup and paging, api/lookup.py) lives outside both."""
    mine = path.stem if path.parent.name == "routes" else None
    siblings = {f"routes.{r}" for r in ROUTERS if r != mine}
    assert not _relative_imports(path) & siblings, path


def test_the_sync_router_does_not_verify_checkpoints_itself():
    """It parses, calls sync/ (sync.manage.child_notice) and shapes the answer."""
    names = imports_of_modules(ROOT / "api" / "routes" / "sync.py")
    assert not names & {"regledger.ledger.note", "regledger.ledger.checkpoint", "regledger.keys.vkey"}, names


def imports_of_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0
    }


def _calls(path: Path, name: str) -> list[int]:
    """Lines where `name(...)` or `x.name(...)` is called."""
    return [
        n.lineno
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Call)
        and (
            (isinstance(n.func, ast.Name) and n.func.id == name)
            or (isinstance(n.func, ast.Attribute) and n.func.attr == name)
        )
    ]


FOLD_CALLERS = ("ledger/sequencer.py", "ledger/policy.py", "ledger/audit.py", "sync/pull.py", "sync/policy.py")


def test_one_fold_accepts_every_entry():
    """Key lookup, signature, policy and key change are written once (ledger/fold.py): the sequencer, replay,
    audit, pull and the cascade's mirror call it, and nothing else finds a signing key, decides a key change or
    checks a statement's signature by hand (ledger/cosignature.py checks cosignatures on checkpoints)."""
    for caller in FOLD_CALLERS:
        assert _calls(ROOT / caller, "fold_entry"), f"{caller} does not fold with ledger.fold.fold_entry"
    by_hand = {}
    for path in (p for d in (*LAYERS, "regledger") for p in (ROOT / d).rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in ("ledger/fold.py", "ledger/keyring.py") or rel.startswith("keys/"):
            continue
        lines = _calls(path, "signing_key") + _calls(path, "key_change")
        if rel != "ledger/cosignature.py":
            lines += _calls(path, "verify_ed25519")
        if lines:
            by_hand[rel] = lines
    assert by_hand == {}


#: subject-key prefix -> the one module that may spell it (issue 11: each kind of subject state has one owner)
KEY_OWNERS = {
    "reg:": "registry/state.py",
    "code:": "registry/state.py",
    "seq:": "registry/state.py",
    "query:": "registry/state.py",
    "sync:": "sync/state.py",
    "route:": "sync/state.py",
    "relay:": "sync/state.py",
    "key:": "sync/state.py",
    "@": "sync/state.py",
    "calendar:": "registry/calendar.py",
    "nonce:": "ledger/policy.py",
}


def _hand_built_keys(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, prefix) of each string literal that starts a subject key: a prefix followed by anything but
    white space (log lines such as "sync: pulled …" are text).  In an f-string, a word prefix counts in any
    literal part (f"{ns}code:{c}"); the mirror mark '@' only at the very start (f"{name}@{origin}" is a name)."""

    def starts_key(s: str, prefixes: tuple[str, ...]) -> str | None:
        return next((p for p in prefixes if s.startswith(p) and not s[len(p) : len(p) + 1].isspace()), None)

    words = tuple(p for p in KEY_OWNERS if p != "@")
    in_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [
                (i, v.value)
                for i, v in enumerate(node.values)
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            ]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstrings:
            parts = [(0, node.value)]
        else:
            continue
        for i, text in parts:
            hit = starts_key(text, words) or (starts_key(text, ("@",)) if i == 0 else None)
            if hit:
                found.append((node.lineno, hit))
    return sorted(set(found))


@pytest.mark.parametrize("path", SOURCE, ids=lambda p: str(p.relative_to(ROOT)))
def test_subject_keys_are_built_only_by_their_owner(path):
    """Keys come from the owner's builders (registry.state.registration_key, sync.state.child_key, …), so a
    key's spelling lives in one place; JSON members and log text are not keys."""
    rel = str(path.relative_to(ROOT))
    wrong = [(line, p) for line, p in _hand_built_keys(ast.parse(path.read_text())) if KEY_OWNERS[p] != rel]
    assert wrong == [], f"{rel}: subject keys built by hand (line, prefix): {wrong}; use {KEY_OWNERS[wrong[0][1]]}"


def test_the_key_rule_catches_what_it_names():
    for text in (
        'f"reg:{x}"',
        'f"{ns}code:{key}"',
        '"seq:" + prefix',
        'f"@{origin}:"',
        's.startswith("sync:")',
        'get_states(["reg:gz-weather"])',
    ):
        assert _hand_built_keys(ast.parse(text)), text
    for text in (
        'log.info("sync: pulled %d", n)',
        'f"{name}@{origin}"',
        '"calendar: %s"',
        '"parent"',
        'f"the code {code} is taken"',
    ):
        assert _hand_built_keys(ast.parse(text)) == [], text
