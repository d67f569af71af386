"""The clerk's client: a typed httpx client for a regledger server, holding the clerk's own key.

The server prepares each statement (POST /v1/drafts: due dates on the ledger's calendar, the next code,
its time and a fresh nonce) and checks it as the clerk's key's statement; the client shows it, signs it
with the clerk's key (which never leaves this process) and posts it to /v1/statements.  A post that
gets no answer is sent again byte for byte: the server answers an identical statement with the first
result (200), so a retry never sequences twice.

    signer = load_key(Path("clerk.key"), passphrase)
    with RegLedgerClient("https://regledger.example", signer) as c:
        result = c.send("registration.accept", "gz-weather-2026")
        c.wait_for_checkpoint(result.index)
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from regledger.keys.ed25519 import Ed25519Signer, statement_key_id
from regledger.keys.keystore import load_signer, save_signer
from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import open_checkpoint
from regledger.ledger.entry import Statement, sign_statement
from regledger.ledger.errors import LedgerError
from regledger.ledger.keyring import KEY_REGISTER, KEY_REVOKE
from regledger.ledger.tlogproof import verify_tlog_proof

__all__ = ["Draft", "Refused", "RegLedgerClient", "Submitted", "load_key", "new_key", "public_key_file"]

#: how often an unanswered post is sent again, and the first pause (doubling) between tries
RETRIES = 4
RETRY_PAUSE = 0.5


class Refused(LedgerError):
    """The server refused a request with an RFC 9457 problem: its status, title, detail and field."""

    def __init__(
        self, status: int, title: str, detail: str, field: str | None = None, index: int | None = None
    ) -> None:
        super().__init__(f"{title}: {detail}" + (f" (field {field})" if field else ""))
        self.status, self.title, self.detail, self.field, self.index = status, title, detail, field, index


@dataclass(frozen=True)
class Draft:
    """An unsigned statement as the server prepared it, with what the server changed or could not check."""

    statement: dict[str, Any]
    warnings: list[str]


@dataclass(frozen=True)
class Submitted:
    """A sequenced statement: its entry, the log-signed receipt, and the registration's new state."""

    index: int
    leaf_hash: str
    time: str
    receipt: str
    state: dict[str, Any] | None
    first_time: bool  # False: this very statement had been sequenced before (an answered retry)


def public_key_file(path: Path) -> Path:
    """Where `new_key` writes the key's vkey (name+hash+public key), beside the encrypted key."""
    return path.with_name(path.name + ".pub")


def new_key(name: str, path: Path, passphrase: bytes) -> Ed25519Signer:
    """A new Ed25519 key: the private key encrypted at `path` (mode 0600), its vkey at `path`.pub."""
    signer = Ed25519Signer.generate(name)
    save_signer(path, signer, passphrase)
    public_key_file(path).write_text(signer.verifier().vkey() + "\n")
    return signer


def load_key(path: Path, passphrase: bytes) -> Ed25519Signer:
    """The key `new_key` wrote (its name from the .pub file beside it, else the file's stem)."""
    pub = public_key_file(path)
    name = parse_vkey(pub.read_text()).name if pub.exists() else path.stem
    return load_signer(path, name, passphrase)


