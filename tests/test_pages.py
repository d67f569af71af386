"""Public pages: rendered over real HTTP by an in-process uvicorn, and verified in real headless Chromium.

The Chromium test drives Debian's `chromium` (/usr/bin/chromium) with the `playwright` package (no
downloaded browser builds): the verify button must turn green for the genuine history and red when
the test itself flips one byte of one proof hash in the history JSON (Playwright route interception).
It is skipped with a message when Chromium or Playwright is missing, except under CI=true, where it
fails.  Its screenshots go to artifacts/ and their absolute paths are printed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest
import uvicorn

from regledger.api import Settings, create_app
from regledger.demo import DEMO_ORIGIN
from regledger.demo_registry import DEMO_START, SimClock, register_demo_set
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import MemoryStore, SubjectState

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("REGLEDGER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: the demo's registrations on each public list (regledger/demo_registry.py)
DEMO_LISTS = {
    "publicity": {"gz-hydrology"},
    "registered": {"gz-weather", "gz-operator-inst", "gz-weather-api", "zy-city-mgmt"},
    "cancelled": {"gy-medical"},
    "revoked": {"gz-radar"},
}
ALL_DEMO = [
    "gz-hydrology",
    "gz-weather",
    "gy-medical",
    "gz-operator-inst",
    "gz-weather-api",
    "zy-city-mgmt",
    "hz-bus-draft",
    "hz-bus",
    "gz-radar",
]


@contextlib.contextmanager
def live_server(ledger: Ledger) -> Iterator[str]:
    """The whole app served by uvicorn in a thread on a free loopback port; yields its base URL."""
    app = create_app(ledger, Settings(run_integrator=False))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """The demo's registrations (what `regledger demo` registers), integrated into a signed checkpoint."""
    path = tmp_path_factory.mktemp("pages") / "home"
    home = Home(path, db_url=f"sqlite:///{path / 'ledger.sqlite'}")
    clock = SimClock(DEMO_START)
    home.init(DEMO_ORIGIN, say=lambda *_: None, clock=clock)
    register_demo_set(home.open(clock=clock), home.admin(), clock, lambda *_: None)
    ledger = home.open()
    ledger.integrate()
    return ledger


@pytest.fixture(scope="module")
def base_url(demo_ledger: Ledger) -> Iterator[str]:
    with live_server(demo_ledger) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as c:
        yield c


def reg_links(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'href="/registrations/([^"?]+)"', html)]


def next_link(html: str) -> str | None:
    m = re.search(r'rel="next"[^>]*href="([^"]+)"', html)
    return unescape(m.group(1)) if m else None


# --- (a) server-rendered pages over real HTTP ---------------------------------------------------------------


def test_every_page_renders(client: httpx.Client):
    items = client.get("/v1/registrations").json()["items"]
    assert sorted(i["registration"] for i in items) == sorted(ALL_DEMO)
    codes = [i["code"] for i in items if i["code"]]
    assert len(codes) == 6
    paths = [
        "/",
        "/publicity",
        "/registered",
        "/cancelled",
        "/revoked",
        "/desk",
        *(f"/registrations/{r}" for r in ALL_DEMO),
        *(f"/registrations/{c}" for c in codes),
    ]
    for path in paths:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"].startswith("text/html"), path
        assert "script-src 'self'" in r.headers["content-security-policy"], path
        assert "公共数据资源登记" in r.text and "Public data resource register" in r.text, path
    for path, kind in (
        ("/static/verify.js", "javascript"),
        ("/static/desk.js", "javascript"),
        ("/static/uscc.js", "javascript"),
        ("/static/pages.css", "text/css"),
    ):
        r = client.get(path)
        assert r.status_code == 200 and kind in r.headers["content-type"], path


def test_pages_stay_out_of_the_api_schema(client: httpx.Client):
    paths = client.get("/openapi.json").json()["paths"]
    pages = {"/", "/publicity", "/registered", "/cancelled", "/revoked", "/desk", "/registrations/{id_or_code}"}
    assert not pages & set(paths)


