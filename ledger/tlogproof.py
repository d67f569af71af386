"""C2SP tlog-proof files: an offline-verifiable proof that an entry is in a checkpointed log.

c2sp.org/tlog-proof@v1
[extra <base64>]
index <n>
<base64 hash>        (the inclusion proof, leaf side first; one per line)
<blank line>
<the signed checkpoint, verbatim>
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .checkpoint import Checkpoint, open_checkpoint
from .errors import MalformedError
from .hashes import HASH_SIZE, Hash, leaf_hash
from .note import Verifier
from .proof import verify_inclusion

__all__ = ["TLOG_PROOF_HEADER", "TlogProof", "format_tlog_proof", "parse_tlog_proof", "verify_tlog_proof"]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: list[Hash]
    checkpoint: bytes
    extra: bytes | None = None


def format_tlog_proof(index: int, hashes: list[Hash], checkpoint: bytes, extra: bytes | None = None) -> str:
    lines = [TLOG_PROOF_HEADER]
    if extra is not None:
        lines.append(f"extra {base64.b64encode(extra).decode()}")
    lines.append(f"index {index}")
    lines += [base64.b64encode(h).decode() for h in hashes]
    return "\n".join(lines) + "\n\n" + checkpoint.decode()


def parse_tlog_proof(text: str) -> TlogProof:
    head, sep, cp = text.partition("\n\n")
    if not sep:
        raise MalformedError("tlog-proof has no blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise MalformedError(f"tlog-proof must start with {TLOG_PROOF_HEADER}")
    pos, extra = 1, None
    try:
        if len(lines) > pos and lines[pos].startswith("extra "):
            extra = base64.b64decode(lines[pos][6:], validate=True)
            pos += 1
        if len(lines) <= pos or not lines[pos].startswith("index "):
            raise MalformedError("tlog-proof needs an `index N` line")
        idx = lines[pos][6:]
        if not idx.isdigit() or (len(idx) > 1 and idx[0] == "0"):
            raise MalformedError(f"tlog-proof index {idx!r} is not a canonical decimal")
        hashes = []
        for line in lines[pos + 1 :]:
            h = base64.b64decode(line, validate=True)
            if len(h) != HASH_SIZE:
                raise MalformedError("tlog-proof hashes are 32 bytes")
            hashes.append(Hash(h))
    except (binascii.Error, ValueError) as exc:
        if isinstance(exc, MalformedError):
            raise
        raise MalformedError("tlog-proof has a line that is not base64") from exc
    return TlogProof(int(idx), hashes, cp.encode(), extra)


def verify_tlog_proof(text: str, leaf: bytes, *, origin: str, verifier: Verifier) -> tuple[TlogProof, Checkpoint]:
    """Raise unless `leaf` is at the proof's index in the tree its checkpoint signs."""
    proof = parse_tlog_proof(text)
    cp, _ = open_checkpoint(proof.checkpoint, origin, verifier)
    verify_inclusion(proof.index, cp.size, leaf_hash(leaf), proof.hashes, cp.root)
    return proof, cp
