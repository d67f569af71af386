"""What the server refuses by the register's rules (issue 9.5), over HTTP against `regledger serve`:
non-canonical statement bytes, key scopes the register cannot act on, registration ids that look
like codes.  Each is a 422 problem naming the field (or, for the bytes, the offset) and writes nothing.
"""

from __future__ import annotations

import json

import pytest

from regledger.demo_registry import GZ_HOLDER
from regledger.keys.ed25519 import Ed25519Signer
from regledger.registry.codes import make_code

pytest_plugins = ["apitest_fixtures"]


def _nothing_written(api, reg: str) -> None:
    api.problem(api.client.get(f"/v1/registrations/{reg}"), 404)


def test_a_non_canonical_statement_is_422_naming_the_first_difference(api, clerks):
    reg = api.new_id("canon")
    st = api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource("规范编码测试"))
    first_non_ascii = next(i for i, c in enumerate(st.canonical) if c >= 0x80)
    for body, at in (
        (json.dumps(st.to_json(), indent=2, ensure_ascii=False).encode(), 1),
        (json.dumps(st.to_json(), ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode(), first_non_ascii),
    ):
        r = api.post(body)
        api.problem(r, 422, None, detail_has=f"first difference is at byte {at}:")
        _nothing_written(api, reg)
    assert api.post(st.canonical).status_code == 201  # the same statement, canonical: accepted


def test_a_non_canonical_cosignatures_statement_is_422(api, home_admin):
    st = api.statement(home_admin, "sync.cosignatures", api.origin, {"cosignatures": []}, nonce=None)
    r = api.client.post(
        "/v1/sync/cosignatures",
        content=json.dumps(st.to_json(), indent=1).encode(),
        headers={"content-type": "application/json"},
    )
    api.problem(r, 422, None, detail_has="first difference is at byte 1:")


@pytest.mark.parametrize(
    "role,scope,field",
    [
        ("registrant", None, "/payload/scope/institution"),
        ("registrant", {"institution": GZ_HOLDER.uscc, "region": "520000"}, "/payload/scope/region"),
        (
            "registrant",
            {"institution": GZ_HOLDER.uscc[:-1] + ("0" if GZ_HOLDER.uscc[-1] != "0" else "1")},
            "/payload/scope/institution",
        ),
        ("registrar", None, "/payload/scope/region"),
        ("registrar", {"region": "abc"}, "/payload/scope/region"),
        ("authority", {"region": "999999"}, "/payload/scope/region"),
    ],
)
def test_key_register_with_a_bad_scope_is_422_with_the_field(api, home_admin, role, scope, field):
    key = Ed25519Signer.generate(f"badscope-{role}@{api.origin}")
    api.problem(api.post(api.register_key(home_admin, key, role, scope)), 422, field)
    # not registered: a statement it signs is refused as by an unknown key
    api.problem(api.post(api.step(key, "registration.apply", api.new_id(), api.gz_resource("无效密钥"))), 403)


def test_a_registration_id_that_looks_like_a_code_is_422(api, clerks):
    squatter = make_code(1, "520000", 2030, 1)  # a code not issued yet: the squatter would be found by it
    r = api.post(api.step(clerks.gz_holder, "registration.apply", squatter, api.gz_resource("抢注编码")))
    api.problem(r, 422, "/subject", detail_has="uniform code")
    _nothing_written(api, squatter)