@pytest.mark.parametrize("name", sorted(DEMO_LISTS))
def test_lists_contain_the_demo_registrations(client: httpx.Client, name: str):
    html = client.get(f"/{name}").text
    assert set(reg_links(html)) == DEMO_LISTS[name]
    status = {"publicity": "PUBLICITY", "registered": "CODED", "cancelled": "CANCELLED", "revoked": "REVOKED"}[name]
    api = client.get("/v1/registrations", params={"status": status}).json()["items"]
    assert {i["registration"] for i in api} == DEMO_LISTS[name]  # the page agrees with the JSON API
    for item in api:
        assert item["name"] in html
        if item["code"]:
            assert item["code"] in html


def test_cursor_paging_links_walk_the_whole_list(client: httpx.Client):
    seen: list[str] = []
    url: str | None = "/registered?limit=1"
    pages = 0
    while url:
        html = client.get(url).text
        pages += 1
        links = reg_links(html)
        assert len(links) <= 1
        seen += links
        if pages > 1:
            assert 'rel="first"' in html
        url = next_link(html)
        assert pages < 10
    assert sorted(seen) == sorted(DEMO_LISTS["registered"])
    assert len(seen) == len(set(seen))


def test_filters(client: httpx.Client):
    assert reg_links(client.get("/registered", params={"kind": "product"}).text) == ["gz-weather-api"]
    assert reg_links(client.get("/registered", params={"kind": "institution"}).text) == ["gz-operator-inst"]
    assert reg_links(client.get("/registered", params={"region": "33"}).text) == []
    assert reg_links(client.get("/cancelled", params={"region": "5201"}).text) == ["gy-medical"]
    assert reg_links(client.get("/registered", params={"q": "气象"}).text)  # name search
    html = client.get("/registered", params={"kind": "product", "limit": "1", "region": "52"}).text
    assert 'value="52"' in html and '<option value="product" selected>' in html  # the form keeps the filter


@pytest.mark.parametrize(
    "path, params, status, says",
    [
        ("/registered", {"cursor": "<x>"}, 422, "Bad page cursor"),
        ("/registered", {"cursor": "a b"}, 422, "Bad page cursor"),
        ("/publicity", {"cursor": "x" * 101}, 422, "Bad page cursor"),
        ("/registered", {"cursor": "zzz"}, 422, "Bad page cursor"),  # well formed, but no registration's id
        ("/registered", {"kind": "dataset"}, 422, "Unknown kind"),
        ("/revoked", {"region": "abc"}, 422, "Bad region code"),
        ("/revoked", {"region": "1234567"}, 422, "Bad region code"),
        ("/cancelled", {"limit": "0"}, 422, "Bad page size"),
        ("/cancelled", {"limit": "100000"}, 422, "Bad page size"),
        ("/cancelled", {"limit": "-1"}, 422, "Bad page size"),
        ("/publicity", {"q": "字" * 101}, 422, "Search text too long"),
        ("/registrations/no-such-registration", {}, 404, "No such registration"),
        ("/registrations/PDR-9-999999-2099-00000001-X", {}, 404, "No such registration"),
        ("/registrations/a%20b", {}, 400, "Bad registration id"),
        ("/registrations/" + "x" * 101, {}, 400, "Bad registration id"),
    ],
)
def test_bad_input_is_a_4xx_page_not_a_500(client: httpx.Client, path, params, status, says):
    r = client.get(path, params=params)
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    assert says in r.text


def test_everything_is_escaped(client: httpx.Client):
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    for path, params, echoed in (
        ("/publicity", {"q": evil[:100]}, True),
        ("/registered", {"region": evil}, True),
        ("/revoked", {"cursor": evil}, False),
        ("/cancelled", {"kind": evil}, False),
    ):
        html = client.get(path, params=params).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        if echoed:  # the filter form shows what was asked for, escaped
            assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_registration_page_shows_fields_history_and_checkpoint(client: httpx.Client):
    state = client.get("/v1/registrations/gy-medical").json()
    history = client.get("/v1/registrations/gy-medical/history").json()
    html = client.get("/registrations/gy-medical").text
    for text in (
        state["code"],
        state["query_code"],
        state["fields"]["name"],
        state["fields"]["holder"]["uscc"],
        "已注销",
        "Cancelled",
        "验证 / Verify",
        "签名检查点",
        "Signed checkpoint",
    ):
        assert text in html, text
    rows = re.findall(r'<tr data-index="(\d+)">(.*?)</tr>', html, re.S)
    assert [int(i) for i, _ in rows] == [h["index"] for h in state["history"]]
    for (_, row), h in zip(rows, state["history"], strict=True):
        assert h["time"] in row and h["kind"] in row and h["by"] in row
    assert (
        unescape(re.search(r'<pre class="note" id="checkpoint-note">(.*?)</pre>', html, re.S).group(1))
        == history["checkpoint"]
    )
    assert f'data-indexes="{",".join(str(h["index"]) for h in state["history"])}"' in html
    assert history["vkey"] in html


