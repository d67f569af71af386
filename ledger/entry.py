"""Signed statements and the sequenced entries (leaves) that carry them.

A *statement* is what a submitter signs: `kind`, `subject`, `payload`, `time`, `key` and
`sig`, the base64 Ed25519 signature over the RFC 8785 canonical JSON of the statement
without `sig`.  An *entry* is the log's envelope around it: `v`, `index`, `prev` (base64 of
the previous leaf hash, the hash chain), `time` and `statement`.  The leaf is the canonical
JSON of the envelope; leaf hash = SHA-256(0x00 || leaf).

Canonical bytes are assembled from canonical members (an RFC 8785 object is its members,
sorted by the UTF-16 code units of their names), so the payload is serialised once.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol

import rfc8785

from .errors import MalformedError
from .hashes import HASH_SIZE, Hash, leaf_hash

__all__ = [
    "ENTRY_VERSION",
    "GENESIS_PREV",
    "MAX_JSON_DEPTH",
    "MAX_LEAF_BYTES",
    "MAX_CASCADE_STATEMENT_BYTES",
    "check_canonical",
    "check_depth",
    "MAX_STATEMENT_BYTES",
    "Entry",
    "Statement",
    "StatementSigner",
    "canonical_json",
    "format_time",
    "parse_json",
    "sign_statement",
    "utc_now",
]

ENTRY_VERSION = 1
#: The C2SP tlog-tiles entry-bundle limit: a leaf is at most 65,535 bytes.
MAX_LEAF_BYTES = 65_535
#: A signed statement (canonical, with `sig`) is at most 60,000 bytes, leaving room for the envelope.
MAX_STATEMENT_BYTES = 60_000
#: sync.* statements carry other logs' entries; the headroom above MAX_STATEMENT_BYTES lets a
#: largest statement be wrapped by about six levels of the cascade and still fit one leaf.
MAX_CASCADE_STATEMENT_BYTES = 65_000
MAX_JSON_DEPTH = 32
GENESIS_PREV = Hash(bytes(HASH_SIZE))

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_MEMBER_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_KEY_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_CONTROL_RE = re.compile(r"[\x00-\x1f]")
_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_STATEMENT_FIELDS = ("kind", "subject", "payload", "time", "key", "sig")
_ENTRY_FIELDS = ("v", "index", "prev", "time", "statement")
_ENTRY_FIELD_SET = frozenset(_ENTRY_FIELDS)
_STATEMENT_FIELD_SET = frozenset(_STATEMENT_FIELDS)


_json_str: Callable[[str], str] = json.encoder.encode_basestring  # RFC 8785 3.2.2.2 escaping
_INT_LIMIT = 2**53 - 1


def _dump(value: Any, out: list[str], path: str, depth: int) -> None:
    t = type(value)
    if t is str:
        out.append(_json_str(value))
    elif t is dict:
        if depth >= MAX_JSON_DEPTH:
            raise MalformedError(f"nested deeper than {MAX_JSON_DEPTH} levels", field=path)
        for k in value:
            if type(k) is not str:
                raise MalformedError("object member names must be strings", field=path)
        # RFC 8785 3.2.3: sort by UTF-16 code units; for ASCII names that is plain string order.
        names = (
            sorted(value)
            if all(k.isascii() for k in value)
            else sorted(value, key=lambda k: k.encode("utf-16be", errors="surrogatepass"))
        )
        out.append("{")
        for i, k in enumerate(names):
            if i:
                out.append(",")
            out.append(_json_str(k))
            out.append(":")
            _dump(value[k], out, f"{path}/{k}", depth + 1)
        out.append("}")
    elif t is list or t is tuple:
        if depth >= MAX_JSON_DEPTH:
            raise MalformedError(f"nested deeper than {MAX_JSON_DEPTH} levels", field=path)
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _dump(v, out, f"{path}/{i}", depth + 1)
        out.append("]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif t is int:
        if not -_INT_LIMIT <= value <= _INT_LIMIT:
            raise MalformedError("integers must be within +-(2**53-1) (I-JSON)", field=path)
        out.append(str(value))
    elif t is float:
        try:
            out.append(rfc8785.dumps(value).decode())  # ECMAScript number formatting
        except rfc8785.CanonicalizationError as exc:
            raise MalformedError(f"cannot be canonical JSON: {exc}", field=path) from exc
    else:
        raise MalformedError(f"not a JSON value: {t.__name__}", field=path)


def canonical_json(value: Any, *, field: str = "") -> bytes:
    """RFC 8785 bytes of `value`; anything outside I-JSON is a MalformedError naming `field`.

    Floats go through the `rfc8785` package; everything else is serialised here (the tests
    check the two agree), because the package is several times slower on strings.
    """
    out: list[str] = []
    _dump(value, out, field, 0)
    try:
        return "".join(out).encode("utf-8", errors="strict")
    except UnicodeEncodeError as exc:
        raise MalformedError("contains a lone surrogate, which is not UTF-8", field=field) from exc


_CANONICAL_DUMPS = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


class _NotSimple(Exception):
    """The fast canonical check cannot decide; the full parser will."""


def _no_floats(_: str) -> Any:
    raise _NotSimple


class _OutOfRange:
    """What parse_json reads an integer outside I-JSON's range as, until _check_depth names its field."""


