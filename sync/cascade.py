"""One instance's part in the cascade, run by `regledger sync pull` and by the loop in `serve`.

Per round: pull every child (sync.pull); as each child's witness, cosign every checkpoint this
instance has verified in that child's subtree and hand the cosignatures (and those relayed from
above) down; if this instance is the top (no parent), mint official codes for coded descendant
registrations that have none; send official codes one hop down until the target log shows them;
relay reference data (RELAYED_KINDS: the official calendar, the region table's amendments) one
hop down the same way; and tell the parent when this log has grown (push).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regledger.ledger.checkpoint import parse_checkpoint_text
from regledger.ledger.cosignature import CosignatureVerifier, Cosigner, cosign, parse_cosigner_vkey
from regledger.ledger.entry import Statement, sign_statement
from regledger.ledger.errors import (
    ConflictError,
    ForkError,
    LedgerError,
    MalformedError,
    NotFoundError,
    PeerRefusedError,
    SyncError,
)
from regledger.ledger.fold import verify_statement
from regledger.ledger.note import open_note
from regledger.ledger.sequencer import Ledger, LogSigner

from .domain import CascadeDomain
from .fetch import HTTPFetcher, cache_dir_for
from .manage import all_states, children, parent
from .pull import PullResult, pull_child
from .state import RELAY_PREFIX, ROUTE_PREFIX, Child, Route, mirror_subject, relay_key, route_origin

__all__ = ["Cascade", "RoundReport", "accept_cosignatures", "checkpoint_text", "reference_data_due"]

log = logging.getLogger("regledger.sync")
#: a signed statement travels as its RFC 8785 bytes, the only encoding a regledger server accepts
_STATEMENT_HEADERS = {"content-type": "application/json"}


def checkpoint_text(note: str | bytes) -> str:
    s = note.decode() if isinstance(note, bytes) else note
    return s[: s.index("\n\n") + 1]


@dataclass
class RoundReport:
    pulled: list[PullResult] = field(default_factory=list)
    forks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # pulls refused: the exit status says so
    warnings: list[str] = field(default_factory=list)  # deliveries down or the push up that failed; retried next round
    cosigned: int = 0
    codes_minted: int = 0
    codes_sent: int = 0
    reference_sent: int = 0
    pushed: bool = False


class Cascade:
    def __init__(
        self,
        ledger: Ledger,
        home: Path,
        *,
        domain: CascadeDomain,
        executor: Executor | None = None,
        fetcher_factory: Callable[[str, Path], Any] | None = None,
        clock: Callable[[], float] = time.time,
        progress: Callable[[str], Callable[[int, int], None] | None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.home = home
        self.domain = domain  # the register: official codes, reference data (sync.domain)
        self.executor = executor
        self.fetcher_factory = fetcher_factory or (lambda url, cache: HTTPFetcher(url, cache_dir=cache))
        self.cosigner = Cosigner(ledger.log_signer, clock=clock)
        self.progress = progress
        self.last_pushed = -1
        self.lock = threading.Lock()  # one round at a time per process

    @property
    def signer(self) -> LogSigner:
        return self.ledger.log_signer

    def _statement(self, kind: str, subject: str, payload: dict[str, Any]) -> Statement:
        return sign_statement(
            self.signer, kind=kind, subject=subject, payload=payload, extra={"nonce": secrets.token_hex(16)}
        )

    # -- the round ----------------------------------------------------------------------------------

    def run_round(self, *, push: bool = True, only: str | None = None) -> RoundReport:
        with self.lock:
            report = RoundReport()
            for c in children(self.ledger):
                if only and c["origin"] != only:
                    continue
                if c["state"] != "ok":
                    report.forks.append(c["origin"])
                    continue
                self._pull_one(c, report)
            if parent(self.ledger) is None:
                try:
                    report.codes_minted = self.mint_codes()
                except LedgerError as exc:
                    report.warnings.append(f"official codes: {exc}")
                    log.warning("sync: minting official codes failed: %s", exc)
            for c in children(self.ledger):
                if c["state"] == "ok" and (not only or c["origin"] == only):
                    try:
                        report.cosigned += self.deliver_cosignatures(c)
                        report.codes_sent += self.send_codes(c)
                        report.reference_sent += self.send_reference_data(c)
                    except LedgerError as exc:  # one child's trouble never stops the round for the others
                        report.warnings.append(f"{c['origin']}: {exc}")
                        log.warning("sync: delivering to %s failed: %s", c["origin"], exc)
            if push and parent(self.ledger) is not None:
                try:
                    report.pushed = self.push()
                except SyncError as exc:
                    report.warnings.append(f"push: {exc}")
                    log.warning("sync: push to the parent failed: %s", exc)
            return report

    def _pull_one(self, c: dict[str, Any], report: RoundReport) -> None:
        origin = c["origin"]
        fetcher = self.fetcher_factory(c["url"], cache_dir_for(self.home, origin))
        try:
            bar = self.progress(origin) if self.progress else None
            res = pull_child(self.ledger, fetcher, origin, executor=self.executor, progress=bar)
            report.pulled.append(res)
            if res.entries:
                log.info(
                    "sync: pulled %d entries of %s (%d -> %d) in %.2f s",
                    res.entries,
                    origin,
                    res.old_size,
                    res.new_size,
                    res.seconds,
                    extra={"event": "pull", "origin": origin},
                )
        except ForkError as exc:
            report.forks.append(origin)
            report.errors.append(str(exc))
        except LedgerError as exc:  # refused: nothing was stored; say which child and why
            report.errors.append(str(exc) if str(exc).startswith(origin) else f"{origin}: {exc}")
            log.error("sync: refused %s: %s", origin, exc, extra={"event": "refused", "origin": origin})
        finally:
            fetcher.close()

    # -- witness: cosign what was verified, hand it down ---------------------------------------------

    def _routes(self) -> dict[str, str]:
        out = {}
        for st in all_states(self.ledger, "route", prefix=ROUTE_PREFIX):
            out[route_origin(st.subject)] = Route.from_state(st.state).parent
        return out

    def path_to(self, origin: str, routes: dict[str, str] | None = None) -> list[str]:
        """Origins from this instance's child down to `origin` (raises NotFoundError if not below here)."""
        routes = self._routes() if routes is None else routes
        path = [origin]
        while routes.get(path[-1]) not in (None, self.ledger.origin):
            path.append(routes[path[-1]])
            if len(path) > 32:
                raise MalformedError(f"the routes to {origin} loop")
        if routes.get(path[-1]) != self.ledger.origin:
            raise NotFoundError(f"{origin} is not below {self.ledger.origin}")
        return list(reversed(path))

    def verified_checkpoints(self) -> dict[str, str]:
        """origin -> the latest checkpoint note this instance verified for it (children and deeper)."""
        out: dict[str, str] = {}
        for st in all_states(self.ledger, "sync"):
            c = Child.from_state(st.state)
            if c.checkpoint and c.state == "ok":
                out[c.origin] = c.checkpoint
        return out

    def deliver_cosignatures(self, child: dict[str, Any]) -> int:
        """Cosign each verified checkpoint in the child's subtree; send those and any from above."""
        items = []
        verified, routes = self.verified_checkpoints(), self._routes()  # read once per delivery
        for origin, note in verified.items():
            try:
                path = self.path_to(origin, routes)
            except LedgerError:
                continue
            if path[0] != child["origin"]:
                continue
            text = checkpoint_text(note)
            items.append(
                {
                    "origin": origin,
                    "checkpoint": text,
                    "vkey": self.cosigner.vkey(),
                    "line": cosign(text, self.cosigner),
                }
            )
        for origin, size, vkey, line in self.ledger.store.latest_cosignatures():
            if origin == self.ledger.origin:
                continue
            mirrored = checkpoint_text(verified[origin]) if origin in verified else None
            if mirrored is not None and mirrored.split("\n")[1] == str(size):
                items.append({"origin": origin, "checkpoint": mirrored, "vkey": vkey, "line": line})
        if not items:
            return 0
        fetcher = HTTPFetcher(child["url"])
        try:
            body = self._statement("sync.cosignatures", self.ledger.origin, {"cosignatures": items})
            fetcher.post("v1/sync/cosignatures", content=body.canonical, headers=_STATEMENT_HEADERS)
        finally:
            fetcher.close()
        return len(items)

    # -- official codes ------------------------------------------------------------------------------

    def mint_codes(self) -> int:
        """At the top of the cascade: an official code for each coded descendant registration without one."""
        minted = 0
        routes = self._routes()
        for st in all_states(self.ledger, status="CODED"):
            due = self.domain.awaiting_official_code(st)
            if due is None:
                continue
            origin, registration = due
            if self.ledger.store.get_state(relay_key(origin, registration)) is not None:
                continue
            try:
                path = self.path_to(origin, routes)
            except LedgerError as exc:  # e.g. a route a misbehaving child tried to bend: skip, say so
                log.warning("sync: no route to %s for %s: %s", origin, registration, exc)
                continue
            code = self.domain.next_official_code(st, self.ledger.store.get_state)
            stmt = sign_statement(
                self.signer,
                kind="sync.code",
                subject=registration,
                payload={"origin": origin, "official_code": code, "path": path},
            )
            self.ledger.append(stmt)
            log.info(
                "sync: official code %s for %s of %s",
                code,
                registration,
                origin,
                extra={"event": "code", "origin": origin},
            )
            minted += 1
        return minted

    def send_codes(self, child: dict[str, Any]) -> int:
        """Send each official code waiting here one hop down, until the log below shows it."""
        sent = 0
        fetcher = HTTPFetcher(child["url"])
        try:
            for st in all_states(self.ledger, "relay", prefix=RELAY_PREFIX):
                body = self._relay_statement(st.state, child["origin"])
                if body is not None:
                    sent += _post_statement(fetcher, body)
        finally:
            fetcher.close()
        return sent

    def send_reference_data(self, child: dict[str, Any]) -> int:
        """Re-sign and send each reference statement in force here that the child's mirror does not show."""
        due = reference_data_due(self.ledger, child["origin"], self.domain)
        if not due:
            return 0
        sent = 0
        fetcher = HTTPFetcher(child["url"])
        try:
            for kind, subject, payload in due:
                sent += _post_statement(fetcher, self._statement(kind, subject, payload))
        finally:
            fetcher.close()
        if sent:
            log.info(
                "sync: sent %d reference statements down to %s",
                sent,
                child["origin"],
                extra={"event": "relay", "origin": child["origin"]},
            )
        return sent

    def _relay_statement(self, r: Mapping[str, Any], child: str) -> Statement | None:
        """The statement that takes relay `r` one hop down to `child`, or None if it is not due there."""
        hops = r["hops"]
        if hops[0] != child:
            return None
        if len(hops) == 1:
            reg = self.ledger.store.get_state(self.domain.registration_key(r["registration"], child))
            if reg is not None and reg.state.get("official_code") == r["official_code"]:
                return None
            return self._statement(
                "registration.code_assigned", r["registration"], {"official_code": r["official_code"]}
            )
        if self.ledger.store.get_state(mirror_subject(child, relay_key(r["origin"], r["registration"]))) is not None:
            return None
        return self._statement(
            "sync.code", r["registration"], {"origin": r["origin"], "official_code": r["official_code"], "path": hops}
        )

    # -- push -----------------------------------------------------------------------------------------

    def push(self, *, force: bool = False, attempts: int = 4) -> bool:
        """Tell the parent this log has a new checkpoint (it then pulls); retried with backoff."""
        p = parent(self.ledger)
        if p is None:
            raise NotFoundError("no parent is set; `regledger sync set-parent URL --key VKEY` first")
        size, note = self.ledger.checkpoint()
        if size == self.last_pushed and not force:
            return False
        fetcher = HTTPFetcher(p["url"], attempts=attempts)
        try:
            fetcher.post("v1/sync/notify", content=note, headers={"Content-Type": "text/plain; charset=utf-8"})
        finally:
            fetcher.close()
        self.last_pushed = size
        return True


