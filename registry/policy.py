"""The register as a ledger policy: which statements about registrations may be sequenced.

Subject states kept (all rebuildable from the entries):
    reg:<id>            a registration's state (registry.workflow)
    code:<code>         the registration that holds a uniform code (codes are never reused)
    seq:<prefix>        the last sequence number given under a code prefix
    regions             the ledger's amendments to the GB/T 2260 table (registry.reference)
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ledger.entry import Entry
from ledger.errors import MalformedError
from ledger.policy import StateMap
from ledger.store import KeyRecord, SubjectState

from .codes import parse_code
from .reference import REGIONS_LOAD, REGIONS_SUBJECT, apply_regions_load, table_in_force
from .regions import RegionTable
from .workflow import KINDS, WorkflowConfig, step

__all__ = ["RegistryPolicy", "registration_subject"]


def registration_subject(registration: str) -> str:
    return f"reg:{registration}"


class _Context:
    def __init__(self, states: StateMap) -> None:
        self.states = states

    def registration_by_code(self, code: str) -> Mapping[str, Any] | None:
        alias = self.states.get(f"code:{code}")
        if alias is None:
            return None
        reg = self.states.get(registration_subject(alias.state["registration"]))
        return None if reg is None else reg.state

    def last_seq(self, prefix: str) -> int:
        counter = self.states.get(f"seq:{prefix}")
        return 0 if counter is None else int(counter.state["last"])

    def region_table(self) -> RegionTable:
        return table_in_force(self.states.get(REGIONS_SUBJECT))


class RegistryPolicy:
    def __init__(self, config: WorkflowConfig | None = None) -> None:
        self.config = config or WorkflowConfig()

    def subjects(self, entry: Entry) -> Iterable[str]:
        st = entry.statement
        if st.kind == REGIONS_LOAD:
            return [REGIONS_SUBJECT, "parent"]
        if st.kind not in KINDS:
            return []
        wanted = [registration_subject(st.subject), REGIONS_SUBJECT]
        fields = st.payload.get("fields")
        if isinstance(fields, dict) and isinstance(fields.get("source_codes"), list):
            wanted += [f"code:{c}" for c in fields["source_codes"] if isinstance(c, str)]
        return wanted

    def apply(self, entry: Entry, signer: KeyRecord, states: StateMap) -> None:
        st = entry.statement
        if st.kind == REGIONS_LOAD:
            apply_regions_load(entry, signer, states)
            return
        if not st.kind.startswith("registration."):
            return
        if len(st.subject) > 100 or not st.subject.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise MalformedError("a registration id is up to 100 letters, digits, '-', '_' or '.'", field="/subject")
        subject = registration_subject(st.subject)
        current = states.get(subject)
        new = step(current.state if current else None, entry, signer, _Context(states), self.config)
        fields = new["fields"]
        states.put(SubjectState(subject, new, entry.index, kind=new["subject_kind"], status=new["status"],
                                code=new["code"] or "", region=new["region"], institution=fields["holder"]["uscc"],
                                name=fields["name"]))
        if new["code"] and (current is None or not current.state.get("code")):
            code = new["code"]
            if states.get(f"code:{code}") is not None:
                raise MalformedError(f"code {code} is already taken", field="/payload/code")
            states.put(SubjectState(f"code:{code}", {"registration": st.subject}, entry.index, kind="code", code=code))
            parsed = parse_code(code)
            prefix = code.rsplit("-", 2)[0]
            states.put(SubjectState(f"seq:{prefix}", {"last": parsed.seq}, entry.index, kind="seq"))
