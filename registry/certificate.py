"""Registration certificates that verify offline, with the log's verifier key and nothing else.

A certificate bundles a registration's entries and the key registrations of everyone who signed
them (back to entry 0), each with a C2SP tlog-proof against one signed checkpoint.  Verifying it:
1. open the checkpoint with the log's key;
2. check every entry's inclusion proof against that checkpoint;
3. rebuild the signers' keys from their key.register entries and check every signature;
4. replay the registration's entries through the workflow and compare the result with what the
   certificate claims (status, code, query code, name).  Due dates are recomputed under the
   package's calendar and the ledger's `calendar.year` statements the certificate carries (with
   their proofs), each in force from its own index on, exactly as the log applied them.

What it cannot show offline: that the history is complete — a later step (a change, cancellation
or revocation) may exist that the holder of a certificate left out; the certificate shows the
state as of its last entry, and a relying party who needs the current state asks the log (or for a
fresh certificate).  Nor that no key was revoked between its registration and its use, and
the cross-registration checks (a product's source resources were live); the log enforced both when
it sequenced the entries, and `regledger audit` re-checks them on the whole log.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from typing import Any

from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import open_checkpoint
from regledger.ledger.entry import Entry, parse_json
from regledger.ledger.errors import LedgerError, MalformedError, VerificationError
from regledger.ledger.fold import fold_entry, signed_by, verify_statement
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import KeyRecord
from regledger.ledger.tlogproof import format_tlog_proof, verify_tlog_proof

from .calendar import CALENDAR_KIND, loaded_years, parse_notice
from .regions import RegionTable, default_table
from .state import registration_by_code
from .workdays import Calendar, CalendarYear
from .workflow import WorkflowConfig, step

__all__ = ["CERTIFICATE_FORMAT", "build_certificate", "certificate_html", "verify_certificate"]

CERTIFICATE_FORMAT = "regledger-certificate/v1"


def build_certificate(ledger: Ledger, code: str) -> dict[str, Any]:
    """The certificate of the registration holding `code`, against the latest checkpoint."""
    found = registration_by_code(ledger.store.get_state, code)
    if found is None:
        raise LedgerError(f"no registration has code {code}")
    state = found.state
    reg_id = state["registration"]
    size, note = ledger.checkpoint()
    indexes = [h["index"] for h in state["history"]]
    if max(indexes) >= size:
        raise LedgerError("the registration's latest step is not in a checkpoint yet; integrate first")
    keys = {k.key_id: k for k in ledger.store.all_keys()}
    key_entries: set[int] = set()
    notices = _calendar_indexes(ledger, max(indexes))
    todo = [ledger.entry(i).statement.key for i in [*indexes, *notices]]
    while todo:
        rec = keys[todo.pop()]
        idx = max(rec.registered_at, 0)
        if idx not in key_entries:
            key_entries.add(idx)
            todo.append(ledger.entry(idx).statement.key)

    def bundle(i: int) -> dict[str, Any]:
        leaf = ledger.entries(i, i + 1)[0]
        return {
            "index": i,
            "leaf": base64.b64encode(leaf).decode(),
            "proof": format_tlog_proof(i, ledger.inclusion_proof(i, size), note),
        }

    return {
        "format": CERTIFICATE_FORMAT,
        "origin": ledger.origin,
        "registration": reg_id,
        "claims": _claims(state),
        "checkpoint": note.decode(),
        "entries": [bundle(i) for i in indexes],
        "keys": [bundle(i) for i in sorted(key_entries)],
        "calendar": [bundle(i) for i in notices],
    }


def _calendar_indexes(ledger: Ledger, before: int) -> list[int]:
    """Every calendar.year entry (in force or since replaced) sequenced before entry `before`."""
    out = []
    for st in loaded_years(ledger.store):
        out += [i for i in [*st.state["replaced"], st.state["index"]] if i < before]
    return sorted(out)


def _claims(state: Mapping[str, Any]) -> dict[str, Any]:
    f = state["fields"]
    return {
        "status": state["status"],
        "code": state["code"],
        "query_code": state["query_code"],
        "official_code": state.get("official_code"),
        "subject_kind": state["subject_kind"],
        "name": f["name"],
        "holder": f["holder"]["name"],
        "holder_uscc": f["holder"]["uscc"],
        "region": state["region"],
    }


def _check_shape(cert: Any) -> None:
    """Refuse a structurally wrong document with a field path, before looking inside it."""
    if not isinstance(cert, Mapping) or cert.get("format") != CERTIFICATE_FORMAT:
        raise MalformedError(f"not a {CERTIFICATE_FORMAT} document", field="/format")
    for name, kind in (
        ("origin", str),
        ("registration", str),
        ("checkpoint", str),
        ("claims", Mapping),
        ("entries", list),
        ("keys", list),
    ):
        if not isinstance(cert.get(name), kind):
            raise MalformedError(
                f"missing or not a{'n object' if kind is Mapping else ' ' + kind.__name__}", field=f"/{name}"
            )
    if not isinstance(cert.get("calendar", []), list):  # absent in certificates made before calendar.year
        raise MalformedError("not a list", field="/calendar")
    for what in ("entries", "keys", "calendar"):
        for n, item in enumerate(cert.get(what, [])):
            if not (
                isinstance(item, Mapping)
                and isinstance(item.get("index"), int)
                and isinstance(item.get("leaf"), str)
                and isinstance(item.get("proof"), str)
            ):
                raise MalformedError("each item needs index (integer), leaf and proof (strings)", field=f"/{what}/{n}")


class _OfflineContext:
    """Cross-registration facts the log checked when it sequenced the entries; offline, the entries'
    own word stands for them (the code an entry carries is the one the log accepted there).  The
    calendar is the certificate's own proven calendar.year entries, as in force at `self.index`."""

    def __init__(self, notices: list[Entry]) -> None:
        self.entry_code: str | None = None
        self.index = 0
        self.notices = notices

    def calendar(self) -> Calendar:
        def in_force(year: int) -> CalendarYear | None:
            found = [e for e in self.notices if e.index < self.index and e.statement.subject == str(year)]
            return parse_notice(found[-1].statement.payload, index=found[-1].index) if found else None

        return Calendar(in_force)

    def registration_by_code(self, code: str) -> Mapping[str, Any] | None:
        return {"status": "CODED"}

    def region_table(self) -> RegionTable:
        """The shipped table: a code that only a `regions.load` in the log made valid does not verify offline."""
        return default_table()

    def last_seq(self, prefix: str) -> int:
        code = self.entry_code
        if isinstance(code, str) and code.startswith(prefix + "-") and code.count("-") == 5:
            tail = code.split("-")[4]
            if tail.isdigit():
                return int(tail) - 1
        return 0


