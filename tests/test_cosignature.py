"""C2SP tlog-cosignature v1 (Ed25519, type 0x04) against the public vector and round trips.

Vector (quoted in /work/shared/formats.md §1.4 and §1.8): FiloSottile/sunlight
cmd/skylight/testdata/witness/witness.v0.json (the witness vkey) and
cmd/skylight/testdata/witness/000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706/checkpoint
(the checkpoint with the log's RFC6962NoteSignature, type 0x05, and the witness cosignature), made
deterministically by cmd/skylight/testdata/gen.go.  The stored files match formats.md byte for byte.
"""

from __future__ import annotations

import base64

import pytest

from regledger.keys.ed25519 import SIG_ED25519, Ed25519Signer, note_key_hash
from regledger.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from regledger.ledger.cosignature import (
    SIG_COSIGNATURE_V1,
    CosignatureVerifier,
    Cosigner,
    add_cosignatures,
    cosign,
    cosignature_message,
    parse_cosigner_vkey,
    verify_cosigned,
)
from regledger.ledger.errors import InvalidSignatureError, MalformedError, UnknownKeyError, VerificationError
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.note import NoteSignature, open_note, sign_note

DASH = "\u2014"

# --- sunlight cmd/skylight/testdata/witness ---------------------------------------------------
WITNESS_VKEY = "witness.example.org+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN"
BODY = "rome2026h1.example.org\n300\nlCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=\n"
TIME = 1767139200  # 2025-12-31T00:00:00Z (gen.go: timestamp = 1767139200000 ms)
WITNESS_LINE = (
    f"{DASH} witness.example.org uKLPIAAAAABpVGeAhm2bOvKc3LaB9PFN1ruG19Y5yqslmcAAbhftnn1Z"
    "znmo0LXFZq4LGvqKqLX8jWlwLKasxEGTLIqAVusneCBmBw==\n"
)
LOG_LINE = (
    f"{DASH} rome2026h1.example.org kVB1JgAAAZtxtEwABAMARzBFAiEAi+mTa2xjL1IdWpH82OeciGsGvwRA"
    "P+f1WkfKaSZCfFECIHoNPZ/Q3y6UNzvKOO9cuLr6V16vPNfhwhle9f6r5H/Z\n"
)
SUNLIGHT_CHECKPOINT = (BODY + "\n" + LOG_LINE + WITNESS_LINE).encode()


def _raw(line: str) -> bytes:
    return base64.b64decode(line.rstrip("\n").split(" ")[2])


def test_vector_vkey_parses_and_hash_is_type_0x04():
    v = parse_cosigner_vkey(WITNESS_VKEY)
    assert v.name == "witness.example.org"
    assert v.key_hash == 0xB8A2CF20
    assert note_key_hash(v.name, 0x04, v.public) == 0xB8A2CF20
    assert note_key_hash(v.name, SIG_ED25519, v.public) != 0xB8A2CF20
    assert v.vkey() == WITNESS_VKEY


def test_vector_verifies_with_its_time():
    v = parse_cosigner_vkey(WITNESS_VKEY)
    raw = _raw(WITNESS_LINE)
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[:4], "big") == v.key_hash
    v.verify(BODY.encode(), raw[4:])
    assert v.timestamp(raw[4:]) == TIME

    note = open_note((BODY + "\n" + WITNESS_LINE).encode(), [v])
    assert [s.name for s in note.verified] == ["witness.example.org"]
    assert note.text == BODY


def test_vector_full_sunlight_checkpoint_opens_with_witness_key_only():
    # The log's type-0x05 signature is unknown here and must be kept, unverified.
    v = parse_cosigner_vkey(WITNESS_VKEY)
    note = open_note(SUNLIGHT_CHECKPOINT, [v])
    assert [s.name for s in note.verified] == ["witness.example.org"]
    assert [(s.name, s.key_hash) for s in note.unverified] == [("rome2026h1.example.org", 0x91507526)]


@pytest.mark.parametrize("i", range(8 + 64))
def test_vector_every_byte_flip_fails(i):
    v = parse_cosigner_vkey(WITNESS_VKEY)
    sig = bytearray(_raw(WITNESS_LINE)[4:])
    sig[i] ^= 0x01
    with pytest.raises(InvalidSignatureError):
        v.verify(BODY.encode(), bytes(sig))
    # and through a whole note
    line = NoteSignature(v.name, v.key_hash, bytes(sig)).line()
    with pytest.raises(InvalidSignatureError):
        open_note((BODY + "\n" + line).encode(), [v])


@pytest.mark.parametrize("i", range(4))
def test_vector_key_hash_flip_is_not_our_key(i):
    v = parse_cosigner_vkey(WITNESS_VKEY)
    raw = bytearray(_raw(WITNESS_LINE))
    raw[i] ^= 0x01
    line = f"{DASH} witness.example.org {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(UnknownKeyError):
        open_note((BODY + "\n" + line).encode(), [v])


