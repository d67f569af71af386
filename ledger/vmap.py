"""The status map: a compacted sparse Merkle tree from map keys to values, one root per checkpoint.

Pure functions over a small node-reader interface (like ledger.merkle over a hash reader).  The bytes
(docs/formats.md, "Status map"):

    key_hash(key)        = SHA-256(0x10 || UTF-8(key))
    value_hash(value)    = SHA-256(0x11 || RFC 8785 canonical JSON of value)
    leaf_hash(kh, vh)    = SHA-256(0x12 || kh || vh)
    node_hash(L, R)      = SHA-256(0x13 || L || R)
    EMPTY                = 32 zero bytes

The tree is binary over the 256 bits of key_hash (bit d at depth d, most significant bit of byte 0
first, 0 = left).  A subtree with no leaf hashes to EMPTY, one with exactly one leaf to that leaf's
leaf_hash (whatever its depth), one with two or more to node_hash(left, right).

Stored nodes: a position is (depth, prefix), the prefix being key_hash's first `depth` bits in
ceil(depth/8) bytes (the bits past `depth` zero).  Its content is 32 bytes (a node with two or more
leaves: its hash) or 64 bytes (a single leaf: key_hash || value_hash); an empty subtree is not stored.
Stored positions are the root and the non-empty children of every two-or-more node.  Map keys are
never removed, so a position once stored stays non-empty: rows are versioned by the checkpoint size
that wrote them, never rewritten, and the tree at size S reads, at each position, the latest row <= S.

The checkpoint carries the root as one extension line, `regledger-map/v1 <base64 root>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .checkpoint import Checkpoint, open_checkpoint
from .entry import canonical_json
from .errors import IntegrityError, LedgerError, MalformedError, MapProofError
from .hashes import HASH_SIZE, Hash
from .note import Verifier

__all__ = [
    "EMPTY",
    "MAP_LINE",
    "MAX_DEPTH",
    "STATUS_PROOF_FORMAT",
    "MapChange",
    "MapNodeReader",
    "MapUpdate",
    "Position",
    "StatusProof",
    "apply_updates",
    "build_map",
    "content_hash",
    "key_hash",
    "leaf_hash",
    "map_line",
    "map_root",
    "map_root_of",
    "node_hash",
    "open_status_proof",
    "prove",
    "status_proof_document",
    "update_map",
    "value_bytes",
    "value_hash",
    "value_hash_of",
    "verify_map_proof",
]

MAP_LINE = "regledger-map/v1"
STATUS_PROOF_FORMAT = "regledger-status-proof/v1"
MAX_DEPTH = 256
EMPTY = Hash(bytes(HASH_SIZE))

_sha256 = hashlib.sha256

#: (depth, prefix bytes)
Position = tuple[int, bytes]
ROOT: Position = (0, b"")  # the root position


# -- hashing ------------------------------------------------------------------------------


def key_hash(key: str) -> Hash:
    return Hash(_sha256(b"\x10" + key.encode("utf-8", errors="strict")).digest())


_INT_LIMIT = 2**53 - 1


def value_bytes(value: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a map value.  The common `{"indexes": [non-negative ints]}` is written directly (the
    bytes canonical_json gives, which tests/test_vmap.py checks); anything else goes through canonical_json."""
    if type(value) is dict and len(value) == 1:
        ix = value.get("indexes")
        if type(ix) is list and all(type(i) is int and 0 <= i <= _INT_LIMIT for i in ix):
            return b'{"indexes":[' + ",".join(map(str, ix)).encode() + b"]}"
    return canonical_json(value)


def value_hash(value: Mapping[str, Any]) -> Hash:
    return Hash(_sha256(b"\x11" + value_bytes(value)).digest())


def value_hash_of(raw: bytes) -> Hash:
    """value_hash of a value given as its canonical bytes (value_bytes)."""
    return Hash(_sha256(b"\x11" + raw).digest())


def leaf_hash(kh: bytes, vh: bytes) -> Hash:
    return Hash(_sha256(b"\x12" + kh + vh).digest())


def node_hash(left: bytes, right: bytes) -> Hash:
    return Hash(_sha256(b"\x13" + left + right).digest())


def content_hash(content: bytes | None) -> Hash:
    """The hash of a stored position's content (None: an empty subtree)."""
    if content is None:
        return EMPTY
    if len(content) == HASH_SIZE:
        return Hash(content)
    return leaf_hash(content[:HASH_SIZE], content[HASH_SIZE:])


