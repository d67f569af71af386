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

A v2 certificate (`regledger-certificate/v2`) also proves the history complete as of its checkpoint:
5. two status-proof documents (the status map, docs/formats.md) against the same checkpoint: the
   code's alias (`code:<code>` -> `reg:<id>`), so the claimed code is this registration's, and the
   registration's value (`reg:<id>` -> every log index of its entries), which must equal the
   certificate's entry indexes exactly, in order; a left-out step (a revocation) is named;
6. the checkpoint's last entry (index size-1) with its inclusion proof: its time is the time the
   certificate reports for the checkpoint (a checkpoint note has no time line).
`check_current` then asks an instance (through a fetch function the caller supplies) whether the
history is still complete at its current checkpoint.

A v1 certificate still verifies, with the old caveat: nothing in it shows that no later step exists.
Neither version shows that no key was revoked between its registration and its use, nor the
cross-registration checks (a product's source resources were live); the log enforced both when
it sequenced the entries, and `regledger audit` re-checks them on the whole log.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import Checkpoint, open_checkpoint
from regledger.ledger.entry import Entry, parse_json
from regledger.ledger.errors import LedgerError, MalformedError, VerificationError
from regledger.ledger.fold import fold_entry, signed_by, verify_statement
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.note import Verifier
from regledger.ledger.proof import verify_consistency, verify_inclusion
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import KeyRecord
from regledger.ledger.tlogproof import format_tlog_proof, verify_tlog_proof
from regledger.ledger.vmap import StatusProof, open_status_proof

from .calendar import CALENDAR_KIND, loaded_years, parse_notice
from .regions import RegionTable, default_table
from .state import code_key, lookup_key, registration_by_code, registration_key
from .workdays import Calendar, CalendarYear
from .workflow import WorkflowConfig, step

__all__ = [
    "CERTIFICATE_FORMAT",
    "CERTIFICATE_FORMAT_V1",
    "build_certificate",
    "certificate_html",
    "check_current",
    "check_indexes",
    "status_proofs",
    "verify_certificate",
]

CERTIFICATE_FORMAT = "regledger-certificate/v2"
CERTIFICATE_FORMAT_V1 = "regledger-certificate/v1"
FORMATS = (CERTIFICATE_FORMAT_V1, CERTIFICATE_FORMAT)


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
        "status_proofs": [
            ledger.status_proof(code_key(state["code"]), size),
            ledger.status_proof(registration_key(reg_id), size),
        ],
        "checkpoint_entry": bundle(size - 1),
    }


def status_proofs(ledger: Ledger, id_or_code: str, size: int | None = None, origin: str | None = None) -> list[Any]:
    """The status-proof documents of a lookup by id, code or 查询码 (of this log, or of the mirror of
    `origin`) against the checkpoint of `size` (None: the latest): for a code or query code its alias and,
    if the alias exists, the registration it names; for an id the registration.  A key the map does not
    hold gets its non-existence proof (value null).  NotFoundError if `size` has no checkpoint with a map."""
    if size is None:
        size = ledger.checkpoint()[0]
    first = ledger.status_proof(lookup_key(id_or_code, origin), size)
    docs = [first]
    target = first["value"].get("registration") if isinstance(first["value"], Mapping) else None
    if isinstance(target, str):
        docs.append(ledger.status_proof(target, size))
    return docs


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
    if not isinstance(cert, Mapping) or cert.get("format") not in FORMATS:
        raise MalformedError(f"not a {CERTIFICATE_FORMAT} (or v1) document", field="/format")
    if cert["format"] == CERTIFICATE_FORMAT:
        proofs = cert.get("status_proofs")
        if not isinstance(proofs, list) or len(proofs) != 2 or not all(isinstance(d, Mapping) for d in proofs):
            raise MalformedError("a v2 certificate needs two status-proof documents", field="/status_proofs")
        if not isinstance(cert.get("checkpoint_entry"), Mapping):
            raise MalformedError("a v2 certificate needs the checkpoint's last entry", field="/checkpoint_entry")
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
    items = [(f"/{w}/{n}", it) for w in ("entries", "keys", "calendar") for n, it in enumerate(cert.get(w, []))]
    if "checkpoint_entry" in cert:
        items.append(("/checkpoint_entry", cert["checkpoint_entry"]))
    for where, item in items:
        if not (
            isinstance(item, Mapping)
            and isinstance(item.get("index"), int)
            and isinstance(item.get("leaf"), str)
            and isinstance(item.get("proof"), str)
        ):
            raise MalformedError("each item needs index (integer), leaf and proof (strings)", field=where)


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
    """Verify a certificate offline; returns its claims and what was proven (`complete`: the history is
    the registration's whole history as of the checkpoint, v2 only), or raises saying exactly what failed."""
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
    complete: dict[str, Any] = {"complete": False}
    if cert["format"] == CERTIFICATE_FORMAT:
        complete = _check_complete(cert, cp, verifier, entries)
        last = load([cert["checkpoint_entry"]], "checkpoint_entry")[0]
        if last.index != cp.size - 1:
            raise VerificationError(
                f"checkpoint_entry is entry {last.index}, not the checkpoint's last ({cp.size - 1})"
            )
        complete["checkpoint_time"] = last.time
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
        "format": cert["format"],
        "registration": cert["registration"],
        "checkpoint": cert["checkpoint"],
        "checkpoint_size": cp.size,
        "entries": len(entries),
        "indexes": [e.index for e in entries],
        "last_index": max(e.index for e in entries),
        **complete,
    }


