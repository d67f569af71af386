"""Registration certificates: built from the log, verified offline, and every kind of tampering caught.

The library is exercised on a realistic in-memory ledger (test_workflow.realistic_flow); the command
line (`regledger certificate` / `regledger verify`) on a demo home made once for the module.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import sys

import independent_statusmap as independent
import pytest
from test_workflow import MEDICAL, OPERATOR, ORIGIN, World, realistic_flow, resource_fields

from regledger.keys.ed25519 import Ed25519Signer, Ed25519Verifier
from regledger.ledger.errors import LedgerError, MalformedError, VerificationError
from regledger.registry.certificate import (
    CERTIFICATE_FORMAT,
    build_certificate,
    certificate_html,
    check_current,
    verify_certificate,
)
from regledger.registry.codes import make_code
from regledger.registry.workflow import WorkflowConfig


@pytest.fixture(scope="module")
def world() -> World:
    w = World()
    w.codes = realistic_flow(w)
    w.vkey = w.ledger.verifier().vkey()
    return w


@pytest.fixture(scope="module")
def product_cert(world) -> dict:
    return build_certificate(world.ledger, world.codes["gz-api"])


@pytest.fixture
def cert(product_cert) -> dict:
    """A fresh copy to tamper with."""
    return copy.deepcopy(product_cert)


def refused(cert: dict, vkey: str, pattern: str) -> None:
    """verify_certificate refuses `cert` with a VerificationError whose message matches `pattern`."""
    with pytest.raises(VerificationError, match=pattern):
        verify_certificate(cert, vkey)


def refused_as_not_in_the_log(cert: dict, vkey: str, where: str) -> None:
    """verify_certificate refuses `cert` because the item at `where` ("entries[2] (entry 7)") is not in the log."""
    refused(cert, vkey, "^" + re.escape(where) + ": inclusion proof does not lead to the root")


def _flip(b64: str, offset: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[offset % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# -- building and verifying ------------------------------------------------------------------------


def test_certificate_of_a_coded_product_verifies(world, product_cert):
    cert = product_cert
    w = world
    state = w.state("gz-api")
    assert cert["format"] == CERTIFICATE_FORMAT and cert["origin"] == ORIGIN and cert["registration"] == "gz-api"
    assert [e["index"] for e in cert["entries"]] == [h["index"] for h in state["history"]]
    # every signer's key registration, back to the administrator's entry 0
    signers = {w.ledger.entry(e["index"]).statement.key for e in cert["entries"]}
    assert signers == {w.keys[k].key_id for k in ("operator", "registrar", "platform")}
    key_subjects = {w.ledger.entry(k["index"]).statement.subject for k in cert["keys"]}
    assert key_subjects == signers | {w.admin.key_id} and cert["keys"][0]["index"] == 0
    size, note = w.ledger.checkpoint()
    assert cert["checkpoint"] == note.decode()
    claims = verify_certificate(cert, w.vkey)
    assert claims == {
        "status": "CODED",
        "code": w.codes["gz-api"],
        "query_code": state["query_code"],
        "official_code": "1393264726771781632103",
        "subject_kind": "product",
        "name": "农业气象风险预警接口",
        "holder": OPERATOR["name"],
        "holder_uscc": OPERATOR["uscc"],
        "region": "520000",
        "checkpoint_size": size,
        "entries": 5,
        "last_index": state["history"][-1]["index"],
        # what a v2 certificate adds: the proven completeness, as of the checkpoint and its time
        "format": CERTIFICATE_FORMAT,
        "registration": "gz-api",
        "checkpoint": note.decode(),
        "indexes": [h["index"] for h in state["history"]],
        "history": [h["index"] for h in state["history"]],
        "complete": True,
        "checkpoint_time": w.ledger.entry(size - 1).time,
    }
    # the same from the JSON text (as the CLI reads it)
    text = json.dumps(cert, ensure_ascii=False)
    assert verify_certificate(text, w.vkey) == claims == verify_certificate(text.encode(), w.vkey)


@pytest.mark.parametrize(
    "reg,status",
    [("gz-weather", "CODED"), ("gy-medical", "CANCELLED"), ("gz-radar", "REVOKED"), ("gz-operator", "CODED")],
)
def test_certificates_of_every_final_state_verify(world, reg, status):
    cert = build_certificate(world.ledger, world.codes[reg])
    claims = verify_certificate(cert, world.vkey)
    assert claims["status"] == status and claims["code"] == world.codes[reg]
    assert claims["entries"] == len(world.state(reg)["history"])


def test_build_certificate_refusals():
    w = World()
    with pytest.raises(LedgerError, match="no registration has code PDR-1-520000-2026-00000001-"):
        build_certificate(w.ledger, make_code(1, "520000", 2026, 1))
    code = w.register("r1")
    with pytest.raises(LedgerError, match="integrate first"):
        build_certificate(w.ledger, code)
    w.ledger.integrate()
    assert verify_certificate(build_certificate(w.ledger, code), w.ledger.verifier().vkey())["code"] == code


def test_verifier_needs_the_logs_workflow_config():
    cfg = WorkflowConfig(publicity={"initial": True, "change": True, "correction": True, "cancellation": False})
    w = World(config=cfg)
    code = w.register("r1")
    w.step("holder", "registration.correction", "r1", {"reason": "更正", "fields": resource_fields(records=1)})
    w.step("registrar", "registration.accept", "r1")
    w.step("registrar", "registration.publish", "r1")
    w.step("zj-holder", "registration.object", "r1", {"reason": "更正内容有误"})
    w.step("registrar", "registration.decide", "r1", {"upheld": False, "reason": "不成立"})
    w.past_publicity("r1")
    w.code("r1")
    w.ledger.integrate()
    cert = build_certificate(w.ledger, code)
    vkey = w.ledger.verifier().vkey()
    assert verify_certificate(cert, vkey, cfg)["status"] == "CODED"
    # under the default config a correction has no publicity, so the objection cannot be replayed
    refused(cert, vkey, r"^entry \d+: /kind: registration.object is not allowed now \(current state: REVIEWED")


# -- tampering -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,offset", [(0, 0), (1, 40), (3, -2), (4, 100)])
def test_flipped_byte_in_an_entry_leaf(world, cert, n, offset):
    index = cert["entries"][n]["index"]
    cert["entries"][n]["leaf"] = _flip(cert["entries"][n]["leaf"], offset)
    refused_as_not_in_the_log(cert, world.vkey, f"entries[{n}] (entry {index})")


def test_flipped_byte_in_a_key_entry_leaf(world, cert):
    index = cert["keys"][2]["index"]
    cert["keys"][2]["leaf"] = _flip(cert["keys"][2]["leaf"], 60)
    refused_as_not_in_the_log(cert, world.vkey, f"keys[2] (entry {index})")


def test_altered_inclusion_proof_hash(world, cert):
    item = cert["entries"][2]
    lines = item["proof"].split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1] == f"index {item['index']}"
    lines[2] = base64.b64encode(bytes(32)).decode()
    item["proof"] = "\n".join(lines)
    refused_as_not_in_the_log(cert, world.vkey, f"entries[2] (entry {item['index']})")


def test_proof_for_another_index(world, cert):
    a, b = cert["entries"][0], cert["entries"][1]
    a["proof"] = b["proof"]
    refused(cert, world.vkey, rf"^entries\[0\] \(entry {a['index']}\): ")


@pytest.mark.parametrize("line", [1, 2])
def test_altered_checkpoint_text(world, cert, line):
    lines = cert["checkpoint"].split("\n")
    lines[line] = str(int(lines[line]) - 1) if line == 1 else _flip(lines[line], 3)
    cert["checkpoint"] = "\n".join(lines)
    refused(cert, world.vkey, r"^checkpoint: signature by test.regledger.example/1 does not verify")


def test_proof_against_another_checkpoint():
    w = World()
    code = w.register("r1")
    w.ledger.integrate()
    old = build_certificate(w.ledger, code)
    w.apply("r2")
    w.ledger.integrate()
    new = build_certificate(w.ledger, code)
    assert new["checkpoint"] != old["checkpoint"]
    old["entries"][1]["proof"] = new["entries"][1]["proof"]
    with pytest.raises(
        VerificationError,
        match=r"^entries\[1\] \(entry \d+\): its proof is against another "
        r"checkpoint",
    ):
        verify_certificate(old, w.ledger.verifier().vkey())


def test_another_logs_key(world, cert):
    impostor = Ed25519Signer.generate(ORIGIN)  # same origin name, another key
    with pytest.raises(VerificationError, match=r"^checkpoint: no signature on the note is from a known key"):
        verify_certificate(cert, Ed25519Verifier(ORIGIN, impostor.public).vkey())
    other = Ed25519Signer.generate("other.regledger.example/2")
    with pytest.raises(
        VerificationError,
        match=r"^the certificate is from log 'test.regledger.example/1', but "
        r"the key is for 'other.regledger.example/2'",
    ):
        verify_certificate(cert, Ed25519Verifier(other.name, other.public).vkey())
    with pytest.raises(MalformedError, match="verifier key"):
        verify_certificate(cert, "not-a-key")


def test_dropped_key_registrations(world, product_cert):
    first = product_cert["entries"][0]["index"]
    last = product_cert["entries"][-1]["index"]  # code_assigned, signed by the platform key
    cert = copy.deepcopy(product_cert)
    cert["keys"] = []
    refused(cert, world.vkey, rf"^entry {first}: its signer's key registration is not in the certificate$")
    cert = copy.deepcopy(product_cert)
    platform_idx = next(
        k["index"]
        for k in cert["keys"]
        if world.ledger.entry(k["index"]).statement.subject == world.keys["platform"].key_id
    )
    cert["keys"] = [k for k in cert["keys"] if k["index"] != platform_idx]
    refused(cert, world.vkey, rf"^entry {last}: its signer's key registration is not in the certificate$")
    cert = copy.deepcopy(product_cert)
    cert["keys"] = cert["keys"][1:]  # without entry 0 no key registration can be checked
    refused(cert, world.vkey, rf"^key entry {cert['keys'][0]['index']}: key {world.admin.key_id} is not registered")


@pytest.mark.parametrize(
    "claim,value",
    [
        ("status", "REVOKED"),
        ("name", "另一个产品"),
        ("query_code", "ABCDEFGHJKL0"),
        ("code", make_code(2, "330000", 2026, 1)),
        ("official_code", None),
        ("holder_uscc", MEDICAL["uscc"]),
        ("region", "520100"),
        ("subject_kind", "resource"),
    ],
)
def test_edited_claim(world, cert, claim, value):
    real = cert["claims"][claim]
    cert["claims"][claim] = value
    with pytest.raises(VerificationError) as err:
        verify_certificate(cert, world.vkey)
    if claim == "code":  # the code's status proof (its alias) is about the real code: checked first
        assert str(err.value) == f"status_proofs[0] is about 'code:{real}', not the claimed code {value!r}"
    else:
        assert str(err.value) == f"claim {claim!r} is {value!r}, but the entries give {real!r}"


def test_edited_claim_code_in_the_same_series_fails(world, cert):
    cert["claims"]["code"] = make_code(2, "520000", 2026, 2)
    refused(cert, world.vkey, "PDR-2-520000-2026-00000001")


def test_edited_claim_code_in_the_same_series_is_named_as_a_claim(world, cert):
    real = cert["claims"]["code"]
    cert["claims"]["code"] = make_code(2, "520000", 2026, 2)
    refused(cert, world.vkey, rf"^status_proofs\[0\] is about 'code:{real}', not the claimed code ")
    # with the alias's proof of that code (absent: never issued), the non-existence proof says so
    size = verify_certificate(product_cert_of(world), world.vkey)["checkpoint_size"]
    cert["status_proofs"][0] = world.ledger.status_proof(f"code:{cert['claims']['code']}", size)
    refused(cert, world.vkey, rf"^no registration has code {cert['claims']['code']} as of checkpoint {size}$")
    # without status proofs (v1), the replay names it as a claim
    v1 = {k: v for k, v in cert.items() if k not in ("status_proofs", "checkpoint_entry")}
    v1["format"] = "regledger-certificate/v1"
    refused(v1, world.vkey, rf"^claim 'code' is .*, but the entries give '{real}'$")


def product_cert_of(world) -> dict:
    return build_certificate(world.ledger, world.codes["gz-api"])


def test_entry_about_another_registration_inserted(world, cert):
    other = build_certificate(world.ledger, world.codes["gz-weather"])
    intruder = other["entries"][0]
    cert["entries"].append(intruder)
    refused(cert, world.vkey, rf"^entry {intruder['index']} belongs to another registration \(gz-weather\); ")
    # pretending the certificate is about the other registration does not help either: the code's alias says
    cert["registration"] = "gz-weather"
    refused(cert, world.vkey, r"^code PDR-.* belongs to 'reg:gz-api', not 'reg:gz-weather'$")
    # and without the status proofs (v1), the replay still refuses it
    v1 = {k: v for k, v in cert.items() if k not in ("status_proofs", "checkpoint_entry")}
    v1["format"] = "regledger-certificate/v1"
    no_key = r"^entry \d+: its signer's key registration is not in the certificate$"
    refused(v1, world.vkey, no_key + "|is about gz-api, not gz-weather$")


def test_duplicated_or_missing_entries(world, product_cert):
    first = product_cert["entries"][0]["index"]
    cert = copy.deepcopy(product_cert)
    cert["entries"].append(cert["entries"][0])
    refused(cert, world.vkey, rf"^entry {first} appears twice; the log's complete history as of checkpoint")
    cert = copy.deepcopy(product_cert)
    del cert["entries"][0]
    refused(cert, world.vkey, rf"^entry {first} is missing: the log's complete history")
    cert = copy.deepcopy(product_cert)
    cert["entries"] = []
    refused(cert, world.vkey, rf"^entry {first} is missing: ")
    # v1: without the application the rest cannot be replayed
    v1 = {k: v for k, v in product_cert.items() if k not in ("status_proofs", "checkpoint_entry")}
    v1["format"] = "regledger-certificate/v1"
    cert = copy.deepcopy(v1)
    del cert["entries"][0]
    refused(cert, world.vkey, r"not allowed now \(current state: not applied for")
    cert = copy.deepcopy(v1)
    cert["entries"] = []
    refused(cert, world.vkey, "^the certificate has no entries$")
    cert = copy.deepcopy(product_cert)
    del cert["entries"][1]["proof"]
    with pytest.raises(MalformedError, match="each item needs") as err:
        verify_certificate(cert, world.vkey)
    assert err.value.field == "/entries/1"


def test_dropped_trailing_entries_are_detected(world):
    """Was a strict xfail (the v1 limitation): a REVOKED registration's certificate with its revocation
    left out and the status claimed CODED.  The status proof names the missing entry."""
    cert = build_certificate(world.ledger, world.codes["gz-radar"])
    claims = verify_certificate(cert, world.vkey)
    assert claims["status"] == "REVOKED" and claims["complete"] is True
    revoke = cert["entries"][-1]["index"]
    cert["entries"] = cert["entries"][:-1]
    cert["claims"]["status"] = "CODED"
    n = len(cert["entries"]) + 1
    refused(cert, world.vkey, rf"^entry {revoke} is missing: the log's complete history as of checkpoint \d+ has {n} ")


# -- completeness (v2: status proofs) --------------------------------------------------------------


def test_a_v2_certificate_proves_its_history_complete(world, product_cert):
    claims = verify_certificate(product_cert, world.vkey)
    size = claims["checkpoint_size"]
    assert product_cert["format"] == CERTIFICATE_FORMAT == "regledger-certificate/v2"
    assert claims["complete"] is True and claims["format"] == CERTIFICATE_FORMAT
    assert claims["history"] == [e["index"] for e in product_cert["entries"]] == claims["indexes"]
    last = json.loads(base64.b64decode(product_cert["checkpoint_entry"]["leaf"]))
    assert last["index"] == size - 1 and claims["checkpoint_time"] == last["time"]
    alias, reg = product_cert["status_proofs"]
    assert alias["key"] == f"code:{claims['code']}" and alias["value"] == {"registration": "reg:gz-api"}
    assert reg["key"] == "reg:gz-api" and reg["value"] == {"indexes": claims["indexes"]}


def test_status_proofs_verify_independently(world, product_cert):
    """The certificate's status proofs, checked by the verifier written from the byte description alone."""
    for doc in product_cert["status_proofs"]:
        opened = independent.verify_document(doc, world.vkey)
        assert opened.size == verify_certificate(product_cert, world.vkey)["checkpoint_size"]
        assert opened.value == doc["value"]
    bad = copy.deepcopy(product_cert["status_proofs"][1])
    bad["value"]["indexes"] = bad["value"]["indexes"][:-1]
    with pytest.raises(independent.IndependentFailure):
        independent.verify_document(bad, world.vkey)


