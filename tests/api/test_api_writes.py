"""Writes over HTTP: the clerk workflow, and every refusal as an RFC 9457 problem with the right status.

Each request is a statement signed with the clerk's Ed25519 key, with a `time` and a one-time `nonce`.
Keys are registered and revoked by the home's administrator, also over HTTP (key.* statements).
"""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from regledger.demo_registry import GZ_HOLDER, ZJ_HOLDER, _resource
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.checkpoint import open_receipt
from regledger.ledger.entry import Statement, format_time, sign_statement
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.proof import verify_inclusion
from regledger.ledger.tlogproof import verify_tlog_proof

pytest_plugins = ["apitest_fixtures"]


@pytest.fixture
def submitted(api, clerks):
    """A fresh Guizhou application in SUBMITTED, by the GZ_HOLDER clerk."""
    reg = api.new_id("submitted")
    body = api.ok(api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource("测试登记数据")))
    assert body["state"]["status"] == "SUBMITTED"
    return reg


def test_happy_path(api, clerks, home_admin):
    # the administrator registered the clerks' keys over HTTP (clerks fixture); their receipts are log-signed
    r = api.post(
        api.register_key(
            home_admin, Ed25519Signer.generate(f"extra-registrar@{api.origin}"), "registrar", {"region": "520000"}
        )
    )
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"index", "leaf_hash", "time", "receipt", "state"} and body["state"] is None
    receipt = open_receipt(body["receipt"].encode(), api.verifier)
    assert receipt.index == body["index"] and receipt.origin == api.origin
    assert base64.b64encode(receipt.leaf_hash).decode() == body["leaf_hash"]

    reg = api.new_id("happy")
    name = "贵州省空气质量监测数据"
    applied = api.ok(api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource(name)))
    assert applied["state"]["status"] == "SUBMITTED" and applied["state"]["registration"] == reg
    assert applied["state"]["accept_due"]
    accepted = api.ok(api.step(clerks.gz_registrar, "registration.accept", reg))
    assert accepted["state"]["status"] == "FORMAL_REVIEW" and accepted["state"]["review_due"]
    published = api.ok(api.step(clerks.gz_registrar, "registration.publish", reg))
    state = published["state"]
    assert state["status"] == "PUBLICITY" and state["publicity_end"]
    assert [h["kind"] for h in state["history"]] == [
        "registration.apply",
        "registration.accept",
        "registration.publish",
    ]
    assert [h["by"] for h in state["history"]] == [clerks.gz_holder.key_id] + [clerks.gz_registrar.key_id] * 2
    indexes = [applied["index"], accepted["index"], published["index"]]
    assert indexes == sorted(indexes)

    # anyone reads it back: by id, in the search, with its history proven in a signed checkpoint
    size = api.wait_integrated(published["index"])
    got = api.client.get(f"/v1/registrations/{reg}").json()
    assert got == state
    found = api.client.get("/v1/registrations", params={"status": "PUBLICITY", "q": name}).json()["items"]
    assert [x["registration"] for x in found] == [reg]
    assert found[0]["institution"] == GZ_HOLDER.uscc and found[0]["code"] is None
    hist = api.client.get(f"/v1/registrations/{reg}/history").json()
    assert [s["index"] for s in hist["steps"]] == indexes
    for step, appended in zip(hist["steps"], (applied, accepted, published), strict=True):
        leaf = base64.b64decode(step["leaf"])
        assert base64.b64encode(leaf_hash(leaf)).decode() == appended["leaf_hash"]
        proof, cp = verify_tlog_proof(step["proof"], leaf, origin=api.origin, verifier=api.verifier)
        assert cp.size >= size
        assert len(step["entry"]["statement"]["nonce"]) == 32
    # an inclusion proof by the leaf hash the append returned
    cp_size, note = api.checkpoint()
    p = api.client.get("/v1/proofs/inclusion", params={"leaf_hash": published["leaf_hash"], "size": cp_size}).json()
    assert p["index"] == published["index"]
    from regledger.ledger.checkpoint import open_checkpoint

    root = open_checkpoint(note, api.origin, api.verifier)[0].root
    verify_inclusion(
        p["index"], cp_size, base64.b64decode(p["leaf_hash"]), [base64.b64decode(h) for h in p["hashes"]], root
    )
    # an objection by any registered key, then the registrar dismisses it
    objected = api.ok(api.step(clerks.zj_holder, "registration.object", reg, {"reason": "简介不准确"}))
    assert objected["state"]["status"] == "OBJECTION_UNDER_REVIEW"
    decided = api.ok(
        api.step(clerks.gz_registrar, "registration.decide", reg, {"upheld": False, "reason": "经核实，简介准确"})
    )
    assert decided["state"]["status"] == "PUBLICITY"


