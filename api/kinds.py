"""The statement kinds the HTTP API takes, for POST /v1/statements and POST /v1/drafts alike (one list, so a
draft is never offered for a kind the server would not take; neither router imports the other)."""

from __future__ import annotations

from regledger.sync.policy import RELAYED_KINDS

__all__ = ["ALLOWED_KINDS"]

ALLOWED_KINDS = ("registration.", "key.", "sync.code", *RELAYED_KINDS)