def test_a_v1_certificate_still_verifies_with_the_caveat(world, product_cert):
    v1 = {k: v for k, v in product_cert.items() if k not in ("status_proofs", "checkpoint_entry")}
    v1["format"] = "regledger-certificate/v1"
    claims = verify_certificate(v1, world.vkey)
    assert claims["complete"] is False and claims["status"] == "CODED" and "checkpoint_time" not in claims
    # and so does the v1 limitation: nothing shows the entries are all of them
    radar = build_certificate(world.ledger, world.codes["gz-radar"])
    radar = {k: v for k, v in radar.items() if k not in ("status_proofs", "checkpoint_entry")}
    radar["format"] = "regledger-certificate/v1"
    radar["entries"] = radar["entries"][:-1]
    radar["claims"]["status"] = "CODED"
    assert verify_certificate(radar, world.vkey)["complete"] is False


def test_a_removed_middle_entry_is_named(world, product_cert):
    cert = copy.deepcopy(product_cert)
    gone = cert["entries"].pop(1)["index"]
    n = len(product_cert["entries"])
    refused(
        cert, world.vkey, rf"^entry {gone} is missing: the log's complete history as of checkpoint \d+ has {n} entries$"
    )


def test_reordered_entries_are_named(world, product_cert):
    cert = copy.deepcopy(product_cert)
    e = cert["entries"]
    e[0], e[1] = e[1], e[0]
    refused(
        cert, world.vkey, rf"^entries are out of order: entry {e[0]['index']} is where entry {e[1]['index']} belongs$"
    )


