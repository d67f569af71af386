"""C2SP signed notes, vkeys, checkpoints and receipts against the published vectors.

Vectors (all quoted in /work/shared/formats.md section 1.8):
- PeterNeumann / EnochRoot keys, text and signatures: golang/mod sumdb/note/note.go package
  documentation and note_test.go (the skey re-signs byte for byte: Ed25519 is deterministic);
- example.com/foo vkey and note: C2SP signed-note.md ("Verifier keys", example);
- the real sum.golang.org tree head: transparency-dev/formats log/note_test.go;
- the example checkpoint body: C2SP tlog-checkpoint.md.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from regledger.keys.ed25519 import Ed25519Signer, note_key_hash
from regledger.keys.vkey import format_skey, format_vkey, parse_skey, parse_vkey
from regledger.ledger.checkpoint import (
    RECEIPT_HEADER,
    Checkpoint,
    Receipt,
    open_checkpoint,
    open_receipt,
    parse_checkpoint_text,
    sign_checkpoint,
    sign_receipt,
)
from regledger.ledger.errors import (
    InvalidSignatureError,
    LedgerError,
    MalformedError,
    UnknownKeyError,
    VerificationError,
)
from regledger.ledger.hashes import EMPTY_ROOT
from regledger.ledger.note import MAX_NOTE_SIZE, MAX_SIGNATURES, NoteSignature, open_note, sign_note

DASH = "\u2014"
assert DASH.encode() == b"\xe2\x80\x94"

# golang/mod sumdb/note
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    f"{DASH} PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = (
    f"{DASH} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# C2SP signed-note.md
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n"
    f"{DASH} example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

# transparency-dev/formats log/note_test.go: a real sum.golang.org signed tree head
SUM_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUM_BODY = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
SUM_NOTE = (
    SUM_BODY + "\n"
    f"{DASH} sum.golang.org "
    "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
).encode()

# C2SP tlog-checkpoint.md example (its signature is illustrative; only the body is used)
SOFA_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def _sig_line(name: str, key_hash: int, sig: bytes) -> str:
    return f"{DASH} {name} {base64.b64encode(key_hash.to_bytes(4, 'big') + sig).decode()}\n"


def _split_sig(line: str) -> tuple[str, bytes]:
    name, b64 = line.removeprefix(f"{DASH} ").rstrip("\n").split(" ")
    return name, base64.b64decode(b64)


# --------------------------------------------------------------------------- keys and vectors


def test_go_skey_resigns_to_the_published_line() -> None:
    signer = parse_skey(PETER_SKEY)
    assert signer.name == "PeterNeumann" and f"{signer.key_hash:08x}" == "c74f20a3"
    assert format_skey(signer) == PETER_SKEY
    assert signer.verifier().vkey() == PETER_VKEY
    note = sign_note(GO_TEXT, signer)
    assert note == (GO_TEXT + "\n" + PETER_SIG).encode()
    opened = open_note(note, [parse_vkey(PETER_VKEY)])
    assert opened.text == GO_TEXT and [s.name for s in opened.verified] == ["PeterNeumann"]


def test_key_hash_is_the_c2sp_key_id() -> None:
    v = parse_vkey(PETER_VKEY)
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + v.public).digest()
    assert v.key_hash == int.from_bytes(digest[:4], "big") == 0xC74F20A3
    assert note_key_hash("PeterNeumann", 0x01, v.public) == 0xC74F20A3
    for vkey in (PETER_VKEY, ENOCH_VKEY, FOO_VKEY, SUM_VKEY):
        parsed = parse_vkey(vkey)
        assert format_vkey(parsed.name, parsed.public) == vkey
        assert parsed.vkey() == vkey


def test_enoch_root_signature_verifies() -> None:
    enoch = parse_vkey(ENOCH_VKEY)
    opened = open_note((GO_TEXT + "\n" + ENOCH_SIG).encode(), [enoch])
    assert opened.text == GO_TEXT
    assert [(s.name, s.key_hash) for s in opened.verified] == [("EnochRoot", 0xAF0CFE78)]


def test_note_with_both_go_signatures() -> None:
    both = (GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    peter, enoch = parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)
    opened = open_note(both, [peter, enoch])
    assert [s.name for s in opened.verified] == ["PeterNeumann", "EnochRoot"] and not opened.unverified
    # Unknown signatures are kept aside, not an error, as long as one known key verifies.
    opened = open_note(both, [enoch])
    assert [s.name for s in opened.verified] == ["EnochRoot"]
    assert [s.name for s in opened.unverified] == ["PeterNeumann"]
    assert opened.to_bytes() == (GO_TEXT + "\n" + ENOCH_SIG + PETER_SIG).encode()
    # A lookup function works as well as a list.
    opened = open_note(both, lambda name, h: peter if (name, h) == (peter.name, peter.key_hash) else None)
    assert [s.name for s in opened.verified] == ["PeterNeumann"]


def test_c2sp_example_note_verifies() -> None:
    opened = open_note(FOO_NOTE, [parse_vkey(FOO_VKEY)])
    assert opened.text == "This is an example message.\n"
    assert opened.verified[0].key_hash == 0x530D903A


def test_real_sum_golang_org_tree_head() -> None:
    sum_key = parse_vkey(SUM_VKEY)
    opened = open_note(SUM_NOTE, [sum_key])
    assert opened.text == SUM_BODY
    assert opened.verified[0].key_hash == 0x033DE0AE
    # Its body is Go's tree-note format, not a C2SP checkpoint: the first line has spaces.
    with pytest.raises(MalformedError):
        parse_checkpoint_text(SUM_BODY)
    with pytest.raises(MalformedError):
        open_checkpoint(SUM_NOTE, "sum.golang.org", sum_key)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key hash
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper-case hex
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # key type 0x02
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy1w==",  # short key
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # empty name
        "",
    ],
)
def test_bad_vkeys_rejected(vkey: str) -> None:
    with pytest.raises(MalformedError):
        parse_vkey(vkey)


# --------------------------------------------------------------------------- rejected notes


def test_tampered_text_is_invalid_signature() -> None:
    for bad in (
        FOO_NOTE.replace(b"example message", b"example massage"),
        FOO_NOTE.replace(b"message.\n", b"message!\n"),
        b"X" + FOO_NOTE,
    ):
        with pytest.raises(InvalidSignatureError):
            open_note(bad, [parse_vkey(FOO_VKEY)])
    # Same signature over the Go text signed by another key.
    with pytest.raises(InvalidSignatureError):
        open_note((GO_TEXT.replace("problem,", "problem;") + "\n" + PETER_SIG).encode(), [parse_vkey(PETER_VKEY)])


def test_tampered_signature_is_invalid_signature() -> None:
    name, raw = _split_sig(PETER_SIG)
    peter = parse_vkey(PETER_VKEY)
    for i in (4, 5, 30, len(raw) - 1):  # signature bytes, after the 4-byte key hash
        bad = bytearray(raw)
        bad[i] ^= 0x01
        note = (GO_TEXT + "\n" + _sig_line(name, int.from_bytes(bad[:4], "big"), bytes(bad[4:]))).encode()
        with pytest.raises(InvalidSignatureError):
            open_note(note, [peter])
    for sig in (raw[4:-1], raw[4:] + b"\x00", b"\x00"):  # wrong length for a known key
        with pytest.raises(InvalidSignatureError):
            open_note((GO_TEXT + "\n" + _sig_line(name, peter.key_hash, sig)).encode(), [peter])


def test_a_bad_known_signature_fails_even_beside_a_good_one() -> None:
    name, raw = _split_sig(ENOCH_SIG)
    bad_enoch = _sig_line(name, int.from_bytes(raw[:4], "big"), bytes(64))
    note = (GO_TEXT + "\n" + PETER_SIG + bad_enoch).encode()
    with pytest.raises(InvalidSignatureError):
        open_note(note, [parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)])
    assert open_note(note, [parse_vkey(PETER_VKEY)]).unverified[0].name == "EnochRoot"


def test_only_unknown_keys_is_unknown_key_error() -> None:
    with pytest.raises(UnknownKeyError):
        open_note(FOO_NOTE, [parse_vkey(PETER_VKEY)])
    with pytest.raises(UnknownKeyError):
        open_note(FOO_NOTE, [])
    # Same name, other key hash; same key hash, other name: both unknown.
    name, raw = _split_sig(PETER_SIG)
    other_hash = (GO_TEXT + "\n" + _sig_line(name, int.from_bytes(raw[:4], "big") ^ 1, raw[4:])).encode()
    other_name = (GO_TEXT + "\n" + _sig_line("PeterNeumann2", int.from_bytes(raw[:4], "big"), raw[4:])).encode()
    for note in (other_hash, other_name):
        with pytest.raises(UnknownKeyError):
            open_note(note, [parse_vkey(PETER_VKEY)])
    assert issubclass(UnknownKeyError, VerificationError)


def _note_with_signatures(count: int) -> bytes:
    """The Go note with its real signature plus count - 1 well-formed signatures by unknown keys."""
    extra = "".join(_sig_line(f"witness{i}.example", i, bytes(64)) for i in range(count - 1))
    return (GO_TEXT + "\n" + PETER_SIG + extra).encode()


def test_signature_count_limit() -> None:
    peter = parse_vkey(PETER_VKEY)
    assert MAX_SIGNATURES == 100
    for ok in (16, MAX_SIGNATURES):  # the spec asks verifiers to accept at least 16
        opened = open_note(_note_with_signatures(ok), [peter])
        assert len(opened.verified) == 1 and len(opened.unverified) == ok - 1
    with pytest.raises(MalformedError):
        open_note(_note_with_signatures(MAX_SIGNATURES + 1), [peter])


def test_missing_final_newline() -> None:
    with pytest.raises(MalformedError):
        open_note(FOO_NOTE[:-1], [parse_vkey(FOO_VKEY)])
    with pytest.raises(MalformedError):
        sign_note("no final newline", parse_skey(PETER_SKEY))


def test_non_utf8_rejected() -> None:
    foo = parse_vkey(FOO_VKEY)
    for bad in (
        FOO_NOTE.replace(b"example", b"ex\xffample"),
        FOO_NOTE.replace(b"message.", b"message\xc3."),  # truncated sequence
        FOO_NOTE.replace(b"message.", b"message\xed\xa0\x80."),  # encoded surrogate
        FOO_NOTE + b"\x80",
    ):
        with pytest.raises(MalformedError):
            open_note(bad, [foo])


def test_note_size_limit() -> None:
    assert MAX_NOTE_SIZE == 1 << 20
    signer = Ed25519Signer.from_seed("big.example", bytes(range(32)))
    line = "x" * 1023 + "\n"
    fixed = len(sign_note("a\n", signer)) - 2  # signature block and blank line
    body = line * ((MAX_NOTE_SIZE - fixed) // len(line))
    body += "y" * (MAX_NOTE_SIZE - fixed - len(body) - 1) + "\n"
    at_limit = sign_note(body, signer)
    assert len(at_limit) == MAX_NOTE_SIZE
    assert open_note(at_limit, [signer.verifier()]).text == body
    with pytest.raises(MalformedError):
        sign_note("z" + body, signer)  # the signer refuses to make a note no verifier would open
    over = at_limit.replace(b"\n\n", b"\nz\n\n", 1)
    assert len(over) == MAX_NOTE_SIZE + 2
    with pytest.raises(MalformedError):
        open_note(over, [signer.verifier()])


@pytest.mark.parametrize(
    "note",
    [
        b"",
        b"\n",
        b"This is an example message.\n",  # no signatures
        b"This is an example message.\n\n",  # empty signature block
        FOO_NOTE.replace(b"\n\n", b"\n"),  # no blank line
        FOO_NOTE.replace(b"\n\n", b"\n\n\n"),  # two blank lines
        FOO_NOTE.replace("\u2014".encode(), b"-"),  # ASCII hyphen for the em dash
        FOO_NOTE.replace("\u2014 ".encode(), "\u2014".encode()),  # no space after the dash
        FOO_NOTE.replace(b"example.com/foo U", b"example.com/foo  U"),  # two spaces
        FOO_NOTE.replace(b"example.com/foo U", b"example.com/foo\tU"),  # tab
        FOO_NOTE.replace(b"QM=\n", b"QM\n"),  # unpadded base64
        FOO_NOTE.replace(b"QM=\n", b"QM= \n"),  # trailing space
        FOO_NOTE.replace(b"Uw2QOkn8", b"Uw2QOk!8"),  # bad base64
        FOO_NOTE.replace(b"\n\n", b"\r\n\r\n"),  # CRLF
        FOO_NOTE.replace(b"example message", b"example\x00message"),  # control characters
        FOO_NOTE.replace(b"example message", b"example\tmessage"),
        FOO_NOTE.replace(b"example message", b"example\x1bmessage"),
        FOO_NOTE.replace(b"example message", b"example\x7fmessage"),
        b"\n" + FOO_NOTE,  # text starts with a blank line
        FOO_NOTE.replace(b"This is an example message.\n", b"Line one.\n\nLine two.\n"),
        FOO_NOTE + FOO_NOTE.split(b"\n\n")[1].replace(b"\n", b""),  # trailing junk line
        FOO_NOTE + b"\n",  # blank line after signatures
        ("This is an example message.\n\n" + _sig_line("example.com/foo", 0x530D903A, b"")).encode(),
    ],
)
def test_malformed_notes(note: bytes) -> None:
    with pytest.raises(MalformedError):
        open_note(note, [parse_vkey(FOO_VKEY)])


def test_duplicate_known_signature_rejected() -> None:
    with pytest.raises(MalformedError):
        open_note((GO_TEXT + "\n" + PETER_SIG + PETER_SIG).encode(), [parse_vkey(PETER_VKEY)])


def test_sign_note_rejects_bad_text() -> None:
    signer = parse_skey(PETER_SKEY)
    for text in ("", "\n", "a\n\nb\n", "tab\there\n", "nul\x00\n", "no newline"):
        with pytest.raises(MalformedError):
            sign_note(text, signer)


def test_errors_are_ledger_errors() -> None:
    for exc in (MalformedError, InvalidSignatureError, UnknownKeyError):
        assert issubclass(exc, LedgerError)
    assert not issubclass(MalformedError, VerificationError)


# --------------------------------------------------------------------------- checkpoints

ORIGIN = "regledger.example.gov.cn/52"


@pytest.fixture(scope="module")
def log_key() -> Ed25519Signer:
    return Ed25519Signer.from_seed(ORIGIN, hashlib.sha256(b"test log key").digest())


def test_checkpoint_round_trip_byte_for_byte(log_key: Ed25519Signer) -> None:
    root = hashlib.sha256(b"some root").digest()
    cp = Checkpoint(ORIGIN, 1234567, root)
    note = sign_checkpoint(cp, log_key)
    body = f"{ORIGIN}\n1234567\n{base64.b64encode(root).decode()}\n"
    sig = log_key.sign(body.encode())
    assert note == (body + "\n" + _sig_line(ORIGIN, log_key.key_hash, sig)).encode()
    got, opened = open_checkpoint(note, ORIGIN, log_key.verifier())
    assert got == cp and opened.text == body
    # The same bytes are an ordinary signed note for any C2SP verifier.
    assert open_note(note, [parse_vkey(log_key.verifier().vkey())]).text == body


def test_checkpoint_extensions_and_empty_tree(log_key: Ed25519Signer) -> None:
    cp = Checkpoint(ORIGIN, 0, EMPTY_ROOT, ("ext one", "ext-two"))
    got, _ = open_checkpoint(sign_checkpoint(cp, log_key), ORIGIN, log_key.verifier())
    assert got == cp and got.root == hashlib.sha256(b"").digest()


def test_c2sp_example_checkpoint_body_parses() -> None:
    cp = parse_checkpoint_text(SOFA_BODY)
    assert cp.origin == "example.com/behind-the-sofa" and cp.size == 20852163
    assert base64.b64encode(cp.root).decode() == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    assert cp.extensions == () and cp.text() == SOFA_BODY


ROOT_B64 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n01\n{ROOT_B64}\n",  # leading zero
        f"{ORIGIN}\n00\n{ROOT_B64}\n",
        f"{ORIGIN}\n-1\n{ROOT_B64}\n",
        f"{ORIGIN}\n+1\n{ROOT_B64}\n",
        f"{ORIGIN}\n 1\n{ROOT_B64}\n",
        f"{ORIGIN}\n1 \n{ROOT_B64}\n",
        f"{ORIGIN}\n1.0\n{ROOT_B64}\n",
        f"{ORIGIN}\n1e3\n{ROOT_B64}\n",
        f"{ORIGIN}\n0x10\n{ROOT_B64}\n",
        f"{ORIGIN}\n1_000\n{ROOT_B64}\n",
        f"{ORIGIN}\n\u0661\u0662\n{ROOT_B64}\n",  # Arabic-Indic digits: str.isdigit() is True
        f"{ORIGIN}\n\n{ROOT_B64}\n",
        f"{ORIGIN}\n12345678901234567890\n{ROOT_B64}\n",  # beyond 19 digits
        f"{ORIGIN}\n1\nnot base64!\n",
        f"{ORIGIN}\n1\n{ROOT_B64[:-1]}\n",  # unpadded
        f"{ORIGIN}\n1\n{ROOT_B64[:-2]}B=\n",  # non-canonical trailing bits
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(31)).decode()}\n",  # 31 bytes
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(33)).decode()}\n",  # 33 bytes
        f"{ORIGIN}\n1\n{base64.urlsafe_b64encode(bytes([0xFB] * 32)).decode()}\n",  # URL alphabet
        f"{ORIGIN}\n1\n{ROOT_B64}",  # no final newline
        f"{ORIGIN}\n1\n",  # missing root line
        f"{ORIGIN}\n",  # missing size and root
        "",
        f"{ORIGIN}\n1\n{ROOT_B64}\n\n",  # empty extension line
        f"\n1\n{ROOT_B64}\n",  # empty origin
        f"bad origin\n1\n{ROOT_B64}\n",  # space in origin
        f"bad+origin\n1\n{ROOT_B64}\n",
        f"{'o' * 256}\n1\n{ROOT_B64}\n",  # origin too long
    ],
)
def test_parse_rejects_non_canonical_checkpoints(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint_text(text)


def test_parse_accepts_largest_sizes() -> None:
    assert parse_checkpoint_text(f"{ORIGIN}\n9223372036854775807\n{ROOT_B64}\n").size == 2**63 - 1
    assert parse_checkpoint_text(f"{ORIGIN}\n0\n{ROOT_B64}\n").size == 0


def test_open_checkpoint_wrong_origin(log_key: Ed25519Signer) -> None:
    cp = Checkpoint(ORIGIN, 5, bytes(32))
    note = sign_checkpoint(cp, log_key)
    # The caller expects another origin than the key's name.
    with pytest.raises(MalformedError):
        open_checkpoint(note, "other.example/1", log_key.verifier())
    # The log's key signed a body that names another origin.
    evil = sign_note(Checkpoint("other.example/1", 5, bytes(32)).text(), log_key)
    with pytest.raises(VerificationError):
        open_checkpoint(evil, ORIGIN, log_key.verifier())
    # Another key by the same name: unknown key.
    impostor = Ed25519Signer.from_seed(ORIGIN, bytes(32))
    with pytest.raises(UnknownKeyError):
        open_checkpoint(sign_checkpoint(cp, impostor), ORIGIN, log_key.verifier())


def test_open_checkpoint_verifies_before_parsing(log_key: Ed25519Signer) -> None:
    """A malformed body with no valid signature is reported as a signature failure."""
    forged = (f"{ORIGIN}\n01\n{ROOT_B64}\n\n" + _sig_line(ORIGIN, log_key.key_hash, bytes(64))).encode()
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(forged, ORIGIN, log_key.verifier())


def test_checkpoint_with_cosignatures_opens(log_key: Ed25519Signer) -> None:
    cp = Checkpoint(ORIGIN, 7, bytes(range(32)))
    witness = Ed25519Signer.from_seed("witness.example.org", bytes([7] * 32))
    sig = NoteSignature(witness.name, witness.key_hash, witness.sign(cp.text().encode()))
    note = sign_note(cp.text(), log_key, extra=[sig])
    got, opened = open_checkpoint(note, ORIGIN, log_key.verifier())
    assert got == cp and [s.name for s in opened.unverified] == ["witness.example.org"]


# --------------------------------------------------------------------------- receipts


def test_receipt_round_trip(log_key: Ed25519Signer) -> None:
    r = Receipt(ORIGIN, 42, hashlib.sha256(b"leaf").digest(), "2026-01-02T03:04:05Z")
    note = sign_receipt(r, log_key)
    assert note.startswith(f"{RECEIPT_HEADER}\n{ORIGIN}\n42\n".encode())
    assert open_receipt(note, log_key.verifier()) == r
    with pytest.raises(UnknownKeyError):
        open_receipt(note, Ed25519Signer.from_seed(ORIGIN, bytes(32)).verifier())


def test_receipt_is_never_a_checkpoint(log_key: Ed25519Signer) -> None:
    r = Receipt(ORIGIN, 0, bytes(32), "2026-01-02T03:04:05Z")
    note = sign_receipt(r, log_key)
    with pytest.raises(MalformedError):
        open_checkpoint(note, ORIGIN, log_key.verifier())
    with pytest.raises(MalformedError):
        parse_checkpoint_text(r.text())
    # ... and a checkpoint is never a receipt.
    cp_note = sign_checkpoint(Checkpoint(ORIGIN, 1, bytes(32)), log_key)
    with pytest.raises(MalformedError):
        open_receipt(cp_note, log_key.verifier())


def test_receipt_rejects_non_canonical_fields(log_key: Ed25519Signer) -> None:
    good = Receipt(ORIGIN, 3, bytes(32), "t").text().split("\n")
    for i, bad in ((2, "03"), (2, "-3"), (3, "AAAA"), (3, "")):
        lines = list(good)
        lines[i] = bad
        with pytest.raises(MalformedError):
            open_receipt(sign_note("\n".join(lines), log_key), log_key.verifier())
