"""Issue 16: backups that verify, restores that are never a silent rollback, and `db copy` to PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from regledger.cli import main
from regledger.home import Home
from regledger.ledger.entry import sign_statement
from regledger.ledger.errors import ConflictError, PushbackError
from regledger.ledger.sqlstore import SQLStore

ORIGIN = "test.regledger.example/16"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", "test-passphrase-not-secret")
    monkeypatch.delenv("REGLEDGER_DB", raising=False)


def make_home(path: Path, db: str | None = None, *, entries: int = 0) -> Home:
    home = Home(path, db)
    ledger = home.init(ORIGIN, say=lambda *_: None)
    append(home, "e", entries)
    ledger.store.close()
    return home


def append(home: Home, tag: str, n: int) -> int:
    ledger = home.open()
    admin = home.admin()
    for i in range(n):
        ledger.append(sign_statement(admin, kind="sample.resource", subject=f"{tag}-{i}", payload={"i": i}))
    size = ledger.integrate()
    ledger.store.close()
    return size


def args(home: Home) -> list[str]:
    return ["--home", str(home.path), *(["--db", home.db_url] if home.db_url else [])]


def twin(home: Home, path: Path) -> Home:
    """Another home with the same config and keys and an empty SQLite database (a machine rebuilt)."""
    path.mkdir()
    shutil.copy(home.config_path, path / "config.json")
    shutil.copytree(home.path / "keys", path / "keys")
    return Home(path)


def latest(home: Home) -> tuple[int, bytes]:
    store = SQLStore(home.url())
    try:
        found = store.latest_checkpoint()
        assert found is not None
        return found
    finally:
        store.close()


def _writer(home: Home, tag: str, integrate: bool, stop: threading.Event, errors: list) -> None:
    ledger = home.open()
    admin = home.admin()
    i = 0
    try:
        while not stop.is_set():
            ledger.append(sign_statement(admin, kind="sample.resource", subject=f"{tag}-{i}", payload={"i": i}))
            if integrate and i % 4 == 0:
                try:
                    ledger.integrate()
                except (ConflictError, PushbackError):
                    pass  # the other writer's integration won; the next one catches up
            i += 1
    except Exception as exc:  # noqa: BLE001 - reported to the test below
        errors.append(exc)
    finally:
        ledger.store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def instance(request, tmp_path) -> Home:
    db = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    return make_home(tmp_path / "home", db, entries=20)


def test_backup_under_load_restores_every_entry_its_checkpoint_covers(instance, tmp_path, capsys):
    stop, errors = threading.Event(), []
    writers = [threading.Thread(target=_writer, args=(instance, f"w{k}", k == 0, stop, errors)) for k in range(2)]
    for w in writers:
        w.start()
    try:
        while latest(instance)[0] < 60 and not errors:  # writers are well under way
            stop.wait(0.05)
        before = SQLStore(instance.url()).head().size
        out = tmp_path / "b.sqlite"
        assert main(["backup", str(out), *args(instance)]) == 0
        during = SQLStore(instance.url()).head().size
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert not errors and during > before  # entries were appended while the backup ran
    assert "audits clean" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.glob("b.sqlite*")) == ["b.sqlite", "b.sqlite.checkpoint"]
    note = (tmp_path / "b.sqlite.checkpoint").read_bytes()
    size = int(note.split(b"\n")[1])
    assert size >= 60

    rebuilt = twin(instance, tmp_path / "rebuilt")
    assert main(["restore", str(out), *args(rebuilt)]) == 0
    assert main(["audit", *args(rebuilt)]) == 0
    assert f"published size {size}" in capsys.readouterr().out
    assert latest(rebuilt) == (size, note) and not list(rebuilt.path.glob(".restore-*"))
    src, dst = SQLStore(instance.url()), SQLStore(rebuilt.url())
    assert dst.read_entries(0, size) == src.read_entries(0, size)
    assert dst.checkpoint(size) == src.checkpoint(size) == note
    src.close()
    dst.close()


def test_an_older_backup_is_refused_and_forced_only_with_evidence(tmp_path, capsys):
    home = make_home(tmp_path / "home", entries=5)
    old_size, old_note = latest(home)
    assert main(["backup", str(tmp_path / "old.sqlite"), *args(home)]) == 0
    new_size = append(home, "later", 7)
    new_note = latest(home)[1]
    capsys.readouterr()

    assert main(["restore", str(tmp_path / "old.sqlite"), *args(home)]) == 1
    err = capsys.readouterr().err
    assert "would roll the log back" in err and f"latest checkpoint has size {new_size}, the backup's {old_size}" in err
    assert latest(home) == (new_size, new_note) and not (home.path / "rollbacks").exists()

    assert main(["restore", str(tmp_path / "old.sqlite"), "--force", *args(home)]) == 0
    err = capsys.readouterr().err
    assert "ROLLBACK" in err
    (evidence,) = (home.path / "rollbacks").iterdir()
    text = evidence.read_bytes()
    assert new_note in text and old_note in text and str(tmp_path / "old.sqlite").encode() in text
    assert latest(home) == (old_size, old_note)
    assert main(["audit", *args(home)]) == 0


def test_a_damaged_instance_is_compared_by_the_checkpoints_it_kept(tmp_path, capsys):
    """The published checkpoint's row is lost (the reason to restore): the largest kept one still counts."""
    home = make_home(tmp_path / "home", entries=3)
    assert main(["backup", str(tmp_path / "b.sqlite"), *args(home)]) == 0
    kept = append(home, "a", 2)
    lost = append(home, "b", 2)
    with sqlite3.connect(home.path / "ledger.sqlite") as conn:
        conn.execute("DELETE FROM rl_checkpoints WHERE size = ?", (lost,))
    capsys.readouterr()
    assert main(["restore", str(tmp_path / "b.sqlite"), *args(home)]) == 1
    assert f"latest checkpoint has size {kept}" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "b.sqlite"), "--force", *args(home)]) == 0
    assert main(["audit", *args(home)]) == 0


