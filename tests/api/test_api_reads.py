"""Every read endpoint of `regledger serve`, through the real HTTP stack (a server process, httpx).

Proofs are checked with the ledger's own verifiers against the checkpoint opened with the log's
published verifier key; the independent reader is in test_interop.py.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from datetime import date

import pytest

from regledger.demo_registry import GZ_HOLDER
from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import open_checkpoint
from regledger.ledger.entry import parse_json
from regledger.ledger.errors import RootMismatchError
from regledger.ledger.hashes import EMPTY_ROOT, leaf_hash, node_hash
from regledger.ledger.proof import verify_consistency, verify_inclusion
from regledger.ledger.tiles import decode_entry_bundle
from regledger.ledger.tlogproof import verify_tlog_proof
from regledger.registry.certificate import verify_certificate

pytest_plugins = ["apitest_fixtures"]

DEMO_REGISTRATIONS = {
    "gz-hydrology": "PUBLICITY",
    "gz-weather": "CODED",
    "gy-medical": "CANCELLED",
    "gz-operator-inst": "CODED",
    "gz-weather-api": "CODED",
    "hz-bus-draft": "NOT_ACCEPTED",
    "hz-bus": "OBJECTION_UPHELD",
    "gz-radar": "REVOKED",
    "zy-city-mgmt": "CODED",
}
IMMUTABLE = "public, max-age=31536000, immutable"


def mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 MTH over leaf hashes."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


@pytest.fixture(scope="module")
def tree(api):
    """(size, root, note) of the latest checkpoint once everything sequenced is integrated."""
    size, note = api.settle()
    cp, _ = open_checkpoint(note, api.origin, api.verifier)
    return size, cp.root, note


def not_a_checkpoint_size(api, above: int = 2) -> int:
    s = above
    while api.client.get("/v1/checkpoint", params={"size": s}).status_code == 200:
        s += 1
    return s


def get_json(api, path, **params):
    r = api.client.get(path, params=params or None)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


# -- operations ------------------------------------------------------------------------------


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.text == "ok\n"
    assert r.headers["content-type"].startswith("text/plain")


def test_readyz_reports_the_tree_size(api, tree):
    r = api.client.get("/readyz")
    assert r.status_code == 200
    first, *rest = r.text.splitlines()
    assert first == f"ready: tree size {tree[0]}"
    # warnings may follow, e.g. the official calendar's countdown, which depends on today's real date
    assert all(line.startswith("warning: ") for line in rest), rest


def test_metrics_are_prometheus_text(api, tree):
    r = api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    assert samples["regledger_tree_size"] == tree[0]
    assert samples["regledger_integration_lag_entries"] == 0
    assert "regledger_appends_total" in samples
    assert samples["regledger_proof_seconds_count"] >= 1
    assert any(k.startswith("regledger_proof_seconds_bucket") for k in samples)
    assert "# TYPE regledger_proof_seconds histogram" in r.text


def test_openapi_lists_every_endpoint(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    for op in [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/log/checkpoint"),
        ("GET", "/log/key"),
        ("GET", "/log/tile/{path}"),
        ("GET", "/v1/entries/{index}"),
        ("GET", "/v1/checkpoint"),
        ("GET", "/v1/proofs/inclusion"),
        ("GET", "/v1/proofs/consistency"),
        ("GET", "/v1/registrations"),
        ("GET", "/v1/registrations/{id_or_code}"),
        ("GET", "/v1/registrations/{id_or_code}/history"),
        ("GET", "/v1/registrations/{id_or_code}/status-proof"),
        ("GET", "/v1/registrations/{code}/certificate"),
        ("GET", "/v1/overdue"),
        ("POST", "/v1/verify"),
        ("POST", "/v1/statements"),
    ]:
        assert op in ops
    schemas = doc["components"]["schemas"]
    assert set(schemas["EntryPublic"]["properties"]) == {"index", "leaf", "entry"}
    assert set(schemas["InclusionProof"]["properties"]) == {"index", "size", "leaf_hash", "hashes"}
    assert set(schemas["ConsistencyProof"]["properties"]) == {"first", "second", "hashes"}
    assert set(schemas["StatusProofDocument"]["properties"]) == {
        "format",
        "origin",
        "checkpoint",
        "key",
        "value",
        "siblings",
        "leaf",
    }


def test_docs_page(client):
    r = client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "swagger" in r.text.lower() and "/openapi.json" in r.text


# -- the log in the tlog-tiles layout -----------------------------------------------------


def test_log_checkpoint_is_a_signed_note_for_the_published_key(api, tree, home):
    r = api.client.get("/log/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    cache = r.headers["cache-control"]
    assert "immutable" not in cache
    assert "no-cache" in cache or int(cache.split("max-age=")[1].split(",")[0]) <= 10
    cp, _ = open_checkpoint(r.content, api.origin, api.verifier)
    assert cp.size == tree[0] and cp.root == tree[1]
    assert r.text.split("\n")[:3] == [api.origin, str(cp.size), base64.b64encode(cp.root).decode()]
    assert r.text.endswith("\n") and "\n\n— " + api.origin + " " in r.text


def test_log_key_is_the_instance_key(api, home):
    r = api.client.get("/log/key")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.endswith("\n")
    v = parse_vkey(r.text)
    assert v.name == home.config()["origin"]
    ledger = home.open()
    try:
        assert r.text.strip() == ledger.verifier().vkey()
    finally:
        ledger.store.close()


def test_full_level0_tile_and_entry_bundle(api, tree):
    size, _, _ = tree
    assert size >= 256, "the demo writes more than one full tile"
    t = api.client.get("/log/tile/0/000")
    assert t.status_code == 200
    assert t.headers["content-type"] == "application/octet-stream"
    assert t.headers["cache-control"] == IMMUTABLE
    assert len(t.content) == 8192
    b = api.client.get("/log/tile/entries/000")
    assert b.status_code == 200
    assert b.headers["content-type"] == "application/octet-stream"
    assert b.headers["cache-control"] == IMMUTABLE
    leaves = decode_entry_bundle(b.content)
    assert len(leaves) == 256
    assert b"".join(leaf_hash(x) for x in leaves) == t.content
    for i in (0, 1, 255):
        e = get_json(api, f"/v1/entries/{i}")
        assert base64.b64decode(e["leaf"]) == leaves[i]


def test_entry_bundles_are_served_gzip_compressed(api, tree):
    r = api.client.get("/log/tile/entries/000", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == "gzip"
    assert len(decode_entry_bundle(r.content)) == 256


def test_partial_tiles(api, tree):
    size, root, _ = tree
    n, w = size // 256, size % 256
    if w == 0:
        pytest.skip(f"the tree size {size} is a multiple of 256 just now: no partial level-0 tile")
    t = api.client.get(f"/log/tile/0/{n:03d}.p/{w}")
    assert t.status_code == 200 and len(t.content) == 32 * w
    assert t.headers["content-type"] == "application/octet-stream"
    assert t.headers["cache-control"] == IMMUTABLE
    b = api.client.get(f"/log/tile/entries/{n:03d}.p/{w}")
    assert b.status_code == 200
    assert b.headers["cache-control"] == IMMUTABLE
    leaves = decode_entry_bundle(b.content)
    assert len(leaves) == w
    assert b"".join(leaf_hash(x) for x in leaves) == t.content
    # the level-1 partial tile holds the MTH of each full level-0 tile
    l1 = api.client.get(f"/log/tile/1/000.p/{n}")
    assert l1.status_code == 200 and len(l1.content) == 32 * n
    assert l1.headers["cache-control"] == IMMUTABLE
    level0: list[bytes] = []
    for i in range(n):
        full = api.client.get(f"/log/tile/0/{i:03d}").content
        hashes = [full[j : j + 32] for j in range(0, 8192, 32)]
        assert l1.content[32 * i : 32 * (i + 1)] == mth(hashes)
        level0 += hashes
    # and all the level-0 hashes give the checkpoint's root
    level0 += [t.content[j : j + 32] for j in range(0, len(t.content), 32)]
    assert len(level0) == size and mth(level0) == root
    # a narrower partial tile is a prefix of the wider one (the same bytes forever)
    if w > 1:
        narrow = api.client.get(f"/log/tile/0/{n:03d}.p/{w - 1}")
        assert narrow.status_code == 200 and narrow.content == t.content[: 32 * (w - 1)]


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/{n1}",
        "tile/0/{n2}",
        "tile/0/{n}.p/{w1}",
        "tile/1/000",
        "tile/2/000.p/1",
        "tile/entries/{n1}",
        "tile/entries/{n}.p/{w1}",
        "tile/0/x001/000",
        "tile/entries/x999/x999/999",
    ],
)
def test_tiles_beyond_the_tree_are_404(api, tree, path):
    size = tree[0]
    n, w = size // 256, size % 256
    if w == 255 and "{w1}" in path:
        pytest.skip("no partial tile is wider than 255")
    p = path.format(n=f"{n:03d}", n1=f"{n:03d}", n2=f"{n + 1:03d}", w1=w + 1)
    r = api.client.get("/log/" + p)
    api.problem(r, 404)
    assert "immutable" not in r.headers.get("cache-control", "")


@pytest.mark.parametrize(
    "path",
    [
        "abc",
        "0",
        "0/1",
        "0/00",
        "0/0000",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/01",
        "0/000.p/",
        "0/x000/001",
        "0/x1/000",
        "-1/000",
        "00/000",
        "100/000",
        "a/000",
        "entries/000.p/256",
        "entries",
        "0/000/",
        "0/000.p/5/extra",
    ],
)
def test_bad_tile_paths_are_400(api, path):
    r = api.client.get("/log/tile/" + path)
    api.problem(r, 400, "/path")


# -- entries, checkpoints and proofs as JSON --------------------------------------------------


def test_entries_by_index(api, tree):
    size = tree[0]
    prev = bytes(32)
    for i in (0, 1, 2):
        e = get_json(api, f"/v1/entries/{i}")
        assert set(e) == {"index", "leaf", "entry"}
        assert e["index"] == i
        leaf = base64.b64decode(e["leaf"], validate=True)
        assert parse_json(leaf) == e["entry"]
        assert e["entry"]["index"] == i and e["entry"]["v"] == 1
        assert base64.b64decode(e["entry"]["prev"]) == prev
        assert set(e["entry"]["statement"]) >= {"kind", "subject", "payload", "time", "key", "sig"}
        prev = leaf_hash(leaf)
    assert get_json(api, "/v1/entries/0")["entry"]["statement"]["kind"] == "key.register"
    last = get_json(api, f"/v1/entries/{size - 1}")
    assert last["index"] == size - 1


@pytest.mark.parametrize("index", ["{size}", "{big}", "-1", "99999999999999999999999999"])
def test_entries_beyond_the_log_are_404(api, tree, index):
    r = api.client.get("/v1/entries/" + index.format(size=tree[0] + 100000, big=2**62))
    api.problem(r, 404)


def test_entry_index_must_be_an_integer(api):
    api.problem(api.client.get("/v1/entries/abc"), 422, "/index")


def test_checkpoint_json(api, tree):
    size, root, note = tree
    cp = get_json(api, "/v1/checkpoint")
    assert set(cp) == {"origin", "size", "root", "note"}
    assert cp["origin"] == api.origin and cp["size"] == size
    assert base64.b64decode(cp["root"]) == root
    opened, _ = open_checkpoint(cp["note"].encode(), api.origin, api.verifier)
    assert opened.size == size and opened.root == root
    # the empty tree and the tree after entry 0 were both checkpointed by `regledger init`
    zero = get_json(api, "/v1/checkpoint", size=0)
    assert zero["size"] == 0 and base64.b64decode(zero["root"]) == EMPTY_ROOT
    assert open_checkpoint(zero["note"].encode(), api.origin, api.verifier)[0].root == EMPTY_ROOT
    one = get_json(api, "/v1/checkpoint", size=1)
    leaf0 = base64.b64decode(get_json(api, "/v1/entries/0")["leaf"])
    assert base64.b64decode(one["root"]) == leaf_hash(leaf0)
    assert get_json(api, "/v1/checkpoint", size=size) == cp


def test_checkpoint_of_a_size_never_signed_is_404(api, tree):
    api.problem(api.client.get("/v1/checkpoint", params={"size": not_a_checkpoint_size(api)}), 404)
    api.problem(api.client.get("/v1/checkpoint", params={"size": tree[0] + 1}), 404)
    api.problem(api.client.get("/v1/checkpoint", params={"size": -1}), 422, "/size")


def test_inclusion_proofs_by_index_verify(api, tree):
    size, root, _ = tree
    for i in sorted({0, 1, 17, 255, 256, size // 2, size - 2, size - 1}):
        p = get_json(api, "/v1/proofs/inclusion", index=i, size=size)
        assert set(p) == {"index", "size", "leaf_hash", "hashes"}
        assert p["index"] == i and p["size"] == size
        leaf = base64.b64decode(get_json(api, f"/v1/entries/{i}")["leaf"])
        assert base64.b64decode(p["leaf_hash"]) == leaf_hash(leaf)
        verify_inclusion(i, size, leaf_hash(leaf), [base64.b64decode(h, validate=True) for h in p["hashes"]], root)
    # in the size-1 tree the proof of entry 0 is empty and the leaf hash is the root
    one = get_json(api, "/v1/checkpoint", size=1)
    p = get_json(api, "/v1/proofs/inclusion", index=0, size=1)
    assert p["hashes"] == [] and p["leaf_hash"] == one["root"]


def test_inclusion_proof_by_leaf_hash(api, tree):
    size, root, _ = tree
    i = size // 3
    leaf = base64.b64decode(get_json(api, f"/v1/entries/{i}")["leaf"])
    lh = base64.b64encode(leaf_hash(leaf)).decode()
    p = get_json(api, "/v1/proofs/inclusion", leaf_hash=lh, size=size)
    assert p == get_json(api, "/v1/proofs/inclusion", index=i, size=size)
    verify_inclusion(p["index"], size, leaf_hash(leaf), [base64.b64decode(h) for h in p["hashes"]], root)


def test_inclusion_proof_refusals(api, tree):
    size = tree[0]
    other = not_a_checkpoint_size(api)
    lh = base64.b64encode(hashlib.sha256(b"not a leaf").digest()).decode()
    c = api.client
    api.problem(c.get("/v1/proofs/inclusion", params={"index": 0, "size": other}), 404, detail_has="checkpoint")
    api.problem(c.get("/v1/proofs/inclusion", params={"index": 0, "size": size + 1}), 404)
    api.problem(c.get("/v1/proofs/inclusion", params={"index": size, "size": size}), 422, "/index")
    api.problem(c.get("/v1/proofs/inclusion", params={"index": 5, "size": 1}), 422, "/index")
    api.problem(c.get("/v1/proofs/inclusion", params={"size": size}), 422, "/index")
    api.problem(c.get("/v1/proofs/inclusion", params={"index": 0, "leaf_hash": lh, "size": size}), 422, "/index")
    api.problem(c.get("/v1/proofs/inclusion", params={"leaf_hash": "***", "size": size}), 422, "/leaf_hash")
    api.problem(c.get("/v1/proofs/inclusion", params={"leaf_hash": lh, "size": size}), 404)
    api.problem(c.get("/v1/proofs/inclusion", params={"index": 0}), 422, "/size")
    api.problem(c.get("/v1/proofs/inclusion", params={"index": -1, "size": size}), 422, "/index")
    api.problem(c.get("/v1/proofs/inclusion", params={"index": 0, "size": "x"}), 422, "/size")


def test_consistency_proofs_verify(api, tree):
    size, root, _ = tree

    def root_at(s):
        note = get_json(api, "/v1/checkpoint", size=s)["note"].encode()
        cp, _ = open_checkpoint(note, api.origin, api.verifier)
        assert cp.size == s
        return cp.root

    # every checkpoint size from 0 up to here: find the ones the log signed
    signed = [s for s in range(0, size + 1) if s in (0, 1, size)]
    for s in range(2, size):
        if len(signed) >= 6:
            break
        if api.client.get("/v1/checkpoint", params={"size": s}).status_code == 200:
            signed.append(s)
    signed.sort()
    assert len(signed) >= 3
    for a in signed:
        for b in signed:
            if a > b:
                continue
            p = get_json(api, "/v1/proofs/consistency", first=a, second=b)
            assert set(p) == {"first", "second", "hashes"}
            assert (p["first"], p["second"]) == (a, b)
            hashes = [base64.b64decode(h, validate=True) for h in p["hashes"]]
            if a == 0 or a == b:
                assert hashes == []
            verify_consistency(a, b, root_at(a), root_at(b), hashes)


def test_consistency_proof_refusals(api, tree):
    size = tree[0]
    other = not_a_checkpoint_size(api)
    c = api.client
    api.problem(c.get("/v1/proofs/consistency", params={"first": 1, "second": other}), 404)
    api.problem(c.get("/v1/proofs/consistency", params={"first": other, "second": size}), 404)
    api.problem(c.get("/v1/proofs/consistency", params={"first": size, "second": 1}), 422, "/first")
    api.problem(c.get("/v1/proofs/consistency", params={"first": 1}), 422, "/second")
    api.problem(c.get("/v1/proofs/consistency", params={"first": -1, "second": 1}), 422, "/first")


# -- registrations ------------------------------------------------------------------------------


def page_through(api, limit: int, **filters) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = get_json(api, "/v1/registrations", **params)
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert cursor == page["items"][-1]["registration"]
        assert pages < 1000


def test_search_pages_to_the_end(api):
    everything = page_through(api, 200)
    ids = [r["registration"] for r in everything]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert set(DEMO_REGISTRATIONS) <= set(ids)
    for r in everything:
        assert set(r) == {
            "registration",
            "code",
            "query_code",
            "official_code",
            "status",
            "kind",
            "region",
            "institution",
            "name",
            "updated_at",
        }
        if r["registration"] in DEMO_REGISTRATIONS:
            assert r["status"] == DEMO_REGISTRATIONS[r["registration"]]
    for limit in (1, 2, 3, 7):
        assert page_through(api, limit) == everything
    # the default page size is 50; the last page has a null cursor
    first = get_json(api, "/v1/registrations")
    assert first["items"] == everything[:50]
    assert (first["next_cursor"] is None) == (len(everything) <= 50)


@pytest.mark.parametrize(
    "filters, check",
    [
        ({"kind": "resource"}, lambda r: r["kind"] == "resource"),
        ({"kind": "product"}, lambda r: r["kind"] == "product"),
        ({"kind": "institution"}, lambda r: r["kind"] == "institution"),
        ({"status": "CODED"}, lambda r: r["status"] == "CODED"),
        ({"status": "PUBLICITY"}, lambda r: r["status"] == "PUBLICITY"),
        ({"region": "52"}, lambda r: r["region"].startswith("52")),
        ({"region": "5201"}, lambda r: r["region"].startswith("5201")),
        ({"region": "330100"}, lambda r: r["region"] == "330100"),
        ({"institution": GZ_HOLDER.uscc}, lambda r: r["institution"] == GZ_HOLDER.uscc),
        ({"q": "气象"}, lambda r: "气象" in r["name"] or "气象" in (r["code"] or "")),
        ({"q": "PDR-1-520000"}, lambda r: "PDR-1-520000" in (r["code"] or "")),
        (
            {"kind": "resource", "status": "CODED", "region": "52"},
            lambda r: r["kind"] == "resource" and r["status"] == "CODED" and r["region"].startswith("52"),
        ),
    ],
)
def test_search_filters(api, filters, check):
    everything = page_through(api, 200)
    expected = [r for r in everything if check(r)]
    assert expected, f"the demo has registrations matching {filters}"
    assert page_through(api, 200, **filters) == expected
    assert page_through(api, 1, **filters) == expected


def test_search_text_matches_nothing(api):
    assert get_json(api, "/v1/registrations", q="no such registration anywhere") == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": 201}, "/limit"),
        ({"limit": 0}, "/limit"),
        ({"limit": "x"}, "/limit"),
        ({"kind": "bogus"}, "/kind"),
        ({"status": "coded"}, "/status"),
        ({"region": "5a"}, "/region"),
        ({"region": "1234567"}, "/region"),
        ({"institution": "X" * 19}, "/institution"),
        ({"q": "x" * 101}, "/q"),
        ({"cursor": "c" * 121}, "/cursor"),
        ({"cursor": "zzzzzzzz"}, "/cursor"),
        ({"cursor": "<x>"}, "/cursor"),  # no registration's id: not a cursor
    ],
)
def test_search_refusals(api, params, field):
    api.problem(api.client.get("/v1/registrations", params=params), 422, field)


def test_registration_by_id_and_by_code(api):
    by_id = get_json(api, "/v1/registrations/gz-weather")
    assert by_id["registration"] == "gz-weather" and by_id["status"] == "CODED"
    code = by_id["code"]
    assert code.startswith("PDR-1-520000-2026-")
    assert get_json(api, f"/v1/registrations/{code}") == by_id
    assert by_id["fields"]["holder"]["uscc"] == GZ_HOLDER.uscc
    assert [h["kind"] for h in by_id["history"]] == [
        "registration.apply",
        "registration.accept",
        "registration.publish",
        "registration.code",
    ]
    api.problem(api.client.get("/v1/registrations/no-such-registration"), 404)
    api.problem(api.client.get("/v1/registrations/PDR-1-520000-2026-99999999-0"), 404)


def test_history_proofs_verify(api, tree):
    for reg in ("gz-weather", "gy-medical", "hz-bus"):
        h = get_json(api, f"/v1/registrations/{reg}/history")
        assert h["registration"] == reg
        assert h["vkey"] == api.vkey
        cp, _ = open_checkpoint(h["checkpoint"].encode(), api.origin, api.verifier)
        assert cp.size == h["size"] >= tree[0]
        state = get_json(api, f"/v1/registrations/{reg}")
        assert [s["index"] for s in h["steps"]] == [x["index"] for x in state["history"]]
        for step in h["steps"]:
            leaf = base64.b64decode(step["leaf"], validate=True)
            assert parse_json(leaf) == step["entry"]
            assert step["entry"]["statement"]["subject"] == reg
            proof, pcp = verify_tlog_proof(step["proof"], leaf, origin=api.origin, verifier=api.verifier)
            assert proof.index == step["index"] and pcp.size == cp.size and pcp.root == cp.root
            assert base64.b64decode(get_json(api, f"/v1/entries/{step['index']}")["leaf"]) == leaf
        # a tampered leaf does not verify against the same proof
        step = h["steps"][0]
        bad = base64.b64decode(step["leaf"]).replace(b'"registration.', b'"registration_', 1)
        with pytest.raises(RootMismatchError):
            verify_tlog_proof(step["proof"], bad, origin=api.origin, verifier=api.verifier)
    h = get_json(api, f"/v1/registrations/{get_json(api, '/v1/registrations/gz-weather')['code']}/history")
    assert h["registration"] == "gz-weather"
    api.problem(api.client.get("/v1/registrations/no-such-registration/history"), 404)


@pytest.fixture(scope="module")
def weather_certificate(api):
    code = get_json(api, "/v1/registrations/gz-weather")["code"]
    return code, get_json(api, f"/v1/registrations/{code}/certificate")


def test_certificate_verifies_offline(api, weather_certificate):
    code, cert = weather_certificate
    claims = verify_certificate(cert, api.vkey)
    assert claims["code"] == code and claims["status"] == "CODED"
    assert claims["entries"] == 4
    assert cert["origin"] == api.origin and cert["registration"] == "gz-weather"
    # by registration id too
    assert get_json(api, "/v1/registrations/gz-weather/certificate")["claims"] == cert["claims"]
    for coded in ("gz-operator-inst", "gz-weather-api", "gy-medical", "gz-radar"):
        c = get_json(api, f"/v1/registrations/{coded}/certificate")
        assert verify_certificate(c, api.vkey)["status"] == DEMO_REGISTRATIONS[coded]


def test_certificate_refusals(api):
    api.problem(api.client.get("/v1/registrations/hz-bus-draft/certificate"), 409, "/code")
    api.problem(api.client.get("/v1/registrations/gz-hydrology/certificate"), 409, "/code")
    api.problem(api.client.get("/v1/registrations/no-such-registration/certificate"), 404)


def test_overdue(api, clerks):
    today = get_json(api, "/v1/overdue")
    assert isinstance(today, list)
    reg = api.new_id("overdue")
    applied = api.ok(api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource("逾期测试数据")))
    due = applied["state"]["accept_due"]
    assert reg not in {r["registration"] for r in get_json(api, "/v1/overdue")}
    later = get_json(api, "/v1/overdue", on="2027-06-30")
    mine = [r for r in later if r["registration"] == reg]
    days_late = (date(2027, 6, 30) - date.fromisoformat(due)).days
    assert mine == [
        {
            "registration": reg,
            "status": "SUBMITTED",
            "due": due,
            "name": "逾期测试数据",
            "region": "520000",
            "days_late": days_late,
        }
    ]
    assert [r["due"] for r in later] == sorted(r["due"] for r in later)
    for bad in ("not-a-date", "0", "1700000000", "2027-6-30", "2027-02-30", "2027-W26-3", "20270630"):
        api.problem(api.client.get("/v1/overdue", params={"on": bad}), 422, "/on")


# -- POST /v1/verify -----------------------------------------------------------------------------


def test_verify_a_genuine_certificate(api, weather_certificate):
    code, cert = weather_certificate
    r = api.client.post("/v1/verify", json={"certificate": cert})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["claims"]["code"] == code
    assert set(body) == {"ok", "detail", "claims"}
    r = api.client.post("/v1/verify", json={"certificate": cert, "key": api.vkey})
    assert r.json()["ok"] is True


def tampered(cert):
    out = []
    c = copy.deepcopy(cert)
    c["claims"]["name"] = "别的数据"
    out.append(("claims", c))
    c = copy.deepcopy(cert)
    leaf = base64.b64decode(c["entries"][0]["leaf"])
    leaf = leaf.replace("贵州省气象观测数据".encode(), "贵州省气象观测数椐".encode())
    c["entries"][0]["leaf"] = base64.b64encode(leaf).decode()
    out.append(("leaf", c))
    c = copy.deepcopy(cert)
    c["checkpoint"] = c["checkpoint"].replace("\n— ", "\n— x", 1)
    out.append(("checkpoint signature", c))
    c = copy.deepcopy(cert)
    lines = c["entries"][-1]["proof"].split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    c["entries"][-1]["proof"] = "\n".join(lines)
    out.append(("proof", c))
    c = copy.deepcopy(cert)
    del c["entries"][-1]
    out.append(("dropped the code step", c))
    c = copy.deepcopy(cert)
    c["keys"] = []
    out.append(("no keys", c))
    return out


def test_verify_a_tampered_certificate(api, weather_certificate):
    _, cert = weather_certificate
    for what, bad in tampered(cert):
        r = api.client.post("/v1/verify", json={"certificate": bad})
        assert r.status_code == 200, (what, r.text)
        body = r.json()
        assert body["ok"] is False, what
        assert body["detail"] and body.get("claims") is None, what
    other = Ed25519Signer.generate(api.origin).verifier().vkey()
    r = api.client.post("/v1/verify", json={"certificate": cert, "key": other})
    assert r.status_code == 200 and r.json()["ok"] is False
    r = api.client.post("/v1/verify", json={"certificate": cert, "key": "not a key"})
    assert r.status_code == 200 and r.json()["ok"] is False


def test_verify_refusals(api, weather_certificate):
    _, cert = weather_certificate
    c = api.client
    api.problem(c.post("/v1/verify", json={}), 422, "/certificate")
    api.problem(c.post("/v1/verify", json={"certificate": "text"}), 422, "/certificate")
    api.problem(c.post("/v1/verify", json={"certificate": cert, "key": 7}), 422, "/key")
    api.problem(c.post("/v1/verify", content=b"{not json", headers={"content-type": "application/json"}), 422)
    api.problem(c.post("/v1/verify", json=[cert]), 422)
    api.problem(c.post("/v1/verify", json={"certificate": {"format": "something else"}}), 422, "/certificate/origin")
    wrong = {**cert, "format": "something else"}
    r = c.post("/v1/verify", json={"certificate": wrong})
    assert r.status_code == 200 and r.json()["ok"] is False
    r = c.post(
        "/v1/verify",
        content=json.dumps({"certificate": cert}, indent=2).encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["ok"] is True


def test_verify_a_proof_and_its_leaf(api):
    """POST /v1/verify also checks a C2SP tlog-proof a third party sends, with the entry it is about."""
    c = api.client
    reg = c.get("/v1/registrations", params={"status": "CODED", "limit": 1}).json()["items"][0]
    step = c.get(f"/v1/registrations/{reg['registration']}/history").json()["steps"][0]
    ok = c.post("/v1/verify", json={"proof": {"proof": step["proof"], "leaf": step["leaf"]}})
    assert ok.status_code == 200 and ok.json()["ok"] is True and ok.json()["claims"]["index"] == step["index"]
    leaf = bytearray(base64.b64decode(step["leaf"]))
    leaf[-3] ^= 1
    bad = c.post("/v1/verify", json={"proof": {"proof": step["proof"], "leaf": base64.b64encode(bytes(leaf)).decode()}})
    assert bad.status_code == 200 and bad.json()["ok"] is False and "root" in bad.json()["detail"]
    api.problem(c.post("/v1/verify", json={"proof": {"proof": step["proof"], "leaf": "!!"}}), 422, "/proof/leaf")
    api.problem(c.post("/v1/verify", json={}), 422, "/certificate")


def test_cli_verify_online_against_the_running_instance(api, server, weather_certificate, tmp_path):
    from apitest_fixtures import cli

    code, cert = weather_certificate
    f = tmp_path / "cert.json"
    f.write_text(json.dumps(cert, ensure_ascii=False))
    p = cli("verify", str(f), "--key", api.vkey, "--online", server.url)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith(f"OK: {code} ") and lines[1].startswith("complete history as of checkpoint ")
    size, _ = api.checkpoint()
    online = [ln for ln in lines if ln.startswith("still ")]
    assert len(online) == 1 and re.fullmatch(r"still CODED as of checkpoint (\d+), time \S+", online[0]), p.stdout
    assert int(online[0].split()[5].rstrip(",")) >= int(cert["checkpoint"].split("\n")[1])
    # a v1 certificate has nothing to check online
    v1 = {k: v for k, v in cert.items() if k not in ("status_proofs", "checkpoint_entry")}
    v1["format"] = "regledger-certificate/v1"
    f.write_text(json.dumps(v1, ensure_ascii=False))
    p = cli("verify", str(f), "--key", api.vkey, "--online", server.url)
    assert p.returncode == 1 and "--online needs a v2 certificate" in p.stderr and "Traceback" not in p.stderr
    # an instance that is not there: a clean failure
    f.write_text(json.dumps(cert, ensure_ascii=False))
    p = cli("verify", str(f), "--key", api.vkey, "--online", "http://127.0.0.1:9")
    assert p.returncode == 1 and p.stderr.startswith("FAILED (online, ") and "Traceback" not in p.stderr


@pytest.mark.parametrize("quoted", [False, True], ids=["slash", "percent-2F"])
def test_a_key_is_found_by_a_name_holding_a_slash(api, home, quoted):
    """The home's admin key is named admin@<origin>, and the demo origin holds a `/`."""
    name = home.config()["admin_name"]
    assert "/" in name
    r = api.client.get("/v1/keys/" + (name.replace("/", "%2F") if quoted else name))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == name and body["role"] == "admin"
    assert api.client.get(f"/v1/keys/{body['key_id']}").json()["name"] == name  # by id, as before
    r = api.client.get("/v1/keys/" + name + "/more")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