def test_an_added_entry_is_named(world, product_cert):
    cert = copy.deepcopy(product_cert)
    cert["entries"].append(cert["entries"][0])
    refused(cert, world.vkey, rf"^entry {cert['entries'][0]['index']} appears twice; the log's complete history")
    # an entry of the same registration's signer that is not in its history: a key registration
    cert = copy.deepcopy(product_cert)
    key_entry = cert["keys"][-1]
    cert["entries"].append(key_entry)
    refused(cert, world.vkey, rf"^entry {key_entry['index']} belongs to another registration ")


def test_an_entry_of_another_registration_swapped_in(world, product_cert):
    other = build_certificate(world.ledger, world.codes["gz-weather"])
    cert = copy.deepcopy(product_cert)
    swapped = other["entries"][-1]
    cert["entries"][-1] = swapped
    refused(cert, world.vkey, rf"^entry {swapped['index']} belongs to another registration \(gz-weather\)")


def test_the_code_alias_must_name_this_registration(world, product_cert):
    other = build_certificate(world.ledger, world.codes["gz-weather"])
    cert = copy.deepcopy(product_cert)
    cert["status_proofs"][0] = other["status_proofs"][0]
    if other["checkpoint"] == cert["checkpoint"]:
        refused(cert, world.vkey, r"^status_proofs\[0\] is about 'code:.*', not the claimed code")
    cert = copy.deepcopy(product_cert)
    cert["status_proofs"][0], cert["status_proofs"][1] = cert["status_proofs"][1], cert["status_proofs"][0]
    refused(cert, world.vkey, r"^status_proofs\[0\] is about 'reg:gz-api', not the claimed code")


