"""An instance's home folder: config, encrypted keys, the SQLite database.

<home>/config.json        {"origin": ..., "admin_name": ...}
<home>/keys/log.pem       the log key (signs checkpoints and receipts), encrypted PKCS#8
<home>/keys/admin.pem     the first administrator key (entry 0), encrypted PKCS#8
<home>/keys/intake.pem    the intake key (role `intake`): signs registration.objection_received; created,
                          encrypted like the others and registered by the administrator key on first use
<home>/objections/<registration id>/<sha256>.json
                          each objection document the public lodged (mode 0600; the log holds only its hash);
                          written as <sha256>.pending and renamed once its entry is sequenced (HomeIntake.sweep
                          settles what a crash left in between)
<home>/passphrase         only if REGLEDGER_PASSPHRASE was unset at init (mode 0600)
<home>/ledger.sqlite      unless --db / REGLEDGER_DB points at PostgreSQL
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.keystore import (
    PASSPHRASE_ENV,
    load_signer,
    read_passphrase,
    save_signer,
    write_passphrase_file,
    write_private,
)
from regledger.ledger.checkpoint import check_origin
from regledger.ledger.errors import LedgerError
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore
from regledger.registry.statusmap import RegistryStatusMap
from regledger.sync.statusmap import CascadeStatusMap

__all__ = ["INTAKE_ROLE", "Home", "HomeError", "HomeIntake", "default_home"]


INTAKE_ROLE = "intake"
#: the suffix of an objection document written before its entry is sequenced (HomeIntake.keep, .sweep)
PENDING = ".pending"
PENDING_GRACE = 120.0  # seconds: a pending document younger than this may belong to a live request


class HomeError(LedgerError):
    """The home folder is missing, incomplete, or already initialised."""


def default_home() -> Path:
    return Path(os.environ.get("REGLEDGER_HOME", "./regledger-home"))


@dataclass
class Home:
    path: Path
    db_url: str | None = None

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def passphrase_path(self) -> Path:
        return self.path / "passphrase"

    def key_path(self, label: str) -> Path:
        return self.path / "keys" / f"{label}.pem"

    def exists(self) -> bool:
        return self.config_path.exists()

    def config(self) -> dict:
        if not self.exists():
            raise HomeError(f"{self.path} is not a regledger home; run `regledger init --origin ORIGIN`")
        return json.loads(self.config_path.read_text())

    def url(self) -> str:
        return self.db_url or os.environ.get("REGLEDGER_DB") or f"sqlite:///{(self.path / 'ledger.sqlite').resolve()}"

    def passphrase(self) -> bytes:
        return read_passphrase(self.passphrase_path)

    def signer(self, label: str, name: str) -> Ed25519Signer:
        return load_signer(self.key_path(label), name, self.passphrase())

    def init(self, origin: str, *, say=print, clock=None) -> Ledger:
        """Create the home, the log and admin keys, and the ledger with its entry 0."""
        check_origin(origin)
        if self.exists():
            raise HomeError(f"{self.path} is already initialised (origin {self.config()['origin']})")
        self.path.mkdir(parents=True, exist_ok=True)
        if os.environ.get(PASSPHRASE_ENV):
            passphrase = os.environ[PASSPHRASE_ENV].encode()
        elif self.passphrase_path.exists():
            passphrase = read_passphrase(self.passphrase_path)
        else:
            passphrase = write_passphrase_file(self.passphrase_path)
            say(f"{PASSPHRASE_ENV} is unset: generated a key passphrase into {self.passphrase_path} (mode 0600)")
        log = Ed25519Signer.generate(origin)
        admin = Ed25519Signer.generate(f"admin@{origin}")
        save_signer(self.key_path("log"), log, passphrase)
        save_signer(self.key_path("admin"), admin, passphrase)
        store = SQLStore(self.url(), create=True)
        if store.head().size != 0:
            store.close()
            raise HomeError(f"the database {self.url()} already holds a ledger; use a fresh one")
        ledger = Ledger(
            store, origin=origin, log_signer=log, status_map=status_map(origin), **({"clock": clock} if clock else {})
        )
        ledger.integrate()  # the size-0 checkpoint
        ledger.append(register_key_statement(admin, admin, "admin"))
        ledger.integrate()
        tmp = self.config_path.with_name("config.json.tmp")
        tmp.write_text(json.dumps({"origin": origin, "admin_name": admin.name}, indent=2) + "\n")
        os.replace(tmp, self.config_path)  # the home counts as initialised only once all of it exists
        return ledger

    def open(self, *, clock=None, store: SQLStore | None = None) -> Ledger:
        """The instance's ledger, with the register's rules as its statement policy; over `store` if given
        (a backup being checked), else over the home's database, which must be at this code's schema."""
        from regledger.ledger.policy import CompositePolicy, ReplayGuard
        from regledger.registry.policy import RegistryPolicy
        from regledger.sync.policy import SyncPolicy

        cfg = self.config()
        log = self.signer("log", cfg["origin"])
        kwargs = {"clock": clock} if clock else {}
        register = RegistryPolicy()
        # the cascade's rules first: who may sign reference data (RELAYED_KINDS) is decided before its content
        policy = CompositePolicy(ReplayGuard(), SyncPolicy(cfg["origin"], register), register)
        return Ledger(
            store or SQLStore(self.url()),
            origin=cfg["origin"],
            log_signer=log,
            policy=policy,
            status_map=status_map(cfg["origin"]),
            **kwargs,
        )

    def admin(self) -> Ed25519Signer:
        return self.signer("admin", self.config()["admin_name"])


def status_map(origin: str) -> CascadeStatusMap:
    """The instance's status-map hook: the register's keys, in this log and in the mirrors it carries."""
    return CascadeStatusMap(origin, RegistryStatusMap())


@dataclass
class HomeIntake:
    """Where a serving instance takes objections from the public (api.intake.ObjectionIntake): its intake key
    and the folder that keeps the documents, in the home.  The key is made on first use, not at init, so that
    a ledger only gains the key.register entry once it takes objections."""

    home: Home
    ledger: Ledger
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _signer: Ed25519Signer | None = field(default=None, repr=False)

    def signer(self) -> Ed25519Signer:
        """The intake key, registered in the ledger (created, stored encrypted and registered if need be)."""
        with self._lock:
            if self._signer is None:
                self._signer = self._ensure()
            return self._signer

    def _ensure(self) -> Ed25519Signer:
        name = f"{INTAKE_ROLE}@{self.ledger.origin}"
        path = self.home.key_path(INTAKE_ROLE)
        if path.exists():
            signer = load_signer(path, name, self.home.passphrase())
        else:
            signer = Ed25519Signer.generate(name)
            save_signer(path, signer, self.home.passphrase())
        # a key saved by a run that stopped before its registration is registered now
        if self.ledger.store.get_keys([signer.key_id]).get(signer.key_id) is None:
            self.ledger.append(register_key_statement(self.home.admin(), signer, INTAKE_ROLE, time=self.ledger.clock()))
        return signer

    def document_path(self, registration: str, sha256: str) -> Path:
        """`registration` is a checked registration id (letters, digits, '-', '_', '.': no path separator)."""
        return self.home.path / "objections" / registration / f"{sha256}.json"

    def pending_path(self, registration: str, sha256: str) -> Path:
        """Where a document waits while its entry is sequenced: it becomes `document_path` only after."""
        return self.home.path / "objections" / registration / f"{sha256}{PENDING}"

    def keep(self, registration: str, sha256: str, document: bytes) -> None:
        write_private(self.pending_path(registration, sha256), document)

    def accept(self, registration: str, sha256: str) -> None:
        """The document's entry is sequenced: the document is kept under its final name."""
        os.replace(self.pending_path(registration, sha256), self.document_path(registration, sha256))

    def discard(self, registration: str, sha256: str) -> None:
        self.pending_path(registration, sha256).unlink(missing_ok=True)

    def read(self, registration: str, sha256: str) -> bytes | None:
        try:
            return self.document_path(registration, sha256).read_bytes()
        except FileNotFoundError:
            return None

    def sweep(self, older_than: float = 0.0) -> list[tuple[Path, str]]:
        """Settle what a crash between keeping a document and sequencing its entry left behind (run at start):
        a pending document whose hash the registration's log entries hold is kept ("kept"); one the log never
        got is removed ("removed": its objector had no receipt); a half-written temporary file is removed
        ("removed").  Returns each path settled, with what was done."""
        from regledger.registry.state import registration_key

        done: list[tuple[Path, str]] = []
        folder = self.home.path / "objections"
        now = time.time()
        for path in sorted(folder.glob(f"*/*{PENDING}")) + sorted(folder.glob("*/*.tmp")):
            try:
                if now - path.stat().st_mtime < older_than:
                    continue  # another worker's objection may still be on its way to the log
            except FileNotFoundError:
                continue
            registration, digest = path.parent.name, path.name.split(".")[0]
            found = self.ledger.store.get_state(registration_key(registration))
            logged = {
                h.get("document_sha256")
                for h in (found.state.get("history", []) if found else [])
                if h.get("kind") == "registration.objection_received"
            }
            if path.name.endswith(PENDING) and digest in logged:
                os.replace(path, self.document_path(registration, digest))
                done.append((path, "kept"))
            else:
                path.unlink(missing_ok=True)
                done.append((path, "removed"))
        return done
