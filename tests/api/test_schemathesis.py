"""Schemathesis against the running server's /openapi.json: every GET operation and POST /v1/verify.

The schema is loaded with `schemathesis.openapi.from_url` from the session's `regledger serve`
process, and each operation's cases come from `APIOperation.as_strategy(...)` driven by Hypothesis
(`@given`), both positive and negative data; each case is sent with `case.call_and_validate(checks=...)`.
(schemathesis's own pytest integration, `schemathesis.pytest.from_fixture(...).parametrize()`, cannot
be used with pytest 9.2: schemathesis 4.32.5 sets `request.node._nodeid`, which pytest 9 no longer has.)
POST /v1/statements is left out: it needs signed requests; tests/api/test_api_writes.py covers it.

Generation is derandomized and bounded (MAX_EXAMPLES per operation and mode, no shrinking), so the
run takes seconds and a failure reproduces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytest_plugins = ["apitest_fixtures"]

MAX_EXAMPLES = 20
SKIP = {("POST", "/v1/statements")}


@pytest.fixture(scope="session")
def api_schema(server):
    loaded = schemathesis.openapi.from_url(
        server.url + "/openapi.json", timeout=30, proxies={"http": None, "https": None}
    )
    assert loaded.get_base_url().rstrip("/") == server.url, loaded.get_base_url()
    return loaded


@pytest.fixture(scope="session")
def operations(api_schema):
    ops = [r.ok() for r in api_schema.get_all_operations()]
    chosen = [op for op in ops if (op.method.upper(), op.path) not in SKIP]
    assert {op.method.upper() for op in chosen} == {"GET", "POST"}
    assert len(chosen) == len(ops) - 1 >= 15
    return chosen


def has_negative_cases(op: Any) -> bool:
    """Whether schema-violating input exists: any string is a valid path segment, so only query
    parameters, bodies and non-string path parameters can be made invalid."""
    return bool(len(op.query) or len(op.body)) or any(
        p.definition.get("schema", {}).get("type") != "string" for p in op.path_parameters
    )


class SchemaViolations(AssertionError):
    """Responses that the OpenAPI document does not describe."""


def run_schemathesis(operations, checks: list[Callable], base_url: str) -> dict[str, str]:
    """Run every operation's positive (and negative, where possible) cases; returns
    {"METHOD /path (mode)": the first failure's report}."""
    failures: dict[str, str] = {}
    cases = 0
    with requests.Session() as session:
        session.trust_env = False  # straight to the local server, whatever the proxy settings
        seen: list[int] = []  # the cases of one operation and mode, counted by the test function below
        for op in operations:
            modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_negative_cases(op) else [])
            for mode in modes:
                seen.clear()

                @settings(
                    max_examples=MAX_EXAMPLES,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                    report_multiple_bugs=False,
                )
                @given(case=op.as_strategy(generation_mode=mode))
                def run(case: Any) -> None:
                    seen.append(1)
                    case.call_and_validate(base_url=base_url, session=session, checks=checks, timeout=30)

                try:
                    run()
                except BaseException as exc:  # schemathesis reports failed checks as a FailureGroup
                    if isinstance(exc, (KeyboardInterrupt, SystemExit, Unsatisfiable, FailedHealthCheck)):
                        raise
                    failures[f"{op.method.upper()} {op.path} ({mode.value})"] = str(exc)[:3000]
                assert seen, f"no {mode.value} cases were generated for {op.label}"
                cases += len(seen)
    assert cases >= len(operations) * 2
    return failures


def test_no_server_errors_and_responses_match_their_schemas(operations, server):
    """No 5xx, and every response with a documented status and media type has the documented shape."""
    failures = run_schemathesis(operations, [not_a_server_error, response_schema_conformance], server.url)
    assert failures == {}


def test_every_status_and_media_type_is_documented(operations, server):
    failures = run_schemathesis(operations, [status_code_conformance, content_type_conformance], server.url)
    undocumented = {k: v for k, v in failures.items() if "Undocumented" in v}
    assert undocumented == failures, "failures other than undocumented statuses or media types"
    if failures:
        raise SchemaViolations("\n\n".join(f"{k}:\n{v}" for k, v in failures.items()))


# -- the OpenAPI document itself --------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(client):
    return client.get("/openapi.json").json()


def test_page_size_limit_is_in_the_schema(openapi, client):
    assert client.get("/v1/registrations", params={"limit": 201}).status_code == 422
    limit = next(p for p in openapi["paths"]["/v1/registrations"]["get"]["parameters"] if p["name"] == "limit")
    integer = next(s for s in limit["schema"].get("anyOf", [limit["schema"]]) if s.get("type") == "integer")
    assert integer.get("maximum") == 200


def test_verify_request_body_is_typed(openapi, client):
    assert client.post("/v1/verify", json={}).status_code == 422
    body = openapi["paths"]["/v1/verify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = openapi["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert body["oneOf"] == [{"required": ["certificate"]}, {"required": ["proof"]}]  # exactly one of the two


def test_every_json_response_has_a_model(openapi):
    untyped = []
    for path, item in openapi["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in item.items():
            for status, resp in op.get("responses", {}).items():
                schema_ = resp.get("content", {}).get("application/json", {}).get("schema")
                if not status.startswith("2") or schema_ is None:
                    continue
                if "$ref" not in schema_ and "$ref" not in schema_.get("items", {}):
                    untyped.append(f"{method.upper()} {path}")
    assert untyped == []


def test_refused_parameters_are_named_consistently(client):
    def field(path, **params):
        r = client.get(path, params=params)
        assert r.status_code == 422
        return r.json()["field"]

    assert field("/v1/registrations", limit=0) == field("/v1/registrations", limit=201)
    assert field("/v1/proofs/consistency", first=-1, second=1) == field("/v1/proofs/consistency", first=5, second=1)


def test_schemathesis_version():
    """The version this suite was written against (schemathesis==4.32.5)."""
    assert schemathesis.__version__.split(".")[0] == "4"