@pytest.mark.parametrize("ts", [TIME - 1, TIME + 1, 0, TIME * 1000])
def test_vector_other_time_fails(ts):
    v = parse_cosigner_vkey(WITNESS_VKEY)
    sig = _raw(WITNESS_LINE)[4 + 8 :]
    with pytest.raises(InvalidSignatureError):
        v.verify(BODY.encode(), ts.to_bytes(8, "big") + sig)


def test_vector_other_body_fails():
    v = parse_cosigner_vkey(WITNESS_VKEY)
    with pytest.raises(InvalidSignatureError):
        v.verify(BODY.replace("300", "301").encode(), _raw(WITNESS_LINE)[4:])


def test_wrong_length_and_huge_time_are_malformed():
    v = parse_cosigner_vkey(WITNESS_VKEY)
    sig = _raw(WITNESS_LINE)[4:]
    for bad in (sig[:-1], sig + b"\0", sig[8:]):
        with pytest.raises(MalformedError):
            v.verify(BODY.encode(), bad)
    with pytest.raises(MalformedError):
        v.verify(BODY.encode(), (2**63).to_bytes(8, "big") + sig[8:])


# --- round trips --------------------------------------------------------------------------------
ORIGIN = "log.test/cosign"


@pytest.fixture
def log_signer() -> Ed25519Signer:
    return Ed25519Signer.generate(ORIGIN)


@pytest.fixture
def witness() -> Cosigner:
    return Cosigner(Ed25519Signer.generate("witness.test"), clock=lambda: TIME + 0.75)


def _checkpoint(size: int = 5) -> Checkpoint:
    return Checkpoint(ORIGIN, size, leaf_hash(b"root %d" % size))


def test_round_trip(log_signer, witness):
    cp = _checkpoint()
    signed = sign_checkpoint(cp, log_signer)
    line = cosign(cp.text(), witness)
    assert line.startswith(f"{DASH} witness.test ") and line.endswith("\n")
    raw = _raw(line)
    assert int.from_bytes(raw[:4], "big") == witness.key_hash
    assert int.from_bytes(raw[4:12], "big") == TIME  # the clock's fraction is dropped

    cosigned = add_cosignatures(signed, [line])
    assert cosigned == signed + line.encode()
    assert verify_cosigned(cosigned, log_signer.verifier(), [witness.verifier()]) == {"witness.test": TIME}
    # still an ordinary checkpoint for a client that knows only the log key
    got, _ = open_checkpoint(cosigned, ORIGIN, log_signer.verifier())
    assert got == cp
    # cosign accepts bytes too, and the Cosigner also works as a sign_note Signer
    assert cosign(cp.text().encode(), witness) == line
    assert sign_note(cp.text(), log_signer, witness) == cosigned


def test_round_trip_matches_independent_ed25519(witness):
    body = _checkpoint().text().encode()
    sig = witness.sign(body)
    assert sig[8:] == witness._signer.sign(b"cosignature/v1\ntime 1767139200\n" + body)
    assert cosignature_message(body, TIME) == b"cosignature/v1\ntime 1767139200\n" + body


def test_flipped_body_byte_fails(log_signer, witness):
    cp = _checkpoint()
    cosigned = add_cosignatures(sign_checkpoint(cp, log_signer), [cosign(cp.text(), witness)])
    body_len = len(cp.text())
    for i in range(body_len - 1):  # not the final newline: that makes the note unparseable
        tampered = bytearray(cosigned)
        tampered[i] ^= 0x01
        with pytest.raises((VerificationError, MalformedError)):
            verify_cosigned(bytes(tampered), log_signer.verifier(), [witness.verifier()])
    # the witness signature alone also fails on a changed body (log's own check aside)
    other = _checkpoint(6).text().encode()
    sig = _raw(cosign(cp.text(), witness))[4:]
    with pytest.raises(InvalidSignatureError):
        witness.verifier().verify(other, sig)


def test_cosignature_key_hash_is_domain_separated(witness):
    plain = note_key_hash(witness.name, SIG_ED25519, witness.public)
    assert witness.key_hash == note_key_hash(witness.name, SIG_COSIGNATURE_V1, witness.public)
    assert witness.key_hash != plain
    assert witness.key_hash != witness._signer.key_hash
    # a plain Ed25519 note signature by the same key is not a cosignature
    body = _checkpoint().text()
    plain_note = sign_note(body, witness._signer)
    with pytest.raises(UnknownKeyError):
        open_note(plain_note, [witness.verifier()])
    forged = NoteSignature(
        witness.name, witness.key_hash, TIME.to_bytes(8, "big") + witness._signer.sign(body.encode())
    ).line()
    with pytest.raises(InvalidSignatureError):
        open_note((body + "\n" + forged).encode(), [witness.verifier()])


