"""API limits and behaviour; every number here is a documented refusal, never a 500.

An operator sets each field with the environment variable REGLEDGER_<FIELD NAME IN CAPITALS>
(`Settings.from_environ`, read by `regledger serve`, whose `--help` lists them from this class).
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, get_type_hints

from regledger.ledger.errors import MalformedError

__all__ = ["ENV_PREFIX", "Settings", "env_name", "environment_help", "proxy_networks"]

ENV_PREFIX = "REGLEDGER_"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _setting(default: Any, meaning: str, *, zero_allowed: bool = False) -> Any:
    """A field with its meaning (shown by `serve --help`); its value must be above 0 unless `zero_allowed`."""
    return field(default=default, metadata={"meaning": meaning, "zero_allowed": zero_allowed})


@dataclass(frozen=True)
class Settings:
    max_body_bytes: int = _setting(128 * 1024, "bytes of a request body (a larger one is refused with 413)")
    max_page: int = _setting(200, "most items a page of GET /v1/registrations may ask for (422 above)")
    default_page: int = _setting(50, "items on a page when a request names no limit (at most REGLEDGER_MAX_PAGE)")
    rate_per_minute: int = _setting(600, "signed statements per key per minute, per server process (429 over it)")
    objections_per_minute: int = _setting(
        5, "objections lodged from one client address per minute, per server process (429 over it)"
    )
    objection_max_chars: int = _setting(5000, "characters of an objection's text (422 above)")
    objection_contact_max_chars: int = _setting(200, "characters of an objector's contact (422 above)")
    trusted_proxies: str = _setting(
        "none",
        "addresses or networks (comma-separated, e.g. 127.0.0.1,10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For names the client for the objection limit; none = the header is ignored",
    )
    max_skew_seconds: int = _setting(300, "seconds a signed statement's time may be off the server's clock")
    header_timeout: float = _setting(
        10.0, "seconds a client may take to send a request's line and headers (then the connection is closed)"
    )
    body_timeout: float = _setting(
        30.0, "seconds a client may take to send a request's body, from the request's start (then 408)"
    )
    keep_alive_timeout: int = _setting(5, "seconds an idle keep-alive connection stays open")
    max_head_bytes: int = _setting(16 * 1024, "bytes of a request's line and headers")
    integrate_batch: int = _setting(256, "entries the background integrator signs into one checkpoint at most")
    integrate_delay: float = _setting(
        0.5, "seconds a sequenced entry waits at most for its checkpoint", zero_allowed=True
    )
    run_integrator: bool = _setting(True, "sign checkpoints in the background (serve --read-only: false)")
    self_audit_interval: float = _setting(
        5.0, "seconds between rounds of the background self-audit; 0 = off", zero_allowed=True
    )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The defaults, overridden by each REGLEDGER_<FIELD> variable that `environ` sets.

        Raises MalformedError whose field is the variable's name when a value does not parse or is out of range.
        """
        types = get_type_hints(cls)
        values: dict[str, Any] = {
            f.name: _parse(f, types[f.name], environ[env_name(f.name)])
            for f in fields(cls)
            if env_name(f.name) in environ
        }
        settings = cls(**values)
        if settings.default_page > settings.max_page:
            raise MalformedError(
                f"must be at most {env_name('max_page')} ({settings.max_page}), got {settings.default_page}",
                field=env_name("default_page"),
            )
        return settings


@functools.lru_cache(maxsize=8)
def proxy_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks a REGLEDGER_TRUSTED_PROXIES value names (ValueError for one that is none)."""
    if text.strip().lower() == "none":
        return ()
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip())


def env_name(name: str) -> str:
    """The environment variable that sets the field `name`."""
    return ENV_PREFIX + name.upper()


def environment_help() -> str:
    """Each variable Settings.from_environ reads, with its default and meaning (the epilog of `serve --help`)."""
    rows = [(env_name(f.name), _shown(f.default), f.metadata["meaning"]) for f in fields(Settings)]
    name_width = max(len(name) for name, _, _ in rows)
    default_width = max(len(default) for _, default, _ in rows)
    return "\n".join(
        [
            "settings from the environment (default shown; a flag of this command wins over them):",
            *(f"  {name:<{name_width}}  {default:<{default_width}}  {meaning}" for name, default, meaning in rows),
        ]
    )


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _parse(f: Field[Any], kind: type, raw: str) -> int | float | bool | str:
    text = raw.strip().lower()
    if kind is str:  # trusted_proxies, the one text setting: addresses or networks
        try:
            proxy_networks(text)
        except ValueError as exc:
            detail = f"expected IP addresses or networks, comma-separated: {exc}"
            raise MalformedError(detail, field=env_name(f.name)) from None
        return text
    if kind is bool:
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    else:
        value = _number(kind, text)
        if value is not None and (value > 0 or (value == 0 and f.metadata["zero_allowed"])):
            return value
    raise MalformedError(f"expected {_expected(f, kind)}, got {raw[:40]!r}", field=env_name(f.name))


def _number(kind: type, text: str) -> int | float | None:
    try:
        value = kind(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _expected(f: Field[Any], kind: type) -> str:
    if kind is bool:
        return "true or false (or 1/0, yes/no, on/off)"
    what = "a whole number" if kind is int else "a number"
    return f"{what} of at least 0" if f.metadata["zero_allowed"] else f"{what} above 0"
