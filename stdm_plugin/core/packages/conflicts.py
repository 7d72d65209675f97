"""Conflicts between what a package adds and what the store gained since the cut.

Two teams that both drew the same house, or both enumerated the same
person, do not edit the same record: each adds its own. These are found
by what the records say: a new parcel that overlaps (by more than a
tolerance) a parcel the store gained or changed since the cut, and a new
person with the same ID number as a person in the store, or with a close
name in the same household.
"""
from __future__ import annotations

import difflib
import json
import unicodedata
from typing import TYPE_CHECKING

import shapely
from shapely import wkb as shapely_wkb

from .merge_plan import ADDED, DUPLICATE_PERSON, OVERLAPPING_PARCELS, Conflict, MergePlan
from .rows import is_live, read_rows

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore


def find_overlaps(store: "SettlementStore", plan: MergePlan, tolerance_m2: float) -> list[Conflict]:
    """New parcels of the package that overlap a parcel new to the store since the cut."""
    new = [c for c in plan.changes if c.table == "spatial_unit" and c.action == ADDED
           and c.row and c.row.get("kind") == "parcel" and c.row.get("boundary")]
    if not new:
        return []
    candidates = _touched_since_cut(store, plan)
    if not candidates:
        return []
    columns = ["kind", "code", "boundary", "end_lifespan_version", "settlement_id"]
    rows = {i: r for i, r in read_rows(store.db, "spatial_unit", columns, candidates).items()
            if is_live(r) and r["kind"] == "parcel" and r["boundary"]}
    if not rows:
        return []
    ids = list(rows)
    shapes = [shapely_wkb.loads(rows[i]["boundary"]) for i in ids]
    tree = shapely.STRtree(shapes)
    from ..store.crs import area_calculator

    areas = area_calculator(store.srid)
    conflicts = []
    for change in new:
        mine = shapely_wkb.loads(change.row["boundary"])
        for index in tree.query(mine, predicate="intersects"):
            shared = shapely.intersection(mine, shapes[index])
            overlap = areas.area_m2(shared) if not shared.is_empty else 0.0
            if overlap > tolerance_m2:
                other = ids[index]
                conflicts.append(Conflict(
                    OVERLAPPING_PARCELS, "spatial_unit", change.record_id, rows[other],
                    change.row, change.enumerator, other_id=other,
                    detail=f"overlaps {rows[other]['code']} by {overlap:.1f} m²"))
    return conflicts


def _touched_since_cut(store: "SettlementStore", plan: MergePlan) -> list[str]:
    """Spatial units inserted or changed in the store after the cut, not from this package."""
    rows = store.db.query(
        "SELECT DISTINCT record_id FROM audit_log WHERE id > ? AND table_name = 'spatial_unit' "
        "AND action IN ('insert', 'update')", (plan.package.base_audit_id,))
    mine = plan.package_rows.get("spatial_unit", {})
    return [r["record_id"] for r in rows
            if ("spatial_unit", r["record_id"]) not in plan.base and r["record_id"] not in mine]


def find_duplicate_persons(store: "SettlementStore", plan: MergePlan,
                           similarity: float) -> list[Conflict]:
    """New persons with the ID number of a person in the store, or a close name in their
    household."""
    new = [c for c in plan.changes if c.table == "party" and c.action == ADDED and c.row
           and c.row.get("party_type") == "person"]
    if not new:
        return []
    db = store.db
    numbers = sorted({_id_key(c.row.get("id_document_number")) for c in new} - {""})
    households = sorted({c.row["group_party_id"] for c in new if c.row.get("group_party_id")})
    by_number: dict[str, list[dict]] = {}
    if numbers:
        raw = sorted({str(c.row["id_document_number"]) for c in new
                      if _id_key(c.row.get("id_document_number"))})
        for row in db.query(
                "SELECT id, first_name, last_name, id_document_number, group_party_id FROM party "
                f"WHERE end_lifespan_version IS NULL AND id_document_number IN {db.json_list_sql}",
                (json.dumps(raw),)):
            by_number.setdefault(_id_key(row["id_document_number"]), []).append(row)
    by_household: dict[str, list[dict]] = {}
    if households:
        for row in db.query(
                "SELECT id, first_name, last_name, id_document_number, group_party_id FROM party "
                "WHERE end_lifespan_version IS NULL AND party_type = 'person' "
                f"AND group_party_id IN {db.json_list_sql}", (json.dumps(households),)):
            by_household.setdefault(row["group_party_id"], []).append(row)
    conflicts = []
    for change in new:
        row = change.row
        seen: set[str] = set()
        for other in by_number.get(_id_key(row.get("id_document_number")), []):
            if other["id"] != change.record_id and other["id"] not in seen:
                seen.add(other["id"])
                conflicts.append(_duplicate(change, other, "same ID number"))
        name = _name_key(row)
        for other in by_household.get(row.get("group_party_id") or "", []):
            if other["id"] == change.record_id or other["id"] in seen or not name:
                continue
            ratio = difflib.SequenceMatcher(None, name, _name_key(other)).ratio()
            if ratio >= similarity:
                seen.add(other["id"])
                conflicts.append(_duplicate(change, other,
                                            f"close name in the same household ({ratio:.0%})"))
    return conflicts


def _duplicate(change, other: dict, why: str) -> Conflict:
    return Conflict(DUPLICATE_PERSON, "party", change.record_id, other, change.row,
                    change.enumerator, other_id=other["id"], detail=why)


def _id_key(value) -> str:
    return "".join(ch for ch in str(value or "") if ch.isalnum()).upper()


def _name_key(row: dict) -> str:
    text = " ".join(str(row.get(c) or "") for c in ("first_name", "last_name"))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().split())