def _open_status(doc: Any, n: int, origin: str, verifier: Verifier) -> StatusProof:
    try:
        return open_status_proof(doc, origin=origin, verifier=verifier)
    except LedgerError as exc:
        raise VerificationError(f"status_proofs[{n}]: {exc}") from None


def _same_checkpoint(got: Checkpoint, want: Checkpoint, what: str) -> None:
    if got != want:
        raise VerificationError(
            f"{what} is against checkpoint {got.size}, not the certificate's checkpoint {want.size}"
            + (" (an old status proof replayed?)" if got.size < want.size else "")
        )


def _check_complete(
    cert: Mapping[str, Any], cp: Checkpoint, verifier: Verifier, entries: list[Entry]
) -> dict[str, Any]:
    """The v2 completeness proof: the code's alias names this registration, and the registration's value
    lists exactly the certificate's entries (in order), both as of the certificate's checkpoint."""
    reg_key = registration_key(cert["registration"])
    code = cert["claims"].get("code")
    alias_doc, reg_doc = cert["status_proofs"]
    alias = _open_status(alias_doc, 0, cert["origin"], verifier)
    reg = _open_status(reg_doc, 1, cert["origin"], verifier)
    _same_checkpoint(alias.checkpoint, cp, "status_proofs[0]")
    _same_checkpoint(reg.checkpoint, cp, "status_proofs[1]")
    if not isinstance(code, str) or alias.key != code_key(code):
        raise VerificationError(f"status_proofs[0] is about {alias.key!r}, not the claimed code {code!r}")
    if alias.value is None:
        raise VerificationError(f"no registration has code {code} as of checkpoint {cp.size}")
    if alias.value != {"registration": reg_key}:
        raise VerificationError(f"code {code} belongs to {alias.value.get('registration')!r}, not {reg_key!r}")
    if reg.key != reg_key:
        raise VerificationError(f"status_proofs[1] is about {reg.key!r}, not {reg_key!r}")
    if reg.value is None:
        raise VerificationError(f"no registration {cert['registration']} as of checkpoint {cp.size}")
    indexes = reg.value.get("indexes")
    if not isinstance(indexes, list):
        raise VerificationError("status_proofs[1] holds no index list")
    check_indexes(
        [e.index for e in entries],
        indexes,
        {e.index: e.statement.subject for e in entries},
        cert["registration"],
        cp.size,
    )
    return {"complete": True, "history": list(indexes)}


def check_indexes(
    have: Sequence[int], history: Sequence[int], subjects: Mapping[int, str], registration: str, size: int
) -> None:
    """`have` (a certificate's entry indexes, in its order) must be exactly `history` (the map's list of the
    registration's entries as of checkpoint `size`); else a VerificationError naming the first difference."""
    whole = f"the log's complete history as of checkpoint {size} has {len(history)} entries"
    listed = set(history)
    for i in have:
        if i not in listed:
            subject = subjects.get(i)
            if subject is not None and subject != registration:
                raise VerificationError(f"entry {i} belongs to another registration ({subject}); {whole}")
            raise VerificationError(f"entry {i} is not in the registration's history; {whole}")
    seen: set[int] = set()
    for i in have:
        if i in seen:
            raise VerificationError(f"entry {i} appears twice; {whole}")
        seen.add(i)
    for i in history:
        if i not in seen:
            raise VerificationError(f"entry {i} is missing: {whole}")
    if list(have) != list(history):
        at = next(n for n, (a, b) in enumerate(zip(have, history, strict=True)) if a != b)
        raise VerificationError(f"entries are out of order: entry {have[at]} is where entry {history[at]} belongs")