def test_a_backup_that_fails_audit_or_whose_checkpoint_differs_is_refused(tmp_path, capsys):
    home = make_home(tmp_path / "home", entries=5)
    out = tmp_path / "b.sqlite"
    assert main(["backup", str(out), *args(home)]) == 0
    rebuilt = twin(home, tmp_path / "rebuilt")

    bad = tmp_path / "bad.sqlite"
    shutil.copy(out, bad)
    shutil.copy(tmp_path / "b.sqlite.checkpoint", tmp_path / "bad.sqlite.checkpoint")
    with sqlite3.connect(bad) as conn:
        leaf = conn.execute("SELECT leaf FROM rl_entries WHERE idx = 3").fetchone()[0]
        conn.execute("UPDATE rl_entries SET leaf = ? WHERE idx = 3", (leaf.replace(b'"i":2', b'"i":9'),))
    capsys.readouterr()
    assert main(["restore", str(bad), *args(rebuilt)]) == 1
    assert "the backup fails audit, nothing was restored" in capsys.readouterr().err
    assert SQLStore(rebuilt.url(), check_schema=False).schema_revisions()[0] is None  # untouched: still empty

    store = SQLStore(home.url())
    (tmp_path / "b.sqlite.checkpoint").write_bytes(store.checkpoint(1))  # signed, but not the backup's latest
    store.close()
    assert main(["restore", str(out), *args(rebuilt)]) == 1
    assert "is not the backup's latest checkpoint" in capsys.readouterr().err
    (tmp_path / "b.sqlite.checkpoint").unlink()
    assert main(["restore", str(out), *args(rebuilt)]) == 1
    assert "and its checkpoint" in capsys.readouterr().err

    with sqlite3.connect(home.path / "ledger.sqlite") as conn:  # damage the instance: no backup is named
        conn.execute("UPDATE rl_entries SET leaf = ? WHERE idx = 3", (leaf.replace(b'"i":2', b'"i":9'),))
    assert main(["backup", str(tmp_path / "c.sqlite"), *args(home)]) == 1
    assert "entry 3" in capsys.readouterr().err and not list(tmp_path.glob("c.sqlite*"))


def test_a_backup_of_a_fork_is_refused_even_with_force(tmp_path, capsys):
    home = make_home(tmp_path / "home", entries=5)
    fork = Home(tmp_path / "fork")
    shutil.copytree(home.path, fork.path)  # same keys, same log so far; then both go their own way
    append(home, "here", 3)
    append(fork, "there", 6)
    assert main(["backup", str(tmp_path / "fork.sqlite"), *args(fork)]) == 0
    before = latest(home)
    for force in ([], ["--force"]):
        capsys.readouterr()
        assert main(["restore", str(tmp_path / "fork.sqlite"), *force, *args(home)]) == 1
        assert "not consistent with this instance's" in capsys.readouterr().err
    assert latest(home) == before and not (home.path / "rollbacks").exists()


def test_a_backup_older_than_what_the_parent_cosigned_is_a_rollback(tmp_path, capsys):
    home = make_home(tmp_path / "home", entries=5)
    size = latest(home)[0]
    assert main(["backup", str(tmp_path / "b.sqlite"), *args(home)]) == 0
    store = SQLStore(home.url())  # as if the instance's own rows were lost, but not what its parent cosigned
    store.add_cosignatures([(ORIGIN, size + 10, "parent.example+01234567+AAAA", "— parent.example AAAA")])
    store.close()
    capsys.readouterr()
    assert main(["restore", str(tmp_path / "b.sqlite"), *args(home)]) == 1
    assert f"has seen size {size + 10}, the backup covers {size}" in capsys.readouterr().err


def test_db_copy_from_sqlite_to_postgres(tmp_path, pg_url, capsys):
    home = make_home(tmp_path / "home", entries=30)
    size, note = latest(home)
    capsys.readouterr()
    assert main(["db", "copy", "--to", pg_url, *args(home)]) == 0
    out = capsys.readouterr().out
    assert f"copied {size} entries" in out and "audits clean" in out and "byte for byte" in out
    moved = Home(home.path, pg_url)
    assert latest(moved) == (size, note)
    assert append(moved, "on-postgres", 2) == size + 2  # the copy takes writes
    assert main(["audit", *args(moved)]) == 0
    capsys.readouterr()
    assert main(["db", "copy", "--to", pg_url, *args(home)]) == 1  # never over another ledger
    assert "already holds a ledger" in capsys.readouterr().err
