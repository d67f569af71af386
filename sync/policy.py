"""The cascade as a ledger policy: what sync.* statements may do, and the verified mirrors they build.

A parent records a child's entries as `sync.entries` statements (signed by the parent's own log
key) that carry the child's leaves verbatim, the child's signed checkpoint and the child index of
the first leaf.  Folding them, this policy re-checks the chain, extends a compact range of the
child's tree and, when a batch reaches the checkpoint's size, requires the checkpoint's root:
so a parent's ledger can only hold child entries that the child's own key committed to.  It also
folds each child entry, under the child's own keys, into the child's namespace of states
(`@<origin>:<subject>`), which is how a national instance can show a county's registrations.

Subject states kept (all rebuildable from the entries; their keys and typed views are sync.state's):
children (`sync:<child>`), the parent, routes to descendant logs, official codes on their way down
(relays), and each child's mirror `@<origin>:<subject>`: what <origin>'s own ledger holds.

Reference data (RELAYED_KINDS: the official calendar, the region table) is decided at the top of the cascade: there an
admin key signs it; every instance below accepts it only from its parent's platform key, which
re-signs what it holds itself (sync/cascade.py, reference_data_due).  The domain policy checks and
keeps the content; this policy checks who signed it, here and in every mirror.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from functools import lru_cache, partial
from typing import Any

from regledger.keys.ed25519 import Ed25519Verifier, statement_key_id
from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import Checkpoint, open_checkpoint
from regledger.ledger.entry import Entry
from regledger.ledger.errors import ConflictError, MalformedError, RootMismatchError, UnknownKeyError
from regledger.ledger.fold import fold_entry, unknown_key_at
from regledger.ledger.merkle import CompactRange
from regledger.ledger.policy import StateMap
from regledger.ledger.store import KeyRecord, SubjectState

from .domain import CascadeDomain
from .state import (
    PARENT_SUBJECT,
    child_key,
    key_subject,
    mirror_subject,
    namespace_prefix,
    relay_key,
    route_key,
    route_state,
)

__all__ = [
    "RELAYED_KINDS",
    "SYNC_KINDS",
    "Namespace",
    "PackedLeaves",
    "SyncPolicy",
    "check_relayed_signer",
    "child_state_subject",
    "key_from_state",
    "mirror_subject",
    "verifier_for",
]

SYNC_KINDS = ("sync.child", "sync.parent", "sync.entries", "sync.fork", "sync.code")
OK, FORKED = "ok", "forked"
#: statement kinds of reference data that only the top instance loads and each parent relays down
#: (which entries a child lacks is the domain's to say: registry.reference.reference_entries_due)
RELAYED_KINDS: tuple[str, ...] = ("calendar.year", "regions.load")


def child_state_subject(origin: str) -> str:
    """A child's key (sync.state.child_key, under the name callers know)."""
    return child_key(origin)


@lru_cache(maxsize=256)
def verifier_for(vkey: str) -> Ed25519Verifier:
    return parse_vkey(vkey)


class Namespace:
    """A StateMap view in which every subject is `@<origin>:<subject>` (or the map itself)."""

    def __init__(self, base: StateMap, origin: str | None) -> None:
        self.base = base
        self.prefix = namespace_prefix(origin)
        self._keys: dict[str, tuple[SubjectState, KeyRecord]] = {}

    def key(self, key_id: str) -> KeyRecord | None:
        """The key record folded here for `key_id`: decoded once per state object (mirrored entries
        of one child are mostly signed by the same key, and the StateMap returns the same object)."""
        st = self.base.get(self.prefix + key_subject(key_id))
        if st is None:
            return None
        hit = self._keys.get(key_id)
        if hit is None or hit[0] is not st:
            hit = self._keys[key_id] = (st, key_from_state(st))
        return hit[1]

    def get(self, subject: str) -> SubjectState | None:
        st = self.base.get(self.prefix + subject)
        return st if st is None or not self.prefix else replace(st, subject=subject)

    def put(self, state: SubjectState) -> None:
        self.base.put(state if not self.prefix else replace(state, subject=self.prefix + state.subject))

    def prefetch(self, subjects: Iterable[str]) -> None:
        self.base.prefetch([self.prefix + s for s in subjects])


