"""Settlements and their spatial units: parcels and structures.

A parcel is a MultiPolygon; a structure is a footprint polygon, or only a
GPS point when nobody could walk its outline. Each unit gets a readable
code from its settlement (``KOU-P00012`` for a parcel, ``KOU-S00007`` for
a structure) and its area in square metres, measured on the ellipsoid.
"""
from __future__ import annotations

import re
from collections import defaultdict

from ..store.crs import area_calculator
from ..store.errors import MissingReferenceError
from ..store.model import Settlement, SpatialUnit
from ..store.records import (
    RecordRepository,
    check_geometry,
    json_list,
    refuse_while_current_tenure,
    require,
)

SETTLEMENT_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
KIND_LETTER = {"parcel": "P", "structure": "S"}
POLYGONAL = ("Polygon", "MultiPolygon")


class SettlementRepository(RecordRepository):
    table = "settlement"
    record_class = Settlement
    geometry_columns = {"boundary": True}

    def validate(self, record: Settlement) -> None:
        require(bool(SETTLEMENT_CODE.match(record.code or "")),
                f"Settlement code {record.code!r} must be 2 to 10 capital letters or digits "
                "(it prefixes every parcel code)", table=self.table, field="code",
                value=record.code, record_id=record.id)
        require(bool((record.name or "").strip()), "A settlement needs a name",
                table=self.table, field="name", record_id=record.id)
        check_geometry(record.boundary, POLYGONAL, table=self.table, field="boundary",
                       record_id=record.id)

    def by_code(self, code: str) -> Settlement | None:
        found = self.find("code = ?", (code,))
        return found[0] if found else None  # type: ignore[return-value]


class SpatialUnitRepository(RecordRepository):
    table = "spatial_unit"
    record_class = SpatialUnit
    geometry_columns = {"boundary": True, "location": False}
    computed_columns = ("seq", "code", "area_m2")

    def parcels(self) -> list[SpatialUnit]:
        return self.find("kind = 'parcel'")  # type: ignore[return-value]

    def structures(self) -> list[SpatialUnit]:
        return self.find("kind = 'structure'")  # type: ignore[return-value]

    def by_code(self, code: str) -> SpatialUnit | None:
        found = self.find("code = ?", (code,))
        return found[0] if found else None  # type: ignore[return-value]

    def validate(self, record: SpatialUnit) -> None:
        table, rid = self.table, record.id
        require(record.kind in KIND_LETTER, f"Unknown spatial unit kind {record.kind!r}",
                table=table, field="kind", value=record.kind, record_id=rid)
        check_geometry(record.boundary, POLYGONAL, table=table, field="boundary", record_id=rid)
        check_geometry(record.location, ("Point",), table=table, field="location", record_id=rid)
        if record.kind == "parcel":
            require(record.boundary is not None, "A parcel needs a boundary polygon",
                    table=table, field="boundary", record_id=rid)
            require(record.parcel_id is None, "Only a structure can stand on a parcel",
                    table=table, field="parcel_id", value=record.parcel_id, record_id=rid)
        else:
            require(record.boundary is not None or record.location is not None,
                    "A structure needs a footprint polygon or at least a GPS point",
                    table=table, field="boundary", record_id=rid)
        self.store.lookups.check(table, "land_use", record.land_use, record_id=rid)

    def _prepare_batch(self, records: list[SpatialUnit]) -> None:  # type: ignore[override]
        for record in records:
            self.validate(record)
        self._check_references(records)
        self._assign_codes(records)
        polygonal = [r for r in records if r.boundary is not None]
        measured = area_calculator(self.store.srid).areas_m2([r.boundary for r in polygonal])
        for record, area in zip(polygonal, measured):
            record.area_m2 = round(area, 2)
        for record in records:
            if record.location is None and record.boundary is not None:
                record.location = record.boundary.representative_point()

    def _prepare_update(self, record: SpatialUnit) -> None:  # type: ignore[override]
        self.validate(record)
        self._check_references([record])
        areas = area_calculator(self.store.srid)
        record.area_m2 = None if record.boundary is None else round(
            areas.area_m2(record.boundary), 2)

    def _check_references(self, records: list[SpatialUnit]) -> None:
        settlements = self.store.settlements
        missing = settlements.missing_ids(r.settlement_id for r in records)
        for record in records:
            if not record.settlement_id or record.settlement_id in missing:
                raise MissingReferenceError(
                    f"Spatial unit refers to settlement {record.settlement_id!r}, which does "
                    "not exist", table=self.table, field="settlement_id",
                    value=record.settlement_id, record_id=record.id)
        parcel_ids = {r.parcel_id for r in records if r.parcel_id}
        batch_parcels = {r.id for r in records if r.kind == "parcel" and r.id}
        if parcel_ids - batch_parcels:
            known = {row["id"] for row in self.db.query(
                "SELECT id FROM spatial_unit WHERE kind = 'parcel' AND end_lifespan_version "
                f"IS NULL AND id IN {self.db.json_list_sql}",
                (json_list(sorted(parcel_ids - batch_parcels)),))} | batch_parcels
            for record in records:  # the union once: per record it made big batches quadratic
                if record.parcel_id and record.parcel_id not in known:
                    raise MissingReferenceError(
                        f"Structure refers to parcel {record.parcel_id!r}, which does not "
                        "exist", table=self.table, field="parcel_id", value=record.parcel_id,
                        record_id=record.id)

    def _assign_codes(self, records: list[SpatialUnit]) -> None:
        """Next free number per settlement and kind; the caller holds the write lock."""
        next_seq: dict[tuple[str, str], int] = {}
        prefixes: dict[str, str] = {}
        pending: dict[tuple[str, str], list[SpatialUnit]] = defaultdict(list)
        for record in records:
            pending[(record.settlement_id, record.kind)].append(record)  # type: ignore[index]
        for (settlement_id, kind), group in pending.items():
            self.db.lock_numbering(f"{settlement_id}:{kind}")
            if settlement_id not in prefixes:
                prefixes[settlement_id] = self.db.scalar(
                    "SELECT code FROM settlement WHERE id = ?", (settlement_id,))
            key = (settlement_id, kind)
            next_seq[key] = 1 + (self.db.scalar(
                "SELECT coalesce(max(seq), 0) FROM spatial_unit WHERE settlement_id = ? "
                "AND kind = ?", key) or 0)
            for record in group:
                record.seq = next_seq[key]
                record.code = f"{prefixes[settlement_id]}-{KIND_LETTER[kind]}{record.seq:05d}"
                next_seq[key] += 1

    def _before_retire(self, record_id: str) -> None:
        refuse_while_current_tenure(self, "spatial_unit_id", record_id)