def _bit(kh: bytes, depth: int) -> int:
    return (kh[depth >> 3] >> (7 - (depth & 7))) & 1


def _child(prefix: bytes, depth: int, bit: int) -> bytes:
    """The prefix of the child (at depth+1) on side `bit` of the position (depth, prefix)."""
    shift = 7 - (depth & 7)
    if shift == 7:
        return prefix + (b"\x80" if bit else b"\x00")
    return prefix[:-1] + bytes([prefix[-1] | (bit << shift)]) if bit else prefix


# -- building and updating ----------------------------------------------------------------


def _build(depth: int, prefix: bytes, leaves: Sequence[tuple[bytes, bytes]], writes: dict[Position, bytes]) -> bytes:
    """The content of a position holding exactly `leaves` (sorted by key hash, at least one); the contents
    of the positions below it go into `writes`."""
    khs = [kh for kh, _ in leaves]
    vhs = [vh for _, vh in leaves]
    return _build_range(depth, prefix, khs, vhs, 0, len(khs), writes)


def _build_range(
    depth: int, prefix: bytes, khs: list[bytes], vhs: list[bytes], lo: int, hi: int, writes: dict[Position, bytes]
) -> bytes:
    """_build over khs/vhs[lo:hi], without copying them: one bisect per position, plain hashlib."""
    if hi - lo == 1:
        return khs[lo] + vhs[lo]
    shift = 7 - (depth & 7)
    if shift == 7:
        left, right = prefix + b"\x00", prefix + b"\x80"
    else:
        left, right = prefix, prefix[:-1] + bytes([prefix[-1] | (1 << shift)])
    split = bisect_left(khs, right.ljust(HASH_SIZE, b"\x00"), lo, hi)  # the first key hash with bit `depth` set
    d = depth + 1
    h0: bytes = EMPTY
    h1: bytes = EMPTY
    if split > lo:
        c = writes[(d, left)] = _build_range(d, left, khs, vhs, lo, split, writes)
        h0 = c if len(c) == HASH_SIZE else _sha256(b"\x12" + c).digest()
    if split < hi:
        c = writes[(d, right)] = _build_range(d, right, khs, vhs, split, hi, writes)
        h1 = c if len(c) == HASH_SIZE else _sha256(b"\x12" + c).digest()
    return _sha256(b"\x13" + h0 + h1).digest()


def build_map(leaves: Iterable[tuple[bytes, bytes]]) -> tuple[Hash, dict[Position, bytes]]:
    """The root of the map holding exactly `leaves` (key hash, value hash), and the content of every position
    to store, the root's included."""
    ordered = sorted(leaves)
    if not ordered:
        return EMPTY, {}
    writes: dict[Position, bytes] = {}
    writes[ROOT] = _build(0, b"", ordered, writes)
    return content_hash(writes[ROOT]), writes


def map_root(items: Mapping[str, Mapping[str, Any]]) -> Hash:
    """The root of the map holding exactly `items` (key -> value), computed from scratch."""
    return build_map((key_hash(k), value_hash(v)) for k, v in items.items())[0]


class MapNodeReader(Protocol):
    def read_map_nodes(self, positions: Sequence[Position], version: int | None) -> dict[Position, bytes]:
        """The content of each stored position among `positions` in its latest row at or before `version`
        (None: the latest row); positions with no such row are left out."""


@dataclass(frozen=True)
class MapChange:
    """What `update_map` found and made: the new root, the positions whose content changes (to store as new
    rows), and each updated key hash's value hash before (None: absent)."""

    root: Hash
    writes: dict[Position, bytes]
    before: dict[bytes, bytes | None]


def _where(pos: Position) -> str:
    return f"map node {pos[0]}/{pos[1].hex() or '-'}"


