"""The HTTP API: clerks write signed statements; everyone reads entries, proofs, checkpoints,
tiles and registrations.  `create_app` builds it around one Ledger."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