def _post_statement(fetcher: HTTPFetcher, body: Statement) -> int:
    """POST a statement one hop down: 1 if recorded, 0 if the child has it already (409), else raises."""
    try:
        fetcher.post("v1/statements", content=body.canonical, headers=_STATEMENT_HEADERS)
        return 1
    except PeerRefusedError as exc:
        if exc.status != 409:
            raise
        return 0


def reference_data_due(ledger: Ledger, child: str, domain: CascadeDomain) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, subject, payload) of each reference statement (RELAYED_KINDS) in force here that
    `child`'s mirror lacks, in log order: the domain says which entries (registry.reference), and
    each is sent down as it was signed here, re-signed by this instance."""

    def mirrored(subjects: list[str]) -> dict[str, Any]:
        got = ledger.store.get_states([mirror_subject(child, s) for s in subjects])
        return {s: got.get(mirror_subject(child, s)) for s in subjects}

    statements = [ledger.entry(i).statement for i in domain.reference_entries_due(ledger.store, mirrored)]
    return [(st.kind, st.subject, dict(st.payload)) for st in statements]


def accept_cosignatures(ledger: Ledger, st: Statement) -> int:
    """What POST /v1/sync/cosignatures does: the parent's signed list, each line checked, then stored."""
    p = parent(ledger)
    if p is None or st.key != p["key"]:
        raise ConflictError("cosignatures are accepted only from this instance's parent")
    rec = ledger.store.get_keys([st.key]).get(st.key)
    if rec is None or rec.revoked_at is not None:
        raise NotFoundError(f"key {st.key} is not a valid key here")
    verify_statement(rec.public_key, st)
    items = st.payload.get("cosignatures")
    if not isinstance(items, list) or len(items) > 1000:
        raise MalformedError("a list of at most 1000 cosignatures", field="/payload/cosignatures")
    rows = []
    for i, item in enumerate(items):
        where = f"/payload/cosignatures/{i}"
        if not isinstance(item, dict):
            raise MalformedError("an object", field=where)
        origin, text, vkey, line = (item.get(k) for k in ("origin", "checkpoint", "vkey", "line"))
        if not (isinstance(origin, str) and isinstance(text, str) and isinstance(vkey, str) and isinstance(line, str)):
            raise MalformedError("origin, checkpoint, vkey and line are strings", field=where)
        verifier: CosignatureVerifier = parse_cosigner_vkey(vkey)
        note = (text + "\n" + line.rstrip("\n") + "\n").encode()
        cp = parse_checkpoint_text(open_note(note, [verifier]).text)
        if cp.origin != origin:
            raise MalformedError(f"the checkpoint is {cp.origin}'s, not {origin}'s", field=f"{where}/checkpoint")
        if origin == ledger.origin:
            mine = ledger.checkpoint_at(cp.size)
            if checkpoint_text(mine) != text:
                raise ConflictError(f"cosignature {i} is on a checkpoint of size {cp.size} that this log did not sign")
        rows.append((origin, cp.size, vkey, line.rstrip("\n") + "\n"))
    return ledger.store.add_cosignatures(rows)
