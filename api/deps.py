"""Request-scoped access to the one Ledger the app serves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from regledger.ledger.sequencer import Ledger

from .settings import Settings

__all__ = ["LedgerDep", "SettingsDep"]


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