def update_map(
    reader: MapNodeReader,
    updates: Mapping[bytes, bytes],
    *,
    version: int | None = None,
    expected_root: bytes | None = None,
) -> MapChange:
    """Set key_hash -> value_hash for each of `updates` in the map stored at `version`.

    Reads one level of the tree at a time, each level in one `read_map_nodes` call, and checks what it
    reads as a proof: the root against `expected_root` (if given) and each two-or-more node against its
    children, so a damaged stored node is an IntegrityError naming it, never a wrong new root.
    """
    writes: dict[Position, bytes] = {}
    old: dict[Position, bytes] = {}
    before: dict[bytes, bytes | None] = dict.fromkeys(updates)
    inner: list[Position] = []  # two-or-more nodes on the updated paths, whose hash is recomputed
    pending: dict[bytes, list[tuple[bytes, bytes]]] = {b"": sorted(updates.items())}
    unchanged: list[Position] = []
    depth = 0
    while pending:
        found = reader.read_map_nodes([(depth, p) for p in pending] + unchanged, version)
        old.update(found)
        if depth == 0 and expected_root is not None and content_hash(found.get(ROOT)) != expected_root:
            raise IntegrityError(_where(ROOT), "the stored map root is not the one the last checkpoint signed")
        if not updates:
            return MapChange(content_hash(found.get(ROOT)), {}, {})
        unchanged = []
        below: dict[bytes, list[tuple[bytes, bytes]]] = {}
        for prefix, group in pending.items():
            pos = (depth, prefix)
            cur = found.get(pos)
            if cur is None or len(cur) != HASH_SIZE:
                leaves = dict(group)
                if cur is not None:
                    kh = cur[:HASH_SIZE]
                    if _prefix(kh, depth) != prefix:
                        raise IntegrityError(_where(pos), "holds a leaf that is not under its prefix")
                    if kh in before:
                        before[kh] = cur[HASH_SIZE:]
                    leaves.setdefault(kh, cur[HASH_SIZE:])
                writes[pos] = _build(depth, prefix, sorted(leaves.items()), writes)
                continue
            inner.append(pos)
            right = _child(prefix, depth, 1)
            split = bisect_left(group, (right.ljust(HASH_SIZE, b"\x00"),))
            for child, side in ((_child(prefix, depth, 0), group[:split]), (right, group[split:])):
                if side:
                    below[child] = side
                else:
                    unchanged.append((depth + 1, child))
        pending = below
        depth += 1
        if depth > MAX_DEPTH:
            raise IntegrityError(_where(ROOT), "the stored map is deeper than 256 levels")
    sha = _sha256
    hashed: dict[bytes, bytes] = {}  # leaf contents already hashed (a leaf's old hash is also a check's input)

    def chash(content: bytes | None) -> bytes:
        if content is None:
            return EMPTY
        if len(content) == HASH_SIZE:
            return content
        h = hashed.get(content)
        if h is None:
            h = hashed[content] = sha(b"\x12" + content).digest()
        return h

    for pos in reversed(inner):  # deepest first: children are done before their parents
        d, prefix = pos
        k0, k1 = (d + 1, _child(prefix, d, 0)), (d + 1, _child(prefix, d, 1))
        o0, o1 = old.get(k0), old.get(k1)
        if sha(b"\x13" + chash(o0) + chash(o1)).digest() != old[pos]:
            raise IntegrityError(_where(pos), "the stored node is not the hash of its stored children")
        writes[pos] = sha(b"\x13" + chash(writes.get(k0, o0)) + chash(writes.get(k1, o1))).digest()
    changed = {pos: c for pos, c in writes.items() if old.get(pos) != c}
    return MapChange(content_hash(writes[ROOT]), changed, before)


# -- proving and verifying ----------------------------------------------------------------


def _prefix(kh: bytes, depth: int) -> bytes:
    """The position prefix of key hash `kh` at `depth`: its first `depth` bits."""
    n, r = divmod(depth, 8)
    return kh[:n] + bytes([kh[n] & (0xFF00 >> r) & 0xFF]) if r else kh[:n]


#: how many levels of a key's path `prove` asks the reader for at once (a map of a billion keys is ~32 deep)
PROOF_READ_LEVELS = 32


def prove(reader: MapNodeReader, key: str, version: int | None) -> tuple[list[Hash], tuple[Hash, Hash] | None]:
    """(siblings from the root down, the leaf the path ends in or None) for `key` in the map at `version`.

    Asks the reader for the path and its siblings PROOF_READ_LEVELS levels at a time (one call for any map
    of fewer than ~2**30 keys)."""
    kh = key_hash(key)
    siblings: list[Hash] = []
    got: dict[Position, bytes] = {}
    depth = 0
    while True:
        if depth % PROOF_READ_LEVELS == 0:
            top = min(depth + PROOF_READ_LEVELS, MAX_DEPTH)
            wanted = [(d, _prefix(kh, d)) for d in range(depth, top)]
            wanted += [(d + 1, _child(_prefix(kh, d), d, 1 - _bit(kh, d))) for d in range(depth, top)]
            got = reader.read_map_nodes(wanted, version)
        cur = got.get((depth, _prefix(kh, depth)))
        if cur is None or len(cur) != HASH_SIZE:
            break
        if depth >= MAX_DEPTH:
            raise AssertionError("the stored map is deeper than 256 levels")
        siblings.append(content_hash(got.get((depth + 1, _child(_prefix(kh, depth), depth, 1 - _bit(kh, depth))))))
        depth += 1
    leaf = None if cur is None else (Hash(cur[:HASH_SIZE]), Hash(cur[HASH_SIZE:]))
    return siblings, leaf