def verify_certificate(
    doc: bytes | str | Mapping[str, Any], vkey: str, config: WorkflowConfig | None = None
) -> dict[str, Any]:
    """Verify a certificate offline; returns its claims, or raises saying exactly what failed."""
    cert = parse_json(doc) if isinstance(doc, (bytes, str)) else doc
    _check_shape(cert)
    verifier = parse_vkey(vkey)
    origin = cert.get("origin")
    if origin != verifier.name:
        raise VerificationError(f"the certificate is from log {origin!r}, but the key is for {verifier.name!r}")
    note = str(cert["checkpoint"]).encode()
    try:
        cp, _ = open_checkpoint(note, origin, verifier)
    except LedgerError as exc:
        raise VerificationError(f"checkpoint: {exc}") from None

    def load(items: Any, what: str) -> list[Entry]:
        out = []
        for n, item in enumerate(items):
            where = f"{what}[{n}] (entry {item.get('index')})"
            try:
                leaf = base64.b64decode(item["leaf"], validate=True)
                proof, pcp = verify_tlog_proof(item["proof"], leaf, origin=origin, verifier=verifier)
                if proof.checkpoint != note:
                    raise VerificationError("its proof is against another checkpoint")
                e = Entry.from_leaf(leaf)
                if e.index != proof.index or e.index != item["index"]:
                    raise VerificationError(f"index mismatch: entry says {e.index}, proof says {proof.index}")
            except (LedgerError, KeyError, TypeError, ValueError) as exc:
                raise VerificationError(f"{where}: {exc}") from None
            out.append(e)
        return out

    key_entries = load(cert.get("keys", []), "keys")
    entries = load(cert.get("entries", []), "entries")
    notices = sorted(load(cert.get("calendar", []), "calendar"), key=lambda e: e.index)
    keys: dict[str, KeyRecord] = {}
    for e in sorted(key_entries, key=lambda e: e.index):
        try:
            fold_entry(e.index, e.statement, keys)
        except LedgerError as exc:
            raise VerificationError(f"key entry {e.index}: {exc}") from None
    _check_notices(notices, keys)
    claims = cert.get("claims", {})
    state: dict[str, Any] | None = None
    ctx = _OfflineContext(notices)
    for e in sorted(entries, key=lambda e: e.index):
        if e.statement.subject != cert["registration"]:
            raise VerificationError(f"entry {e.index} is about {e.statement.subject}, not {cert['registration']}")
        rec = keys.get(e.statement.key)
        if rec is None or rec.registered_at >= e.index:
            raise VerificationError(f"entry {e.index}: its signer's key registration is not in the certificate")
        try:
            verify_statement(rec.public_key, e.statement)
            ctx.entry_code, ctx.index = e.statement.payload.get("code"), e.index
            state = step(state, e, rec, ctx, config or WorkflowConfig())
        except LedgerError as exc:
            raise VerificationError(f"entry {e.index}: {exc}") from None
    if state is None:
        raise VerificationError("the certificate has no entries")
    recomputed = _claims(state)
    for k, v in recomputed.items():
        if claims.get(k) != v:
            raise VerificationError(f"claim {k!r} is {claims.get(k)!r}, but the entries give {v!r}")
    return {
        **recomputed,
        "checkpoint_size": cp.size,
        "entries": len(entries),
        "last_index": max(e.index for e in entries),
    }