def test_pages_survive_missing_fields_and_markup_in_data():
    """A registration state with most fields missing or odd still renders (escaped), never a 500."""
    origin = "pages.test.example/1"
    ledger = Ledger(MemoryStore(), origin=origin, log_signer=Ed25519Signer.generate(origin))
    ledger.integrate()
    odd = [
        SubjectState("reg:bare", {"registration": "bare"}, 0, kind="resource", status="CODED", name="<b>bare</b>"),
        SubjectState(
            "reg:odd",
            {
                "registration": "odd",
                "fields": {
                    "name": "<script>x()</script>",
                    "holder": None,
                    "records": [],
                    "storage": {"a": {"b": [1, {}]}},
                },
                "history": [{"index": 999}, {"kind": "registration.apply"}, "junk", {"by": 7}],
                "code": "PDR-<i>",
                "status": "WEIRD",
                "reg_type": ["x"],
                "query_code": 5,
                "publicity_start": {"<i>": 1},
            },
            0,
            kind="weird",
            status="WEIRD",
            region="zz",
        ),
        SubjectState("reg:nostate", {}, 0, status="CANCELLED"),
        SubjectState(
            "reg:listy",
            {"registration": "listy", "region": ["52"], "history": 5, "fields": "x", "subject_kind": {"k": 1}},
            0,
            status="CANCELLED",
        ),
    ]
    ledger.store.replace_states(odd)
    with live_server(ledger) as url, httpx.Client(base_url=url, timeout=10) as c:
        for path in (
            "/",
            "/registered",
            "/cancelled",
            "/registrations/bare",
            "/registrations/odd",
            "/registrations/nostate",
            "/registrations/listy",
        ):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:500])
            assert "<script>x()" not in r.text and "<b>bare" not in r.text and "<i>" not in r.text, path
        assert "&lt;b&gt;bare&lt;/b&gt;" in c.get("/registered").text
        assert "&lt;script&gt;x()&lt;/script&gt;" in c.get("/registrations/odd").text


# --- (b) the verify button in real headless Chromium ---------------------------------------------------------