def verify_map_proof(
    root: bytes,
    key: str,
    value: Mapping[str, Any] | None,
    siblings: Sequence[bytes],
    leaf: tuple[bytes, bytes] | None,
) -> None:
    """Raise MapProofError unless the proof shows `key` -> `value` (None: absent) in the map of `root`."""
    kh = key_hash(key)
    n = len(siblings)
    if n > MAX_DEPTH:
        raise MapProofError("too-long", f"{n} siblings, more than {MAX_DEPTH}")
    if any(len(s) != HASH_SIZE for s in siblings):
        raise MapProofError("malformed", "a sibling is not a 32-byte hash")
    if leaf is None:
        if value is not None:
            raise MapProofError("not-present", f"the proof shows {key!r} absent, not present with a value")
        if n and siblings[-1] == EMPTY:
            raise MapProofError("non-canonical", "the path ends in an empty subtree beside an empty sibling")
        h = EMPTY
    else:
        lkh, lvh = leaf
        if len(lkh) != HASH_SIZE or len(lvh) != HASH_SIZE:
            raise MapProofError("malformed", "the leaf's hashes are not 32 bytes")
        if lkh == kh:
            if value is None:
                raise MapProofError("not-absent", f"the proof shows {key!r} present, not absent")
            try:
                vh = value_hash(value)
            except MalformedError as exc:
                raise MapProofError("malformed", f"the value is not canonical JSON: {exc}") from exc
            if lvh != vh:
                raise MapProofError("value-mismatch", f"the map holds another value for {key!r}")
        else:
            if value is not None:
                raise MapProofError("not-present", f"the proof shows {key!r} absent (another key's leaf)")
            if any(_bit(lkh, d) != _bit(kh, d) for d in range(n)):
                raise MapProofError("prefix-mismatch", "the leaf found is not on the key's path")
        if n and siblings[-1] == EMPTY:
            raise MapProofError("non-canonical", "a single leaf beside an empty sibling would have been compacted")
        h = leaf_hash(lkh, lvh)
    for d in range(n - 1, -1, -1):
        h = node_hash(siblings[d], h) if _bit(kh, d) else node_hash(h, siblings[d])
    if h != root:
        raise MapProofError("root-mismatch", f"the proof of {key!r} recomputes to another map root")


# -- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapUpdate:
    """What one log entry does to one map key: append a log index to its `indexes` (`append`), or set
    its value (`value`, e.g. an alias)."""

    key: str
    append: int | None = None
    value: Mapping[str, Any] | None = None


def apply_updates(
    current: Mapping[str, Mapping[str, Any] | None], updates: Iterable[MapUpdate]
) -> dict[str, Mapping[str, Any]]:
    """The new values of the keys `updates` touch, from their `current` values (None: absent)."""
    out: dict[str, Mapping[str, Any]] = {}
    for u in updates:
        before = out.get(u.key, current.get(u.key))
        if u.value is not None:
            out[u.key] = u.value
            continue
        if u.append is None:
            raise AssertionError("a map update appends an index or sets a value")
        indexes = list(before["indexes"]) if before is not None and "indexes" in before else []
        if u.append not in indexes:
            indexes.append(u.append)
            if len(indexes) > 1 and indexes[-2] > u.append:
                indexes.sort()
        out[u.key] = {"indexes": indexes}
    return out


# -- the checkpoint line and the status-proof document ---------------------------------------


