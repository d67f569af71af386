"""Typed views of subject states: a dataclass per kind of state, read from and written back to the stored dict.

A policy stores a subject's state as a JSON object; its owner module (registry.state, sync.state) gives it a
`StateRecord` subclass so callers read attributes instead of probing a dict.  The view never loses or reorders
anything: a member the class does not name, or a named one whose stored value has another JSON type (old or
hand-made data), is kept verbatim in `extra`, and `to_state()` gives back the stored dict exactly, key order
included.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Self

__all__ = ["StateRecord"]


_ACCEPTED: dict[type, dict[str, tuple[type, ...]]] = {}


def _accepted(cls: type) -> dict[str, tuple[type, ...]]:
    """Field name -> the Python types of a JSON value it accepts (from the class's annotations, read once)."""
    if cls in _ACCEPTED:
        return _ACCEPTED[cls]
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[type, ...]] = {}
    for f in dataclasses.fields(cls):
        if f.name in ("extra", "order"):
            continue
        hint = hints[f.name]
        args = (
            typing.get_args(hint)
            if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
            else (hint,)
        )
        out[f.name] = tuple(
            Mapping if typing.get_origin(a) in (dict, Mapping) or a in (dict, Mapping) else typing.get_origin(a) or a
            for a in args
            if a is not Any
        )
    _ACCEPTED[cls] = out
    return out


@dataclasses.dataclass(frozen=True)
class StateRecord:
    """Base of the typed state views; subclasses are frozen dataclasses whose fields all have defaults."""

    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, kw_only=True)
    #: the stored members' names in their order; None for a record built in code
    order: tuple[str, ...] | None = dataclasses.field(default=None, kw_only=True, repr=False, compare=False)

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> Self:
        """The typed view of a stored state (None or a non-object reads as an empty one)."""
        if not isinstance(state, Mapping):
            return cls(order=())
        types_ = _accepted(cls)
        typed, extra = {}, {}
        for k, v in state.items():
            ok = types_.get(k)
            if ok is not None and (
                v is None
                and type(None) in ok
                or v is not None
                and isinstance(v, ok)
                and not (isinstance(v, bool) and bool not in ok)
            ):
                typed[k] = v
            else:
                extra[k] = v
        return cls(**typed, extra=extra, order=tuple(state))

    def to_state(self) -> dict[str, Any]:
        """The stored dict: members in their stored order (a record built in code: its fields, then extras)."""
        names = (*_accepted(type(self)), *self.extra) if self.order is None else self.order
        return {k: self.extra[k] if k in self.extra else getattr(self, k) for k in names}
