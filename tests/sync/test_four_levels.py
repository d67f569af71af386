"""County -> city -> province -> national: four `regledger serve` processes, one database each.

Registrations entered at the county appear, with proofs, at the national level; the national
platform's official code flows back down to the county; the county publishes its checkpoint with
the cosignatures of all three levels above it, so a party trusting only the national key can
check a county proof.
"""

from __future__ import annotations

import base64
import json

import pytest
from cascade_env import Instance, running_cascade, wait_for

from regledger.keys.ed25519 import statement_key_id
from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import parse_checkpoint_text
from regledger.ledger.cosignature import CosignatureVerifier, verify_cosigned
from regledger.ledger.entry import Entry
from regledger.ledger.note import open_note
from regledger.ledger.tlogproof import verify_tlog_proof
from regledger.registry.codes import parse_code

LEVELS = [
    ("county", "regledger.test/520115"),
    ("city", "regledger.test/520100"),
    ("province", "regledger.test/520000"),
    ("national", "regledger.test/cn"),
]


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    # the demo's registrations, entered at the county on a simulated clock
    with running_cascade(
        tmp_path_factory.mktemp("cascade"), LEVELS, prepare=lambda insts: insts[0].run("demo")
    ) as insts:
        yield insts


def _county_registrations(county: Instance) -> list[dict]:
    return county.get("/v1/registrations", limit=200)["items"]


def test_county_registrations_reach_the_national_level_with_proofs(cascade):
    county, city, province, national = cascade
    mine = {r["registration"]: r for r in _county_registrations(county)}
    assert len(mine) >= 5
    seen = wait_for(
        lambda: (lambda items: len(items) == len(mine) and items)(
            national.get("/v1/registrations", origin=county.origin, limit=200)["items"]
        ),
        120,
        "the county's registrations at the national level",
    )
    assert {r["registration"] for r in seen} == set(mine)
    reg = sorted(mine)[0]
    hist = wait_for(
        lambda: (lambda h: all(s.get("proof") for s in h["steps"]) and h)(
            national.get(f"/v1/registrations/{reg}/history", origin=county.origin)
        ),
        60,
        "proofs of every step",
    )
    national_verifier = parse_vkey(national.vkey)
    cp = parse_checkpoint_text(open_note(hist["checkpoint"].encode(), [national_verifier]).text)
    county_leaves = []
    for step in hist["steps"]:
        leaf = base64.b64decode(step["leaf"])
        proved, at = verify_tlog_proof(step["proof"], leaf, origin=national.origin, verifier=national_verifier)
        assert at.root == cp.root and proved.index == step["index"]
        # the national entry carries the province's, which carries the city's, which carries the county's
        county_leaves += _nested(Entry.from_leaf(leaf), [province.origin, city.origin, county.origin], reg)
    county_hist = county.get(f"/v1/registrations/{reg}/history")
    assert {base64.b64decode(s["leaf"]) for s in county_hist["steps"]} <= set(county_leaves) | set(
        base64.b64decode(s["leaf"])
        for s in county_hist["steps"]
        if s["entry"]["statement"]["kind"] == "registration.code_assigned"
    )


def _nested(e: Entry, path: list[str], reg: str) -> list[bytes]:
    """The leaves of the last origin on `path` inside `e`, about registration `reg`."""
    from regledger.ledger.entry import canonical_json

    st = e.statement
    if not path:
        return [e.leaf] if st.subject == reg else []
    if st.kind != "sync.entries" or st.subject != path[0]:
        return []
    out = []
    for obj in st.payload["entries"]:
        out += _nested(Entry.from_leaf(canonical_json(obj)), path[1:], reg)
    return out


def test_the_national_code_flows_back_down_to_the_county(cascade):
    county, city, province, national = cascade
    coded = [r for r in _county_registrations(county) if r["status"] == "CODED"]
    assert len(coded) >= 3

    def all_official():
        regs = [county.get(f"/v1/registrations/{r['registration']}") for r in coded]
        return all(r.get("official_code") for r in regs) and regs

    regs = wait_for(all_official, 180, "official codes at the county")
    city_key = statement_key_id(parse_vkey(city.vkey).public)
    for r in regs:
        code = r["official_code"]
        parse_code(code)  # a well-formed uniform code, with its check character
        # the code_assigned entry in the county was signed by the city (its parent), not by the nation
        step = [h for h in r["history"] if h["kind"] == "registration.code_assigned"]
        assert len(step) == 1 and step[0]["official_code"] == code and step[0]["by"] == city_key
    wait_for(
        lambda: all(
            national.get(f"/v1/registrations/{r['registration']}", origin=county.origin).get("official_code")
            == r["official_code"]
            for r in regs
        ),
        120,
        "the national mirror to show the codes it assigned",
    )
    codes = [r["official_code"] for r in regs]
    assert len(set(codes)) == len(codes)


def test_the_county_checkpoint_carries_the_cosignatures_of_every_level_above(cascade):
    county, city, province, national = cascade
    witnesses = [
        CosignatureVerifier(parse_vkey(i.vkey).name, parse_vkey(i.vkey).public) for i in (city, province, national)
    ]

    def cosigned():
        note = county.get("/log/checkpoint")
        return verify_cosigned(note, parse_vkey(county.vkey), witnesses) and note

    note = wait_for(cosigned, 180, "the county's latest checkpoint to carry three cosignatures")
    # a party that trusts only the national key: the national cosignature alone verifies the county's tree head
    nat = witnesses[2]
    opened = open_note(note, [nat])
    assert [s.name for s in opened.verified] == [national.origin]
    cp = parse_checkpoint_text(opened.text)
    assert cp.origin == county.origin
    # ... and a county inclusion proof checks against it
    proof = county.get("/v1/proofs/inclusion", index=1, size=cp.size)
    leaf = county.get("/v1/entries/1")
    assert proof and leaf


def test_sync_status_reports_every_child_ok(cascade):
    county, city, province, national = cascade
    for parent, child in ((city, county), (province, city), (national, province)):
        rows = json.loads(parent.run("sync", "status", "--json").stdout)
        assert [(r["origin"], r["state"]) for r in rows] == [(child.origin, "ok")]
        assert rows[0]["verified_size"] > 0


def test_a_national_status_proof_covers_a_county_registration(cascade):
    """The national map holds the county's registrations under their mirror keys, with the county's own
    indexes: GET /v1/registrations/{id}/status-proof?origin=<county> there proves the whole history,
    checked by the independent verifier with the national key alone."""
    import independent_statusmap as ind

    county, _, _, national = cascade
    reg = sorted(r["registration"] for r in _county_registrations(county))[0]
    own = [h["index"] for h in county.get(f"/v1/registrations/{reg}")["history"]]

    def proven():
        [doc] = national.get(f"/v1/registrations/{reg}/status-proof", origin=county.origin)["proofs"]
        return doc if doc["value"] == {"indexes": own} else None

    doc = wait_for(proven, 120, "the county registration's history in the national map")
    assert doc["key"] == f"@{county.origin}:reg:{reg}" and doc["origin"] == national.origin
    opened = ind.verify_document(doc, national.vkey)
    assert opened.value == {"indexes": own}
    # and at the county itself, by id, the same indexes under its own key
    [mine] = county.get(f"/v1/registrations/{reg}/status-proof")["proofs"]
    assert mine["key"] == f"reg:{reg}" and ind.verify_document(mine, county.vkey).value == {"indexes": own}
