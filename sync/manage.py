"""Configure the cascade (children and parent are ledger entries) and report on it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from regledger.keys.ed25519 import Ed25519Signer, statement_key_id
from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import parse_checkpoint_text
from regledger.ledger.entry import Statement, sign_statement
from regledger.ledger.errors import ConflictError, MalformedError, NotFoundError
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.note import open_note
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import StateQuery, SubjectState

from .policy import verifier_for
from .state import CHILD_PREFIX, PARENT_SUBJECT, child_key

__all__ = [
    "ChildNotice",
    "add_child",
    "all_states",
    "child_notice",
    "children",
    "parent",
    "self_key_statements",
    "set_parent",
    "sync_status",
]


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise MalformedError("must be an http:// or https:// URL", field="url")
    return url.rstrip("/")


def self_key_statements(ledger: Ledger, admin: Ed25519Signer) -> list[Statement]:
    """Register this instance's log key as its own platform key (it signs sync.* statements), once."""
    log_key = ledger.log_signer
    if ledger.store.get_keys([statement_key_id(log_key.public)]):
        return []
    return [register_key_statement(admin, log_key, "platform")]


def add_child(ledger: Ledger, admin: Ed25519Signer, url: str, vkey: str) -> str:
    v = parse_vkey(vkey)
    if ledger.store.get_state(child_key(v.name)) is not None:
        raise ConflictError(f"{v.name} is already a child here")
    sts = self_key_statements(ledger, admin)
    sts.append(
        sign_statement(admin, kind="sync.child", subject=v.name, payload={"vkey": v.vkey(), "url": _check_url(url)})
    )
    ledger.append_batch(sts, receipts=False)
    return v.name


def set_parent(ledger: Ledger, admin: Ed25519Signer, url: str, vkey: str) -> str:
    """Pin the parent: its log key becomes a platform key here (it sends official codes and cosignatures)."""
    v = parse_vkey(vkey)
    pinned = parent(ledger)
    if pinned is not None:
        raise ConflictError(f"the parent is already {pinned['origin']}")
    sts = self_key_statements(ledger, admin)
    if not ledger.store.get_keys([statement_key_id(v.public)]):
        sts.append(
            sign_statement(
                admin,
                kind="key.register",
                subject=statement_key_id(v.public),
                payload={
                    "public_key": base64.b64encode(v.public).decode(),
                    "name": v.name,
                    "role": "platform",
                    "scope": {"parent": True},
                },
            )
        )
    sts.append(
        sign_statement(admin, kind="sync.parent", subject=v.name, payload={"vkey": v.vkey(), "url": _check_url(url)})
    )
    ledger.append_batch(sts, receipts=False)
    return v.name


def parent(ledger: Ledger) -> dict[str, Any] | None:
    st = ledger.store.get_state(PARENT_SUBJECT)
    return None if st is None else dict(st.state)


def all_states(ledger: Ledger, kind: str = "", *, status: str = "", prefix: str = "") -> Iterator[SubjectState]:
    """Every state of a kind (and status), page by page; with `prefix`, only subjects starting with it."""
    after = prefix
    while True:
        page = ledger.store.find_states(StateQuery(kind=kind, status=status, after=after, limit=500))
        for st in page:
            if not st.subject.startswith(prefix):
                return  # subjects come in order: past the prefix, nothing more can match
            yield st
        if len(page) < 500:
            return
        after = page[-1].subject


@dataclass(frozen=True)
class ChildNotice:
    """A child's announcement of a checkpoint, its signature checked against the child's pinned key."""

    origin: str
    size: int
    verified_size: int  # of the last checkpoint of the child accepted here

    @property
    def news(self) -> bool:
        return self.size > self.verified_size


def child_notice(ledger: Ledger, note: bytes) -> ChildNotice:
    """What POST /v1/sync/notify was told: only the child's own key counts (NotFoundError for a stranger)."""
    origin = note.split(b"\n", 1)[0].decode("utf-8", "replace")
    st = ledger.store.get_state(child_key(origin))
    if st is None:
        raise NotFoundError(f"{origin!r} is not a child of {ledger.origin}")
    cp = parse_checkpoint_text(open_note(note, [verifier_for(st.state["vkey"])]).text)
    return ChildNotice(origin, cp.size, st.state["verified_size"])


def children(ledger: Ledger) -> list[dict[str, Any]]:
    """This instance's own children (not the mirrored ones of its descendants)."""
    return [dict(st.state) for st in all_states(ledger, "sync", prefix=CHILD_PREFIX)]


def sync_status(ledger: Ledger) -> list[dict[str, Any]]:
    """Per child: origin, url, verified_size, state (ok | forked), and the fork evidence if any."""
    out = []
    for c in children(ledger):
        row = {
            "origin": c["origin"],
            "url": c["url"],
            "verified_size": c["verified_size"],
            "state": c["state"],
            "ingested_size": c["size"],
            "checkpoint": c["checkpoint"],
        }
        if c["state"] != "ok":
            row["fork"] = c.get("evidence")
            row["forked_at"] = c.get("forked_at")
        out.append(row)
    return out
