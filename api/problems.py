"""RFC 9457 problem details for every refusal, with the offending field as a JSON pointer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from regledger.ledger.errors import (
    ConflictError,
    IntegrityError,
    InvalidSignatureError,
    LedgerError,
    MalformedError,
    NotFoundError,
    OperatorError,
    PushbackError,
    StorageUnavailableError,
    UnknownKeyError,
    VerificationError,
)
from regledger.ledger.policy import ReplayError
from regledger.registry.workflow import NotPermittedError, StepNotAllowedError

__all__ = [
    "PROBLEM_RESPONSES",
    "BodyLimit",
    "BodyTooSlow",
    "Problem",
    "ProblemDocument",
    "install_problem_handlers",
    "problem_response",
    "status_of",
]

log = logging.getLogger("regledger.api")
PROBLEM_JSON = "application/problem+json"
#: problem types of our own are relative URIs under this path, e.g. /problems/calendar-missing
PROBLEM_TYPES = "/problems/"


class ProblemDocument(BaseModel):
    """RFC 9457 problem details, as every refusal is answered (media type application/problem+json)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    instance: str | None = None
    index: int | None = None  # 409 for a reused nonce: the entry that used it


def _problem_content() -> dict[str, Any]:
    return {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}}


#: add to every router: the refusals any route may answer with
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": desc, "model": ProblemDocument, "content": _problem_content()}
    for code, desc in (
        (400, "bad request"),
        (404, "not found"),
        (409, "conflict"),
        (413, "body too large"),
        (422, "invalid input"),
        (429, "rate limit"),
        (
            503,
            "busy or the database unavailable (with Retry-After); halted because the stored "
            "data failed its integrity check; or reference data missing that the operator "
            "must load (type /problems/…)",
        ),
    )
}


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is limited to {limit} bytes")
        self.limit = limit


class BodyTooSlow(Exception):
    def __init__(self, timeout: float) -> None:
        super().__init__(f"the body must arrive within {timeout:g} s")
        self.timeout = timeout


class BodyLimit:
    """ASGI middleware: refuse bodies over `limit` bytes, declared or streamed, without reading them all,
    and bodies that have not all arrived `timeout` seconds after the request started (a slow client)."""

    def __init__(self, app: Any, limit: int, timeout: float = 30.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            response = problem_response(
                413, "Too large", f"the body is limited to {self.limit} bytes", instance=scope.get("path")
            )
            await response(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):  # no route reads their body: nothing to guard, no wrapper to pay for
            await self.app(scope, receive, send)
            return
        seen = 0
        deadline = asyncio.get_running_loop().time() + self.timeout
        complete = False

        async def limited() -> Any:
            nonlocal seen, complete
            if complete:  # after the body, receive waits for a disconnect: no deadline for that
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                raise BodyTooSlow(self.timeout) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self, status: int, title: str, detail: str, *, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.field, self.headers = status, title, detail, field, headers


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    type_: str = "about:blank",
    members: dict[str, Any] | None = None,
) -> JSONResponse:
    """`members`: RFC 9457 extension members (e.g. `index`)."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if field is not None:
        body["field"] = field
    if instance:
        body["instance"] = instance
    body.update(members or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(exc: LedgerError) -> tuple[int, str]:
    """The HTTP status and title a refusal is answered with (the HTML pages show the same as the API)."""
    return _ledger_status(exc)


def _ledger_status(exc: LedgerError) -> tuple[int, str]:
    if isinstance(exc, NotPermittedError):
        return 403, "Not permitted"
    if isinstance(exc, StepNotAllowedError):
        return 409, "Step not allowed now"
    if isinstance(exc, MalformedError):  # a workflow rule on the payload (StepPayloadError) among them
        return 422, "Invalid input"
    if isinstance(exc, InvalidSignatureError):
        return 401, "Bad signature"
    if isinstance(exc, UnknownKeyError):
        return 403, "Key not valid"
    if isinstance(exc, IntegrityError):  # our stored data, not the request, is at fault (Ledger.halt)
        return 503, "Stored data failed its integrity check"
    if isinstance(exc, VerificationError):
        return 422, "Verification failed"
    if isinstance(exc, NotFoundError):
        return 404, "Not found"
    if isinstance(exc, ConflictError):
        return 409, "Conflict"
    if isinstance(exc, StorageUnavailableError):
        return 503, "Storage unavailable"
    if isinstance(exc, PushbackError):
        return 503, "Busy"
    if isinstance(exc, OperatorError):  # not the caller's fault: the operator must supply something
        return 503, "Operator action needed"
    return 400, "Refused"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.title, exc.detail, field=exc.field, headers=exc.headers, instance=request.url.path
        )

    @app.exception_handler(LedgerError)
    async def _ledger(request: Request, exc: LedgerError) -> JSONResponse:
        status, title = _ledger_status(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, PushbackError) else None
        if isinstance(exc, StorageUnavailableError):
            log.error(
                "storage unavailable on %s %s",
                request.method,
                request.url.path,
                exc_info=exc,
                extra={"event": "storage", "status": 503, "path": request.url.path},
            )
        type_ = PROBLEM_TYPES + exc.problem if isinstance(exc, OperatorError) else "about:blank"
        members = {"index": exc.index} if isinstance(exc, ReplayError) else None
        field = getattr(exc, "field", None) or ("/key" if isinstance(exc, UnknownKeyError) else None)
        detail = getattr(exc, "message", None) or str(exc)
        if field and detail.startswith(f"{field}: "):
            detail = detail[len(field) + 2 :]
        return problem_response(
            status,
            title,
            str(exc) if not getattr(exc, "message", None) else detail,
            field=field,
            headers=headers,
            instance=request.url.path,
            type_=type_,
            members=members,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in err.get("loc", ())]
        # drop the location (body/query/path): the pointer names the field, as in every other problem
        pointer = "/" + "/".join(loc[1:]) if len(loc) > 1 else ""
        return problem_response(422, "Invalid input", str(err.get("msg")), field=pointer, instance=request.url.path)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # the client's own doing, not the server's: no error, and the answer goes nowhere
        log.info("client disconnected during the request", extra={"event": "disconnect", "path": request.url.path})
        return problem_response(
            400, "Client disconnected", "the connection closed before the whole body arrived", instance=request.url.path
        )

    @app.exception_handler(BodyTooSlow)
    async def _too_slow(request: Request, exc: BodyTooSlow) -> JSONResponse:
        log.info("closed a request whose body was too slow", extra={"event": "slow_body", "path": request.url.path})
        return problem_response(
            408, "Request timeout", str(exc), headers={"Connection": "close"}, instance=request.url.path
        )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return problem_response(413, "Too large", str(exc), instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code,
            "Not found" if exc.status_code == 404 else "Refused",
            str(exc.detail),
            headers=getattr(exc, "headers", None),
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "Internal error", "the server failed; the error was logged", instance=request.url.path
        )