def _check_notices(notices: list[Entry], keys: Mapping[str, KeyRecord]) -> None:
    """Each calendar entry is a calendar.year statement signed by a key the certificate proves."""
    for e in notices:
        if e.statement.kind != CALENDAR_KIND:
            raise VerificationError(f"calendar entry {e.index} is a {e.statement.kind} statement")
        try:
            signed_by(e.index, e.statement, keys)
        except LedgerError as exc:
            raise VerificationError(f"calendar entry {e.index}: {exc}") from None


def certificate_html(cert: Mapping[str, Any]) -> str:
    """A human-readable page for a certificate (labels in Chinese and English)."""
    c = cert["claims"]
    e = html.escape
    rows = []
    for item in cert["entries"]:
        entry = json.loads(base64.b64decode(item["leaf"]))
        st = entry["statement"]
        rows.append(
            f"<tr><td>{e(str(item['index']))}</td><td>{e(entry['time'])}</td><td>{e(st['kind'])}</td>"
            f"<td><code>{e(st['key'])}</code></td></tr>"
        )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>登记证明 Registration certificate {e(str(c["code"]))}</title>
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto}}td,th{{border:1px solid #ccc;padding:.3em}}
table{{border-collapse:collapse}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head><body>
<h1>公共数据资源登记证明 <small>Registration certificate</small></h1>
<table>
<tr><th>登记编码 Code</th><td><code>{e(str(c["code"]))}</code></td></tr>
<tr><th>查询码 Query code</th><td><code>{e(str(c["query_code"]))}</code></td></tr>
<tr><th>名称 Name</th><td>{e(c["name"])}</td></tr>
<tr><th>登记主体 Registrant</th><td>{e(c["holder"])} ({e(c["holder_uscc"])})</td></tr>
<tr><th>行政区划 Region</th><td>{e(c["region"])}</td></tr>
<tr><th>状态 Status</th><td>{e(c["status"])}</td></tr>
</table>
<h2>登记过程 History</h2>
<table><tr><th>#</th><th>时间 Time</th><th>步骤 Step</th><th>签名密钥 Key</th></tr>{"".join(rows)}</table>
<h2>签名检查点 Signed checkpoint</h2><pre>{e(cert["checkpoint"])}</pre>
<p>Verify offline: <code>regledger verify CERTIFICATE.json --key &lt;log verifier key&gt;</code></p>
</body></html>
"""
