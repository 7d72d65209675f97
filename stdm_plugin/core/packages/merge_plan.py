"""A merge plan and its report: what merging a returned field package would do, and did.

``merge.analyse_merge`` makes the plan and ``conflicts`` adds the conflicts
only a look at both sides' geometry and people finds; ``apply.apply_merge``
writes it and hands back a ``MergeReport``. Nothing is written while it is
only a plan.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .field_package import FieldPackage
from .rows import Row

ADDED, CHANGED, DELETED = "added", "changed", "deleted"
EDITED_BOTH = "edited_both"
DELETED_IN_STORE = "deleted_in_store"
DELETED_IN_PACKAGE = "deleted_in_package"
OVERLAPPING_PARCELS = "overlapping_parcels"
DUPLICATE_PERSON = "duplicate_person"
CONFLICT_KINDS = (EDITED_BOTH, DELETED_IN_STORE, DELETED_IN_PACKAGE, OVERLAPPING_PARCELS,
                  DUPLICATE_PERSON)
CONFLICT_TITLES = {
    EDITED_BOTH: "changed in the store and in the package",
    DELETED_IN_STORE: "deleted in the store, changed in the package",
    DELETED_IN_PACKAGE: "deleted in the package, changed in the store",
    OVERLAPPING_PARCELS: "new parcel overlaps a parcel another team or the office added",
    DUPLICATE_PERSON: "new person looks like a person already in the store",
}
#: the package fingerprint of a record whose deletion in the package was merged or decided
SEEN_DELETED = "deleted"
#: how a conflict can be resolved: the store's version, the package's, or both
CHOICES = ("mine", "theirs", "both")
#: ``policy`` for conflicts without their own resolution; "ask" refuses to guess
POLICIES = ("ask", *CHOICES)


@dataclass
class Change:
    """One record the package added, changed or deleted, and the store did not touch."""

    table: str
    record_id: str
    action: str
    enumerator: str | None
    #: the package's row (None for a record the package deleted outright)
    row: Row | None
    #: for a change, the columns the package changed (those only are written)
    columns: tuple[str, ...] = ()


@dataclass
class Conflict:
    """Two versions of the truth; ``key`` names it for a resolution."""

    kind: str
    table: str
    record_id: str
    store_row: Row | None
    package_row: Row | None
    enumerator: str | None
    other_id: str | None = None
    detail: str = ""
    columns: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return ":".join(p for p in (self.kind, self.table, self.record_id, self.other_id) if p)

    @property
    def label(self) -> str:
        """A name a person recognises: the code, the person's name, else the id."""
        row = self.package_row or self.store_row or {}
        if row.get("code"):
            return str(row["code"])
        name = " ".join(str(row[c]) for c in ("first_name", "last_name", "group_name")
                        if row.get(c))
        return name or self.record_id


@dataclass
class MergePlan:
    """What merging a package would do; nothing is written until ``apply_merge``."""

    package: FieldPackage
    changes: list[Change] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    unchanged: int = 0
    #: package rows by table and id (the live ones and the ones it retired)
    package_rows: dict[str, dict[str, Row]] = field(default_factory=dict)
    #: the store's base row per (table, id): its fingerprints at the last cut or merge
    base: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    merge_count: int = 0
    #: the newest history entry of the store when the plan was made
    store_audit_id: int = 0

    def counts(self) -> Counter:
        return Counter((c.table, c.action) for c in self.changes)

    @property
    def is_empty(self) -> bool:
        return not self.changes and not self.conflicts


@dataclass
class MergeReport:
    """What a merge did, per table and per enumerator, and how each conflict was resolved."""

    package_id: str
    team: str
    merge_id: str | None = None
    counts: Counter = field(default_factory=Counter)
    by_enumerator: Counter = field(default_factory=Counter)
    resolved: list[tuple[Conflict, str]] = field(default_factory=list)
    renumbered: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0
    already_merged: int = 0

    @property
    def nothing_changed(self) -> bool:
        return self.merge_id is None

    def rows(self) -> list[dict[str, Any]]:
        """The report as rows (for the dialog and the CSV)."""
        out = [{"section": "change", "table": t, "action": a, "enumerator": "", "count": n,
                "record": "", "detail": ""} for (t, a), n in sorted(self.counts.items())]
        out += [{"section": "by enumerator", "table": t, "action": a, "enumerator": e or "",
                 "count": n, "record": "", "detail": ""}
                for (e, t, a), n in sorted(self.by_enumerator.items(), key=lambda i: (
                    str(i[0][0]), i[0][1], i[0][2]))]
        out += [{"section": "conflict", "table": c.table, "action": choice,
                 "enumerator": c.enumerator or "", "count": 1, "record": c.label,
                 "detail": f"{CONFLICT_TITLES[c.kind]} {c.detail}".strip()}
                for c, choice in self.resolved]
        out += [{"section": "renumbered", "table": "spatial_unit", "action": "", "enumerator": "",
                 "count": 1, "record": old, "detail": new}
                for old, new in sorted(self.renumbered.items())]
        return out
