"""Load the bundled demo settlement (demo/data) into a store, through the core's rules.

The demo is loaded the way real data will be: every record is validated by
the repositories and the whole settlement lands in one transaction.
"""
from __future__ import annotations

import csv
import json
import pathlib
import uuid
from typing import Any

from shapely.geometry import shape

from ..settlement_store import SettlementStore
from ..store.model import Party, Settlement, SocialTenure, SpatialUnit


def _rows(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _features(path: pathlib.Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text("utf-8"))["features"]


def load_demo_settlement(store: SettlementStore, data_dir: str | pathlib.Path,
                         code: str = "KOU", name: str = "Koumassi Campement (demo)"
                         ) -> dict[str, int]:
    data = pathlib.Path(data_dir)
    parcels = _features(data / "parcels.geojson")
    structures = _features(data / "structures.geojson")
    ids: dict[str, str] = {}
    with store.transaction():
        outline = None
        for feature in parcels:
            geometry = shape(feature["geometry"])
            outline = geometry if outline is None else outline.union(geometry)
        settlement = store.settlements.add(Settlement(
            code=code, name=name, boundary=outline.convex_hull.buffer(5) if outline else None))
        units = []
        for feature in parcels:
            ref = feature["properties"]["ref"]
            ids[ref] = str(uuid.uuid4())
            units.append(SpatialUnit(
                id=ids[ref], kind="parcel", settlement_id=settlement.id,
                land_use=feature["properties"]["land_use"],
                address=f"Bloc {feature['properties']['block']}",
                block=feature["properties"]["block"],
                boundary=shape(feature["geometry"])))
        for feature in structures:
            ref = feature["properties"]["ref"]
            geometry = shape(feature["geometry"])
            ids[ref] = str(uuid.uuid4())
            polygonal = geometry.geom_type != "Point"
            units.append(SpatialUnit(
                id=ids[ref], kind="structure", settlement_id=settlement.id,
                parcel_id=ids[feature["properties"]["parcel_ref"]], land_use="residential",
                boundary=geometry if polygonal else None,
                location=None if polygonal else geometry))
        store.spatial_units.add_many(units)
        parties = []
        for row in _rows(data / "households.csv"):
            ids[row["household_ref"]] = str(uuid.uuid4())
            parties.append(Party(id=ids[row["household_ref"]], party_type="household",
                                 group_name=row["group_name"]))
        for row in _rows(data / "persons.csv"):
            ids[row["person_ref"]] = str(uuid.uuid4())
            parties.append(Party(
                id=ids[row["person_ref"]], first_name=row["first_name"],
                last_name=row["last_name"], sex=row["sex"] or None,
                date_of_birth=row["date_of_birth"] or None,
                age_years=int(row["age_years"]) if row["age_years"] else None,
                household_role=row["household_role"] or None,
                id_document_type=row["id_document_type"] or None,
                id_document_number=row["id_document_number"] or None,
                phone=row["phone"] or None, group_party_id=ids[row["household_ref"]]))
        store.parties.add_many(parties)
        claims = [SocialTenure(
            party_id=ids[row["person_ref"]], spatial_unit_id=ids[row["unit_ref"]],
            tenure_type=row["tenure_type"], share_numerator=int(row["share_numerator"]),
            share_denominator=int(row["share_denominator"]), start_date=row["start_date"],
            evidence="Demo enumeration") for row in _rows(data / "tenure.csv")]
        store.tenure.add_many(claims)
    return {"parcels": len(parcels), "structures": len(structures),
            "parties": len(parties), "tenure": len(claims)}