def test_a_step_not_allowed_now_is_409(api, clerks, submitted):
    body = api.problem(api.post(api.step(clerks.gz_registrar, "registration.publish", submitted)), 409, "/kind")
    assert "SUBMITTED" in body["detail"]
    api.problem(
        api.post(api.step(clerks.gz_holder, "registration.apply", submitted, api.gz_resource("重复申请"))), 409, "/kind"
    )


def test_a_step_before_its_time_is_409_with_the_title_of_its_kind(api, clerks, submitted):
    """A StepNotAllowedError at /time (coding during publicity) is a 409 like one at /kind; a
    NotPermittedError is 403 and a StepPayloadError 422, each with the title of its kind."""
    api.ok(api.step(clerks.gz_registrar, "registration.accept", submitted))
    api.ok(api.step(clerks.gz_registrar, "registration.publish", submitted))
    refusals = [
        (clerks.gz_registrar, "registration.code", {"code": "x"}, 409, "/time", "the publicity period runs until"),
        (clerks.gz_holder, "registration.object", {"reason": " "}, 422, "/payload/reason", "a reason is required"),
        (clerks.gz_holder, "registration.code", {"code": "x"}, 403, "/key", "must be signed by a registrar key"),
    ]
    titles = []
    for signer, kind, payload, status, field, detail in refusals:
        body = api.problem(api.post(api.step(signer, kind, submitted, payload)), status, field, detail_has=detail)
        titles.append(body["title"])
        if status == 409:
            assert "current state: PUBLICITY" in body["detail"]
    assert titles == ["Step not allowed now", "Invalid input", "Not permitted"]


# -- authorisation refusals --------------------------------------------------------------------


def test_wrong_role_is_403(api, clerks, submitted, home_admin):
    # a registrant clerk may not accept (that is the registration institution's step)
    api.problem(
        api.post(api.step(clerks.gz_holder, "registration.accept", submitted)), 403, "/key", detail_has="registrar"
    )
    # nor may a registrar apply on a registrant's behalf
    api.problem(
        api.post(
            api.step(clerks.gz_registrar, "registration.apply", api.new_id(), api.gz_resource("登记机构代为申请"))
        ),
        403,
        "/key",
        detail_has="registrant",
    )
    # only the authority revokes
    api.problem(
        api.post(api.step(clerks.gz_registrar, "registration.revoke", submitted, {"reason": "测试"})), 403, "/key"
    )
    # only an administrator manages keys
    api.problem(
        api.post(api.register_key(clerks.gz_holder, Ed25519Signer.generate(f"sneaky@{api.origin}"), "admin")),
        403,
        detail_has="admin",
    )
    api.problem(api.post(api.revoke_key(clerks.gz_holder, clerks.gz_registrar.key_id, "测试")), 403, detail_has="admin")
    # the application is untouched
    assert api.client.get(f"/v1/registrations/{submitted}").json()["status"] == "SUBMITTED"


