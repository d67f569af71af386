"""A region table loaded at the top of a three-level cascade reaches the bottom, each hop signed by the parent;
an instance with a parent refuses a table from its own administrator."""

from __future__ import annotations

import json
import time

import pytest
from cascade_env import PASSPHRASE, Instance, linked, wait_for

from regledger.home import Home
from regledger.keys.ed25519 import statement_key_id
from regledger.keys.vkey import parse_vkey
from regledger.ledger.entry import Entry
from regledger.registry.reference import REGIONS_SUBJECT

LEVELS = [("county", "regledger.test/520302"), ("city", "regledger.test/520300"), ("province", "regledger.test/52")]
CHANGE = {
    "version": "2027-01-relay",
    "source": "民政部 2026年县级以上行政区划变更情况（测试）",
    "records": [
        {"code": "520399", "name": "新蒲新区（测试）", "level": "county", "valid_from": "2026-01-01", "valid_to": None}
    ],
}


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    root = tmp_path_factory.mktemp("regions-relay")
    with linked([Instance(name, root / name, origin).init() for name, origin in LEVELS]) as insts:
        yield insts, root


def _load_entry(inst: Instance) -> Entry:
    store = Home(inst.home).open().store
    index = store.get_states([REGIONS_SUBJECT])[REGIONS_SUBJECT].state["loads"][-1]["index"]
    return Entry.from_leaf(store.read_entries(index, index + 1)[0][0])


def _loads(inst: Instance) -> list[dict]:
    return Home(inst.home).open().store.get_states([REGIONS_SUBJECT])[REGIONS_SUBJECT].state["loads"]


def test_a_table_loaded_at_the_top_reaches_the_bottom_signed_hop_by_hop(cascade, monkeypatch):
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", PASSPHRASE)
    (county, city, province), root = cascade
    assert county.run("regions", "show", "520399", check=False).returncode == 1
    change = root / "change.json"
    change.write_text(json.dumps(CHANGE, ensure_ascii=False), encoding="utf-8")
    assert "1 codes changed" in province.run("regions", "load", str(change)).stdout
    shown = wait_for(
        lambda: county.run("regions", "show", "520399", check=False).stdout,
        120,
        "the county to hold the province's table",
    )
    assert shown.startswith("520399 → 新蒲新区（测试） ← 遵义市 ← 贵州省") and "table 2027-01-relay" in shown
    for inst, parent in ((county, city), (city, province)):
        e = _load_entry(inst)
        assert e.statement.payload == CHANGE
        assert e.statement.key == statement_key_id(parse_vkey(parent.vkey).public)  # signed by its parent
    # relayed once: once the parent's mirror of a child shows the load, no later round sends it again
    time.sleep(3)  # several rounds at 0.5 s
    assert len(_loads(county)) == len(_loads(city)) == len(_loads(province)) == 1
    for inst in (county, city, province):  # replay re-checks the loads, the parents' mirrors included
        assert "audit OK" in inst.run("audit").stdout


def test_an_instance_with_a_parent_takes_tables_only_from_it(cascade):
    (county, city, province), root = cascade
    own = root / "own.json"
    record = {**CHANGE["records"][0], "code": "520398", "name": "市里自定的区（测试）"}
    own.write_text(
        json.dumps({**CHANGE, "version": "city-own", "records": [record]}, ensure_ascii=False), encoding="utf-8"
    )
    r = city.run("regions", "load", str(own), check=False)
    assert r.returncode == 1 and "takes regions.load only from its parent" in r.stderr