def test_a_flipped_byte_in_a_status_proof_fails(world, product_cert):
    for n in (0, 1):
        for field in ("siblings",):
            cert = copy.deepcopy(product_cert)
            doc = cert["status_proofs"][n]
            if not doc[field]:
                continue
            doc[field] = _flip(doc[field], 7)
            refused(cert, world.vkey, rf"^status_proofs\[{n}\]: status proof: root-mismatch")
        cert = copy.deepcopy(product_cert)
        cert["status_proofs"][n]["leaf"]["value_hash"] = _flip(cert["status_proofs"][n]["leaf"]["value_hash"], 3)
        refused(cert, world.vkey, rf"^status_proofs\[{n}\]: status proof: value-mismatch")


def test_an_old_status_proof_replayed_against_a_newer_claim(fresh_world):
    w = fresh_world
    old_cert = build_certificate(w.ledger, w.codes["gz-api"])
    old = old_cert["status_proofs"][1]
    old_size = int(old_cert["checkpoint"].split("\n")[1])
    w.advance(1)
    w.step("authority", "registration.revoke", "gz-api", {"reason": "虚假登记"})
    w.ledger.integrate()
    cert = build_certificate(w.ledger, w.codes["gz-api"])
    assert verify_certificate(cert, w.vkey)["status"] == "REVOKED"
    revoke = cert["entries"][-1]["index"]
    assert revoke not in old["value"]["indexes"]
    cert["entries"] = cert["entries"][:-1]
    cert["claims"]["status"] = "CODED"
    cert["status_proofs"][1] = old
    size = int(cert["checkpoint"].split("\n")[1])
    refused(
        cert,
        w.vkey,
        rf"^status_proofs\[1\] is against checkpoint {old_size}, not the certificate's checkpoint {size} "
        r"\(an old status proof replayed\?\)$",
    )
    # the old certificate itself is still a genuine one: complete as of its own, older checkpoint (and time)
    claims = verify_certificate(old_cert, w.vkey)
    assert claims["status"] == "CODED" and claims["checkpoint_size"] == old_size < size


