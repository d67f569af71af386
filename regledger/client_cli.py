"""The clerk's and the administrator's commands, over HTTP through regledger.client:
`key new|register|revoke`, `apply`, `step`, `status`.

Client commands take --server (REGLEDGER_SERVER) and --key (REGLEDGER_KEY, the encrypted key file);
the passphrase comes from REGLEDGER_PASSPHRASE or a prompt.  A refusal prints the problem's title,
detail and field and exits 1; nothing is written by a refused statement.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

from regledger.keys.keystore import PASSPHRASE_ENV
from regledger.ledger.errors import LedgerError, MalformedError

from .client import Draft, RegLedgerClient, Submitted, load_key, new_key

__all__ = ["add_client_parsers"]


def _passphrase(*, confirm: bool = False) -> bytes:
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env.encode()
    first = getpass.getpass("key passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise LedgerError("the passphrases differ")
    if not first:
        raise LedgerError(f"no passphrase: set {PASSPHRASE_ENV} or type one")
    return first.encode()


def _client(args: argparse.Namespace, *, signed: bool = True) -> RegLedgerClient:
    server = args.server or os.environ.get("REGLEDGER_SERVER")
    if not server:
        raise LedgerError("no server: give --server URL or set REGLEDGER_SERVER")
    signer = None
    if signed:
        key = args.key or os.environ.get("REGLEDGER_KEY")
        if not key:
            raise LedgerError("no key: give --key FILE or set REGLEDGER_KEY")
        signer = load_key(Path(key), _passphrase())
    return RegLedgerClient(server, signer)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


def _show_draft(d: Draft) -> None:
    print("draft (signed as shown):")
    print(_json(d.statement))
    for w in d.warnings:
        print(f"warning: {w}")


def _plain(value: Any) -> Any:
    """YAML's dates and times as the ISO strings the API takes."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_document(path: str) -> dict[str, Any]:
    """A JSON or YAML file holding one object (YAML for a `.yaml`/`.yml` name or when it is not JSON)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError:
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MalformedError(f"{path} is neither JSON nor YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedError(f"{path} must hold one object (a mapping)")
    return _plain(doc)


def _field_value(raw: str) -> Any:
    """`--field k=v`: v as JSON when it is JSON (true, 3, ["a"]), else the text itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _done(result: Submitted, what: str) -> None:
    again = "" if result.first_time else " (already sequenced before: the first answer)"
    print(f"{what}: entry {result.index}{again}")


