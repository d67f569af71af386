"""Objection intake robustness: a crash between keeping a document and sequencing its entry leaves no
orphan (HomeIntake keeps it under a pending name, renamed once the entry is sequenced; HomeIntake.sweep settles
what a crash left, at `regledger serve` start), and the per-address limit behind a reverse proxy
(REGLEDGER_TRUSTED_PROXIES decides whether X-Forwarded-For names the client)."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from test_api_objections import limits_home, objections  # noqa: F401  (a home with a registration in publicity)

from regledger.api.intake import lodge, parse_objection
from regledger.api.ratelimit import RateLimiter
from regledger.api.settings import Settings
from regledger.home import HomeIntake
from regledger.registry.state import registration_key

pytest_plugins = ["apitest_fixtures"]


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even the clean-up in `lodge`'s except clause."""


class CrashingIntake:
    """A HomeIntake in a process that dies at `at`: "keep" (the document half written), "append" (before the
    entry is sequenced) or "accept" (after it is sequenced, before the document gets its final name)."""

    def __init__(self, inner: HomeIntake, at: str) -> None:
        self.inner, self.at, self.digest = inner, at, ""

    def signer(self):
        return self.inner.signer()

    def keep(self, registration: str, sha256: str, document: bytes) -> None:
        self.digest = sha256
        if self.at == "keep":
            tmp = self.inner.pending_path(registration, sha256).with_suffix(".pending.tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(document[: len(document) // 2])
            raise Crash
        self.inner.keep(registration, sha256, document)
        if self.at == "append":
            raise Crash

    def accept(self, registration: str, sha256: str) -> None:
        if self.at == "accept":
            raise Crash
        self.inner.accept(registration, sha256)

    def discard(self, registration: str, sha256: str) -> None:
        pass  # the process is gone

    def read(self, registration: str, sha256: str) -> bytes | None:
        return self.inner.read(registration, sha256)


def logged_digests(ledger, reg: str) -> set[str]:
    state = ledger.store.get_state(registration_key(reg)).state
    return {h["document_sha256"] for h in state["history"] if h["kind"] == "registration.objection_received"}


@pytest.mark.parametrize("at", ["keep", "append", "accept"])
def test_a_crash_while_lodging_leaves_no_orphan_after_the_sweep(limits_home, at):  # noqa: F811
    home, reg = limits_home
    ledger = home.open()
    try:
        folder = home.path / "objections" / reg
        before = set(folder.glob("*")) if folder.exists() else set()
        intake = CrashingIntake(HomeIntake(home, ledger), at)
        settings = Settings()
        with pytest.raises(Crash):
            lodge(ledger, intake, reg, parse_objection({"text": f"崩溃测试 {at}"}, settings), client="t",
                  limiter=RateLimiter(100), settings=settings)  # fmt: skip
        left = set(folder.glob("*")) - before
        assert len(left) == 1 and not any(p.name.endswith(".json") for p in left)  # nothing under the final name
        sequenced = intake.digest in logged_digests(ledger, reg)
        assert sequenced == (at == "accept")
        # the next start (a fresh intake over the same home) settles it, naming the file
        settled = HomeIntake(home, ledger).sweep()
        assert [(p, done) for p, done in settled] == [(left.pop(), "kept" if sequenced else "removed")]
        assert set(folder.glob("*")) - before == ({folder / f"{intake.digest}.json"} if sequenced else set())
        kept = HomeIntake(home, ledger).read(reg, intake.digest)
        if sequenced:  # the objector got no receipt, but the log holds the hash: the document is kept, and matches
            assert kept is not None and hashlib.sha256(kept).hexdigest() == intake.digest
        else:
            assert kept is None
        assert HomeIntake(home, ledger).sweep() == []  # nothing left to settle
    finally:
        ledger.store.close()


def test_a_worker_starting_beside_others_leaves_young_pending_documents_alone(limits_home):  # noqa: F811
    """Under `serve --workers N` a restarted worker sweeps too: a document another worker is lodging right now
    (pending, younger than PENDING_GRACE) is not its to settle; the same file, older, is."""
    import os
    import time

    from regledger.home import PENDING_GRACE

    home, reg = limits_home
    ledger = home.open()
    try:
        intake = HomeIntake(home, ledger)
        digest = "ab" * 32
        intake.keep(reg, digest, b"{}")
        pending = intake.pending_path(reg, digest)
        assert intake.sweep(older_than=PENDING_GRACE) == [] and pending.exists()
        old = time.time() - PENDING_GRACE - 1
        os.utime(pending, (old, old))
        assert intake.sweep(older_than=PENDING_GRACE) == [(pending, "removed")] and not pending.exists()
    finally:
        ledger.store.close()


# -- the client's address behind a reverse proxy ------------------------------------------------------------------


def over_the_limit(c: httpx.Client, reg: str, forwarded: list[str]) -> list[int]:
    return [
        c.post(objections(reg), json={"text": f"代理测试 {i}"}, headers={"X-Forwarded-For": xff}).status_code
        for i, xff in enumerate(forwarded)
    ]


def test_x_forwarded_for_names_the_client_only_from_a_trusted_proxy(limits_home, serve_home):  # noqa: F811
    home, reg = limits_home
    srv = serve_home(
        home.path, env={"REGLEDGER_OBJECTIONS_PER_MINUTE": "2", "REGLEDGER_TRUSTED_PROXIES": "10.9.9.9, 127.0.0.0/8"}
    )
    with httpx.Client(base_url=srv.url, timeout=30, trust_env=False) as c:
        a, b = "203.0.113.1", "203.0.113.2"
        # two from A; a third from A, even with a made-up hop before it, is over; B has its own budget; a
        # chain through another trusted proxy is charged to the first untrusted hop from the right
        codes = over_the_limit(c, reg, [a, f"{a}, 10.9.9.9", f"198.51.100.7, {a}", b, f"{b}, 10.9.9.9"])
        assert codes == [202, 202, 429, 202, 202]


def test_x_forwarded_for_is_ignored_without_trusted_proxies(limits_home, serve_home):  # noqa: F811
    home, reg = limits_home
    srv = serve_home(home.path, env={"REGLEDGER_OBJECTIONS_PER_MINUTE": "2"})
    with httpx.Client(base_url=srv.url, timeout=30, trust_env=False) as c:
        codes = over_the_limit(c, reg, ["203.0.113.11", "203.0.113.12", "203.0.113.13"])
        assert codes == [202, 202, 429]  # all charged to the peer, 127.0.0.1


def test_trusted_proxies_must_be_addresses():
    from regledger.ledger.errors import MalformedError

    with pytest.raises(MalformedError) as err:
        Settings.from_environ({"REGLEDGER_TRUSTED_PROXIES": "127.0.0.1, proxy.example"})
    assert err.value.field == "REGLEDGER_TRUSTED_PROXIES"
    assert Settings.from_environ({"REGLEDGER_TRUSTED_PROXIES": " 10.0.0.0/8 "}).trusted_proxies == "10.0.0.0/8"