def check_relayed_signer(me: str, kind: str, signer: KeyRecord, ns: Namespace | StateMap) -> None:
    """Reference data comes from the top: an admin key there, the parent's platform key everywhere below."""
    parent = ns.get(PARENT_SUBJECT)
    if parent is None:
        if signer.role != "admin":
            raise UnknownKeyError(
                f"{kind} is loaded with an admin key at the top of the cascade, not a {signer.role} key"
            )
    elif signer.key_id != parent.state["key"]:
        raise UnknownKeyError(
            f"{me} takes {kind} only from its parent {parent.state['origin']}: the top of the "
            "cascade loads it and each level relays it down"
        )


def key_state(rec: KeyRecord) -> SubjectState:
    return SubjectState(
        key_subject(rec.key_id),
        {
            "public_key": base64.b64encode(rec.public_key).decode(),
            "name": rec.name,
            "role": rec.role,
            "scope": dict(rec.scope),
            "registered_at": rec.registered_at,
            "revoked_at": rec.revoked_at,
        },
        rec.registered_at if rec.revoked_at is None else rec.revoked_at,
        kind="key",
        name=rec.name,
        status="revoked" if rec.revoked_at is not None else "valid",
    )


def key_from_state(st: SubjectState) -> KeyRecord:
    s = st.state
    return KeyRecord(
        st.subject.rsplit(":", 1)[1],
        base64.b64decode(s["public_key"]),
        s["name"],
        s["role"],
        s["scope"],
        s["registered_at"],
        s["revoked_at"],
    )


def _text(p: Mapping[str, Any], name: str, max_len: int = 2048) -> str:
    v = p.get(name)
    if not isinstance(v, str) or not 0 < len(v) <= max_len:
        raise MalformedError(f"required: a string of 1-{max_len} characters", field=f"/payload/{name}")
    return v


def _int(p: Mapping[str, Any], name: str) -> int:
    v = p.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise MalformedError("required: a non-negative integer", field=f"/payload/{name}")
    return v


def _vkey(p: Mapping[str, Any], origin: str) -> Ed25519Verifier:
    v = verifier_for(_text(p, "vkey", 512))
    if v.name != origin:
        raise MalformedError(
            f"the key is named {v.name!r}; a log's key is named after its origin {origin!r}", field="/payload/vkey"
        )
    return v


_DECODER = json.JSONDecoder()
_ENTRIES = '"entries":['


def embedded_leaves(leaf: bytes, count: int) -> Iterator[tuple[Any, bytes]]:
    """(object, exact bytes) of each child leaf embedded in a sync.entries entry's leaf.

    The entry is canonical JSON, so each embedded leaf appears in it verbatim: its bytes are a
    slice, not a re-serialisation.  The first `"entries":[` is the payload's (inside a JSON string
    a quote is always escaped, and the members before the payload are strings).
    """
    text = leaf.decode("utf-8")
    pos = text.find(_ENTRIES)
    if pos < 0:
        raise MalformedError("a sync.entries entry without entries", field="/payload/entries")
    pos += len(_ENTRIES)
    for i in range(count):
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except ValueError:
            raise MalformedError("not a JSON value", field=f"/payload/entries/{i}") from None
        yield obj, text[pos:end].encode("utf-8")
        pos = end + 1  # past the comma (or the closing bracket after the last)


class PackedLeaves(list[Any]):
    """The `entries` of a sync.entries payload packed in this process by the pull (sync.pull._Appender):
    the objects parsed from `leaves`, the exact bytes of verified child leaves that the statement's
    canonical payload was assembled from.  A JSON parse never makes one, so an entry read back from a
    log (a rebuild, an audit, another process) takes `embedded_leaves`; the fold of a statement the
    pull has just packed takes the bytes it packed instead of parsing the leaf again."""

    __slots__ = ("leaves",)

    def __init__(self, objects: list[Any], leaves: list[bytes]) -> None:
        if len(objects) != len(leaves):
            raise ValueError("one object per leaf")
        super().__init__(objects)
        self.leaves = leaves


