"""Structured (JSON lines) logs for the server.  Log records carry ids, kinds and indexes only:
never statement payloads, passphrases or key material.

An exception is logged as its chain, outermost first (`error`, then each `cause`), each as its
class and the first line of its message, plus the `stack` of this project's frames: enough to tell a full disk
from a lost database, without the SQL parameters or payloads that later lines may carry.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["JSONFormatter", "configure_logging", "exception_chain"]

_ROOT = str(Path(__file__).resolve().parents[1]) + os.sep  # frames of this project, not of libraries


def exception_chain(exc: BaseException | None) -> list[str]:
    """`module.Class: first line of the message` for `exc` and each exception that caused it."""
    out: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        first = next(iter(str(exc).splitlines()), "")
        name = type(exc).__qualname__
        module = type(exc).__module__
        out.append(f"{name if module == 'builtins' else module + '.' + name}: {first}".rstrip(": "))
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return out


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("event", "index", "kind", "key", "subject", "status", "path", "count"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            chain = exception_chain(exc)
            out["error"], out["causes"] = chain[0], chain[1:]
            out["stack"] = [
                f"{f.filename.removeprefix(_ROOT)}:{f.lineno} in {f.name}"
                for f in traceback.extract_tb(exc.__traceback__)
                if f.filename.startswith(_ROOT) and "site-packages" not in f.filename
            ]
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