class RegLedgerClient:
    """One server, optionally one signing key; every method raises Refused with the server's problem."""

    def __init__(
        self,
        server: str,
        signer: Ed25519Signer | None = None,
        *,
        log_key: str | None = None,
        timeout: float = 30,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`log_key`: the log's vkey to check checkpoints with (default: the one the server serves)."""
        self.signer = signer
        self.http = httpx.Client(base_url=server.rstrip("/"), timeout=timeout, trust_env=False, transport=transport)
        self._log_key = log_key
        self._sleep = sleep

    def __enter__(self) -> RegLedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- plumbing ---------------------------------------------------------------------------

    @staticmethod
    def _check(r: httpx.Response) -> httpx.Response:
        if r.status_code < 400:
            return r
        try:
            body = r.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        raise Refused(
            r.status_code,
            str(body.get("title") or r.reason_phrase),
            str(body.get("detail") or r.text[:200]),
            body.get("field"),
            body.get("index"),
        )

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self.http.get(path, params={k: v for k, v in params.items() if v is not None})).json()

    def _signer(self) -> Ed25519Signer:
        if self.signer is None:
            raise LedgerError("this client holds no key: give it the clerk's key (--key / REGLEDGER_KEY)")
        return self.signer

    # -- writing ----------------------------------------------------------------------------

    def draft(self, kind: str, subject: str, payload: Mapping[str, Any] | None = None) -> Draft:
        """The server's draft of a statement, checked as this client's key's statement (if it holds one)."""
        body: dict[str, Any] = {"kind": kind, "subject": subject, "payload": dict(payload or {})}
        if self.signer is not None:
            body["key"] = self.signer.key_id
        doc = self._check(self.http.post("/v1/drafts", json=body)).json()
        return Draft(doc["statement"], list(doc["warnings"]))

    def sign(self, draft: Draft) -> Statement:
        """Sign the draft as it is: the server's time and nonce, this client's key."""
        signer = self._signer()
        st = draft.statement
        if st.get("key", signer.key_id) != signer.key_id:
            raise LedgerError(f"the draft was checked for key {st['key']}, not this client's {signer.key_id}")
        extra = {k: v for k, v in st.items() if k not in ("kind", "subject", "payload", "time", "key")}
        return sign_statement(
            signer, kind=st["kind"], subject=st["subject"], payload=st["payload"], time=st["time"], extra=extra
        )

    def submit(self, statement: Statement) -> Submitted:
        """POST the statement's canonical bytes; a lost answer (no response, 502-504) is retried with the same
        bytes, which the server sequences at most once."""
        body = statement.canonical
        pause = RETRY_PAUSE
        for attempt in range(RETRIES + 1):
            try:
                r = self.http.post("/v1/statements", content=body, headers={"content-type": "application/json"})
            except httpx.TransportError:
                if attempt == RETRIES:
                    raise
            else:
                if r.status_code not in (429, 502, 503, 504) or attempt == RETRIES:
                    doc = self._check(r).json()
                    return Submitted(
                        doc["index"],
                        doc["leaf_hash"],
                        doc["time"],
                        doc["receipt"],
                        doc["state"],
                        first_time=r.status_code == 201,
                    )
                retry_after = r.headers.get("retry-after", "")
                pause = max(pause, float(retry_after)) if retry_after.isdigit() else pause
            self._sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")

    def send(
        self,
        kind: str,
        subject: str,
        payload: Mapping[str, Any] | None = None,
        *,
        review: Callable[[Draft], None] | None = None,
    ) -> Submitted:
        """Draft, (let `review` see the draft), sign and submit one statement."""
        d = self.draft(kind, subject, payload)
        if review is not None:
            review(d)
        return self.submit(self.sign(d))

    def register_key(self, vkey: str, role: str, scope: Mapping[str, Any] | None = None) -> Submitted:
        """As an administrator: register the key `vkey` (name+hash+public key) with a role and scope."""
        v = parse_vkey(vkey)
        payload: dict[str, Any] = {"public_key": base64.b64encode(v.public).decode(), "name": v.name, "role": role}
        if scope:
            payload["scope"] = dict(scope)
        return self.send(KEY_REGISTER, statement_key_id(v.public), payload)

    def revoke_key(self, name_or_id: str, reason: str) -> Submitted:
        """As an administrator: revoke a key, named by its id or its name."""
        return self.send(KEY_REVOKE, self.key(name_or_id)["key_id"], {"reason": reason})

    # -- reading ----------------------------------------------------------------------------

    def key(self, name_or_id: str) -> dict[str, Any]:
        return self.get(f"/v1/keys/{name_or_id}")

    def registration(self, id_or_code: str) -> dict[str, Any]:
        """A registration's state, by its id, its uniform code (PDR-…) or its 查询码."""
        return self.get(f"/v1/registrations/{id_or_code}")

    def certificate(self, code: str) -> dict[str, Any]:
        return self.get(f"/v1/registrations/{code}/certificate")

    def schema(self, kind: str | None = None) -> dict[str, Any]:
        return self.get(f"/v1/schemas/{kind}" if kind else "/v1/schemas")

    def log_key(self) -> str:
        if self._log_key is None:
            self._log_key = self._check(self.http.get("/log/key")).text.strip()
        return self._log_key

    def checkpoint(self) -> tuple[int, bytes]:
        """The latest checkpoint, its signature checked with the log's key: (size, note)."""
        note = self._check(self.http.get("/log/checkpoint")).content
        v = parse_vkey(self.log_key())
        cp, _ = open_checkpoint(note, v.name, v)
        return cp.size, note

    def wait_for_checkpoint(self, index: int, timeout: float = 30) -> int:
        """Wait until a signed checkpoint covers entry `index`; returns its size."""
        deadline = time.monotonic() + timeout
        while True:
            size, _ = self.checkpoint()
            if size > index:
                return size
            if time.monotonic() > deadline:
                raise LedgerError(f"entry {index} is not in a signed checkpoint after {timeout} s (size {size})")
            self._sleep(0.2)

    def proven_history(self, id_or_code: str) -> list[dict[str, Any]]:
        """A registration's steps, each with its inclusion proof checked against the log's signed checkpoint
        (steps not yet in a checkpoint are left out)."""
        doc = self.get(f"/v1/registrations/{id_or_code}/history")
        v = parse_vkey(self.log_key())
        steps = []
        for s in doc["steps"]:
            if "proof" in s:
                verify_tlog_proof(s["proof"], base64.b64decode(s["leaf"]), origin=v.name, verifier=v)
                steps.append(s)
        return steps
