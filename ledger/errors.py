"""One error tree for the whole ledger.

    LedgerError
    ├── MalformedError            input that does not parse or breaks a limit (has .field)
    ├── VerificationError         something failed a cryptographic or structural check
    │   ├── InvalidSignatureError a known key, but the signature does not verify
    │   ├── UnknownKeyError       no key with that id/name is known (or valid) here
    │   ├── RootMismatchError     a proof or tile recomputes to another root
    │   ├── MapProofError         a status-map proof (ledger.vmap) fails; has .reason, a short name
    │   ├── IntegrityError        stored data does not back what the log signed (has .where, the row)
    │   └── InconsistencyError    two tree heads that cannot both be honest (has both)
    ├── NotFoundError             asked for an index, size or tile that does not exist
    ├── ConflictError             a compare-and-swap lost a race; retry on fresh state
    ├── PushbackError             the ledger is busy; retry later (has .retry_after seconds)
    │   └── StorageUnavailableError  the database is unreachable, full or read-only
    ├── OperatorError             the instance lacks what only its operator can supply (has .problem)
    │   └── SchemaVersionError    the database's schema is older or newer than this code (has both revisions)
    └── SyncError                 a peer in the cascade is unreachable or answered badly (has .origin)
        ├── PeerRefusedError      the peer answered with an HTTP refusal, 4xx other than 404 (has .status)
        └── ForkError             a child showed two checkpoints that are not consistent (has both)

LedgerError, MalformedError, VerificationError and InvalidSignatureError are defined in
keys/errors.py (keys/ raises them and imports nothing from ledger/) and are the same classes here.

Lower-level exceptions (cryptography's InvalidSignature, database errors) are translated
at the module that meets them, so callers only ever catch these.
"""

from __future__ import annotations

# the roots live with keys/, the lowest layer, which raises them too; they are these same classes
from regledger.keys.errors import InvalidSignatureError, LedgerError, MalformedError, VerificationError

__all__ = [
    "ConflictError",
    "ForkError",
    "InconsistencyError",
    "IntegrityError",
    "InvalidSignatureError",
    "LedgerError",
    "MalformedError",
    "MapProofError",
    "NotFoundError",
    "OperatorError",
    "PeerRefusedError",
    "PushbackError",
    "RootMismatchError",
    "SchemaVersionError",
    "StorageUnavailableError",
    "SyncError",
    "UnknownKeyError",
    "VerificationError",
]


class UnknownKeyError(VerificationError):
    """No usable key: never registered, not yet registered, or revoked at that index."""


class RootMismatchError(VerificationError):
    """Recomputing from a proof or from stored hashes gave another root."""

    def __init__(self, message: str, *, expected: bytes, calculated: bytes) -> None:
        super().__init__(f"{message}: expected {expected.hex()}, calculated {calculated.hex()}")
        self.expected = expected
        self.calculated = calculated


class MapProofError(VerificationError):
    """A status-map proof (ledger.vmap) does not hold; `reason` names the check that failed
    ("malformed", "no-map-root", "too-long", "non-canonical", "value-mismatch", "not-absent",
    "not-present", "prefix-mismatch", "root-mismatch")."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"status proof: {reason}: {message}")
        self.reason = reason


class IntegrityError(VerificationError):
    """A stored row (tile hash, leaf hash, checkpoint, entry) disagrees with what the log signed.

    `where` names the row ("tile tile/0/001.p/97 hash 96", "entry 354", "checkpoint 353"); `level`,
    `tile` and `index` locate a damaged tile hash when that is what it is.  A ledger that meets one
    stops signing and refuses appends until it is restarted after repair (`Ledger.halt`).
    """

    def __init__(
        self, where: str, what: str, *, level: int | None = None, tile: int | None = None, index: int | None = None
    ) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what
        self.level = level
        self.tile = tile
        self.index = index


class InconsistencyError(VerificationError):
    """Two tree heads that no append-only log could have produced; keep both as evidence."""

    def __init__(self, message: str, *, smaller: object = None, larger: object = None, proof: object = None) -> None:
        super().__init__(message)
        self.smaller = smaller
        self.larger = larger
        self.proof = proof


class NotFoundError(LedgerError, LookupError):
    """The index, tree size, tile or record asked for does not exist."""


class ConflictError(LedgerError):
    """A compare-and-swap lost to a concurrent writer; nothing was written."""


class PushbackError(LedgerError):
    """The ledger cannot take more work now; the caller should retry after `retry_after` seconds."""

    retry_after = 1


class StorageUnavailableError(PushbackError):
    """The database cannot be used now (unreachable, disk full, read-only); the transaction was rolled back.

    The database's own error is the `__cause__` (for the logs); the message says nothing about
    where the database is, since it may reach a client.
    """

    retry_after = 5


class OperatorError(LedgerError):
    """Not the caller's fault: the instance lacks reference data (e.g. the official calendar of a
    year) that only its operator can supply.  `problem` names the condition (an HTTP edge answers
    503 with a problem type ending in it); the message says what the operator must do.
    """

    def __init__(self, message: str, *, problem: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.problem = problem
        self.field = field


class SchemaVersionError(OperatorError):
    """The database's schema revision is not the one this code needs: older (run `regledger db upgrade`)
    or newer (run the newer code).  Nothing reads or writes such a database but `regledger db`."""

    def __init__(self, database: str, code: str, *, behind: bool) -> None:
        at = (
            "has no schema revision (it was made before schema versions)"
            if database == "unversioned"
            else f"is at schema revision {database}"
        )
        if behind:
            message = (
                f"the database {at}, older than this code's revision {code}; "
                "run `regledger db upgrade` (after `regledger backup`)"
            )
            problem = "schema-behind"
        else:
            message = (
                f"the database {at}, newer than this code's revision {code}; "
                "run the regledger version that made it (`regledger db current` shows both)"
            )
            problem = "schema-ahead"
        super().__init__(message, problem=problem)
        self.database = database
        self.code = code


class SyncError(LedgerError):
    """Talking to another instance failed: network, HTTP status, or an answer that does not parse.

    Network errors are translated into this once, in the fetcher, so sync code catches only it.
    """

    def __init__(self, message: str, *, origin: str = "") -> None:
        super().__init__(f"{origin}: {message}" if origin else message)
        self.origin = origin


class PeerRefusedError(SyncError):
    """The peer answered with an HTTP refusal (a 4xx status other than 404, which is NotFoundError);
    `status` is the status, so a caller can tell "already there" (409) from the rest."""

    def __init__(self, message: str, *, status: int, origin: str = "") -> None:
        super().__init__(message, origin=origin)
        self.status = status


class ForkError(SyncError):
    """The child signed two checkpoints that cannot both be honest; both notes are kept."""

    def __init__(self, message: str, *, origin: str, accepted: bytes, conflicting: bytes) -> None:
        super().__init__(message, origin=origin)
        self.accepted = accepted
        self.conflicting = conflicting
