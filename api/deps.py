"""Request-scoped access to the one Ledger the app serves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from regledger.ledger.sequencer import Ledger

from .settings import Settings

__all__ = ["LedgerDep", "SettingsDep", "reads_at"]


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


def reads_at(request: Request, size: int) -> Ledger:
    """Where to read the tree of the checkpoint of `size` (tiles, leaves): the replica of `serve --read-db URL`
    once it holds that checkpoint (everything a checkpoint covers is committed with it), else the primary.
    The sequencer and the integrator never read the replica."""
    replica: Ledger | None = request.app.state.replica
    if replica is not None and replica.holds_checkpoint(size):
        return replica
    return request.app.state.ledger


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
