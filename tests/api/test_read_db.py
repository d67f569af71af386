"""`serve --read-db URL`: tiles and proofs of the checkpoints a replica holds are read from it, the rest from
the primary; tested with the replica a second connection (its own SQLStore) to the same PostgreSQL database,
made to lag by hiding the checkpoints it has not "replicated" yet."""

from __future__ import annotations

import base64

from conftest import make_ledger
from test_ledger import sample

from regledger.api import Settings, create_app
from regledger.ledger.errors import NotFoundError
from regledger.ledger.proof import verify_inclusion
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore

pytest_plugins = ["apitest_fixtures"]


class Replica(SQLStore):
    """A second connection to the primary's database that holds checkpoints up to `upto` only, and counts reads."""

    upto = 0
    tile_reads = 0
    entry_reads = 0

    def checkpoint(self, size: int) -> bytes:
        if size > self.upto:
            raise NotFoundError(f"no checkpoint of size {size} (not replicated yet)")
        return super().checkpoint(size)

    def read_tiles(self, tiles):
        self.tile_reads += 1
        return super().read_tiles(tiles)

    def read_entries(self, start: int, end: int):
        self.entry_reads += 1
        return super().read_entries(start, end)


def test_tiles_and_proofs_read_the_replica_once_it_holds_the_checkpoint(pg_url, log_signer, admin, serve_app):
    primary = make_ledger(SQLStore(pg_url, create=True), log_signer, admin)
    primary.append_batch([sample(admin, i) for i in range(300)])
    old = primary.integrate()
    replica_store = Replica(pg_url)
    replica_store.upto = old
    replica = Ledger(replica_store, origin=primary.origin, log_signer=log_signer)
    client = serve_app(create_app(primary, Settings(run_integrator=False, self_audit_interval=0), replica=replica))

    r = client.get("/v1/proofs/inclusion", params={"size": old, "index": 7})
    assert r.status_code == 200, r.text
    assert replica_store.tile_reads > 0 and replica_store.entry_reads == 0  # the replica holds `old`; the leaf hash
    # comes from its level-0 tile, as the proof's hashes do
    _, note = primary.checkpoint()
    root = primary.open_checkpoint(note).root
    body = r.json()
    verify_inclusion(7, old, base64.b64decode(body["leaf_hash"]), [base64.b64decode(h) for h in body["hashes"]], root)

    r = client.get("/log/tile/0/000")
    assert r.status_code == 200 and len(r.content) == 256 * 32
    assert replica_store.tile_reads >= 1

    primary.append_batch([sample(admin, i) for i in range(300, 320)])
    new = primary.integrate()  # the replica has not "replicated" this checkpoint
    reads = (replica_store.tile_reads, replica_store.entry_reads)
    r = client.get("/v1/proofs/inclusion", params={"size": new, "index": new - 1})
    assert r.status_code == 200, r.text
    assert (replica_store.tile_reads, replica_store.entry_reads) == reads  # the primary answered
    r = client.get("/v1/proofs/consistency", params={"first": old, "second": new})
    assert r.status_code == 200, r.text
    assert (replica_store.tile_reads, replica_store.entry_reads) == reads

    replica_store.upto = new  # replicated now
    r = client.get("/v1/proofs/inclusion", params={"size": new, "index": new - 1})
    assert r.status_code == 200
    assert replica_store.tile_reads > reads[0] and replica_store.entry_reads == reads[1]
    replica_store.close()
