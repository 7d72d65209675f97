"""Which records a cut takes: the area, its margin, and what its parcels bring along.

Every spatial unit touching the area (with the margin) comes, with the
structures on its parcels and their parcels, the claims on them, the holders
with their whole households, and their documents.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

import shapely
from shapely import wkb as shapely_wkb
from shapely import wkt as shapely_wkt

from ..settlement_store import SettlementStore
from ..store.errors import FieldPackageError
from .rows import read_rows

METRES_PER_DEGREE = 111_320.0


def package_area(store: SettlementStore, area_wkt: str | None,
                 blocks: Sequence[str]) -> tuple[Any, Any]:
    """The package's area (as the manifest records it) and the shapes to search around."""
    if area_wkt:
        try:
            area = shapely_wkt.loads(area_wkt)
        except shapely.errors.ShapelyError as exc:
            raise FieldPackageError(f"The package area is not a readable polygon: {exc}",
                                    kind="area") from None
        if area.is_empty or area.geom_type not in ("Polygon", "MultiPolygon"):
            raise FieldPackageError("The package area must be a polygon.", kind="area")
        area = shapely.make_valid(area) if not area.is_valid else area
        return area, [area]
    blocks = [b for b in blocks if b]
    if not blocks:
        raise FieldPackageError("Draw the package area or choose blocks.", kind="area")
    db = store.db
    rows = db.query(f"SELECT block, {db.geometry_as_wkb('boundary')} AS boundary "
                    f"FROM spatial_unit WHERE kind = 'parcel' AND end_lifespan_version IS NULL "
                    f"AND block IN {db.json_list_sql}", (json.dumps(blocks),))
    shapes = [shapely_wkb.loads(bytes(r["boundary"])) for r in rows if r["boundary"]]
    if not shapes:
        raise FieldPackageError(f"No parcels in the blocks {', '.join(blocks)}.", kind="area")
    # the manifest keeps each block's outline; the search goes around every parcel
    outlines = {}
    for row, shape in zip((r for r in rows if r["boundary"]), shapes):
        outlines.setdefault(row["block"], []).append(shape)
    area = shapely.union_all([shapely.convex_hull(shapely.union_all(group))
                              for group in outlines.values()])
    return area, shapes


def margin(store: SettlementStore, metres: float) -> float:
    from pyproj import CRS

    geographic = CRS.from_epsg(store.srid).is_geographic
    return max(float(metres), 0.0) / (METRES_PER_DEGREE if geographic else 1.0)


def records_in(store: SettlementStore, search: Any) -> dict[str, list[str]]:
    """The ids of every record that goes into the package, per table.

    ``search`` is an array of shapes: every spatial unit touching one comes.
    """
    db = store.db
    live = "end_lifespan_version IS NULL"
    units = db.query(f"SELECT id, kind, parcel_id, {db.geometry_as_wkb('boundary')} AS boundary,"
                     f" {db.geometry_as_wkb('location')} AS location FROM spatial_unit "
                     f"WHERE {live}")
    shapes = [shapely_wkb.loads(bytes(u["boundary"] or u["location"]))
              if (u["boundary"] or u["location"]) else shapely.Point() for u in units]
    touched = set()
    if shapes:
        touched = set(shapely.STRtree(shapes).query(search, predicate="intersects")[1].tolist())
    hits = [index in touched for index in range(len(units))]
    parcels = {u["id"] for u, hit in zip(units, hits) if hit and u["kind"] == "parcel"}
    chosen = {u["id"] for u, hit in zip(units, hits)
              if u["kind"] == "parcel" and hit or u["kind"] == "structure"
              and (hit or u["parcel_id"] in parcels)}
    # a structure's parcel comes with it, so the reference holds in the package
    chosen |= {u["parcel_id"] for u in units if u["id"] in chosen and u["parcel_id"]}
    claims = db.query(f"SELECT id, party_id FROM social_tenure WHERE {live} "
                      f"AND spatial_unit_id IN {db.json_list_sql}", (json.dumps(sorted(chosen)),))
    holders = {c["party_id"] for c in claims}
    parties = households_of(store, holders)
    documents = db.query(
        f"SELECT id FROM supporting_document WHERE {live} AND (party_id IN {db.json_list_sql} "
        f"OR spatial_unit_id IN {db.json_list_sql} OR social_tenure_id IN {db.json_list_sql})",
        (json.dumps(sorted(parties)), json.dumps(sorted(chosen)),
         json.dumps([c["id"] for c in claims])))
    return {"party": sorted(parties), "spatial_unit": sorted(chosen),
            "social_tenure": sorted(c["id"] for c in claims),
            "supporting_document": sorted(d["id"] for d in documents)}


def households_of(store: SettlementStore, holders: set[str]) -> set[str]:
    """The holders, the households and groups they belong to, and those households' members."""
    db = store.db
    rows = read_rows(db, "party", ["group_party_id"], holders, "end_lifespan_version IS NULL")
    groups = {r["group_party_id"] for r in rows.values() if r["group_party_id"]}
    groups |= {pid for pid in holders if pid in rows and not rows[pid]["group_party_id"]}
    members = db.query(f"SELECT id FROM party WHERE end_lifespan_version IS NULL "
                       f"AND group_party_id IN {db.json_list_sql}", (json.dumps(sorted(groups)),))
    # a member's household comes even when it was retired, so the reference holds
    live_groups = read_rows(db, "party", ["id"], groups)
    return set(rows) | set(live_groups) | {m["id"] for m in members}


def unit_documents_only(store: SettlementStore, ids: list[str]) -> list[str]:
    rows = read_rows(store.db, "supporting_document", ["spatial_unit_id"], ids)
    return sorted(i for i, r in rows.items() if r["spatial_unit_id"])