def test_a_certificate_for_a_code_never_issued_fails_with_the_non_existence_proof(world, product_cert):
    never = make_code(2, "520000", 2026, 9999)
    size = verify_certificate(product_cert, world.vkey)["checkpoint_size"]
    cert = copy.deepcopy(product_cert)
    cert["claims"]["code"] = never
    cert["status_proofs"][0] = world.ledger.status_proof(f"code:{never}", size)
    assert cert["status_proofs"][0]["value"] is None
    refused(cert, world.vkey, rf"^no registration has code {never} as of checkpoint {size}$")


def test_not_a_certificate(world, cert):
    cert["format"] = "regledger-certificate/v0"
    with pytest.raises(MalformedError, match=r"not a regledger-certificate/v2 \(or v1\) document"):
        verify_certificate(cert, world.vkey)
    with pytest.raises(MalformedError, match="not JSON"):
        verify_certificate(b"{not json", world.vkey)


MALFORMED = {
    "no-checkpoint": lambda c: c.pop("checkpoint"),
    "no-registration": lambda c: c.pop("registration"),
    "entries-not-a-list": lambda c: c.__setitem__("entries", "entries"),
    "claims-not-an-object": lambda c: c.__setitem__("claims", []),
}


@pytest.mark.parametrize("how", list(MALFORMED))
def test_structurally_malformed_certificate_is_a_ledger_error(world, cert, how):
    MALFORMED[how](cert)
    with pytest.raises(LedgerError):
        verify_certificate(cert, world.vkey)