def test_wrong_institution_is_403(api, clerks, submitted):
    # a Zhejiang registrant clerk applies for a resource held by a Guizhou institution
    api.problem(
        api.post(api.step(clerks.zj_holder, "registration.apply", api.new_id(), api.gz_resource("他人持有的数据"))),
        403,
        "/key",
        detail_has=GZ_HOLDER.uscc,
    )
    # or resubmits / cancels someone else's application
    api.problem(
        api.post(api.step(clerks.zj_holder, "registration.cancel", "gz-weather", {"reason": "测试"})), 403, "/key"
    )
    # while the right institution may apply for its own
    payload = {"subject_kind": "resource", "fields": _resource("杭州公交站点数据", ZJ_HOLDER, "330100")}
    assert (
        api.ok(api.step(clerks.zj_holder, "registration.apply", api.new_id(), payload))["state"]["status"]
        == "SUBMITTED"
    )


def test_wrong_region_is_403(api, clerks, submitted):
    api.problem(
        api.post(api.step(clerks.zj_registrar, "registration.accept", submitted)), 403, "/key", detail_has="330000"
    )
    # a city-level registrar (520100) may not act on a province-level (520000) registration
    api.problem(api.post(api.step(clerks.gz_medical_registrar, "registration.accept", submitted)), 403, "/key")
    assert api.ok(api.step(clerks.gz_registrar, "registration.accept", submitted))["state"]["status"] == "FORMAL_REVIEW"


def test_revoked_key_is_403(api, home_admin, submitted):
    key = Ed25519Signer.generate(f"to-revoke@{api.origin}")
    api.ok(api.register_key(home_admin, key, "registrar", {"region": "520000"}))
    api.ok(api.step(key, "registration.accept", submitted))  # valid until revoked
    revoked = api.ok(api.revoke_key(home_admin, key.key_id, "离职"))
    body = api.problem(api.post(api.step(key, "registration.publish", submitted)), 403, detail_has="revoked")
    assert str(revoked["index"]) in body["detail"]
    assert api.client.get(f"/v1/registrations/{submitted}").json()["status"] == "FORMAL_REVIEW"
    # revoking twice, or a key never registered, is invalid input, not a server error
    api.problem(api.post(api.revoke_key(home_admin, key.key_id, "again")), 422, "/subject")
    api.problem(api.post(api.revoke_key(home_admin, "0" * 32, "never registered")), 422, "/subject")
    # a revocation needs a reason
    other = Ed25519Signer.generate(f"no-reason@{api.origin}")
    api.ok(api.register_key(home_admin, other, "registrar", {"region": "520000"}))
    api.problem(api.post(api.statement(home_admin, "key.revoke", other.key_id, {})), 422, "/payload/reason")


def test_unknown_key_is_403(api, submitted):
    stranger = Ed25519Signer.generate(f"stranger@{api.origin}")
    api.problem(
        api.post(api.step(stranger, "registration.apply", api.new_id(), api.gz_resource("陌生人"))),
        403,
        detail_has="not registered",
    )
    # nor can a key register itself
    api.problem(api.post(api.register_key(stranger, stranger, "admin")), 403, detail_has="not registered")


def test_bad_signature_is_401(api, clerks, submitted):
    good = api.step(clerks.gz_registrar, "registration.accept", submitted)
    doc = good.to_json()
    sig = bytearray(base64.b64decode(doc["sig"]))
    sig[0] ^= 1
    api.problem(api.post({**doc, "sig": base64.b64encode(bytes(sig)).decode()}), 401)
    # the payload changed after signing
    api.problem(api.post({**doc, "payload": {**doc["payload"], "review_due": "2099-01-01"}}), 401)
    # a different nonce than the one signed
    api.problem(api.post({**doc, "nonce": "f" * 32}), 401)
    # signed by another key, claiming the registrar's key id
    forger = Ed25519Signer.generate("forger")
    forged = api.step(forger, "registration.accept", submitted).to_json()
    api.problem(api.post({**forged, "key": clerks.gz_registrar.key_id}), 401)
    # none of these was sequenced; the genuine one still is
    assert api.ok(good)["state"]["status"] == "FORMAL_REVIEW"


