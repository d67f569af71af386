"""Entries, proofs and checkpoints as JSON under /v1/ (shapes fixed for outside verifiers)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Query, Request

from regledger.ledger.checkpoint import parse_checkpoint_text
from regledger.ledger.entry import parse_json
from regledger.ledger.errors import NotFoundError

from ..deps import LedgerDep, reads_at
from ..problems import Problem
from ..schemas import CheckpointPublic, ConsistencyProof, EntryPublic, InclusionProof

router = APIRouter(prefix="/v1", tags=["entries and proofs"])
NonNeg = Annotated[int, Query(ge=0, le=2**62)]


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@router.get("/entries/{index}", response_model=EntryPublic)
def entry(index: int, ledger: LedgerDep) -> EntryPublic:
    if index < 0 or index >= ledger.store.head().size:
        raise NotFoundError(f"entry {index} does not exist (the log has {ledger.store.head().size})")
    leaf = ledger.entries(index, index + 1)[0]
    return EntryPublic(index=index, leaf=b64(leaf), entry=parse_json(leaf))


@router.get("/checkpoint", response_model=CheckpointPublic)
def checkpoint(ledger: LedgerDep, size: NonNeg | None = None) -> CheckpointPublic:
    note = ledger.checkpoint()[1] if size is None else ledger.checkpoint_at(size)
    cp = parse_checkpoint_text(note.decode().split("\n\n")[0] + "\n")
    return CheckpointPublic(origin=cp.origin, size=cp.size, root=b64(cp.root), note=note.decode())


@router.get(
    "/proofs/inclusion",
    response_model=InclusionProof,
    summary="Inclusion proof by index (or leaf hash) in a checkpointed tree size",
)
def inclusion(
    request: Request,
    ledger: LedgerDep,
    size: NonNeg,
    index: NonNeg | None = None,
    leaf_hash_b64: Annotated[str | None, Query(alias="leaf_hash")] = None,
) -> InclusionProof:
    if (index is None) == (leaf_hash_b64 is None):
        raise Problem(422, "Invalid input", "give exactly one of index and leaf_hash", field="/index")
    if index is None:
        try:
            wanted = base64.b64decode(leaf_hash_b64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise Problem(422, "Invalid input", "leaf_hash must be standard base64", field="/leaf_hash") from None
        index = ledger.store.index_of_leaf_hash(wanted)
        if index is None:
            raise NotFoundError("no entry has that leaf hash")
    if index >= size:
        raise Problem(422, "Invalid input", f"entry {index} is not in a tree of size {size}", field="/index")
    reader = reads_at(request, size)
    hashes = reader.inclusion_proof(index, size)
    lh = reader.leaf_hash_at(index, size)
    return InclusionProof(index=index, size=size, leaf_hash=b64(lh), hashes=[b64(h) for h in hashes])


@router.get("/proofs/consistency", response_model=ConsistencyProof)
def consistency(request: Request, first: NonNeg, second: NonNeg) -> ConsistencyProof:
    if first > second:
        raise Problem(422, "Invalid input", "first must not be larger than second", field="/first")
    hashes = reads_at(request, second).consistency_proof(first, second)
    return ConsistencyProof(first=first, second=second, hashes=[b64(h) for h in hashes])
