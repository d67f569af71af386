"""Issue 16: schema versions.  A database made by the code from before schema versions (the committed
fixture, tests/fixtures/today/) is upgraded by `regledger db upgrade`, then audits clean, serves exactly
what it served, and takes new writes, on SQLite and on PostgreSQL; `serve` refuses a database older or
newer than the code."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from regledger.api import create_app
from regledger.api.settings import Settings
from regledger.cli import main
from regledger.home import Home
from regledger.ledger.checkpoint import open_checkpoint
from regledger.ledger.entry import sign_statement
from regledger.ledger.errors import SchemaVersionError
from regledger.ledger.proof import verify_consistency
from regledger.ledger.sqlstore import SQLStore
from regledger.ledger.vmap import map_root_of, open_status_proof

FIXTURE = Path(__file__).parent / "fixtures" / "today"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
PASSPHRASE = "fixture-passphrase-not-secret"  # TEST DATA (see the fixture's README)


@pytest.fixture(params=["sqlite", "postgres"])
def today(request, tmp_path, monkeypatch) -> tuple[str, list[str], dict]:
    """A copy of the fixture instance: (engine, the CLI's --home/--db arguments, what it served then)."""
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("REGLEDGER_DB", raising=False)
    home = tmp_path / "home"
    if request.param == "sqlite":
        shutil.copytree(FIXTURE / "sqlite-home", home)
        return "sqlite", ["--home", str(home)], EXPECTED["sqlite"]
    url = request.getfixturevalue("pg_url")
    shutil.copytree(FIXTURE / "pg-home", home, ignore=shutil.ignore_patterns("*.sql"))
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-f", str(FIXTURE / "pg-home" / "ledger.pg.sql")],
        check=True,
        capture_output=True,
    )
    return "postgres", ["--home", str(home), "--db", url], EXPECTED["postgres"]


def _home(where: list[str]) -> Home:
    return Home(Path(where[1]), where[3] if len(where) > 3 else None)


def _log_rows(store: SQLStore) -> tuple[list, list, list]:
    """The rows no migration may rewrite: leaves, tiles, checkpoint notes."""
    leaves = store.read_entries(0, store.head().size)
    return leaves, list(store.iter_tiles()), list(store.iter_checkpoints())


def test_the_fixture_is_upgraded_then_audits_serves_the_same_and_takes_writes(today, capsys):
    engine, where, expected = today
    home = _home(where)
    assert main(["serve", *where]) == 1
    err = capsys.readouterr().err
    assert "no schema revision" in err and "revision 0004" in err and "regledger db upgrade" in err
    assert main(["db", "current", *where]) == 0
    out = capsys.readouterr().out
    assert out.startswith("database revision unversioned; this code's revision is 0004") and "db upgrade" in out

    before = SQLStore(home.url(), check_schema=False)
    rows = _log_rows(before)
    before.close()
    assert main(["db", "upgrade", *where]) == 0
    out = capsys.readouterr().out
    assert "from revision unversioned to 0004" in out
    assert "rebuilt the state cache (derived rows" in out  # 0003: query-code rows come from the entries
    assert main(["db", "upgrade", *where]) == 0  # idempotent
    out = capsys.readouterr().out
    assert "already up to date" in out and "rebuilt" not in out
    ledger = home.open()
    assert _log_rows(ledger.store) == rows
    assert main(["audit", *where]) == 0
    assert f"published size {expected['size']}" in capsys.readouterr().out

    app = create_app(ledger, Settings(run_integrator=False, self_audit_interval=0))
    with TestClient(app) as client:
        for url, body in expected["served"].items():
            r = client.get(url)
            assert (r.status_code, r.text) == (200, body), url
    old_note = ledger.checkpoint()[1]

    admin = home.admin()
    for i in range(3):
        ledger.append(sign_statement(admin, kind="sample.resource", subject=f"after-upgrade-{i}", payload={"i": i}))
    size = ledger.integrate()
    assert size == expected["size"] + 3
    old, _ = open_checkpoint(old_note, ledger.origin, ledger.verifier())
    new, _ = open_checkpoint(ledger.checkpoint()[1], ledger.origin, ledger.verifier())
    verify_consistency(old.size, new.size, old.root, new.root, ledger.consistency_proof(old.size, new.size))
    assert ledger.store.checkpoint_chain()[-1] == (size, expected["size"])
    # 0004: the checkpoints signed before it carry no map line; the first after it maps the whole log
    assert map_root_of(old) is None and map_root_of(new) is not None
    registrations = [st for st in ledger.store.iter_states() if st.subject.startswith("reg:")]
    assert registrations
    for st in registrations:
        doc = ledger.status_proof(st.subject)
        assert doc["value"] == {"indexes": [h["index"] for h in st.state["history"]]}
        open_status_proof(doc, origin=ledger.origin, verifier=ledger.verifier())
    ledger.store.close()
    assert main(["audit", *where]) == 0
    assert f"published size {size}" in capsys.readouterr().out


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request, tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'x.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_migrations_build_exactly_the_models_tables(empty_url):
    """The revisions, run from nothing, make the tables a fresh `init` makes from the models (head)."""
    store = SQLStore(empty_url, check_schema=False)
    assert store.schema_revisions() == (None, "0004")
    assert store.upgrade_schema() == (None, "0004")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    store.close()
    assert diff == []
    fresh = SQLStore(empty_url, create=True)  # create on a migrated, empty schema: adds the head rows only
    assert fresh.head().size == 0 and fresh.schema_revisions() == ("0004", "0004")
    fresh.close()


def test_init_stamps_the_head_revision(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("REGLEDGER_DB", raising=False)
    where = ["--home", str(tmp_path / "h")]
    assert main(["init", "--origin", "test.regledger.example/9", *where]) == 0
    capsys.readouterr()
    assert main(["db", "current", *where]) == 0
    assert capsys.readouterr().out.strip() == "database revision 0004: up to date with this code"
    with sqlite3.connect(tmp_path / "h" / "ledger.sqlite") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]


def test_a_database_newer_than_the_code_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("REGLEDGER_DB", raising=False)
    where = ["--home", str(tmp_path / "h")]
    assert main(["init", "--origin", "test.regledger.example/9", *where]) == 0
    with sqlite3.connect(tmp_path / "h" / "ledger.sqlite") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    capsys.readouterr()
    assert main(["db", "current", *where]) == 0
    assert "newer than this code's" in capsys.readouterr().out
    assert main(["serve", *where]) == 1
    err = capsys.readouterr().err
    assert "schema revision 0099, newer than this code's revision 0004" in err and "regledger db current" in err
    assert main(["db", "upgrade", *where]) == 1  # nothing to do: it cannot move a database back
    assert "newer than this code's revision 0004" in capsys.readouterr().err
    with pytest.raises(SchemaVersionError) as info:
        SQLStore(f"sqlite:///{tmp_path / 'h' / 'ledger.sqlite'}")
    assert (info.value.database, info.value.code, info.value.problem) == ("0099", "0004", "schema-ahead")


def test_every_command_refuses_an_old_database(today):
    """Every command that opens the ledger refuses the old schema (not just serve): no half-read answers."""
    _, where, _ = today
    with pytest.raises(SchemaVersionError) as info:
        _home(where).open()
    assert (info.value.problem, info.value.database, info.value.code) == ("schema-behind", "unversioned", "0004")