Fetch = Callable[[str, Mapping[str, Any]], Any]


def check_current(result: Mapping[str, Any], vkey: str, fetch_text: Fetch, fetch_json: Fetch) -> dict[str, Any]:
    """Whether a verified v2 certificate (`result`: what verify_certificate returned) still holds at an
    instance's current checkpoint.  `fetch_text(path, params)` and
    `fetch_json(path, params)` GET from the instance (the caller's transport; nothing it answers is trusted):
    1. /log/checkpoint, opened with the log's key, at least the certificate's size, and consistent with it
       (/v1/proofs/consistency);
    2. /v1/registrations/{id}/status-proof?size=M: the registration's indexes at M are the certificate's,
       else the first newer entry is named (its kind and time from /v1/entries/{i}, proven included);
    3. the time of checkpoint M: its last entry's (/v1/entries/{M-1}, with /v1/proofs/inclusion).
    Returns {"size", "time", "status"}; raises VerificationError (a newer entry exists, an inconsistent log)."""
    verifier = parse_vkey(vkey)
    origin = verifier.name
    old, _ = open_checkpoint(str(result["checkpoint"]).encode(), origin, verifier)
    try:
        note = str(fetch_text("/log/checkpoint", {})).encode()
        cp, _ = open_checkpoint(note, origin, verifier)
    except LedgerError as exc:
        raise VerificationError(f"the instance's checkpoint: {exc}") from None
    if cp.size < old.size:
        raise VerificationError(f"the instance's checkpoint {cp.size} is older than the certificate's {old.size}")
    try:
        hashes = fetch_json("/v1/proofs/consistency", {"first": old.size, "second": cp.size})["hashes"]
        verify_consistency(old.size, cp.size, old.root, cp.root, [base64.b64decode(h, validate=True) for h in hashes])
    except (LedgerError, KeyError, TypeError, ValueError) as exc:
        raise VerificationError(
            f"the instance's checkpoint {cp.size} is not consistent with the certificate's {old.size}: {exc}"
        ) from None

    def proven_entry(i: int) -> Entry:
        try:
            leaf = base64.b64decode(fetch_json(f"/v1/entries/{i}", {})["leaf"], validate=True)
            path = fetch_json("/v1/proofs/inclusion", {"size": cp.size, "index": i})["hashes"]
            verify_inclusion(i, cp.size, leaf_hash(leaf), [base64.b64decode(h, validate=True) for h in path], cp.root)
            return Entry.from_leaf(leaf)
        except (LedgerError, KeyError, TypeError, ValueError) as exc:
            raise VerificationError(f"entry {i} from the instance: {exc}") from None

    reg_key = registration_key(result["registration"])
    docs = fetch_json(f"/v1/registrations/{result['registration']}/status-proof", {"size": cp.size})
    try:
        doc = next(d for d in docs["proofs"] if isinstance(d, Mapping) and d.get("key") == reg_key)
    except (KeyError, TypeError, StopIteration):
        raise VerificationError(f"the instance served no status proof of {reg_key}") from None
    fresh = _open_status(doc, 0, origin, verifier)
    _same_checkpoint(fresh.checkpoint, cp, "the fresh status proof")
    if fresh.value is None:
        raise VerificationError(f"the instance proves no registration {result['registration']} at checkpoint {cp.size}")
    now = list(fresh.value.get("indexes") or [])
    have = list(result["indexes"])
    if now[: len(have)] != have:
        raise VerificationError(
            f"the registration's history at checkpoint {cp.size} is {now}, not the certificate's {have}"
        )
    if len(now) > len(have):
        e = proven_entry(now[len(have)])
        raise VerificationError(
            f"a newer entry exists: entry {e.index} ({e.statement.kind}, time {e.time}) is in the history as of "
            f"checkpoint {cp.size}; {len(now) - len(have)} entries after the certificate's"
        )
    return {"size": cp.size, "time": proven_entry(cp.size - 1).time, "status": result["status"]}


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
    complete = ""
    if cert.get("format") == CERTIFICATE_FORMAT:
        size = e((str(cert["checkpoint"]).split("\n") + ["?"])[1])
        complete = (
            f"<p>历史完整性证明 Completeness: the certificate's status proofs show these are all of the "
            f"registration's entries as of checkpoint {size} (checked by <code>regledger verify</code>).</p>\n"
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
{complete}<p>Verify offline: <code>regledger verify CERTIFICATE.json --key &lt;log verifier key&gt;</code>
(add <code>--online URL</code> to ask an instance whether the history is still complete)</p>
</body></html>
"""