def test_the_identical_statement_again_is_200_with_the_first_answer(api, clerks):
    """A retry after a lost answer: same index, leaf hash and receipt bytes, 200 instead of 201."""
    st = api.step(clerks.gz_holder, "registration.apply", api.new_id("retry"), api.gz_resource("重试测试"))
    first = api.post(st.canonical)
    assert first.status_code == 201, first.text
    for _ in range(2):
        r = api.post(st.canonical)
        assert r.status_code == 200, r.text
        assert {k: r.json()[k] for k in ("index", "leaf_hash", "time", "receipt")} == {
            k: first.json()[k] for k in ("index", "leaf_hash", "time", "receipt")
        }
    # re-encoded, it is not the same bytes: refused like any non-canonical body, not taken for a retry
    api.problem(api.post(json.dumps(st.to_json(), indent=3).encode()), 422, detail_has="canonical")
    # nothing was sequenced twice
    history = api.client.get(f"/v1/registrations/{st.subject}").json()["history"]
    assert [h["index"] for h in history] == [first.json()["index"]]


def test_replayed_request_is_409(api, clerks):
    reg = api.new_id("replay")
    st = api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource("重放测试"))
    first = api.ok(st)
    # a step that would be allowed now, signed again with a used nonce: refused, naming the entry that used it
    accept = api.step(clerks.gz_registrar, "registration.accept", reg)
    accepted = api.ok(accept)
    later = format_time(datetime.fromisoformat(accept.time.replace("Z", "+00:00")) + timedelta(seconds=1))
    resigned = api.step(clerks.gz_registrar, "registration.accept", reg, nonce=accept.extra["nonce"], time=later)
    body = api.problem(api.post(resigned), 409, detail_has="replay")
    assert body["index"] == accepted["index"] and str(accepted["index"]) in body["detail"]
    # a nonce is good once per key, whatever else the statement says
    again = api.step(
        clerks.gz_holder, "registration.apply", api.new_id(), api.gz_resource("另一个申请"), nonce=st.extra["nonce"]
    )
    assert api.problem(api.post(again), 409, detail_has="replay")["index"] == first["index"]
    # another key may use the same nonce
    api.ok(api.step(clerks.gz_registrar, "registration.publish", reg, nonce=st.extra["nonce"]))
    assert api.client.get(f"/v1/registrations/{reg}").json()["status"] == "PUBLICITY"


@pytest.mark.parametrize("what", ["register", "revoke"])
def test_replayed_key_statement_is_409(api, home_admin, what):
    key = Ed25519Signer.generate(f"replayed-{what}@{api.origin}")
    st = api.register_key(home_admin, key, "registrant", {"institution": GZ_HOLDER.uscc})
    if what == "revoke":
        api.ok(st)
        st = api.revoke_key(home_admin, key.key_id, "离职")
    first = api.ok(st)
    assert api.post(st).json()["index"] == first["index"]
    other = api.statement(
        home_admin, st.kind, st.subject, st.payload, time=st.time, nonce=st.extra["nonce"], extra={"note": "again"}
    )
    assert api.problem(api.post(other), 409, detail_has="replay")["index"] == first["index"]


@pytest.mark.parametrize("nonce", [None, 1234567890123456, ["a" * 32], "short", "x" * 65, "-" * 32, "ünïcödé" * 4, ""])
def test_missing_or_bad_nonce_is_422(api, clerks, nonce):
    extra = {} if nonce is None else {"nonce": nonce}
    st = api.step(
        clerks.gz_holder, "registration.apply", api.new_id(), api.gz_resource("无随机数"), nonce=None, extra=extra
    )
    api.problem(api.post(st), 422, "/nonce")


@pytest.mark.parametrize(
    "delta",
    [timedelta(hours=-1), timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=400), timedelta(days=-4000)],
)
def test_time_outside_the_window_is_422(api, clerks, delta):
    t = format_time(datetime.now(UTC) + delta)
    st = api.statement(clerks.gz_holder, "registration.object", "gz-hydrology", {"reason": "时间"}, time=t)
    api.problem(api.post(st), 422, "/time", detail_has="clock")