_OUT_OF_RANGE = _OutOfRange()


def _bounded_int(s: str) -> int | _OutOfRange:
    """An integer within +-(2**53-1); longer digit strings are never converted (int() of 4,300+ digits raises)."""
    if len(s) > 17:
        return _OUT_OF_RANGE
    v = int(s)
    return v if -_INT_LIMIT <= v <= _INT_LIMIT else _OUT_OF_RANGE


def _i_json_int(s: str) -> int:
    v = _bounded_int(s)
    if isinstance(v, _OutOfRange):
        raise _NotSimple
    return v


def _parse_if_canonical(raw: bytes) -> Any | None:
    """`raw` parsed, if it is canonical JSON that C-speed json can vouch for; None if it cannot tell.

    Without floats and without characters outside the BMP, RFC 8785 is what `json.dumps` with sorted
    keys writes (UTF-16 and code-point order agree; the string escapes are the same).  So if
    re-serialising the parse gives back exactly `raw`, `raw` is canonical and has no duplicate names
    (a duplicate would be lost in the parse).  Anything else goes to the full, slower parser.
    """
    try:
        text = raw.decode("utf-8", errors="strict")
        if not text.isascii() and _NON_BMP.search(text):
            return None
        value = json.loads(text, parse_float=_no_floats, parse_int=_i_json_int, parse_constant=_no_floats)
        if _CANONICAL_DUMPS(value) != text:
            return None
        _check_depth(value, "", 0)
    except (_NotSimple, ValueError, RecursionError):
        return None
    return value


_SIMPLE_DECODE = json.JSONDecoder(parse_float=_no_floats, parse_constant=_no_floats, parse_int=_i_json_int).decode
_c_dumps = json.encoder.c_make_encoder  # type: ignore[attr-defined]
#: json's C encoder with sorted keys and no spaces, made once (JSONEncoder.encode builds one per call).
_SIMPLE_ENCODE = _c_dumps(None, _no_floats, _json_str, None, ":", ",", True, False, False)
#: The lead bytes of UTF-8 beyond the BMP (F5-FF are not UTF-8: the decode refuses them).
_NON_BMP_LEAD = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")


def _simple_dumps(value: Any) -> bytes:
    """`value` as json's C encoder writes it sorted and compact: RFC 8785 for what `_parse_simple` returns."""
    return "".join(_SIMPLE_ENCODE(value, 0)).encode("utf-8", errors="strict")


def _parse_simple(raw: bytes) -> Any | None:
    """`raw` parsed by C-speed json if, for what it holds, sorted compact `json.dumps` is RFC 8785; else None.

    That holds without floats, NaN or Infinity, without characters beyond the BMP (UTF-16 and code-point
    order agree below it) and with integers within I-JSON.  Canonicality itself is not checked here:
    `Entry.from_leaf` assembles the canonical leaf from the parse and compares it with `raw`, which
    also refuses duplicate names (a parse keeps one) and every other non-canonical spelling.
    """
    for lead in _NON_BMP_LEAD:  # five memchr calls: cheaper than a regular expression or a decoded search
        if lead in raw:
            return None
    try:
        value = _SIMPLE_DECODE(raw.decode("utf-8", errors="strict"))
        if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH + 1:  # else no container is deep enough to fail
            _check_depth(value, "", 0)
    except (_NotSimple, ValueError, RecursionError, MalformedError):
        return None
    return value


