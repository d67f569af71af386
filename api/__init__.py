"""The HTTP API: clerks write signed statements; everyone reads entries, proofs, checkpoints,
tiles and registrations.  `create_app` builds it around one Ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import Settings

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    """`create_app` is imported on first use: it loads FastAPI, which `regledger --help` and
    every other command that reads only `Settings` do not need."""
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