def _b64_hash(value: object, what: str) -> Hash:
    if not isinstance(value, str):
        raise MapProofError("malformed", f"{what} is not a string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MapProofError("malformed", f"{what} is not base64") from exc
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != value:
        raise MapProofError("malformed", f"{what} is not a canonical base64 32-byte hash")
    return Hash(raw)


def map_line(root: bytes) -> str:
    return f"{MAP_LINE} {base64.b64encode(root).decode()}"


def map_root_of(checkpoint: Checkpoint) -> Hash | None:
    """The map root a checkpoint carries, or None if it has no `regledger-map/v1` line (signed before the
    map); MapProofError if the line is there but not exactly one well-formed line."""
    lines = [e for e in checkpoint.extensions if e.split(" ", 1)[0] == MAP_LINE]
    if not lines:
        return None
    if len(lines) > 1:
        raise MapProofError("malformed", f"the checkpoint has {len(lines)} {MAP_LINE} lines")
    parts = lines[0].split(" ")
    if len(parts) != 2:
        raise MapProofError("malformed", f"the {MAP_LINE} line is not '{MAP_LINE} <base64 root>'")
    return _b64_hash(parts[1], "the map root")


def status_proof_document(
    origin: str,
    note: bytes,
    key: str,
    value: Mapping[str, Any] | None,
    siblings: Sequence[bytes],
    leaf: tuple[bytes, bytes] | None,
) -> dict[str, Any]:
    return {
        "format": STATUS_PROOF_FORMAT,
        "origin": origin,
        "checkpoint": note.decode(),
        "key": key,
        "value": None if value is None else dict(value),
        "siblings": base64.b64encode(b"".join(siblings)).decode(),
        "leaf": None
        if leaf is None
        else {"key_hash": base64.b64encode(leaf[0]).decode(), "value_hash": base64.b64encode(leaf[1]).decode()},
    }


@dataclass(frozen=True)
class StatusProof:
    """An opened status proof: the signed checkpoint, and what the map holds for `key` in it."""

    checkpoint: Checkpoint
    note: bytes
    map_root: Hash
    key: str
    value: Mapping[str, Any] | None


_DOC_FIELDS = {"format", "origin", "checkpoint", "key", "value", "siblings", "leaf"}


def open_status_proof(doc: object, *, origin: str, verifier: Verifier) -> StatusProof:
    """Check a status-proof document: the checkpoint with the log's key first, then its map line, then the
    proof.  Raises a VerificationError (MapProofError naming the reason, or the note's own error)."""
    if not isinstance(doc, Mapping) or set(doc) != _DOC_FIELDS:
        raise MapProofError("malformed", f"a status proof is an object with exactly {sorted(_DOC_FIELDS)}")
    if doc["format"] != STATUS_PROOF_FORMAT:
        raise MapProofError("malformed", f"format is {doc['format']!r}, not {STATUS_PROOF_FORMAT!r}")
    if doc["origin"] != origin:
        raise MapProofError("malformed", f"origin is {doc['origin']!r}, expected {origin!r}")
    note_text = doc["checkpoint"]
    if not isinstance(note_text, str):
        raise MapProofError("malformed", "checkpoint is not a string")
    note = note_text.encode()
    try:
        cp, _ = open_checkpoint(note, origin, verifier)
    except MalformedError as exc:
        raise MapProofError("malformed", f"the checkpoint: {exc}") from exc
    root = map_root_of(cp)
    if root is None:
        raise MapProofError("no-map-root", f"checkpoint {cp.size} carries no {MAP_LINE} line")
    key, value, raw_leaf = doc["key"], doc["value"], doc["leaf"]
    if not isinstance(key, str) or not key:
        raise MapProofError("malformed", "key is not a non-empty string")
    if value is not None and not isinstance(value, Mapping):
        raise MapProofError("malformed", "value is neither null nor an object")
    siblings_b64 = doc["siblings"]
    if not isinstance(siblings_b64, str):
        raise MapProofError("malformed", "siblings is not a string")
    try:
        raw = base64.b64decode(siblings_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MapProofError("malformed", "siblings is not base64") from exc
    if len(raw) % HASH_SIZE or base64.b64encode(raw).decode() != siblings_b64:
        raise MapProofError("malformed", "siblings is not canonical base64 of 32-byte hashes")
    siblings = [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]
    leaf: tuple[bytes, bytes] | None = None
    if raw_leaf is not None:
        if not isinstance(raw_leaf, Mapping) or set(raw_leaf) != {"key_hash", "value_hash"}:
            raise MapProofError("malformed", "leaf is neither null nor {key_hash, value_hash}")
        leaf = (_b64_hash(raw_leaf["key_hash"], "leaf.key_hash"), _b64_hash(raw_leaf["value_hash"], "leaf.value_hash"))
    try:
        verify_map_proof(root, key, value, siblings, leaf)
    except MapProofError:
        raise
    except LedgerError as exc:  # a key that is not UTF-8 (a lone surrogate)
        raise MapProofError("malformed", str(exc)) from exc
    except UnicodeEncodeError as exc:
        raise MapProofError("malformed", "key is not UTF-8") from exc
    return StatusProof(cp, note, root, key, value)