def _within(value: Any, budget: int) -> bool:
    """No container more than `budget` levels below `value`, names are strings, integers in range.

    The walk `_check_depth` makes, without building a path per container: only a failure needs one.
    """
    if budget < 0:
        return False
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return False
            if isinstance(v, (dict, list, _OutOfRange)) and not _within(v, budget - 1):
                return False
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, (dict, list, _OutOfRange)) and not _within(v, budget - 1):
                return False
    return value is not _OUT_OF_RANGE


def _check_depth(value: Any, path: str, depth: int) -> None:
    if not _within(value, MAX_JSON_DEPTH - depth):
        _name_the_fault(value, path, depth)


def _name_the_fault(value: Any, path: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise MalformedError(f"nested deeper than {MAX_JSON_DEPTH} levels", field=path)
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise MalformedError("object member names must be strings", field=path)
            if isinstance(v, (dict, list, _OutOfRange)):
                _name_the_fault(v, f"{path}/{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (dict, list, _OutOfRange)):
                _name_the_fault(v, f"{path}/{i}", depth + 1)
    elif value is _OUT_OF_RANGE:
        raise MalformedError("integers must be within +-(2**53-1) (I-JSON)", field=path)


def check_depth(value: Any, path: str, depth: int = 0) -> None:
    """MalformedError if `value`, starting at nesting `depth`, goes deeper than MAX_JSON_DEPTH."""
    _check_depth(value, path, depth)


_NAME_CACHE: dict[str, bytes] = {}


def _canonical_object(members: Mapping[str, bytes]) -> bytes:
    """Assemble an RFC 8785 object from already-canonical member values."""
    parts = []
    for n in sorted(members):  # member names here are ASCII identifiers
        enc = _NAME_CACHE.get(n)
        if enc is None:
            enc = (
                _NAME_CACHE.setdefault(n, _json_str(n).encode() + b":")
                if len(_NAME_CACHE) < 1024
                else _json_str(n).encode() + b":"
            )
        parts.append(enc + members[n])
    return b"{" + b",".join(parts) + b"}"


def parse_json(raw: bytes | str, *, field: str = "") -> Any:
    """Strict JSON: UTF-8, no duplicate names, no NaN/Infinity, integers within I-JSON's range, depth-limited."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise MalformedError("not UTF-8", field=field) from exc

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for k, v in items:
            if k in obj:
                raise MalformedError(f"duplicate member {k!r}", field=field)
            obj[k] = v
        return obj

    def bad_constant(name: str) -> Any:
        raise MalformedError(f"{name} is not JSON", field=field)

    try:
        value = json.loads(raw, object_pairs_hook=pairs, parse_constant=bad_constant, parse_int=_bounded_int)
    except MalformedError:
        raise
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedError(f"not JSON: {exc}", field=field) from exc
    _check_depth(value, field, 0)
    return value


def format_time(t: datetime) -> str:
    """RFC 3339 UTC with millisecond precision, e.g. 2026-11-23T08:00:00.123Z."""
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def utc_now() -> str:
    return format_time(datetime.now(UTC))


#: Times already found valid: entries appended together share one, so most checks are a lookup.
_VALID_TIMES: dict[str, None] = {}


def _check_time(value: Any, field: str) -> str:
    if type(value) is str and value in _VALID_TIMES:
        return value
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise MalformedError("must be an RFC 3339 time such as 2026-01-02T03:04:05Z", field=field)
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedError(f"not a valid time: {exc}", field=field) from exc
    if len(_VALID_TIMES) >= 4096:
        _VALID_TIMES.clear()
    _VALID_TIMES[value] = None
    return value


def _check_text(value: Any, field: str, max_len: int) -> str:
    if not isinstance(value, str):
        raise MalformedError(f"must be a string, not {type(value).__name__}", field=field)
    if not 1 <= len(value) <= max_len or _CONTROL_RE.search(value):
        raise MalformedError(f"must be 1-{max_len} characters without control characters", field=field)
    return value


def _b64(value: Any, field: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise MalformedError("must be a base64 string", field=field)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError("not base64", field=field) from exc
    if len(raw) != length or base64.b64encode(raw).decode() != value:
        raise MalformedError(f"must be standard base64 of {length} bytes", field=field)
    return raw


def check_canonical(raw: bytes, canonical: bytes, what: str) -> None:
    """MalformedError unless `raw` is exactly `canonical`, naming the first byte where they differ."""
    if raw == canonical:
        return
    differ = (i for i, (a, b) in enumerate(zip(raw, canonical, strict=False)) if a != b)
    at = next(differ, min(len(raw), len(canonical)))

    def around(b: bytes) -> str:
        return repr(b[max(0, at - 12) : at + 12].decode("utf-8", errors="backslashreplace"))

    raise MalformedError(
        f"{what} is not canonical JSON (RFC 8785; refused, not repaired): the first difference "
        f"is at byte {at}: the canonical form has {around(canonical)} where the input has "
        f"{around(raw)}"
    )


def statement_limit(kind: str) -> int:
    return MAX_CASCADE_STATEMENT_BYTES if kind.startswith("sync.") else MAX_STATEMENT_BYTES


class StatementSigner(Protocol):
    @property
    def key_id(self) -> str: ...
    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class Statement:
    """What a submitter signed.  Construct with `sign_statement` or parse with `from_json`."""

    kind: str
    subject: str
    payload: Mapping[str, Any]
    time: str
    key: str
    sig: bytes
    extra: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def _members(self) -> dict[str, bytes]:
        m = {
            "kind": _json_str(self.kind).encode(),
            "subject": canonical_json(self.subject, field="/subject"),
            "payload": canonical_json(self.payload, field="/payload"),
            "time": _json_str(self.time).encode(),
            "key": _json_str(self.key).encode(),
        }
        for k, v in self.extra.items():
            m[k] = canonical_json(v, field=f"/{k}")
        return m

    def _object(self, sig: bytes | None) -> bytes:
        """_canonical_object of the members (and `sig`, base64 JSON string), written out when there are no extras."""
        m = self._members
        if self.extra:
            return _canonical_object(m if sig is None else {**m, "sig": sig})
        parts = [b'{"key":', m["key"], b',"kind":', m["kind"], b',"payload":', m["payload"]]
        if sig is not None:
            parts += (b',"sig":', sig)
        parts += (b',"subject":', m["subject"], b',"time":', m["time"], b"}")
        return b"".join(parts)

    def signed_message(self) -> bytes:
        """The bytes the signature covers: canonical JSON of the statement without `sig`."""
        return self._object(None)

    @cached_property
    def canonical(self) -> bytes:
        b = self._object(b'"' + base64.b64encode(self.sig) + b'"')  # base64 needs no escaping
        limit = statement_limit(self.kind)
        if len(b) > limit:
            raise MalformedError(f"statement is {len(b)} bytes; the limit is {limit}", field="/payload")
        return b

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "payload": self.payload,
            "time": self.time,
            "key": self.key,
            "sig": base64.b64encode(self.sig).decode(),
            **self.extra,
        }

    @classmethod
    def from_json(cls, obj: Any, *, field: str = "", canonical: bool = False) -> Statement:
        """`canonical`: `obj` came from `_parse_simple`, so json's C encoder may serialise its members."""
        if not isinstance(obj, dict):
            raise MalformedError("a statement must be a JSON object", field=field)
        if not obj.keys() >= _STATEMENT_FIELD_SET:
            for name in _STATEMENT_FIELDS:
                if name not in obj:
                    raise MalformedError("required member is missing", field=f"{field}/{name}")
        extra = {}
        if len(obj) > len(_STATEMENT_FIELDS):
            for name, value in obj.items():
                if name in _STATEMENT_FIELD_SET:
                    continue
                if not isinstance(name, str) or not _MEMBER_RE.match(name):
                    raise MalformedError("member names are lowercase identifiers", field=f"{field}/{name}")
                extra[name] = value
        kind = _check_text(obj["kind"], f"{field}/kind", 64)
        if not _KIND_RE.match(kind):
            raise MalformedError("must be a dotted lowercase name such as registration.apply", field=f"{field}/kind")
        subject = _check_text(obj["subject"], f"{field}/subject", 256)
        payload = obj["payload"]
        if not isinstance(payload, dict):
            raise MalformedError(f"must be a JSON object, not {type(payload).__name__}", field=f"{field}/payload")
        time = _check_time(obj["time"], f"{field}/time")
        key = obj["key"]
        if not isinstance(key, str) or not _KEY_ID_RE.match(key):
            raise MalformedError("must be a key id: 32 lowercase hex digits", field=f"{field}/key")
        sig = _b64(obj["sig"], f"{field}/sig", 64)
        st = cls(kind, subject, payload, time, key, sig, extra)
        if canonical:  # from _parse_simple: json's C encoder writes each member's RFC 8785 bytes
            st.__dict__["_members"] = {
                "kind": _json_str(kind).encode(),
                "subject": _json_str(subject).encode(),
                "payload": _simple_dumps(payload),
                "time": _json_str(time).encode(),
                "key": _json_str(key).encode(),
                **{k: _simple_dumps(v) for k, v in extra.items()},
            }
        else:
            _ = st._members  # canonicalise now, so bad values fail here with their field
        return st

    @classmethod
    def from_bytes(cls, raw: bytes) -> Statement:
        """Parse a statement that must already be canonical JSON; any other encoding is refused, not repaired."""
        if len(raw) > MAX_CASCADE_STATEMENT_BYTES:
            raise MalformedError(
                f"statement is {len(raw)} bytes; the limit is {MAX_CASCADE_STATEMENT_BYTES} "
                f"(sync.*; {MAX_STATEMENT_BYTES} for every other kind)",
                field="/payload",
            )
        st = cls.from_json(parse_json(raw))
        check_canonical(raw, st.canonical, "statement")
        return st


def sign_statement(
    signer: StatementSigner,
    *,
    kind: str,
    subject: str,
    payload: Mapping[str, Any],
    time: str | None = None,
    extra: Mapping[str, Any] | None = None,
    canonical_payload: bytes | None = None,
) -> Statement:
    """Build and sign a statement; validates exactly as a parser would.

    `canonical_payload`: the RFC 8785 bytes of `payload`, when the caller assembled them from parts
    that are canonical already (the cascade packs verified leaves); the payload is then not
    serialised again.  The caller vouches for it; a parser of the resulting entry checks it anyway.
    """
    draft = {
        "kind": kind,
        "subject": subject,
        "payload": {} if canonical_payload is not None else payload,
        "time": time or utc_now(),
        "key": signer.key_id,
        "sig": base64.b64encode(bytes(64)).decode(),
        **(extra or {}),
    }
    unsigned = Statement.from_json(draft)
    if canonical_payload is not None:
        members = {**unsigned._members, "payload": canonical_payload}
        unsigned = Statement(
            unsigned.kind, unsigned.subject, payload, unsigned.time, unsigned.key, unsigned.sig, unsigned.extra
        )
        unsigned.__dict__["_members"] = members
    st = Statement(
        unsigned.kind,
        unsigned.subject,
        unsigned.payload,
        unsigned.time,
        unsigned.key,
        signer.sign(unsigned.signed_message()),
        unsigned.extra,
    )
    st.__dict__["_members"] = unsigned._members  # the same members: canonicalise the payload once
    _ = st.canonical  # enforce the size limit
    return st


@dataclass(frozen=True)
class Entry:
    """A sequenced entry: the statement in the log's envelope at `index`, chained to `prev`."""

    index: int
    prev: Hash
    time: str
    statement: Statement
    leaf: bytes

    @cached_property
    def leaf_hash(self) -> Hash:
        return leaf_hash(self.leaf)

    @classmethod
    def build(cls, index: int, prev: bytes, time: str, statement: Statement) -> Entry:
        # _canonical_object of the five members, written out: their names in sorted order
        leaf = b"".join(
            (
                b'{"index":',
                str(index).encode(),
                b',"prev":"',
                base64.b64encode(prev),  # base64 needs no escaping
                b'","statement":',
                statement.canonical,
                b',"time":',
                _json_str(time).encode(),
                b',"v":1}',
            )
        )
        if len(leaf) > MAX_LEAF_BYTES:
            raise MalformedError(f"entry is {len(leaf)} bytes; the limit is {MAX_LEAF_BYTES}", field="/payload")
        return cls(index, Hash(bytes(prev)), time, statement, leaf)

    @classmethod
    def from_verified_object(cls, obj: Any, leaf: bytes, *, field: str = "") -> Entry:
        """An entry from `obj` whose canonical bytes the caller has just computed as `leaf`.

        For folding leaves that were parsed strictly when they were first accepted and whose
        bytes a hash chain and a signed root now pin: checks only the shape a fold reads, and
        neither parses nor canonicalises again (several times cheaper than `from_leaf`).
        """
        try:
            st = obj["statement"]
            extra = {k: v for k, v in st.items() if k not in _STATEMENT_FIELDS}
            statement = Statement(
                str(st["kind"]),
                str(st["subject"]),
                st["payload"],
                str(st["time"]),
                str(st["key"]),
                base64.b64decode(st["sig"]),
                extra,
            )
            index, prev = obj["index"], base64.b64decode(obj["prev"])
            if (
                not isinstance(index, int)
                or isinstance(index, bool)
                or len(prev) != HASH_SIZE
                or not isinstance(statement.payload, dict)
            ):
                raise ValueError
            return cls(index, Hash(prev), str(obj["time"]), statement, leaf)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
            raise MalformedError("not a ledger entry", field=field) from None

    @classmethod
    def from_stored_leaf(cls, leaf: bytes) -> Entry:
        """A leaf this log stored after a strict parse, read back: when the C-speed canonical parse can
        vouch for it and it has exactly the envelope `build` writes, only the shape `from_verified_object`
        checks; anything else goes to the strict parser (`from_leaf`), which names what is wrong."""
        obj = _parse_if_canonical(leaf)
        if (
            not isinstance(obj, dict)
            or obj.keys() != _ENTRY_FIELD_SET
            or obj["v"] != ENTRY_VERSION
            or isinstance(obj["v"], bool)
        ):
            return cls.from_leaf(leaf)
        return cls.from_verified_object(obj, leaf)

    @classmethod
    def from_leaf(cls, leaf: bytes) -> Entry:
        """Parse leaf bytes strictly: known members only, canonical, within limits.

        Most leaves are parsed and re-serialised by C-speed json (`_parse_simple`) and accepted when the
        canonical leaf assembled from the parse is `leaf` itself; anything else, and every refusal, is
        decided by the strict parser, so both accept and refuse exactly the same leaves.
        """
        if len(leaf) > MAX_LEAF_BYTES:
            raise MalformedError(f"entry is {len(leaf)} bytes; the limit is {MAX_LEAF_BYTES}")
        obj = _parse_simple(leaf)
        if obj is not None:
            try:
                entry = cls.build(*cls._fields(obj, canonical=True))
                if entry.leaf == leaf:
                    return entry
            except (MalformedError, ValueError):
                pass  # the strict parser says what is wrong
        entry = cls.build(*cls._fields(parse_json(leaf), canonical=False))
        check_canonical(leaf, entry.leaf, "entry")
        return entry

    @staticmethod
    def _fields(obj: Any, *, canonical: bool) -> tuple[int, bytes, str, Statement]:
        """index, prev, time and statement of a parsed leaf, each checked."""
        if not isinstance(obj, dict):
            raise MalformedError("an entry must be a JSON object")
        if obj.keys() != _ENTRY_FIELD_SET:
            raise MalformedError(f"entry members must be exactly {', '.join(_ENTRY_FIELDS)}")
        if obj["v"] != ENTRY_VERSION or isinstance(obj["v"], bool):
            raise MalformedError(f"unsupported entry version {obj['v']!r}", field="/v")
        index = obj["index"]
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise MalformedError("must be a non-negative integer", field="/index")
        prev = _b64(obj["prev"], "/prev", HASH_SIZE)
        time = _check_time(obj["time"], "/time")
        return index, prev, time, Statement.from_json(obj["statement"], field="/statement", canonical=canonical)
