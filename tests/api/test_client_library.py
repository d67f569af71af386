"""regledger.client over real HTTP (the session's `regledger serve` process): drafts, the retry rule,
checkpoints and proofs; 查询码 lookup on the API and the pages; the schemas in the OpenAPI document."""

from __future__ import annotations

import json

import httpx
import pytest

from regledger.client import Refused, RegLedgerClient, Submitted
from regledger.registry.statement_schemas import STATEMENT_KINDS

pytest_plugins = ["apitest_fixtures"]


class DropFirstAnswer(httpx.BaseTransport):
    """A real HTTP transport that loses the answer of the first POST /v1/statements (the request reaches the
    server and is processed; the client sees a dropped connection), as a flaky network would."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path == "/v1/statements" and not self.dropped:
            response.read()
            self.dropped += 1
            raise httpx.ReadError("connection dropped before the answer", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_draft_is_complete_checked_for_the_key_and_writes_nothing(server, api, clerks):
    reg = api.new_id("draft")
    with (
        RegLedgerClient(server.url, clerks.gz_holder) as holder,
        RegLedgerClient(server.url, clerks.gz_registrar) as registrar,
    ):
        applied = holder.send("registration.apply", reg, api.gz_resource("草稿测试数据"))
        size = holder.wait_for_checkpoint(applied.index)
        d = registrar.draft("registration.accept", reg)
        assert set(d.statement) == {"kind", "subject", "payload", "time", "nonce", "key"}
        assert d.statement["key"] == clerks.gz_registrar.key_id and d.statement["payload"]["review_due"]
        assert d.warnings == []
        # a wrong due date is replaced, with a warning
        d2 = registrar.draft("registration.accept", reg, {"review_due": "2000-01-01"})
        assert d2.statement["payload"]["review_due"] == d.statement["payload"]["review_due"]
        assert "review_due" in d2.warnings[0]
        # refused for the wrong key and out of order, as the signed statement would be; nothing written
        with pytest.raises(Refused) as e:
            holder.draft("registration.accept", reg)
        assert (e.value.status, e.value.field) == (403, "/key")
        with pytest.raises(Refused) as e:
            registrar.draft("registration.publish", reg)
        assert (e.value.status, e.value.field) == (409, "/kind")
        assert api.settle()[0] == size
        assert holder.registration(reg)["status"] == "SUBMITTED"
        # the draft as drafted is what gets signed and taken
        result = registrar.submit(registrar.sign(d))
        assert result.state["status"] == "FORMAL_REVIEW" and result.first_time


def test_a_lost_answer_is_retried_with_the_same_bytes_and_answered_once(server, api, clerks):
    reg = api.new_id("retry")
    flaky = DropFirstAnswer()
    with RegLedgerClient(server.url, clerks.gz_holder, transport=flaky, sleep=lambda s: None) as c:
        st = c.sign(c.draft("registration.apply", reg, api.gz_resource("重试测试数据")))
        result = c.submit(st)
        assert flaky.dropped == 1
        assert isinstance(result, Submitted) and not result.first_time  # the first post was sequenced
        again = c.submit(st)
        assert (again.index, again.receipt, again.first_time) == (result.index, result.receipt, False)
        history = api.client.get(f"/v1/registrations/{reg}").json()["history"]
        assert [h["index"] for h in history] == [result.index]


def test_proofs_and_certificates_through_the_client(server, api):
    coded = api.client.get("/v1/registrations", params={"status": "CODED", "limit": 1}).json()["items"][0]
    with RegLedgerClient(server.url) as c:
        steps = c.proven_history(coded["code"])
        assert steps and all("proof" in s for s in steps)
        cert = c.certificate(coded["code"])
        assert coded["query_code"] in json.dumps(cert, ensure_ascii=False)  # the certificate shows the 查询码
        with pytest.raises(Refused) as e:
            c.registration("no-such-registration")
        assert e.value.status == 404


def test_a_registration_is_found_by_its_query_code(server, api, client):
    coded = api.client.get("/v1/registrations", params={"status": "CODED", "limit": 1}).json()["items"][0]
    qc = coded["query_code"]
    assert qc
    got = client.get(f"/v1/registrations/{qc}")
    assert got.status_code == 200 and got.json()["registration"] == coded["registration"]
    assert client.get(f"/v1/registrations/{qc}/history").json()["registration"] == coded["registration"]
    # the search box of the pages opens it
    r = client.get("/registered", params={"q": qc}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/registrations/{coded['registration']}"
    page = client.get(f"/registrations/{qc}")
    assert page.status_code == 200 and qc in page.text
    # a well-formed query code no registration has is a 404
    unknown = "0" * 11 + "0"
    api.problem(client.get(f"/v1/registrations/{unknown}"), 404)


def test_the_schemas_are_served_and_are_the_statements_request_body(client):
    kinds = client.get("/v1/schemas").json()["kinds"]
    assert set(kinds) == set(STATEMENT_KINDS)
    one = client.get("/v1/schemas/registration.apply").json()
    assert one["properties"]["kind"] == {"const": "registration.apply"} and "ResourceFields" in one["$defs"]
    assert one["x-signer-role"] == "registrant"
    assert client.get("/v1/schemas/registration.nothing").status_code == 404
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/v1/statements"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "kind"
    assert len(body["oneOf"]) == len(STATEMENT_KINDS)
    for ref in body["oneOf"]:
        assert ref["$ref"].removeprefix("#/components/schemas/") in doc["components"]["schemas"]