def test_time_with_an_offset_inside_the_window_is_fine(api, clerks):
    t = datetime.now(timezone(timedelta(hours=8))).isoformat(timespec="milliseconds")
    reg = api.new_id()
    st = api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource("东八区时间"), time=t)
    assert st.time.endswith("+08:00")
    assert api.ok(st)["state"]["status"] == "SUBMITTED"


def test_body_too_large_is_413(api, clerks):
    big = api.statement(clerks.gz_holder, "registration.object", "gz-hydrology", {"reason": "x"}).to_json()
    big["padding"] = "x" * (129 * 1024)
    raw = json.dumps(big).encode()
    api.problem(api.post(raw), 413)

    # the same without a Content-Length (chunked): the limit still holds
    def chunks():
        for i in range(0, len(raw), 8192):
            yield raw[i : i + 8192]

    r = api.client.post("/v1/statements", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    api.problem(r, 413)
    # a Content-Length over the limit is refused before the body is read
    host, port = api.client.base_url.host, api.client.base_url.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/statements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n{}"
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_statement_too_large_for_the_log_is_422(api, clerks):
    # under the 128 KiB body limit, over the 60,000-byte statement limit, correctly signed
    draft = api.statement(clerks.gz_holder, "registration.object", "gz-hydrology", {"reason": "x"})
    big = Statement(draft.kind, draft.subject, {"reason": "x" * 70_000}, draft.time, draft.key, bytes(64), draft.extra)
    doc = {**big.to_json(), "sig": base64.b64encode(clerks.gz_holder.sign(big.signed_message())).decode()}
    assert 64_000 < len(json.dumps(doc)) < 128 * 1024
    api.problem(api.post(doc), 422, "/payload")


def deep(n: int) -> str:
    return '{"a":' * n + "1" + "}" * n


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b"[1, 2]",
        b"null",
        b'"a string"',
        b'{"kind": NaN}',
        b"\xff\xfe{}",
        b'{"kind": "a", "kind": "b"}',
        deep(40).encode(),
        ("[" * 20_000 + "]" * 20_000).encode(),
        b'{"kind": "registration.apply"}',
    ],
)
def test_malformed_json_is_422(api, raw):
    api.problem(api.post(raw), 422)


@pytest.mark.parametrize(
    "member, value, field",
    [
        ("kind", 7, "/kind"),
        ("subject", "", "/subject"),
        ("payload", [], "/payload"),
        ("time", "yesterday", "/time"),
        ("key", "ABC", "/key"),
        ("sig", "not base64!", "/sig"),
        ("Upper", 1, "/Upper"),
    ],
)
def test_malformed_statement_members_are_422(api, clerks, member, value, field):
    doc = api.step(clerks.gz_holder, "registration.apply", api.new_id(), api.gz_resource("格式")).to_json()
    doc[member] = value
    api.problem(api.post(doc), 422, field)


def test_payload_nested_too_deep_is_422(api, clerks):
    nested: dict = {"x": 1}
    for _ in range(40):
        nested = {"x": nested}
    doc = api.statement(clerks.gz_holder, "registration.object", "gz-hydrology", {"reason": "深"}).to_json()
    doc["payload"] = nested
    api.problem(api.post(doc), 422)