def _need_chromium() -> None:
    why = None
    if not Path(CHROMIUM).exists():
        why = f"{CHROMIUM} is missing (install Debian's package: apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "the playwright package is missing (pip install playwright; never `playwright install`)"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, but the Chromium page test cannot run: {why}")
        pytest.skip(f"Chromium page test skipped: {why}; under CI=true this fails instead")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser build)."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def vector_page(browser, base_url: str):
    """A page that has loaded verify.js (its pure checks are window.RegledgerVerify), on the loopback
    server so that WebCrypto is available (a secure context)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base_url}/registrations/gz-weather")
    page.wait_for_function("() => !!window.RegledgerVerify")
    yield page
    context.close()


def _tamper_proof(proof: str) -> str:
    """Flip one bit of the first hash of a C2SP tlog-proof."""
    lines = proof.split("\n")
    i = 1 + (lines[1].startswith("extra ")) + 1  # header, optional extra, "index N", then the hashes
    h = bytearray(base64.b64decode(lines[i]))
    h[0] ^= 0x01
    lines[i] = base64.b64encode(bytes(h)).decode()
    return "\n".join(lines)


def _verify_and_wait(page) -> tuple[str, str]:
    page.click("#verify-button")
    page.wait_for_selector(
        '#verify-result[data-state="ok"], #verify-result[data-state="fail"], #verify-result[data-state="partial"]',
        timeout=20_000,
    )
    panel = page.locator("#verify-result")
    return panel.get_attribute("data-state") or "", panel.inner_text()


def _report(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    with capsys.disabled():  # shown in CI logs even when pytest captures output
        for line in lines:
            print(f"\n[test_pages] {line}", end="")
        print()


def test_verify_button_in_chromium(browser, base_url: str, capsys: pytest.CaptureFixture[str]):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = (ARTIFACTS / "pages-verify.png").resolve()
    shot_bad = (ARTIFACTS / "pages-verify-tampered.png").resolve()
    reg = "gy-medical"  # the longest history in the demo: 16 steps through apply, change and cancel
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)

        page.goto(f"{base_url}/registrations/{reg}")
        assert page.locator("#verify-result").get_attribute("data-state") == "idle"
        state, text = _verify_and_wait(page)
        assert state == "ok", text
        assert "已验证" in text and "Verified" in text
        steps = len(httpx.get(f"{base_url}/v1/registrations/{reg}/history").json()["steps"])
        assert f"all {steps} steps" in text
        green = page.locator("#verify-result").evaluate("e => getComputedStyle(e).backgroundColor")
        assert green == "rgb(218, 251, 225)", green
        page.screenshot(path=str(shot), full_page=True)
        assert not problems, problems  # no script error, no CSP violation, no failed load

        # The test itself tampers with the history JSON in flight: one bit of one proof hash.
        hits: list[int] = []

        def tamper(route):
            response = route.fetch()
            data = response.json()
            step = data["steps"][len(data["steps"]) // 2]
            step["proof"] = _tamper_proof(step["proof"])
            hits.append(step["index"])
            route.fulfill(response=response, json=data)

        page.route("**/v1/registrations/*/history", tamper)
        page.reload()
        state, text = _verify_and_wait(page)
        assert hits, "the route interception never ran"
        assert state == "fail", text
        assert "验证失败" in text and "Verification failed" in text
        assert f"log index {hits[-1]}): inclusion proof does not lead to the signed root" in text, text
        assert text.count("\u2717") == 1, text  # only the tampered step fails
        red = page.locator("#verify-result").evaluate("e => getComputedStyle(e).backgroundColor")
        assert red == "rgb(255, 235, 233)", red
        page.screenshot(path=str(shot_bad), full_page=True)
        page.unroute("**/v1/registrations/*/history")

        # A checkpoint whose signature no longer verifies is red too, whatever the proofs say.
        def forge(route):
            response = route.fetch()
            data = response.json()
            origin, size, root, *rest = data["checkpoint"].split("\n")
            data["checkpoint"] = "\n".join([origin, str(int(size) + 1), root, *rest])
            route.fulfill(response=response, json=data)

        page.route("**/v1/registrations/*/history", forge)
        page.reload()
        state, text = _verify_and_wait(page)
        assert state == "fail" and "signature does not verify" in text, text
        page.unroute("**/v1/registrations/*/history")

        # Another registration, unmodified, verifies again once the tampering is gone.
        page.goto(f"{base_url}/registrations/gz-weather-api")
        state, text = _verify_and_wait(page)
        assert state == "ok", text
    finally:
        context.close()
    assert shot.stat().st_size > 10_000
    _report(capsys, f"screenshot (verified): {shot}", f"screenshot (tampered proof): {shot_bad}")


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, written here from the RFC (not our ledger code)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 section 2.1.3.1 PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return _path(m, leaves[:k]) + [_mth(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_mth(leaves[:k])]


def test_reference_tree_matches_the_rfc_6962_vectors():
    leaves = [
        bytes.fromhex(h)
        for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
    ]
    assert _mth(leaves).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert _mth(leaves[:3]).hex() == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    assert [h.hex()[:8] for h in _path(0, leaves)] == ["96a296d2", "5f083f0a", "6b47aaf2"]


_JS_INCLUSION = """async (cases) => {
  const V = window.RegledgerVerify;
  const dec = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const enc = (a) => btoa(String.fromCharCode(...a));
  async function root(c, path, index) {
    try { return enc(await V.rootFromInclusion(BigInt(index), BigInt(c.size), dec(c.leaf), path)); }
    catch (e) { return e instanceof V.Failure ? "refused: " + e.message : "error: " + e; }
  }
  const out = [];
  for (const c of cases) {
    const path = c.path.map(dec);
    const r = { good: await root(c, path, c.index) };
    r.past_end = await root(c, path, c.size);
    r.too_long = await root(c, path.concat([dec(c.leaf)]), c.index);
    if (path.length) {
      const flipped = path.map((h) => h.slice());
      flipped[flipped.length - 1][31] ^= 1;
      r.flipped = await root(c, flipped, c.index);
      r.too_short = await root(c, path.slice(0, -1), c.index);
    }
    out.push(r);
  }
  return out;
}"""


def test_verify_js_inclusion_against_an_independent_rfc9162_tree(vector_page):
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    cases = []
    for n in range(1, 34):
        leaves = [f"leaf {i} of {n}".encode() for i in range(n)]
        for m in range(n):
            cases.append(
                {
                    "index": m,
                    "size": n,
                    "leaf": b64(hashlib.sha256(b"\x00" + leaves[m]).digest()),
                    "path": [b64(h) for h in _path(m, leaves)],
                    "root": b64(_mth(leaves)),
                }
            )
    results = vector_page.evaluate(_JS_INCLUSION, cases)
    for c, r in zip(cases, results, strict=True):
        where = f"index {c['index']} size {c['size']}"
        assert r["good"] == c["root"], (where, r)
        assert r["past_end"].startswith("refused:"), (where, r)
        assert r["too_long"] == "refused: the inclusion proof is too long", (where, r)
        if c["path"]:
            assert r["flipped"] != c["root"] and not r["flipped"].startswith(("refused", "error")), (where, r)
            assert r["too_short"] == "refused: the inclusion proof is too short", (where, r)


_JS_NOTE = """async ([vkey, note]) => {
  const V = window.RegledgerVerify;
  try { return "ok: " + await V.verifyNote(note, await V.parseVkey(vkey)); }
  catch (e) { return e instanceof V.Failure ? "refused: " + e.message : "error: " + e; }
}"""

# C2SP signed-note and Go sumdb vectors (shared/formats.md section B)
_FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
_FOO_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAl"
    "TgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
_PN_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
_ER_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
_PN_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
_PN_SIGS = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    "\u2014 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
_SUM_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
_SUM_NOTE = (
    "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\u2014 sum.golang.org "
    "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)


@pytest.mark.parametrize(
    "vkey, note, expect",
    [
        (_FOO_VKEY, _FOO_NOTE, "ok: This is an example message.\n"),
        (_PN_VKEY, _PN_TEXT + "\n" + _PN_SIGS, "ok: " + _PN_TEXT),  # the other signer is ignored
        (_ER_VKEY, _PN_TEXT + "\n" + _PN_SIGS, "ok: " + _PN_TEXT),
        (_SUM_VKEY, _SUM_NOTE, "ok: go.sum database tree\n6476701\n"),  # '+' inside the key's base64
        (
            _FOO_VKEY,
            _FOO_NOTE.replace("example message", "example massage"),
            "refused: the checkpoint's signature does not verify with the log key",
        ),
        (_PN_VKEY, _FOO_NOTE, "refused: the checkpoint carries no signature by the log key PeterNeumann+c74f20a3"),
        (_FOO_VKEY.replace("530d903a", "530d903b"), _FOO_NOTE, "refused: the log key's id 530d903b does not match"),
        (_FOO_VKEY, _FOO_NOTE.replace("\n\n", "\n"), "refused: the checkpoint has no signature block"),
    ],
    ids=[
        "c2sp-example",
        "go-note-first-of-two",
        "go-note-second-of-two",
        "sum.golang.org",
        "altered-text",
        "unknown-signer",
        "wrong-key-id",
        "no-blank-line",
    ],
)
def test_verify_js_signed_notes_against_published_vectors(vector_page, vkey: str, note: str, expect: str):
    got = vector_page.evaluate(_JS_NOTE, [vkey, note])
    assert got.startswith(expect), got


def test_pages_work_without_javascript(browser, base_url: str):
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{base_url}/")
        page.click('nav a[href="/registered"]')
        assert page.url.endswith("/registered")
        # filters are a plain GET form
        page.select_option("select[name=kind]", "product")
        page.click("form.filters button[type=submit]")
        assert "kind=product" in page.url
        assert page.locator("a.reg-link").count() == 1
        # cursor paging by plain links
        page.goto(f"{base_url}/registered?limit=1")
        first = page.locator("a.reg-link").first.inner_text()
        page.click("a[rel=next]")
        assert "cursor=" in page.url and page.locator("a.reg-link").first.inner_text() != first
        # a registration's page reads fully; only the verify button needs JavaScript
        page.click("a.reg-link")
        assert page.locator("table.history tbody tr").count() >= 1
        assert page.locator("#checkpoint-note").inner_text().startswith(DEMO_ORIGIN)
        assert page.locator("#verify-button").is_disabled()
        assert "Verification needs JavaScript" in page.content()
    finally:
        context.close()


# --- (c) completeness: the status proof checked in the browser ----------------------------------------------

STATUS_PROOF_URL = re.compile(r"/v1/registrations/[^/?]+/status-proof\?")


def test_history_complete_in_chromium(browser, base_url: str, capsys: pytest.CaptureFixture[str]):
    """The verify button checks the registration's status proof too: 历史完整 / history complete for the
    genuine one, red for a status proof with one flipped byte (in its siblings, or in its value)."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = (ARTIFACTS / "pages-history-complete.png").resolve()
    reg = "gz-radar"  # REVOKED: the step a holder would like to leave out is the last one
    docs = httpx.get(f"{base_url}/v1/registrations/{reg}/status-proof").json()["proofs"]
    size = int(docs[0]["checkpoint"].split("\n")[1])
    assert docs[0]["value"]["indexes"] == [
        s["index"] for s in httpx.get(f"{base_url}/v1/registrations/{reg}/history").json()["steps"]
    ]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(f"{base_url}/registrations/{reg}")
        state, text = _verify_and_wait(page)
        assert state == "ok", text
        assert "历史完整" in text and f"history complete as of checkpoint {size}" in text, text
        page.screenshot(path=str(shot), full_page=True)
        assert not problems, problems

        def flip(where: str):
            def handler(route):
                response = route.fetch()
                data = response.json()
                doc = data["proofs"][-1]
                if where == "siblings":
                    raw = bytearray(base64.b64decode(doc["siblings"]))
                    raw[len(raw) // 2] ^= 0x01
                    doc["siblings"] = base64.b64encode(bytes(raw)).decode()
                else:  # the revocation left out of the list the proof claims
                    doc["value"]["indexes"] = doc["value"]["indexes"][:-1]
                route.fulfill(response=response, json=data)

            return handler

        for where, says in (
            ("siblings", f"the map proof of reg:{reg} does not lead to the signed map root"),
            ("value", f"the map holds another value for reg:{reg}"),
        ):
            page.route(STATUS_PROOF_URL, flip(where))
            page.reload()
            state, text = _verify_and_wait(page)
            assert state == "fail", (where, text)
            assert "历史完整" not in text and "history complete" not in text, text
            assert "status proof / 完整性证明: " + says in text, text
            assert text.count("\u2717") == 1, text  # the steps themselves still verify
            page.unroute(STATUS_PROOF_URL)
    finally:
        context.close()
    _report(capsys, f"screenshot (history complete): {shot}")


def test_verify_js_map_proofs_against_the_independent_verifier(vector_page):
    """verify.js's map-proof check on proofs the independent verifier (tests/independent_statusmap.py) made."""
    import independent_statusmap as ind

    items = {
        "reg:a": {"indexes": [3, 7, 12]},
        "reg:b": {"indexes": [4]},
        "code:PDR-1-520000-2026-000001": {"registration": "reg:a"},
        "query:ABCD-EFGH": {"registration": "reg:a"},
    }
    root = base64.b64encode(ind.root_of(items)).decode()
    check = """async ([root, key, value, siblings, leaf]) => {
        const V = window.RegledgerVerify, d = (s) => Uint8Array.from(atob(s), c => c.charCodeAt(0));
        try { await V.verifyMapProof(d(root), key, value, d(siblings), leaf); return "ok"; }
        catch (e) { return e instanceof V.Failure ? "fail: " + e.message : "error: " + e; }
    }"""
    for key in [*items, "reg:nobody"]:
        siblings, leaf = ind.prove(items, key)
        args = [root, key, items.get(key), base64.b64encode(siblings).decode(), leaf]
        assert vector_page.evaluate(check, args) == "ok", key
        wrong = [root, key, {"indexes": [1]} if key not in items else None, args[3], leaf]
        assert vector_page.evaluate(check, wrong).startswith("fail: "), key
        for i in range(0, len(siblings), 7):
            bad = bytearray(siblings)
            bad[i] ^= 0x80
            flipped = [root, key, items.get(key), base64.b64encode(bytes(bad)).decode(), leaf]
            assert vector_page.evaluate(check, flipped).startswith("fail: "), (key, i)