# -- HTML ------------------------------------------------------------------------------------------


def test_certificate_html(world, product_cert):
    page = certificate_html(product_cert)
    c = product_cert["claims"]
    assert page.startswith("<!doctype html>")
    for text in (
        c["code"],
        c["query_code"],
        c["name"],
        c["holder"],
        c["holder_uscc"],
        "CODED",
        "registration.code_assigned",
    ):
        assert text in page
    assert product_cert["checkpoint"].split("\n")[2] in page


def test_certificate_html_escapes():
    w = World()
    name = "<script>alert(\"登记\")</script> & 'x'"
    code = w.register("r1", resource_fields(name))
    w.ledger.integrate()
    cert = build_certificate(w.ledger, code)
    assert verify_certificate(cert, w.ledger.verifier().vkey())["name"] == name
    page = certificate_html(cert)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;登记&quot;)&lt;/script&gt; &amp; &#x27;x&#x27;" in page
    assert code in page


def test_certificate_html_escapes_every_field(product_cert):
    cert = copy.deepcopy(product_cert)
    cert["entries"][0]["index"] = "<img src=x onerror=alert(1)>"
    assert "<img" not in certificate_html(cert)


# -- the command line ------------------------------------------------------------------------------


def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REGLEDGER_PASSPHRASE", "REGLEDGER_HOME", "REGLEDGER_DB")}
    p = subprocess.run(
        [sys.executable, "-m", "regledger.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )
    if ok:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("cert-demo") / "home"
    cli("demo", "--home", str(home))
    rows = json.loads(cli("registrations", "--json", "--home", str(home)).stdout)
    vkey = cli("log", "key", "--home", str(home)).stdout.strip().splitlines()[-1]
    return {"home": str(home), "rows": rows, "vkey": vkey}


@pytest.fixture(scope="module")
def demo_cert(demo_home, tmp_path_factory) -> dict:
    [row] = [r for r in demo_home["rows"] if r["kind"] == "product" and r["status"] == "CODED"]
    out = tmp_path_factory.mktemp("cert-files")
    f, h = out / "cert.json", out / "cert.html"
    p = cli("certificate", row["code"], "--out", str(f), "--html", str(h), "--home", demo_home["home"])
    assert f"wrote certificate of {row['code']}" in p.stdout
    return {"row": row, "file": f, "html": h, "cert": json.loads(f.read_text())}


def test_cli_certificate_and_verify(demo_home, demo_cert, tmp_path):
    row = demo_cert["row"]
    cert = demo_cert["cert"]
    assert cert["claims"]["code"] == row["code"] and cert["claims"]["name"] == row["name"]
    page = demo_cert["html"].read_text()
    assert row["code"] in page and row["name"] in page
    p = cli("verify", str(demo_cert["file"]), "--key", demo_home["vkey"])
    size = int(cert["checkpoint"].split("\n")[1])
    time = json.loads(base64.b64decode(cert["checkpoint_entry"]["leaf"]))["time"]
    n = len(cert["entries"])
    assert p.stdout.startswith(
        f"OK: {row['code']} {row['name']} (CODED)\n"
        f"complete history as of checkpoint {size} (time {time}): status CODED, {n} entries\n"
    ), p.stdout
    assert p.stderr == ""
    # a v1 certificate: the old caveat
    v1 = {k: v for k, v in cert.items() if k not in ("status_proofs", "checkpoint_entry")}
    v1["format"] = "regledger-certificate/v1"
    f = tmp_path / "v1.json"
    f.write_text(json.dumps(v1, ensure_ascii=False))
    p = cli("verify", str(f), "--key", demo_home["vkey"])
    assert p.stdout.startswith(f"OK: {row['code']} {row['name']} (CODED), {n} entries proven"), p.stdout
    assert "a v1 certificate cannot show that no later step exists" in p.stdout


def _tampered(cert: dict, how: str) -> dict:
    c = copy.deepcopy(cert)
    if how == "leaf":
        c["entries"][-1]["leaf"] = _flip(c["entries"][-1]["leaf"], 50)
    elif how == "proof":
        lines = c["entries"][0]["proof"].split("\n")
        lines[2] = base64.b64encode(bytes(32)).decode()
        c["entries"][0]["proof"] = "\n".join(lines)
    elif how == "checkpoint":
        lines = c["checkpoint"].split("\n")
        lines[1] = str(int(lines[1]) + 1)
        c["checkpoint"] = "\n".join(lines)
    elif how == "keys":
        c["keys"] = []
    elif how == "claim":
        c["claims"]["status"] = "REVOKED"
    return c


@pytest.mark.parametrize(
    "how,words",
    [
        ("leaf", "inclusion proof does not lead to the root"),
        ("proof", "inclusion proof does not lead to the root"),
        ("checkpoint", "checkpoint: signature by"),
        ("keys", "its signer's key registration is not in the certificate"),
        ("claim", "claim 'status' is 'REVOKED', but the entries give 'CODED'"),
    ],
)
def test_cli_verify_tampered(demo_home, demo_cert, tmp_path, how, words):
    f = tmp_path / "tampered.json"
    f.write_text(json.dumps(_tampered(demo_cert["cert"], how), ensure_ascii=False))
    p = cli("verify", str(f), "--key", demo_home["vkey"], ok=False)
    assert p.returncode == 1
    assert p.stderr.startswith("FAILED: ") and words in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_cli_verify_with_another_key_or_garbage(demo_home, demo_cert, tmp_path):
    other = Ed25519Signer.generate("regledger.example.gov.cn/demo")
    p = cli("verify", str(demo_cert["file"]), "--key", Ed25519Verifier(other.name, other.public).vkey(), ok=False)
    assert p.returncode == 1 and p.stderr.startswith("FAILED: checkpoint: ") and "Traceback" not in p.stderr
    junk = tmp_path / "junk.json"
    junk.write_text("this is not a certificate")
    p = cli("verify", str(junk), "--key", demo_home["vkey"], ok=False)
    assert p.returncode == 1 and p.stderr.startswith("FAILED: ") and "Traceback" not in p.stderr
    p = cli("verify", str(tmp_path / "missing.json"), "--key", demo_home["vkey"], ok=False)
    assert p.returncode == 1 and "cannot read" in p.stderr and "Traceback" not in p.stderr


def test_cli_verify_malformed_certificate_has_no_traceback(demo_home, demo_cert, tmp_path):
    c = copy.deepcopy(demo_cert["cert"])
    del c["checkpoint"]
    f = tmp_path / "malformed.json"
    f.write_text(json.dumps(c, ensure_ascii=False))
    p = cli("verify", str(f), "--key", demo_home["vkey"], ok=False)
    assert p.returncode == 1 and p.stderr.startswith("FAILED: ") and "Traceback" not in p.stderr


def test_cli_certificate_of_a_revoked_registration(demo_home, tmp_path):
    [row] = [r for r in demo_home["rows"] if r["status"] == "REVOKED"]
    f = tmp_path / "revoked.json"
    cli("certificate", row["code"], "--out", str(f), "--home", demo_home["home"])
    p = cli("verify", str(f), "--key", demo_home["vkey"])
    assert p.stdout.startswith(f"OK: {row['code']} {row['name']} (REVOKED)")
    assert "complete history as of checkpoint " in p.stdout and ": status REVOKED, " in p.stdout
    # the revocation left out: named
    cert = json.loads(f.read_text())
    revoke = cert["entries"].pop()["index"]
    cert["claims"]["status"] = "CODED"
    f.write_text(json.dumps(cert, ensure_ascii=False))
    p = cli("verify", str(f), "--key", demo_home["vkey"], ok=False)
    assert p.returncode == 1 and p.stderr.startswith(f"FAILED: entry {revoke} is missing: "), p.stderr


def test_cli_certificate_of_an_unknown_code(demo_home, tmp_path):
    code = make_code(1, "520000", 2026, 9999)
    p = cli("certificate", code, "--out", str(tmp_path / "x.json"), "--home", demo_home["home"], ok=False)
    assert p.returncode == 1 and f"no registration has code {code}" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "x.json").exists()


# -- still current? (verify --online's check, over the API's routes) ---------------------------------


@pytest.fixture
def fresh_world() -> World:
    w = World()
    w.codes = realistic_flow(w)
    w.vkey = w.ledger.verifier().vkey()
    return w


def _fetchers(ledger):
    from fastapi.testclient import TestClient

    from regledger.api import Settings, create_app

    client = TestClient(create_app(ledger, Settings(run_integrator=False)))

    def get(path, params):
        r = client.get(path, params=dict(params))
        assert r.status_code == 200, (path, r.text)
        return r

    return (lambda p, q: get(p, q).text), (lambda p, q: get(p, q).json())


def test_still_current_and_then_a_newer_entry(fresh_world):
    w = fresh_world
    cert = build_certificate(w.ledger, w.codes["gz-api"])
    claims = verify_certificate(cert, w.vkey)
    text, js = _fetchers(w.ledger)
    now = check_current(claims, w.vkey, text, js)
    assert now["size"] == claims["checkpoint_size"] and now["status"] == "CODED"
    assert now["time"] == claims["checkpoint_time"]
    # the log moves on without touching gz-api: still CODED, at the newer checkpoint
    w.advance(1)
    w.apply("gz-later", resource_fields("后来的数据"))
    w.ledger.integrate()
    later = check_current(claims, w.vkey, text, js)
    assert later["size"] > claims["checkpoint_size"] and later["status"] == "CODED"
    assert later["time"] > claims["checkpoint_time"]
    # a revocation after the certificate: named, with its kind
    w.step("authority", "registration.revoke", "gz-api", {"reason": "虚假登记"})
    w.ledger.integrate()
    size = w.ledger.checkpoint()[0]
    with pytest.raises(
        VerificationError,
        match=rf"^a newer entry exists: entry \d+ \(registration.revoke, time .*\) is "
        rf"in the history as of checkpoint {size}; 1 entries after the certificate's$",
    ):
        check_current(claims, w.vkey, text, js)
