"""A small settlement for field package tests, and edits made the way QField makes them:
plain SQL on the package's SpatiaLite file, through SpatiaLite, with QGIS's defaults."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid

from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SocialTenure, SpatialUnit
from stdm_plugin.core.packages.field_package import PACKAGE_STORE, PackageRequest, cut_package
from stdm_plugin.core.store.spatialite import load_spatialite

SRID = 32630
X0, Y0 = 400000, 590000


def small_world(store) -> dict[str, str]:
    """Block B1: parcels P1 (Awa's household owns it) and P2 (empty); block B2: P3 (Kofi)."""
    with store.transaction():
        kou = store.settlements.add(Settlement(code="KOU", name="Koumassi"))
        p1 = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=kou.id,
                                                 land_use="residential", block="B1",
                                                 boundary=box(X0, Y0, X0 + 20, Y0 + 15)))
        p2 = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=kou.id,
                                                 land_use="residential", block="B1",
                                                 boundary=box(X0 + 20, Y0, X0 + 40, Y0 + 15)))
        p3 = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=kou.id,
                                                 land_use="commercial", block="B2",
                                                 boundary=box(X0 + 500, Y0, X0 + 520, Y0 + 15)))
        home = store.parties.add(Party(party_type="household", group_name="Famille Koné"))
        awa = store.parties.add(Party(first_name="Awa", last_name="Koné", sex="female",
                                      household_role="head", group_party_id=home.id,
                                      id_document_type="national_id",
                                      id_document_number="CI0012345", phone="+225 07 11 22 33"))
        claim = store.tenure.add(SocialTenure(party_id=awa.id, spatial_unit_id=p1.id,
                                              tenure_type="owner"))
        kofi = store.parties.add(Party(first_name="Kofi", last_name="Mensah", sex="male",
                                       id_document_type="national_id",
                                       id_document_number="CI0099887", phone="0707070707"))
        store.tenure.add(SocialTenure(party_id=kofi.id, spatial_unit_id=p3.id,
                                      tenure_type="tenant"))
    return {"settlement": kou.id, "p1": p1.id, "p2": p2.id, "p3": p3.id, "home": home.id,
            "awa": awa.id, "claim": claim.id, "kofi": kofi.id}


def cut(store, folder, **request) -> str:
    request.setdefault("team", "Equipe A")
    request.setdefault("enumerators", ["moussa"])
    cut_package(store, folder, PackageRequest(**request))
    return str(folder)


@contextlib.contextmanager
def field_edit(folder):
    """The package's database as QField edits it: plain SQL, committed at the end."""
    con = sqlite3.connect(os.path.join(folder, PACKAGE_STORE))
    load_spatialite(con)
    con.execute("PRAGMA foreign_keys = ON")
    try:
        yield con
        con.commit()
    finally:
        con.close()


def add_parcel(con, settlement_id: str, rect, *, seq: int, code: str, block: str = "B1",
               who: str = "moussa", land_use: str = "residential") -> str:
    new_id = str(uuid.uuid4())
    con.execute(
        "INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, block, boundary, "
        "created_by, updated_by) VALUES (?, 'parcel', ?, ?, ?, ?, ?, "
        "CastToMulti(GeomFromText(?, ?)), ?, ?)",
        (new_id, settlement_id, seq, code, land_use, block, box(*rect).wkt, SRID, who, who))
    return new_id


def add_person(con, first: str, last: str, *, id_number: str | None = None,
               household: str | None = None, who: str = "moussa") -> str:
    new_id = str(uuid.uuid4())
    con.execute("INSERT INTO party (id, party_type, first_name, last_name, id_document_type, "
                "id_document_number, group_party_id, created_by, updated_by) VALUES "
                "(?, 'person', ?, ?, 'national_id', ?, ?, ?, ?)",
                (new_id, first, last, id_number, household, who, who))
    return new_id


def add_claim(con, party_id: str, unit_id: str, tenure: str = "owner", share=(1, 1),
              who: str = "moussa") -> str:
    new_id = str(uuid.uuid4())
    con.execute("INSERT INTO social_tenure (id, party_id, spatial_unit_id, tenure_type, "
                "share_numerator, share_denominator, created_by, updated_by) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?)", (new_id, party_id, unit_id, tenure, *share, who, who))
    return new_id


def live(store, table: str, record_id: str) -> dict | None:
    return store.db.query_one(f"SELECT * FROM {table} WHERE id = ? AND end_lifespan_version "
                              "IS NULL", (record_id,))


def counts(store) -> dict[str, int]:
    tables = ("party", "spatial_unit", "social_tenure", "supporting_document", "audit_log",
              "field_package", "field_package_base", "package_merge", "merge_conflict")
    return {t: store.db.scalar(f"SELECT count(*) FROM {t}") for t in tables}
