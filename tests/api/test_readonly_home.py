"""A home on a read-only filesystem still answers every reading command and `serve --read-only`.

The home is made immutable with `chattr +i` (files and folder): unlike a file mode, that stops root
too, as a read-only mount does, so SQLite cannot create its lock, WAL or shared-memory files."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from regledger.demo_registry import GZ_HOLDER
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer

pytest_plugins = ["apitest_fixtures"]

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    from apitest_fixtures import cli

    return cli(*args, timeout=120)


@pytest.fixture(scope="module")
def frozen_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("chattr") is None:
        pytest.skip("needs chattr to make a home read-only even for root")
    home = tmp_path_factory.mktemp("readonly") / "home"
    done = cli("demo", "--home", str(home))
    assert done.returncode == 0, done.stderr
    (home / "ledger.sqlite.writer-lock").unlink()  # as a home copied onto read-only media
    subprocess.run(["chattr", "-R", "+i", str(home)], check=True)
    try:
        yield home
    finally:
        subprocess.run(["chattr", "-R", "-i", str(home)], check=True)


def test_the_home_really_is_read_only(frozen_home: Path):
    with pytest.raises(PermissionError):
        (frozen_home / "ledger.sqlite.writer-lock").touch()
    with pytest.raises(PermissionError):
        open(frozen_home / "ledger.sqlite", "r+b")


def test_reading_commands_work_on_a_read_only_home(frozen_home: Path, tmp_path: Path):
    home = ["--home", str(frozen_home)]
    audit = cli("audit", *home)
    assert audit.returncode == 0 and "audit OK" in audit.stdout, audit.stderr
    checkpoint = cli("log", "checkpoint", *home)
    assert checkpoint.returncode == 0 and checkpoint.stdout.startswith("regledger.example.gov.cn/demo\n")
    listed = cli("registrations", "registered", "--json", *home)
    assert listed.returncode == 0, listed.stderr
    code = next(r["code"] for r in json.loads(listed.stdout) if r.get("code"))
    cert = tmp_path / "cert.json"
    made = cli("certificate", code, "--out", str(cert), *home)
    assert made.returncode == 0, made.stderr
    vkey = cli("log", "key", *home).stdout.strip().splitlines()[-1]
    verified = cli("verify", str(cert), "--key", vkey)
    assert verified.returncode == 0 and verified.stdout.startswith("OK: " + code), verified.stderr
    # a writing command says why it cannot, without a traceback
    refused = cli("reindex", *home)
    assert refused.returncode == 1 and "cannot write here" in refused.stderr and "Traceback" not in refused.stderr


def test_serve_read_only(frozen_home: Path, serve_home):
    from apitest_fixtures import Api

    srv = serve_home(frozen_home, "--read-only")
    get = lambda path: httpx.get(srv.url + path, trust_env=False, timeout=30)  # noqa: E731
    ready = get("/readyz")
    assert ready.status_code == 200 and "warning: database: read-only" in ready.text
    assert get("/v1/registrations").json()["items"]
    assert get("/registered").status_code == 200
    admin = Home(frozen_home).admin()
    clerk = Ed25519Signer.generate(f"ro@{admin.name.split('@', 1)[1]}")
    st = Api.register_key(admin, clerk, "registrant", {"institution": GZ_HOLDER.uscc})
    write = httpx.post(
        srv.url + "/v1/statements",
        content=st.canonical,
        headers={"content-type": "application/json"},
        trust_env=False,
        timeout=30,
    )
    assert write.status_code == 503 and write.headers["retry-after"], write.text
    assert write.headers["content-type"].startswith("application/problem+json")
