"""The layers an export is made of, what each field means, and reading them from a store.

One declaration per exported layer: its table, which rows, its columns
with their type and one-line meaning (the data dictionary is written from
these), and its geometry. Structures are two layers, because a format
like the Shapefile holds one geometry type per file: ``structures`` has
the footprints (structures mapped with one) and ``structure_points`` the
point of every structure (the GPS point, or one inside the footprint).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from ..store.schema import CLAIM_STATES

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

#: layer names a caller may ask for, in the order they are written
LAYER_CHOICES = ("parcels", "structures", "parties", "tenure", "certificates")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  #: text, date, datetime, json, integer or real
    meaning: str
    #: a code list category (lookup table) or a key of FIXED_CODES
    codes: str | None = None


@dataclass(frozen=True)
class LayerSpec:
    name: str
    table: str
    meaning: str
    columns: tuple[Column, ...]
    where: str = ""  #: fixed SQL condition on the table
    geometry: str | None = None  #: source geometry column
    geometry_type: str | None = None  #: MultiPolygon or Point
    order_by: str = "created_at, id"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


#: code lists kept in CHECK constraints rather than in the lookup table
FIXED_CODES: dict[str, dict[str, str]] = {
    "party_type": {"person": "Person", "household": "Household", "group": "Group"},
    "kind": {"parcel": "Parcel", "structure": "Structure"},
    "adjudication_state": {s: s.replace("_", " ").capitalize() for s in CLAIM_STATES},
    "certificate_status": {"valid": "Valid", "revoked": "Revoked",
                           "superseded": "Superseded by a later certificate"},
    "change": {"new": "Created since the date", "modified": "Geometry or attributes changed "
               "since the date", "retired": "Retired (end of lifespan) since the date"},
    "flag": {"0": "No", "1": "Yes"},
}

RECORD_COLUMNS = (
    Column("created_at", "datetime", "When the record was first saved (UTC)"),
    Column("created_by", "text", "Login of the staff member who first saved it"),
    Column("updated_at", "datetime", "When the record was last saved (UTC)"),
    Column("updated_by", "text", "Login of the staff member who last saved it"),
    Column("begin_lifespan_version", "datetime",
           "LADM: when this version of the record began (UTC)"),
    Column("end_lifespan_version", "datetime",
           "LADM: when the record was retired (UTC); empty while current"),
    Column("row_version", "integer", "Version counter, raised by each save"),
)
SUBMISSION_COLUMNS = (
    Column("submission_id", "text", "The ODK/KoBo submission (instanceID) that brought it"),
    Column("answers", "json", "Answers of that submission no field took, as JSON"),
)

_UNIT_COLUMNS = (
    Column("id", "text", "Record id (UUID); tenure and certificates refer to it"),
    Column("code", "text", "Readable code: settlement code, P (parcel) or S (structure), "
           "number"),
    Column("settlement_id", "text", "Id of the settlement it lies in"),
    Column("seq", "integer", "Number of the unit within its settlement and kind"),
    Column("kind", "text", "Parcel or structure", "kind"),
    Column("land_use", "text", "Land use", "land_use"),
    Column("block", "text", "Block (ilot) of the settlement, for public display and batches"),
    Column("area_m2", "real", "Area in square metres, measured on the ellipsoid"),
    Column("address", "text", "Address or description of the place"),
    Column("remarks", "text", "Remarks"),
)
_PARCEL_LINK = Column("parcel_id", "text", "Id of the parcel the structure stands on")

PARCELS = LayerSpec(
    "parcels", "spatial_unit", "Parcels (LA_SpatialUnit): the land held",
    _UNIT_COLUMNS + SUBMISSION_COLUMNS + RECORD_COLUMNS, where="kind = 'parcel'",
    geometry="boundary", geometry_type="MultiPolygon", order_by="code, id")
STRUCTURES = LayerSpec(
    "structures", "spatial_unit", "Structures mapped with a footprint polygon",
    _UNIT_COLUMNS[:6] + (_PARCEL_LINK,) + _UNIT_COLUMNS[6:] + SUBMISSION_COLUMNS
    + RECORD_COLUMNS, where="kind = 'structure' AND boundary IS NOT NULL",
    geometry="boundary", geometry_type="MultiPolygon", order_by="code, id")
STRUCTURE_POINTS = LayerSpec(
    "structure_points", "spatial_unit",
    "Every structure as a point: its GPS point, or a point inside its footprint",
    STRUCTURES.columns, where="kind = 'structure' AND location IS NOT NULL",
    geometry="location", geometry_type="Point", order_by="code, id")
PARTIES = LayerSpec("parties", "party", "Parties (LA_Party): persons, households and groups", (
    Column("id", "text", "Record id (UUID); tenure refers to it"),
    Column("party_type", "text", "Person, household or group", "party_type"),
    Column("first_name", "text", "First name(s) of a person"),
    Column("last_name", "text", "Last name of a person"),
    Column("group_name", "text", "Name of a household or group"),
    Column("sex", "text", "Sex", "sex"),
    Column("date_of_birth", "date", "Date of birth"),
    Column("age_years", "integer", "Age in whole years (when the date of birth is unknown)"),
    Column("id_document_type", "text", "Kind of identity document", "id_document_type"),
    Column("id_document_number", "text", "Number of the identity document"),
    Column("phone", "text", "Phone number"),
    Column("household_role", "text", "Role in the household", "household_role"),
    Column("group_party_id", "text", "Id of the household or group the person belongs to"),
    Column("remarks", "text", "Remarks"),
    Column("anonymised", "integer", "1 when the source carried no names", "flag"),
    Column("needs_mapping", "integer", "1 for a household enumerated without any parcel or "
           "structure yet", "flag"),
) + SUBMISSION_COLUMNS + RECORD_COLUMNS)
TENURE = LayerSpec("tenure", "social_tenure",
                   "Social tenure (LA_RRR): which party holds what right over which unit", (
    Column("id", "text", "Record id (UUID)"),
    Column("party_id", "text", "Id of the party holding the right"),
    Column("spatial_unit_id", "text", "Id of the parcel or structure"),
    Column("tenure_type", "text", "Kind of tenure", "tenure_type"),
    Column("share_numerator", "integer", "Share held: numerator of the fraction"),
    Column("share_denominator", "integer", "Share held: denominator of the fraction"),
    Column("start_date", "date", "Since when the right is held"),
    Column("evidence", "text", "Evidence of the right, as told"),
    Column("remarks", "text", "Remarks"),
    Column("adjudication_state", "text", "Where the claim is in adjudication",
           "adjudication_state"),
    Column("public_display_id", "text", "Id of the public display that showed the claim"),
) + SUBMISSION_COLUMNS + RECORD_COLUMNS)
CERTIFICATES = LayerSpec("certificates", "certificate",
                         "The certificate register: occupancy certificates issued", (
    Column("id", "text", "Record id (UUID)"),
    Column("number", "text", "Certificate number: series and sequence"),
    Column("series", "text", "Numbering series (settlement code and year by default)"),
    Column("seq", "integer", "Number within the series"),
    Column("spatial_unit_id", "text", "Id of the parcel certified"),
    Column("status", "text", "Status in the register", "certificate_status"),
    Column("issued_at", "datetime", "When it was issued (UTC)"),
    Column("issued_by", "text", "Login of the land officer who issued it"),
    Column("language", "text", "Language of the certificate"),
    Column("template", "text", "Layout template used"),
    Column("print_count", "integer", "Times printed (first print included)"),
    Column("revoked_reason", "text", "Why it was revoked"),
    Column("superseded_by", "text", "Id of the certificate that replaced it"),
    Column("snapshot", "json", "What was certified, as the canonical JSON that was signed"),
    Column("snapshot_sha256", "text", "SHA-256 of the snapshot"),
    Column("key_id", "text", "Id of the office key that signed it"),
    Column("signature", "text", "Signature of the number and digest (base64url)"),
    Column("pdf_file", "text", "File name of the first PDF"),
    Column("pdf_sha256", "text", "SHA-256 of the first PDF"),
) + RECORD_COLUMNS, order_by="number, id")

#: what each requested layer writes
LAYERS: dict[str, tuple[LayerSpec, ...]] = {
    "parcels": (PARCELS,), "structures": (STRUCTURES, STRUCTURE_POINTS),
    "parties": (PARTIES,), "tenure": (TENURE,), "certificates": (CERTIFICATES,)}

#: rows of a settlement, per table (each ``?`` is the settlement id)
_UNITS_OF = "SELECT id FROM spatial_unit WHERE settlement_id = ?"
SETTLEMENT_FILTERS = {
    "spatial_unit": ("settlement_id = ?", 1),
    "social_tenure": (f"spatial_unit_id IN ({_UNITS_OF})", 1),
    "certificate": (f"spatial_unit_id IN ({_UNITS_OF})", 1),
    # holders of a right there, their households, and the members of those
    "party": ("id IN (SELECT id FROM stdm_holders) OR group_party_id IN "
              "(SELECT id FROM stdm_holders)", 0),
}


@contextlib.contextmanager
def consistent_reads(store: "SettlementStore") -> Iterator[None]:
    """Read every layer from one snapshot, so a claim never names a parcel left out.

    A read transaction (SQLite's deferred BEGIN, PostgreSQL's repeatable
    read) holds no write lock: the field team keeps saving meanwhile. Inside
    a transaction already open, the reads simply join it.
    """
    db = store.db
    if getattr(db, "_stdm_tx_depth", 0):
        yield
        return
    db.execute("BEGIN" if db.dialect == "spatialite"
               else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        yield
    finally:
        db.rollback()  # nothing was written


def read_layer(store: "SettlementStore", spec: LayerSpec, *, settlement_id: str | None,
               include_retired: bool, where: str = "",
               params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """The rows of one layer as dicts, with the geometry (shapely) under ``spec.geometry``.

    ``where`` and ``params`` narrow the rows further (a fixed condition, ``?`` values).
    """
    from shapely import wkb

    db = store.db
    names = [c.name for c in spec.columns]
    if spec.geometry:
        names.append(f"{db.geometry_as_wkb(spec.geometry)} AS stdm_geometry")
    clauses = [f"({c})" for c in (spec.where, where) if c]
    values: list[Any] = list(params)  # only ``where`` has parameters so far
    if not include_retired:
        clauses.append("end_lifespan_version IS NULL")
    prefix = ""
    if settlement_id is not None:
        condition, count = SETTLEMENT_FILTERS[spec.table]
        clauses.append(f"({condition})")
        values.extend([settlement_id] * count)
        if spec.table == "party":  # the WITH clause comes first in the statement
            prefix, holder_params = _holders_sql(include_retired, settlement_id)
            values = holder_params + values
    sql = f"{prefix}SELECT {', '.join(names)} FROM {spec.table}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = db.query(f"{sql} ORDER BY {spec.order_by}", values)
    for row in rows:
        if spec.geometry:
            raw = row.pop("stdm_geometry")
            row[spec.geometry] = None if raw is None else wkb.loads(bytes(raw))
    return rows


def _holders_sql(include_retired: bool, settlement_id: str) -> tuple[str, list[Any]]:
    """A WITH clause naming the parties with a right in the settlement, and their groups."""
    current = "" if include_retired else " AND t.end_lifespan_version IS NULL"
    return ("WITH stdm_direct AS (SELECT t.party_id AS id FROM social_tenure t "
            "JOIN spatial_unit s ON s.id = t.spatial_unit_id "
            f"WHERE s.settlement_id = ?{current}), "
            "stdm_holders AS (SELECT id FROM stdm_direct UNION "
            "SELECT p.group_party_id FROM party p JOIN stdm_direct d ON d.id = p.id "
            "WHERE p.group_party_id IS NOT NULL) ", [settlement_id])


def code_labels(store: "SettlementStore", table: str, column: Column) -> list[tuple[str, str]]:
    """(code, "English label / French label") for a coded column; empty otherwise."""
    from ..store.lookups import LOOKUP_FIELDS

    if column.codes in FIXED_CODES:
        return list(FIXED_CODES[column.codes].items())
    category = LOOKUP_FIELDS.get((table, column.name))
    if category is None:
        return []
    english = store.lookups.labels(category, "en")
    french = store.lookups.labels(category, "fr")
    return [(code, label if french.get(code, label) == label else f"{label} / {french[code]}")
            for code, label in english.items()]