def _child_leaves(entry: Entry, leaves: list[Any]) -> Iterator[tuple[Any, bytes]]:
    """(object, exact bytes) of each child leaf in a sync.entries entry, checked to be the payload's."""
    if type(leaves) is PackedLeaves:  # packed here from these bytes: the leaf holds them verbatim
        yield from zip(leaves, leaves.leaves, strict=True)
        return
    for i, (obj, leaf) in enumerate(embedded_leaves(entry.leaf, len(leaves))):
        if obj != leaves[i]:
            raise MalformedError("the entry's bytes do not hold this entry", field=f"/payload/entries/{i}")
        yield obj, leaf


class SyncPolicy:
    """Folds sync.* statements; `domain` (the register) is applied to mirrored entries too."""

    def __init__(self, origin: str, domain: CascadeDomain | None = None) -> None:
        self.origin = origin
        self.domain = domain

    def subjects(self, entry: Entry) -> Iterable[str]:
        st = entry.statement
        if st.kind in ("sync.child", "sync.entries", "sync.fork"):
            return [child_state_subject(st.subject)]
        if st.kind in ("sync.parent", "sync.code") or st.kind in RELAYED_KINDS:
            return [PARENT_SUBJECT]
        return []

    def apply(self, entry: Entry, signer: KeyRecord, states: StateMap) -> None:
        if entry.statement.kind.startswith("sync."):
            self.apply_in(self.origin, entry, signer, Namespace(states, None), states, via=entry.index)
        elif entry.statement.kind in RELAYED_KINDS:
            check_relayed_signer(self.origin, entry.statement.kind, signer, states)

    # -- one instance's sync statements, in its own namespace -------------------------------------

    def apply_in(self, me: str, entry: Entry, signer: KeyRecord, ns: Namespace, base: StateMap, *, via: int) -> None:
        st = entry.statement
        p = st.payload
        if st.kind == "sync.child":
            self._require_role(signer, "admin")
            if st.subject == me:
                raise MalformedError("an instance cannot be its own child", field="/subject")
            vkey = _vkey(p, st.subject)
            if ns.get(child_state_subject(st.subject)) is not None:
                raise ConflictError(f"{st.subject} is already a child of {me}")
            # A log has one place in the cascade: a child may not claim a log already known here
            # (a sibling, this instance, its parent), which would write into that log's mirror.
            route = base.get(route_key(st.subject))
            parent = base.get(PARENT_SUBJECT)
            if route is not None or st.subject == self.origin or (parent and parent.state["origin"] == st.subject):
                where = f"under {route.state['parent']}" if route is not None else "above this instance"
                raise ConflictError(
                    f"{me} claims {st.subject} as its child, but that log is already in the cascade "
                    f"({st.subject if route is None else where})"
                )
            ns.put(
                SubjectState(
                    child_state_subject(st.subject),
                    {
                        "origin": st.subject,
                        "vkey": vkey.vkey(),
                        "url": _text(p, "url"),
                        "state": OK,
                        "size": 0,
                        "last_hash": bytes(32).hex(),
                        "range": [],
                        "verified_size": 0,
                        "checkpoint": None,
                        "added_at": entry.index,
                    },
                    entry.index,
                    kind="sync",
                    status=OK,
                    name=st.subject,
                )
            )
            base.put(route_state(st.subject, me, entry.index))
        elif st.kind == "sync.parent":
            self._require_role(signer, "admin")
            pinned = ns.get(PARENT_SUBJECT)
            if pinned is not None:  # else whoever holds the admin key could hand reference data to another "parent"
                raise ConflictError(f"the parent is already {pinned.state['origin']}: it is pinned once")
            vkey = _vkey(p, st.subject)
            ns.put(
                SubjectState(
                    PARENT_SUBJECT,
                    {
                        "origin": st.subject,
                        "vkey": vkey.vkey(),
                        "url": _text(p, "url"),
                        "key": statement_key_id(vkey.public),
                    },
                    entry.index,
                    kind="parent",
                    name=st.subject,
                )
            )
        elif st.kind == "sync.entries":
            self._require_self(me, signer)
            self._entries(me, entry, ns, base, via)
        elif st.kind == "sync.fork":
            self._require_self(me, signer)
            self._fork(entry, ns)
        elif st.kind == "sync.code":
            self._code(me, entry, signer, ns, base)
        else:
            raise MalformedError(f"unknown sync statement {st.kind}; known: {', '.join(SYNC_KINDS)}", field="/kind")

    @staticmethod
    def _require_role(signer: KeyRecord, role: str) -> None:
        if signer.role != role:
            raise UnknownKeyError(f"this statement must be signed by an {role} key, not a {signer.role} key")

    @staticmethod
    def _require_self(me: str, signer: KeyRecord) -> None:
        if signer.role != "platform" or signer.name != me:
            raise UnknownKeyError(f"only {me}'s own platform key may record what it verified")

    def _child(self, ns: Namespace, origin: str) -> dict[str, Any]:
        cur = ns.get(child_state_subject(origin))
        if cur is None:
            raise MalformedError(f"{origin} is not a child here; add it first", field="/subject")
        return dict(cur.state)

    def _entries(self, me: str, entry: Entry, ns: Namespace, base: StateMap, via: int) -> None:
        st = entry.statement
        child, p = st.subject, st.payload
        c = self._child(ns, child)
        if c["state"] != OK:
            raise ConflictError(f"{child} is forked (since entry {c.get('forked_at')}); its entries are refused")
        if set(p) != {"checkpoint", "entries", "start"} or st.extra:
            raise MalformedError("a sync.entries statement has exactly checkpoint, entries and start", field="/payload")
        note = _text(p, "checkpoint", 8192)
        cp: Checkpoint = open_checkpoint(note.encode(), child, verifier_for(c["vkey"]))[0]
        start = _int(p, "start")
        leaves = p.get("entries")
        if not isinstance(leaves, list) or not leaves:
            raise MalformedError("required: the child's entries, in order", field="/payload/entries")
        if start != c["size"]:
            raise ConflictError(f"entries of {child} continue at index {c['size']}, not {start}")
        if start + len(leaves) > cp.size:
            raise MalformedError(
                f"entries {start}..{start + len(leaves) - 1} are not all in the child's checkpoint of size {cp.size}",
                field="/payload/entries",
            )
        rng = CompactRange.from_json(c["size"], c["range"])
        prev = bytes.fromhex(c["last_hash"])
        child_ns = Namespace(base, child)
        for i, (obj, leaf) in enumerate(_child_leaves(entry, leaves)):
            e = Entry.from_verified_object(obj, leaf, field=f"/payload/entries/{i}")
            if e.index != start + i:
                raise MalformedError(
                    f"entry of {child} says index {e.index}, expected {start + i}", field=f"/payload/entries/{i}/index"
                )
            if e.prev != prev:
                raise MalformedError(
                    f"entry {e.index} of {child} does not chain to entry {e.index - 1}",
                    field=f"/payload/entries/{i}/prev",
                )
            prev = e.leaf_hash
            rng.push(prev)
            self.mirror(child, e, child_ns, base, via=via)
        c.update(size=rng.size, last_hash=prev.hex(), range=rng.to_json())
        if rng.size == cp.size:
            if rng.root() != cp.root:
                raise RootMismatchError(
                    f"entries 0..{cp.size - 1} of {child} do not hash to its checkpoint's root",
                    expected=cp.root,
                    calculated=rng.root(),
                )
            c.update(verified_size=cp.size, checkpoint=note, verified_at=entry.index)
        ns.put(SubjectState(child_state_subject(child), c, entry.index, kind="sync", status=c["state"], name=child))

    def _fork(self, entry: Entry, ns: Namespace) -> None:
        child, p = entry.statement.subject, entry.statement.payload
        c = self._child(ns, child)
        if c["state"] == FORKED:  # the first evidence stands (two pulls at once may both find it)
            raise ConflictError(f"{child} is already recorded as forked (entry {c.get('forked_at')})")
        v = verifier_for(c["vkey"])
        a = open_checkpoint(_text(p, "accepted", 8192).encode(), child, v)[0]
        b = open_checkpoint(_text(p, "conflicting", 8192).encode(), child, v)[0]
        if a == b:
            raise MalformedError("the two checkpoints are the same", field="/payload/conflicting")
        c.update(
            state=FORKED,
            forked_at=entry.index,
            evidence={"accepted": p["accepted"], "conflicting": p["conflicting"], "reason": _text(p, "reason")},
        )
        ns.put(SubjectState(child_state_subject(child), c, entry.index, kind="sync", status=FORKED, name=child))

    def _code(self, me: str, entry: Entry, signer: KeyRecord, ns: Namespace, base: StateMap) -> None:
        """An official code for `<origin>`'s registration, minted here (root) or relayed from the parent."""
        st, p = entry.statement, entry.statement.payload
        target, code = _text(p, "origin", 256), _text(p, "official_code", 64)
        path = p.get("path")
        if not isinstance(path, list) or not path or not all(isinstance(o, str) for o in path) or path[-1] != target:
            raise MalformedError(
                "the origins from here down to the registration's log, ending with it", field="/payload/path"
            )
        parent = ns.get(PARENT_SUBJECT)
        if signer.role == "platform" and signer.name == me:  # minted here: the next code in sequence
            if ns.get(child_state_subject(path[0])) is None:
                raise MalformedError(f"{path[0]} is not a child here", field="/payload/path/0")
            domain = self.domain  # registrations are mirrored only through the register
            reg = None if domain is None else base.get(domain.registration_key(st.subject, target))
            if domain is None or reg is None or not reg.state.get("code"):
                raise MalformedError(f"{target} has no coded registration {st.subject}", field="/subject")
            for state in domain.official_code_states(
                ns.get, code, st.subject, target, entry.index, field="/payload/official_code"
            ):
                ns.put(state)
            hops = path
        elif parent is not None and signer.role == "platform" and signer.key_id == parent.state["key"]:
            if path[0] != me or len(path) < 2:
                raise MalformedError(
                    f"a relay to {me} lists {me} first and the log below it after", field="/payload/path"
                )
            hops = path[1:]
        else:
            raise UnknownKeyError(
                "official codes are minted by this instance's platform key or relayed by its parent's"
            )
        subject = relay_key(target, st.subject)
        old = ns.get(subject)
        if old is not None:
            raise ConflictError(
                f"{target}'s registration {st.subject} already has official code "
                f"{old.state['official_code']} on its way"
            )
        ns.put(
            SubjectState(
                subject,
                {"origin": target, "registration": st.subject, "official_code": code, "hops": hops},
                entry.index,
                kind="relay",
                status="relay",
                code=code,
                name=st.subject,
            )
        )

    # -- a child's entry, folded into the child's namespace -----------------------------------------

    def mirror(self, origin: str, e: Entry, ns: Namespace, base: StateMap, *, via: int) -> None:
        """Apply what `origin`'s own ledger applied for entry `e`: its key rules, register and sync."""
        st = e.statement
        wanted = {st.key} | ({st.subject} if st.kind.startswith("key.") else set())
        keys: dict[str, KeyRecord] = {}
        for k in wanted:
            rec = ns.key(k)
            if rec is not None:
                keys[k] = rec
        # verify=False: the child's signatures were checked by the pull that recorded these entries
        # (sync.pull), under the child's checkpoint that sync.entries re-checks; not again on each fold
        change = fold_entry(
            e.index,
            st,
            keys,
            verify=False,
            apply=partial(self._mirror_step, origin, e, ns, base, via),
            refused=unknown_key_at(f"entry {e.index} of {origin}"),
        ).change
        if change is not None:
            ns.put(key_state(keys[st.subject]))

    def _mirror_step(self, origin: str, e: Entry, ns: Namespace, base: StateMap, via: int, signer: KeyRecord) -> None:
        """The policy step of the mirror's fold: the register's and the cascade's rules, in `origin`'s namespace."""
        st = e.statement
        if st.kind.startswith("registration.") and self.domain is not None:
            self.domain.apply(e, signer, ns)  # type: ignore[arg-type]
            reg = ns.get(self.domain.registration_key(st.subject))
            if reg is not None:
                state = dict(reg.state)
                hist = [dict(h) for h in state.get("history", [])]
                if hist:
                    hist[-1]["cascade_index"] = via  # where this instance's own log holds the entry
                state.update(history=hist, origin=origin)
                ns.put(replace(reg, state=state))
        elif st.kind.startswith("sync."):
            self.apply_in(origin, e, signer, ns, base, via=via)
        elif st.kind in RELAYED_KINDS and self.domain is not None:
            check_relayed_signer(origin, st.kind, signer, ns)
            self.domain.apply(e, signer, ns)  # type: ignore[arg-type]
