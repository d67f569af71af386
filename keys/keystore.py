"""Private keys at rest: PKCS#8 PEM encrypted with a passphrase, files mode 0600.

The passphrase comes from the REGLEDGER_PASSPHRASE environment variable or, failing that,
from a passphrase file (mode 0600).  Neither the passphrase nor key bytes ever appear in an
error message or a repr.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .ed25519 import Ed25519Signer
from .errors import LedgerError

__all__ = ["KeyStoreError", "load_signer", "read_passphrase", "save_signer", "write_passphrase_file", "write_private"]

PASSPHRASE_ENV = "REGLEDGER_PASSPHRASE"


class KeyStoreError(LedgerError):
    """A key file is missing, unreadable, or the passphrase does not open it."""


def write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the start (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_passphrase_file(path: Path) -> bytes:
    """Generate a random passphrase into `path` (mode 0600) and return it."""
    passphrase = secrets.token_urlsafe(32).encode()
    write_private(path, passphrase + b"\n")
    return passphrase


def read_passphrase(path: Path | None) -> bytes:
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env.encode()
    if path is None or not path.exists():
        raise KeyStoreError(f"no passphrase: set {PASSPHRASE_ENV} or create {path}")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyStoreError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    value = path.read_bytes().strip()
    if not value:
        raise KeyStoreError(f"{path} is empty")
    return value


def save_signer(path: Path, signer: Ed25519Signer, passphrase: bytes) -> None:
    pem = signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    write_private(path, pem)


def load_signer(path: Path, name: str, passphrase: bytes) -> Ed25519Signer:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise KeyStoreError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError):
        raise KeyStoreError(f"cannot open {path}: wrong passphrase or not an encrypted key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyStoreError(f"{path} does not hold an Ed25519 key")
    return Ed25519Signer(name, key)
