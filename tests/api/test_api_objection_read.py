"""Registrars read the objection documents the public lodged (api/objection_read.py), over a signed read request
on the session's `regledger serve` process: only a registrar of the registration's region, only a document that
still hashes to the log's registration.objection_received entry, never its content in a problem or a log."""

from __future__ import annotations

import hashlib
import secrets

import pytest
from test_api_objections import CONTACT, TEXT, in_publicity, objections

from regledger.ledger.entry import canonical_json, sign_statement

pytest_plugins = ["apitest_fixtures"]


def read_request(signer, reg: str, index: int, **overrides) -> bytes:
    """A read.objection statement signed by `signer`, as the desk builds it."""
    fields = {"kind": "read.objection", "subject": reg, "payload": {"objection": index}, **overrides}
    return sign_statement(signer, **fields, extra={"nonce": secrets.token_hex(16)}).canonical


def document_url(reg: str, index: int) -> str:
    return f"{objections(reg)}/{index}/document"


@pytest.fixture(scope="module")
def lodged(api, clerks, client):
    reg = in_publicity(api, clerks, "objread")
    attachment = hashlib.sha256(b"evidence").hexdigest()
    r = client.post(objections(reg), json={"text": TEXT, "contact": CONTACT, "attachment_sha256": attachment})
    assert r.status_code == 202, r.text
    return reg, r.json()


def post(client, url: str, body: bytes | None):
    return client.post(url, content=body or b"", headers={"content-type": "application/json"})


def test_a_registrar_of_the_region_reads_the_document_checked_against_the_log(api, clerks, client, lodged):
    reg, receipt = lodged
    r = post(client, document_url(reg, receipt["index"]), read_request(clerks.gz_registrar, reg, receipt["index"]))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["check"] == "document matches the log"
    assert body["document"] == receipt["document"] and body["document"]["contact"] == CONTACT
    assert body["document_sha256"] == receipt["document_sha256"]
    assert hashlib.sha256(canonical_json(body["document"])).hexdigest() == body["document_sha256"]
    entry = client.get(f"/v1/entries/{receipt['index']}").json()["entry"]["statement"]
    assert entry["payload"] == {"document_sha256": body["document_sha256"]}  # the log's entry is what it is checked on


def test_the_same_read_request_is_answered_once(api, clerks, client, lodged):
    reg, receipt = lodged
    request = read_request(clerks.gz_registrar, reg, receipt["index"])
    assert post(client, document_url(reg, receipt["index"]), request).status_code == 200
    api.problem(post(client, document_url(reg, receipt["index"]), request), 409, "/nonce")


@pytest.mark.parametrize("who", ["other-region", "registrant", "anonymous", "bad-signature", "unknown-key"])
def test_anyone_else_is_refused_without_the_document(api, clerks, client, lodged, who):
    reg, receipt = lodged
    url, i = document_url(reg, receipt["index"]), receipt["index"]
    if who == "other-region":
        r, status = post(client, url, read_request(clerks.zj_registrar, reg, i)), 403
    elif who == "registrant":
        r, status = post(client, url, read_request(clerks.gz_holder, reg, i)), 403
    elif who == "anonymous":
        r, status = post(client, url, None), 401
        assert r.headers["www-authenticate"] == "Signature"
    elif who == "bad-signature":
        forged = read_request(clerks.gz_registrar, reg, i).replace(b'"objection":' + str(i).encode(), b'"objection":0')
        r, status = post(client, url.replace(f"/{i}/", "/0/"), forged), 401
    else:
        from regledger.keys.ed25519 import Ed25519Signer

        r, status = post(client, url, read_request(Ed25519Signer.generate("stranger@x"), reg, i)), 403
    api.problem(r, status)
    for secret in (TEXT, CONTACT, receipt["document"]["salt"]):
        assert secret not in r.text


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"kind": "read.objections"}, "/kind"),
        ({"payload": {"objection": 1}}, "/payload"),
        ({"subject": "x"}, "/subject"),
    ],
    ids=["kind", "payload", "subject"],
)
def test_a_read_request_must_name_what_it_reads(api, clerks, client, lodged, overrides, field):
    reg, receipt = lodged
    body = read_request(clerks.gz_registrar, reg, receipt["index"], **overrides)
    api.problem(post(client, document_url(reg, receipt["index"]), body), 422, field)


def test_an_entry_that_is_no_objection_to_the_registration_is_404(api, clerks, client, lodged):
    reg, _ = lodged
    api.problem(post(client, document_url(reg, 1), read_request(clerks.gz_registrar, reg, 1)), 404)


def test_a_tampered_document_is_refused(api, clerks, client, home, lodged, server):
    reg, _ = lodged
    other = client.post(objections(reg), json={"text": TEXT + "（第二份）", "contact": CONTACT}).json()
    kept = home.path / "objections" / reg / f"{other['document_sha256']}.json"
    original = kept.read_bytes()
    kept.write_bytes(original.replace("第二份".encode(), "第三份".encode()))
    try:
        r = post(client, document_url(reg, other["index"]), read_request(clerks.gz_registrar, reg, other["index"]))
        body = api.problem(r, 409, None, detail_has="does not hash to the entry")
        assert body["title"] == "Document does not match the log"
        assert TEXT not in r.text and CONTACT not in r.text
    finally:
        kept.write_bytes(original)
    r = post(client, document_url(reg, other["index"]), read_request(clerks.gz_registrar, reg, other["index"]))
    assert r.status_code == 200 and r.json()["check"] == "document matches the log"
    log = server.log.read_text(errors="replace")
    assert TEXT not in log and CONTACT not in log  # nor in the server's log
