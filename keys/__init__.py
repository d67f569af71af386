"""Key generation, verifier-key strings and encrypted key storage."""

from .ed25519 import Ed25519Signer, Ed25519Verifier, statement_key_id, verify_ed25519
from .keystore import KeyStoreError, load_signer, read_passphrase, save_signer
from .vkey import format_skey, format_vkey, parse_skey, parse_vkey

__all__ = [
    "Ed25519Signer",
    "Ed25519Verifier",
    "KeyStoreError",
    "format_skey",
    "format_vkey",
    "load_signer",
    "parse_skey",
    "parse_vkey",
    "read_passphrase",
    "save_signer",
    "statement_key_id",
    "verify_ed25519",
]
