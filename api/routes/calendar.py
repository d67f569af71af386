"""The official calendar in force here: each year's holidays and make-up working days, and their source."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from regledger.registry.calendar import FIRST_YEAR, LAST_YEAR, describe_year

from ..deps import LedgerDep
from ..schemas import CalendarYearPublic

router = APIRouter(prefix="/v1", tags=["calendar"])


@router.get(
    "/calendar/{year}",
    response_model=CalendarYearPublic,
    response_model_by_alias=True,
    summary="A year's official calendar (holidays, make-up working days, source)",
    description="`from` is `package` (the chinese-calendar package) or `ledger` (a calendar.year "
    "statement, at `index`; `replaced` lists the earlier notices for the year). 404 for a "
    "year no source covers.",
)
def calendar_year(ledger: LedgerDep, year: Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR)]) -> CalendarYearPublic:
    return CalendarYearPublic.model_validate(describe_year(ledger.store, year))
