"""/docs (Swagger UI) works inside a government network (政务外网): every file it loads comes from
this server, none from a CDN (issue 9.6).

Debian's headless Chromium (driven by playwright, as in tests/test_pages.py) opens the page under a
non-loopback host name (mapped to the loopback server with --host-resolver-rules), as a browser on an
intranet would; every request the page makes is recorded, and any to another host is aborted.  The
page must render the API's operations and request nothing from elsewhere.  Like test_pages, it is
skipped when Chromium or playwright is missing, except under CI=true, where it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from test_pages import CHROMIUM, CHROMIUM_ARGS, _need_chromium, live_server

from regledger.api.app import DOCS_ASSETS
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import MemoryStore

INTRANET_HOST = "regledger.zwww.example"  # what a 政务外网 host name looks like to the browser


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    signer = Ed25519Signer.generate("docs.regledger.example/1")
    with live_server(Ledger(MemoryStore(), origin=signer.name, log_signer=signer)) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def intranet_browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {INTRANET_HOST} 127.0.0.1"],
        )
        try:
            yield b
        finally:
            b.close()


def _open_recording(browser, url: str, rendered: str) -> tuple[list[str], list[str]]:
    """Open `url`, wait until the JS expression `rendered` holds; returns (every URL requested, errors)."""
    own = urlsplit(url).netloc
    requested: list[str] = []
    errors: list[str] = []
    context = browser.new_context()
    try:

        def route(r) -> None:
            requested.append(r.request.url)
            if urlsplit(r.request.url).netloc == own:
                r.continue_()
            else:
                r.abort()  # outside the server: an intranet has no way there

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
        page.goto(url)
        try:
            page.wait_for_function(rendered, timeout=30_000)
        except Exception as exc:
            raise AssertionError(f"{url} did not render ({exc}); requests: {requested}; errors: {errors}") from None
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    return requested, errors


@pytest.mark.slow
def test_swagger_ui_renders_from_the_server_alone(intranet_browser, server_port: int):
    base = f"http://{INTRANET_HOST}:{server_port}"
    requested, errors = _open_recording(
        intranet_browser,
        f"{base}/docs",
        "() => document.querySelectorAll('.swagger-ui .opblock').length > 10"
        " && document.body.innerText.includes('/v1/statements')",
    )
    outside = [u for u in requested if not u.startswith(base + "/")]
    assert not outside, f"/docs requested outside the server: {outside}"
    assert not errors, errors
    assert f"{base}{DOCS_ASSETS}/swagger-ui-bundle.js" in requested and f"{base}/openapi.json" in requested


def test_docs_page_names_no_other_host_and_redoc_is_off(server_port: int):
    """Without a browser too: /docs refers only to paths on this server; /redoc, whose bundle fetches its
    logo from cdn.redoc.ly whatever it is told, is not served."""
    with httpx.Client(base_url=f"http://127.0.0.1:{server_port}", timeout=10) as c:
        html = c.get("/docs").text
        assert "http://" not in html and "https://" not in html and "//cdn" not in html, html
        assert f'href="{DOCS_ASSETS}/favicon.png"' in html and c.get(f"{DOCS_ASSETS}/favicon.png").status_code == 200
        assert c.get("/redoc").status_code == 404