def cmd_key_new(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise LedgerError(f"{out} exists; choose another --out")
    signer = new_key(args.name, out, _passphrase(confirm=True))
    print(f"wrote the encrypted key to {out} and its public key to {out}.pub; key id {signer.key_id}")
    print(signer.verifier().vkey())
    return 0


def cmd_key_register(args: argparse.Namespace) -> int:
    scope = {k: v for k, v in (("region", args.region), ("institution", args.institution)) if v}
    with _client(args) as c:
        result = c.register_key(args.vkey, args.role, scope)
    _done(result, f"registered the {args.role} key")
    print(result.index)
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    with _client(args) as c:
        result = c.revoke_key(args.name_or_id, args.reason)
    _done(result, f"revoked key {args.name_or_id}")
    print(result.index)
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    doc = read_document(args.file)
    registration = args.id or doc.pop("registration", None) or f"reg-{uuid.uuid4().hex[:16]}"
    doc.pop("registration", None)
    with _client(args) as c:
        result = c.send("registration.apply", str(registration), doc, review=_show_draft)
    _done(result, "applied")
    state = result.state or {}
    print(f"registration {registration}: {state.get('status')}, accept by {state.get('accept_due')}")
    print(f"查询码 (query code): {state.get('query_code') or 'given when the registration is coded'}")
    return 0


def _kind(name: str) -> str:
    return name if name.startswith("registration.") else f"registration.{name}"


def cmd_step(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = read_document(args.file) if args.file else {}
    for item in args.field or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise MalformedError(f"--field takes NAME=VALUE, not {item!r}", field="--field")
        payload[name] = _field_value(value)
    with _client(args) as c:
        result = c.send(_kind(args.kind), args.id, payload, review=_show_draft)
    _done(result, _kind(args.kind))
    _print_state(result.state or {})
    return 0


def _print_state(state: dict[str, Any]) -> None:
    from regledger.registry.workflow import allowed_steps

    status = state.get("status")
    print(f"registration {state.get('registration')}: {status}")
    for name in ("code", "query_code", "official_code", "accept_due", "review_due", "publicity_start", "publicity_end"):
        if state.get(name):
            print(f"  {name}: {state[name]}")
    steps = [k.removeprefix("registration.") for k in allowed_steps(status)]
    print(f"  next steps: {', '.join(steps) or 'none (closed)'}")


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args, signed=False) as c:
        state = c.registration(args.id)
    if args.json:
        print(_json(state))
    else:
        _print_state(state)
    return 0


def _client_options(p: argparse.ArgumentParser, *, key: bool = True) -> None:
    p.add_argument("--server", help="the regledger server's URL (default: $REGLEDGER_SERVER)")
    if key:
        p.add_argument(
            "--key",
            help="your encrypted key file from `key new` (default: $REGLEDGER_KEY); "
            f"passphrase from ${PASSPHRASE_ENV} or a prompt",
        )


def _guarded(func):
    """Network failures as a one-line error, like every other refusal."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except httpx.HTTPError as exc:
            raise LedgerError(f"cannot talk to the server: {exc}") from None

    return run


def add_client_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    key = sub.add_parser("key", parents=[common], help="make a key; register or revoke one (as an administrator)")
    ksub = key.add_subparsers(dest="key_command", required=True)
    s = ksub.add_parser("new", help="a new encrypted Ed25519 key; prints its vkey last")
    s.add_argument("--name", required=True, help="the key's name, e.g. clerk-zhang@520300")
    s.add_argument("--out", required=True, help="the key file to write (its vkey goes to FILE.pub)")
    s.set_defaults(func=cmd_key_new)
    s = ksub.add_parser("register", help="as an administrator: register a key; prints the entry index")
    s.add_argument("--vkey", required=True, help="the key's vkey (the last line `key new` printed)")
    s.add_argument("--role", required=True, choices=["admin", "registrant", "registrar", "authority", "platform"])
    s.add_argument("--region", help="the region a registrar or authority key serves (GB/T 2260 code)")
    s.add_argument("--institution", help="the USCC a registrant key acts for")
    _client_options(s)
    s.set_defaults(func=_guarded(cmd_key_register))
    s = ksub.add_parser("revoke", help="as an administrator: revoke a key; prints the entry index")
    s.add_argument("name_or_id", metavar="NAME-OR-ID")
    s.add_argument("--reason", default="revoked by an administrator")
    _client_options(s)
    s.set_defaults(func=_guarded(cmd_key_revoke))

    s = sub.add_parser("apply", parents=[common], help="apply for a registration from a JSON or YAML file")
    s.add_argument("file", help="an object with subject_kind and fields (and optionally registration: the id)")
    s.add_argument("--id", help="the registration id to use (default: the file's `registration`, else a new one)")
    _client_options(s)
    s.set_defaults(func=_guarded(cmd_apply))

    s = sub.add_parser("step", parents=[common], help="take a workflow step: shows the draft, signs, submits")
    s.add_argument("id", help="the registration id")
    s.add_argument(
        "kind",
        help="accept, supplement, resubmit, refuse, reject, publish, object, decide, code, change, "
        "correction, cancel, revoke, code_assigned (registration.* also taken)",
    )
    s.add_argument("--field", action="append", metavar="NAME=VALUE", help="a payload member (VALUE as JSON if it is)")
    s.add_argument("--file", help="a JSON or YAML object of payload members (--field wins)")
    _client_options(s)
    s.set_defaults(func=_guarded(cmd_step))

    s = sub.add_parser("status", parents=[common], help="a registration's state, deadlines and next allowed steps")
    s.add_argument("id", metavar="ID-OR-CODE-OR-QUERYCODE")
    s.add_argument("--json", action="store_true", help="the whole state as JSON")
    _client_options(s, key=False)
    s.set_defaults(func=_guarded(cmd_status))
