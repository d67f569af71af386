"""Keys at rest: encrypted PKCS#8, mode 0600, passphrase rules, no secrets in errors or reprs."""

from __future__ import annotations

import stat

import pytest

from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.keystore import KeyStoreError, load_signer, read_passphrase, save_signer, write_passphrase_file
from regledger.keys.vkey import format_vkey, parse_skey, parse_vkey
from regledger.ledger.errors import MalformedError


def test_round_trip_encrypted(tmp_path):
    s = Ed25519Signer.generate("log.example/1")
    path = tmp_path / "k.pem"
    save_signer(path, s, b"pass phrase")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = load_signer(path, s.name, b"pass phrase")
    assert loaded.public == s.public and loaded.sign(b"m") == s.sign(b"m")
    with pytest.raises(KeyStoreError, match="wrong passphrase") as err:
        load_signer(path, s.name, b"pass phrasE")
    assert "pass phras" not in str(err.value)
    assert "PRIVATE" not in repr(loaded) and s.name in repr(loaded)


def test_passphrase_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("REGLEDGER_PASSPHRASE", raising=False)
    path = tmp_path / "passphrase"
    with pytest.raises(KeyStoreError, match="REGLEDGER_PASSPHRASE"):
        read_passphrase(path)
    generated = write_passphrase_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(generated) >= 40
    assert read_passphrase(path) == generated
    path.chmod(0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        read_passphrase(path)
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", "from-env")
    assert read_passphrase(path) == b"from-env"


def test_vkey_round_trip_and_rejections():
    s = Ed25519Signer.generate("a.example/x")
    v = parse_vkey(format_vkey(s.name, s.public))
    assert (v.name, v.key_hash, v.public) == (s.name, s.key_hash, s.public)
    good = format_vkey(s.name, s.public)
    name, h, b64 = good.split("+", 2)
    for bad in (
        f"{name}+{h}",
        f"{name}+00000000+{b64}",
        f"{name}+{h}+AAAA",
        f"{name}+{h.upper()}+{b64}",
        f"bad name+{h}+{b64}",
    ):
        with pytest.raises(MalformedError):
            parse_vkey(bad)
    with pytest.raises(MalformedError):
        parse_skey("PRIVATE+KEY+x+00000000+AAAA")
