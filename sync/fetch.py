"""Where a child's log is read from: over HTTP (tlog-tiles under /log/) or from an exported file.

Both give the same three things -- the latest signed checkpoint, hash tiles and entry bundles --
and nothing they return is trusted: the puller verifies the checkpoint signature, proofs computed
from these tiles against signed roots, and every entry against the root.  httpx errors are
translated into SyncError here, once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx
import stamina

from regledger.ledger.errors import NotFoundError, PeerRefusedError, SyncError
from regledger.ledger.tiles import Tile, entry_bundle_path

__all__ = ["BundleFetcher", "Fetcher", "HTTPFetcher", "LedgerFetcher", "USER_AGENT", "cache_dir_for"]

USER_AGENT = "regledger-sync/0.1"


class Fetcher(Protocol):
    source: str
    #: how many requests it has made to the child so far (reported by a pull)
    requests: int

    def checkpoint(self) -> bytes: ...
    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]: ...
    def entry_bundle(self, n: int, width: int) -> bytes: ...
    def forget(self) -> None:
        """Drop whatever it cached: after tiles failed to prove a signed root, trust none of them."""

    def close(self) -> None: ...


class _Retryable(Exception):
    """A transport error or a 5xx/429 answer: worth another try."""


class HTTPFetcher:
    """A child instance's /log/ over HTTP; full tiles are kept in `cache_dir` and never fetched twice."""

    def __init__(
        self,
        base_url: str,
        *,
        cache_dir: Path | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
        client: httpx.Client | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.source = self.base
        self.cache_dir = cache_dir
        self.attempts = attempts
        self.client = client or httpx.Client(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False
        )
        self.requests = 0

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base}/{path.lstrip('/')}"

        @stamina.retry(on=_Retryable, attempts=self.attempts, wait_initial=0.2, wait_max=5.0)
        def once() -> httpx.Response:
            self.requests += 1
            try:
                r = self.client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise _Retryable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
            if r.status_code >= 500 or r.status_code == 429:
                raise _Retryable(f"{method} {url}: HTTP {r.status_code}")
            return r

        try:
            r = once()
        except _Retryable as exc:
            raise SyncError(f"{exc} (after {self.attempts} tries)") from None
        if r.status_code == 404:
            raise NotFoundError(f"{method} {url}: HTTP 404")
        if r.status_code >= 400:
            detail = (
                r.text[:300] if r.headers.get("content-type", "").startswith(("application/problem", "text")) else ""
            )
            raise PeerRefusedError(f"{method} {url}: HTTP {r.status_code} {detail}".strip(), status=r.status_code)
        return r

    def get(self, path: str) -> bytes:
        return self._send("GET", path).content

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._send("POST", path, **kwargs)

    def checkpoint(self) -> bytes:
        return self.get("log/checkpoint")

    def _cache_path(self, tile: Tile) -> Path | None:
        if self.cache_dir is None or not tile.full:
            return None
        return self.cache_dir / tile.path()

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        out = []
        for t in tiles:
            cached = self._cache_path(t)
            if cached is not None and cached.exists():
                out.append(cached.read_bytes())
                continue
            data = self.get(f"log/{t.path()}")
            if len(data) != t.width * 32:
                raise SyncError(f"{self.base}/log/{t.path()} is {len(data)} bytes, not {t.width * 32}")
            if cached is not None:  # written whole or not at all
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(cached.name + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, cached)
            out.append(data)
        return out

    def entry_bundle(self, n: int, width: int) -> bytes:
        return self.get(f"log/{entry_bundle_path(n, width)}")

    def forget(self) -> None:
        """Drop the cached tiles: after tiles failed to prove a signed root, trust none of them."""
        if self.cache_dir is not None and self.cache_dir.exists():
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def close(self) -> None:
        self.client.close()


def cache_dir_for(home: Path, origin: str) -> Path:
    return home / "sync-cache" / hashlib.sha256(origin.encode()).hexdigest()[:16]


class BundleFetcher:
    """An exported sync bundle: a zip holding `checkpoint` and `tile/...` exactly as served under /log/."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        self.requests = 0  # read from a file: no requests to the child
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise SyncError(f"{path} is not a sync bundle: {exc}") from None

    def get(self, name: str) -> bytes:
        try:
            return self.zip.read(name)
        except KeyError:
            raise NotFoundError(f"{self.source} has no {name}; export it again with a lower --since") from None

    def checkpoint(self) -> bytes:
        return self.get("checkpoint")

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        return [self.get(t.path()) for t in tiles]

    def entry_bundle(self, n: int, width: int) -> bytes:
        return self.get(entry_bundle_path(n, width))

    def forget(self) -> None:
        """Nothing is cached: every read comes from the bundle."""

    def close(self) -> None:
        self.zip.close()


class LedgerFetcher:
    """Another Ledger object in this process, read the way a tlog-tiles client reads it (tests, benchmarks)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.source = f"local:{ledger.origin}"
        self.requests = 0

    def checkpoint(self) -> bytes:
        self.requests += 1
        return self.ledger.checkpoint()[1]

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        self.requests += len(tiles)
        return [data[: t.width * 32] for t, data in zip(tiles, self.ledger.tiles.read_tiles(tiles), strict=True)]

    def entry_bundle(self, n: int, width: int) -> bytes:
        from regledger.ledger.tiles import encode_entry_bundle

        self.requests += 1
        start = n * 256
        return encode_entry_bundle(self.ledger.entries(start, start + width))

    def forget(self) -> None:
        """Nothing is cached: every read comes from the ledger."""

    def close(self) -> None:
        pass