def test_non_canonical_json_is_refused_not_repaired(api, clerks):
    st = api.step(clerks.gz_holder, "registration.apply", api.new_id(), api.gz_resource("非规范JSON"))
    doc = st.to_json()
    # members reversed, pretty-printed, every non-ASCII character escaped, CRLF line ends
    raw = json.dumps(dict(reversed(list(doc.items()))), indent=4, ensure_ascii=True).replace("\n", "\r\n")
    assert raw.encode() != st.canonical
    r = api.post(raw.encode(), headers={"content-type": "application/json; charset=utf-8"})
    api.problem(r, 422, None, detail_has="the first difference is at byte 1:")
    r = api.post(st.canonical, headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text
    entry = api.client.get(f"/v1/entries/{r.json()['index']}").json()
    assert entry["entry"]["statement"] == json.loads(st.canonical)


@pytest.mark.parametrize(
    "kind", ["sample.resource", "registrationx.apply", "checkpoint.sign", "keys.register", "other.registration.apply"]
)
def test_other_kinds_are_422(api, clerks, kind):
    st = api.statement(clerks.gz_holder, kind, "anything", {"x": 1})
    api.problem(api.post(st), 422, "/kind")


@pytest.mark.parametrize("kind", ["key.rotate", "key.note"])
def test_unknown_key_statements_are_refused(api, clerks, kind):
    r = api.post(api.statement(clerks.gz_holder, kind, clerks.gz_holder.key_id, {"note": "任意内容"}))
    assert r.status_code in (403, 422), r.text


@pytest.mark.parametrize("kind", ["Registration.apply", "registration", "registration..apply", "registration.Apply"])
def test_badly_formed_kinds_are_422(api, clerks, kind):
    doc = api.statement(clerks.gz_holder, "registration.object", "gz-hydrology", {"reason": "x"}).to_json()
    doc["kind"] = kind
    api.problem(api.post(doc), 422, "/kind")


def test_unknown_registration_step_is_422(api, clerks):
    st = api.statement(clerks.gz_holder, "registration.approve_everything", api.new_id(), {})
    api.problem(api.post(st), 422, "/kind")


def test_wrong_due_date_is_refused(api, clerks):
    st = sign_statement(
        clerks.gz_holder,
        kind="registration.apply",
        subject=api.new_id(),
        payload={**api.gz_resource("错误期限"), "accept_due": "2026-01-01"},
        extra={"nonce": "a1" * 16},
    )
    body = api.problem(api.post(st), 422, "/payload/accept_due")  # bad input, not a state conflict
    assert "accept_due must be" in body["detail"]


def test_invalid_fields_are_422_with_the_field(api, clerks):
    payload = api.gz_resource("缺少字段")
    del payload["fields"]["summary"]
    api.problem(
        api.post(api.step(clerks.gz_holder, "registration.apply", api.new_id(), payload)),
        422,
        "/payload/fields/summary",
    )
    payload = api.gz_resource("坏区划")
    payload["fields"]["region"] = "999999"
    r = api.post(api.step(clerks.gz_holder, "registration.apply", api.new_id(), payload))
    assert r.status_code == 422
    assert r.json()["field"].startswith("/payload/fields/region")


def test_a_write_waiting_for_the_database_does_not_stall_the_server(api, clerks, server):
    st = api.step(clerks.gz_holder, "registration.apply", api.new_id("stall"), api.gz_resource("阻塞测试"))
    body = st.canonical
    result: dict = {}

    def submit() -> None:
        result["r"] = httpx.post(
            server.url + "/v1/statements",
            content=body,
            timeout=90,
            headers={"content-type": "application/json"},
            trust_env=False,
        )

    lock = sqlite3.connect(server.home / "ledger.sqlite", timeout=30, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds the database for a moment
    writer = threading.Thread(target=submit)
    writer.start()
    try:
        time.sleep(1.0)  # the POST is now waiting for the write lock
        try:
            healthy = httpx.get(server.url + "/healthz", timeout=3, trust_env=False).status_code == 200
        except httpx.TimeoutException:
            healthy = False
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        writer.join(timeout=90)
    assert result["r"].status_code == 201, result["r"].text
    assert healthy, "GET /healthz did not answer within 3 s while a write waited for the database"


def test_a_registration_id_in_chinese_is_a_page_cursor_too(api, clerks):
    """next_cursor is the last id of a page, and ids may be in Chinese (registry.policy): the next page
    must take it (the cursor check once allowed ASCII only, so paging stopped at such an id)."""
    reg = api.new_id("贵州气象")
    api.ok(api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource("中文编号测试")))
    page = api.client.get("/v1/registrations", params={"cursor": reg, "limit": 1})
    assert page.status_code == 200, page.text
    assert reg not in [item["registration"] for item in page.json()["items"]]
    assert api.client.get("/publicity", params={"cursor": reg}).status_code == 200  # the HTML list
    assert api.client.get(f"/registrations/{reg}").status_code == 200  # and its own page
