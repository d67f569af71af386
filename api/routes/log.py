"""The log in the C2SP tlog-tiles layout under /log/, readable by any tlog-tiles client."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from regledger.ledger.errors import MalformedError, NotFoundError
from regledger.ledger.hashes import HASH_SIZE
from regledger.ledger.publish import served_checkpoint
from regledger.ledger.tiles import TILE_WIDTH, encode_entry_bundle, parse_tile_path

from ..deps import LedgerDep, reads_at
from ..problems import Problem

router = APIRouter(prefix="/log", tags=["log (C2SP tlog-tiles)"])
IMMUTABLE = "public, max-age=31536000, immutable"


@router.get("/checkpoint", response_class=PlainTextResponse, summary="The latest signed checkpoint")
def checkpoint(ledger: LedgerDep) -> Response:
    """With the cosignatures of the parents (witnesses) that have verified it, when there are some."""
    _, note = served_checkpoint(ledger)
    return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache, max-age=2"})


@router.get("/key", response_class=PlainTextResponse, summary="The log's verifier key (C2SP vkey)")
def key(ledger: LedgerDep) -> Response:
    return Response(ledger.verifier().vkey() + "\n", media_type="text/plain; charset=utf-8")


@router.get(
    "/tile/{path:path}",
    summary="A hash tile or an entry bundle",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def tile(request: Request, path: str, ledger: LedgerDep) -> Response:
    try:
        t, is_entries = parse_tile_path("tile/" + path)
    except MalformedError as exc:
        raise Problem(400, "Invalid input", exc.message, field="/path") from None
    size, _ = ledger.checkpoint()
    # Serve only what the latest checkpoint covers.  Every tile path, partial ones included, names
    # fixed bytes (a tile of width W is the first W hashes forever), so all may be cached for good.
    available = (size >> (8 * t.level)) - t.n * TILE_WIDTH
    if available < t.width:
        raise NotFoundError(f"{t.path()} is not in the tree of size {size}")
    reader = reads_at(request, size)  # the replica (serve --read-db) once it holds this checkpoint
    if is_entries:
        start = t.n * TILE_WIDTH
        body = encode_entry_bundle(reader.entries(start, start + t.width))
    else:
        body = reader.tiles.read_tiles([t])[0][: t.width * HASH_SIZE]
    return Response(body, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE})
