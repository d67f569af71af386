"""The cascade with real processes: a child rewritten after a pull is a fork; a parent killed mid-pull resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cascade_env import Instance, env

from regledger.home import Home
from regledger.ledger.entry import Entry, canonical_json
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore


@pytest.fixture
def pair(tmp_path):
    child = Instance("child", tmp_path / "child", "regledger.test/520115").init()
    parent = Instance("parent", tmp_path / "parent", "regledger.test/520100").init()
    parent.run("sync", "add-child", child.url, "--key", child.vkey)
    yield child, parent
    child.stop()
    parent.stop()


def _state(inst: Instance, origin: str) -> dict:
    store = SQLStore(f"sqlite:///{inst.home / 'ledger.sqlite'}")
    try:
        st = store.get_states([f"sync:{origin}"]).get(f"sync:{origin}")
        return dict(st.state) if st else {}
    finally:
        store.close()


def _cascaded_indexes(inst: Instance, origin: str) -> list[int]:
    store = SQLStore(f"sqlite:///{inst.home / 'ledger.sqlite'}")
    try:
        size = store.head().size
        out = []
        for start in range(0, size, 1000):
            for leaf, _ in store.read_entries(start, min(size, start + 1000)):
                st = Entry.from_leaf(leaf).statement
                if st.kind == "sync.entries" and st.subject == origin:
                    out += [Entry.from_leaf(canonical_json(o)).index for o in st.payload["entries"]]
        return out
    finally:
        store.close()


def _rewrite(child: Instance, entries: int) -> None:
    """Replace the child's database with another history signed by the same keys."""
    home = Home(child.home)
    for suffix in ("", "-wal", "-shm", ".writer-lock"):
        p = child.home / f"ledger.sqlite{suffix}"
        if p.exists():
            p.unlink()
    os.environ.setdefault("REGLEDGER_PASSPHRASE", env()["REGLEDGER_PASSPHRASE"])
    store = SQLStore(home.url(), create=True)
    ledger = Ledger(store, origin=child.origin, log_signer=home.signer("log", child.origin))
    ledger.integrate()
    admin = home.admin()
    ledger.append(register_key_statement(admin, admin, "admin"))
    from regledger.ledger.entry import sign_statement

    ledger.append_batch(
        [sign_statement(admin, kind="sample.rewritten", subject=f"r-{i}", payload={"i": i}) for i in range(entries)],
        receipts=False,
    )
    ledger.integrate()
    store.close()


def test_a_child_rewritten_after_a_pull_is_detected_on_the_next_pull(pair, monkeypatch):
    child, parent = pair
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", env()["REGLEDGER_PASSPHRASE"])
    child.run("demo", "--synthetic", "300")
    child.start(interval=0)
    parent.run("sync", "pull")
    before = json.loads(parent.run("sync", "status", "--json").stdout)[0]
    assert before["state"] == "ok" and before["verified_size"] > 300
    child.stop()
    _rewrite(child, before["verified_size"] + 50)
    child.start(interval=0)
    r = parent.run("sync", "pull", check=False)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "FORK" in r.stderr and child.origin in r.stderr
    st = parent.run("sync", "status", "--json", check=False)
    assert st.returncode == 3
    [row] = json.loads(st.stdout)
    assert (row["origin"], row["state"], row["verified_size"]) == (child.origin, "forked", before["verified_size"])
    assert row["fork"]["accepted"] == before["checkpoint"]
    assert row["fork"]["conflicting"].startswith(f"{child.origin}\n{before['verified_size'] + 51}\n")
    # the next pull is refused without touching the child's entries; the parent's own log still audits
    again = parent.run("sync", "pull", check=False)
    assert again.returncode == 3
    assert _cascaded_indexes(parent, child.origin) == list(range(before["verified_size"]))
    parent.run("audit")
    # the API shows the alert too
    parent.start(interval=0)
    status = parent.get("/v1/sync/status")
    assert status["children"][0]["state"] == "forked"


def test_a_parent_killed_mid_pull_resumes_with_no_duplicate_and_no_gap(pair):
    child, parent = pair
    child.run("demo", "--synthetic", "30000", timeout=900)
    child.start(interval=0)
    size = int(child.get("/log/checkpoint").split(b"\n")[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "regledger.cli", "sync", "pull", "--home", str(parent.home), "--workers", "1"],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    caught = None
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        got = _state(parent, child.origin).get("size", 0)
        if 0 < got < size:
            proc.send_signal(signal.SIGKILL)
            caught = got
            break
        time.sleep(0.02)
    proc.wait()
    assert caught is not None, "the pull finished before it could be killed mid-way; raise the entry count"
    partial = _state(parent, child.origin)
    assert partial["verified_size"] == 0 and 0 < partial["size"] < size
    assert _cascaded_indexes(parent, child.origin) == list(range(partial["size"]))
    r = parent.run("sync", "pull")
    assert f"{size - partial['size']} entries verified and recorded" in r.stdout, r.stdout  # only the rest
    assert _cascaded_indexes(parent, child.origin) == list(range(size))
    assert _state(parent, child.origin)["verified_size"] == size
    parent.run("audit")


def test_a_push_makes_the_parent_pull_and_a_parent_that_is_down_is_retried(pair):
    from cascade_env import wait_for

    child, parent = pair
    child.run("sync", "set-parent", parent.url, "--key", parent.vkey)
    child.run("demo", "--synthetic", "100")
    child.start(interval=0)  # the child's own loop is off: only the CLI push talks to the parent
    parent.start(interval=3600)  # one round at start, then none: only a push makes it pull again

    def child_size() -> int:
        return int(child.get("/log/checkpoint").split(b"\n")[1])

    def parent_verified() -> int:
        return parent.get("/v1/sync/status")["children"][0]["verified_size"]

    first = child_size()
    wait_for(lambda: parent_verified() >= first, 60, "the parent's first round")
    child.run("demo", "--synthetic", "50")
    grown = wait_for(lambda: (lambda n: n >= first + 50 and n)(child_size()), 30, "the child to grow")
    time.sleep(1)
    assert parent_verified() < grown  # the parent does not know yet
    child.run("sync", "push")
    wait_for(lambda: parent_verified() >= grown, 60, "the parent to pull after the push")

    parent.stop()  # now the parent is down: the push retries with backoff until it is back
    push = subprocess.Popen(
        [sys.executable, "-m", "regledger.cli", "sync", "push", "--home", str(child.home)],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    assert push.poll() is None, push.communicate()
    parent.start(interval=3600)
    out, err = push.communicate(timeout=120)
    assert push.returncode == 0, (out, err)
    assert "told the parent about checkpoint" in out


def test_offline_export_and_import_with_the_cli(pair, tmp_path):
    child, parent = pair
    child.run("demo", "--synthetic", "300")
    bundle = tmp_path / "child.zip"
    child.run("sync", "export", "--out", str(bundle))
    r = parent.run("sync", "import", str(bundle))
    size = int(child.run("log", "checkpoint").stdout.split("\n")[1])
    assert f"0 -> {size}, {size} entries verified and recorded" in r.stdout
    assert "0 entries" in parent.run("sync", "import", str(bundle)).stdout  # nothing twice
    assert _cascaded_indexes(parent, child.origin) == list(range(size))
    bad = parent.run("sync", "import", str(tmp_path / "missing.zip"), check=False)
    assert bad.returncode == 1 and "not a sync bundle" in bad.stderr