def test_vkey_round_trip_and_type_0x01_refused(witness):
    vk = witness.vkey()
    assert vk.startswith(f"witness.test+{witness.key_hash:08x}+")
    assert base64.b64decode(vk.split("+", 2)[2])[0] == 0x04
    v = parse_cosigner_vkey(vk)
    assert (v.name, v.public, v.key_hash) == (witness.name, witness.public, witness.key_hash)
    assert v.vkey() == vk == witness.verifier().vkey()

    plain_vkey = witness._signer.verifier().vkey()  # type 0x01, its own (valid) hash
    with pytest.raises(MalformedError) as exc:
        parse_cosigner_vkey(plain_vkey)
    assert exc.value.field == "key"
    # type byte swapped to 0x04 but the 0x01 hash kept: the hash no longer matches
    name, h, b64 = plain_vkey.split("+", 2)
    swapped = base64.b64encode(b"\x04" + base64.b64decode(b64)[1:]).decode()
    with pytest.raises(MalformedError, match="hash"):
        parse_cosigner_vkey(f"{name}+{h}+{swapped}")
    # type byte 0x01 with the hash a 0x04 key would have: refused for its type alone
    typed01 = base64.b64encode(b"\x01" + witness.public).decode()
    with pytest.raises(MalformedError, match="type 0x04"):
        parse_cosigner_vkey(f"witness.test+{witness.key_hash:08x}+{typed01}")


@pytest.mark.parametrize(
    "bad",
    [
        "witness.test",
        "witness.test+b8a2cf20",
        "witness.test+B8A2CF20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN",
        "witness.test+b8a2cf20+not base64",
        "witness.test+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28q",
    ],
)
def test_parse_cosigner_vkey_refuses_malformed(bad):
    with pytest.raises(MalformedError):
        parse_cosigner_vkey(bad)


def test_missing_witness_is_named(log_signer, witness):
    signed = sign_checkpoint(_checkpoint(), log_signer)
    with pytest.raises(UnknownKeyError, match="witness.test"):
        verify_cosigned(signed, log_signer.verifier(), [witness.verifier()])


def test_one_of_two_witnesses_missing(log_signer, witness):
    other = Cosigner(Ed25519Signer.generate("witness2.test"), clock=lambda: TIME + 5)
    cp = _checkpoint()
    signed = sign_checkpoint(cp, log_signer)
    both = add_cosignatures(signed, [cosign(cp.text(), witness), cosign(cp.text(), other)])
    assert verify_cosigned(both, log_signer.verifier(), [witness.verifier(), other.verifier()]) == {
        "witness.test": TIME,
        "witness2.test": TIME + 5,
    }
    only_one = add_cosignatures(signed, [cosign(cp.text(), witness)])
    with pytest.raises(UnknownKeyError, match="witness2.test") as exc:
        verify_cosigned(only_one, log_signer.verifier(), [witness.verifier(), other.verifier()])
    assert "witness.test+" not in str(exc.value)


def test_missing_log_signature_fails(log_signer, witness):
    cp = _checkpoint()
    only_witness = (cp.text() + "\n" + cosign(cp.text(), witness)).encode()
    with pytest.raises(UnknownKeyError, match=ORIGIN):
        verify_cosigned(only_witness, log_signer.verifier(), [witness.verifier()])


def test_add_cosignatures_dedupes_and_keeps_order(log_signer, witness):
    other = Cosigner(Ed25519Signer.generate("witness2.test"), clock=lambda: TIME)
    cp = _checkpoint()
    w1, w2 = cosign(cp.text(), witness), cosign(cp.text(), other)
    signed = add_cosignatures(sign_checkpoint(cp, log_signer), [w1])
    log_line = signed.decode().split("\n\n")[1].split("\n")[0] + "\n"
    out = add_cosignatures(signed, [w2, w1, w2, log_line, w2.rstrip("\n")])
    assert out == signed + w2.encode()
    assert add_cosignatures(out, []) == out
    assert open_note(out, [log_signer.verifier()]).text == cp.text()
    with pytest.raises(MalformedError):
        add_cosignatures(signed, ["not a signature line\n"])
    with pytest.raises(MalformedError):
        add_cosignatures(signed, [f"{DASH} witness.test !!!\n"])
    with pytest.raises(MalformedError):
        add_cosignatures(cp.text().encode(), [w1])  # no signature block


def test_cosign_refuses_a_signed_note(log_signer, witness):
    signed = sign_checkpoint(_checkpoint(), log_signer)
    with pytest.raises(MalformedError):
        cosign(signed, witness)


def test_verifier_rejects_bad_public_key():
    with pytest.raises(MalformedError):
        CosignatureVerifier("w", b"\0" * 31)
    with pytest.raises(MalformedError):
        CosignatureVerifier("bad name", b"\0" * 32)
