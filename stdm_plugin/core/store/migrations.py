"""Versioned schema migrations.

Each step is frozen once released: a store made by version N opens in a
later plugin and is brought up to date by running steps N+1.. in one
transaction. Never edit a released step; add a new one.
"""
from __future__ import annotations

from typing import Callable

from .backend import Backend
from .lookups import seed_lookups
from .migrations_workflows import (
    v5_adjudication_and_certificates,
    v6_parcel_lineage,
    v7_field_packages,
    v8_register_guards,
    v9_keys_at_rest,
)
from .schema import (
    SUBMISSION_TABLES,
    V1_TABLES,
    record_columns,
    refresh_audit_triggers,
)


def _v1_core_tables(db: Backend, srid: int) -> None:
    """LADM core: settlements, parties, spatial units, tenure, documents, lookups."""
    RECORD_COLUMNS = record_columns(db)  # noqa: N806 - reads as the SQL it is
    UUID_SQL = f"({db.uuid_sql})"  # noqa: N806
    db.execute(f"""
        CREATE TABLE lookup (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            category TEXT NOT NULL,
            code TEXT NOT NULL,
            sort_order INTEGER NOT NULL DEFAULT 0,
            {RECORD_COLUMNS},
            UNIQUE (category, code))""")
    db.execute(f"""
        CREATE TABLE lookup_label (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            category TEXT NOT NULL,
            code TEXT NOT NULL,
            lang TEXT NOT NULL,
            label TEXT NOT NULL,
            {RECORD_COLUMNS},
            UNIQUE (category, code, lang),
            FOREIGN KEY (category, code) REFERENCES lookup (category, code))""")
    db.execute(f"""
        CREATE TABLE settlement (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            {RECORD_COLUMNS})""")
    db.add_geometry_column("settlement", "boundary", srid, "MULTIPOLYGON")
    db.execute(f"""
        CREATE TABLE party (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            party_type TEXT NOT NULL DEFAULT 'person'
                CHECK (party_type IN ('person', 'household', 'group')),
            first_name TEXT,
            last_name TEXT,
            group_name TEXT,
            sex TEXT,
            date_of_birth TEXT,
            age_years INTEGER CHECK (age_years IS NULL OR age_years BETWEEN 0 AND 130),
            id_document_type TEXT,
            id_document_number TEXT,
            phone TEXT,
            household_role TEXT,
            group_party_id TEXT REFERENCES party (id) DEFERRABLE INITIALLY DEFERRED,
            remarks TEXT,
            {RECORD_COLUMNS})""")
    db.execute("CREATE INDEX party_group_idx ON party (group_party_id)")
    db.execute(f"""
        CREATE TABLE spatial_unit (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            kind TEXT NOT NULL CHECK (kind IN ('parcel', 'structure')),
            settlement_id TEXT NOT NULL REFERENCES settlement (id),
            seq INTEGER NOT NULL,
            code TEXT NOT NULL UNIQUE,
            land_use TEXT,
            parcel_id TEXT REFERENCES spatial_unit (id) DEFERRABLE INITIALLY DEFERRED,
            area_m2 {db.real_type},
            address TEXT,
            remarks TEXT,
            {RECORD_COLUMNS},
            UNIQUE (settlement_id, kind, seq))""")
    db.add_geometry_column("spatial_unit", "boundary", srid, "MULTIPOLYGON")
    db.add_geometry_column("spatial_unit", "location", srid, "POINT")
    db.execute("CREATE INDEX spatial_unit_parcel_idx ON spatial_unit (parcel_id)")
    db.execute(f"""
        CREATE TABLE social_tenure (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            party_id TEXT NOT NULL REFERENCES party (id),
            spatial_unit_id TEXT NOT NULL REFERENCES spatial_unit (id),
            tenure_type TEXT NOT NULL,
            share_numerator INTEGER NOT NULL DEFAULT 1,
            share_denominator INTEGER NOT NULL DEFAULT 1,
            start_date TEXT,
            evidence TEXT,
            remarks TEXT,
            {RECORD_COLUMNS},
            CHECK (share_denominator > 0 AND share_numerator > 0
                   AND share_numerator <= share_denominator))""")
    db.execute("CREATE INDEX social_tenure_party_idx ON social_tenure (party_id)")
    db.execute("CREATE INDEX social_tenure_su_idx ON social_tenure (spatial_unit_id)")
    db.execute(f"""
        CREATE TABLE supporting_document (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            party_id TEXT REFERENCES party (id),
            spatial_unit_id TEXT REFERENCES spatial_unit (id),
            social_tenure_id TEXT REFERENCES social_tenure (id),
            document_type TEXT NOT NULL,
            file_name TEXT NOT NULL,
            mime_type TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            storage TEXT NOT NULL CHECK (storage IN ('embedded', 'folder')),
            content {db.blob_type},
            relative_path TEXT,
            {RECORD_COLUMNS},
            CHECK ((CASE WHEN party_id IS NULL THEN 0 ELSE 1 END)
                   + (CASE WHEN spatial_unit_id IS NULL THEN 0 ELSE 1 END)
                   + (CASE WHEN social_tenure_id IS NULL THEN 0 ELSE 1 END) = 1),
            CHECK ((storage = 'embedded' AND content IS NOT NULL)
                   OR (storage = 'folder' AND relative_path IS NOT NULL)))""")
    for col in ("party_id", "spatial_unit_id", "social_tenure_id"):
        db.execute(f"CREATE INDEX supporting_document_{col}_idx ON supporting_document ({col})")
    seed_lookups(db)


def _v2_history_and_rules(db: Backend, srid: int) -> None:
    """Audit log of every change (append-only) and database-side domain rules."""
    db.execute(f"""
        CREATE TABLE audit_log (
            id {db.serial_pk},
            table_name TEXT NOT NULL,
            record_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
            changed_at TEXT NOT NULL DEFAULT ({db.now_sql}),
            changed_by TEXT,
            old_values TEXT,
            new_values TEXT)""")
    db.execute("CREATE INDEX audit_log_record_idx ON audit_log (table_name, record_id)")
    refresh_audit_triggers(db)
    db.create_schema_rules()


def _v3_row_versions(db: Backend, srid: int) -> None:
    """A row version on every record, for optimistic locking between users."""
    for table in V1_TABLES:
        db.execute(f"ALTER TABLE {table} ADD COLUMN row_version INTEGER NOT NULL DEFAULT 1")
    refresh_audit_triggers(db)


def _v4_submissions(db: Backend, srid: int) -> None:
    """Imported ODK/KoBo submissions, and where each imported record came from.

    The register of submissions (by instanceID) is what makes importing the
    same export twice harmless. Answers no model field took are kept as JSON
    on the record rather than dropped. Anonymised exports carry no names, so
    a party says it is anonymised instead of failing the name rule; a
    household enumerated without any parcel or structure says it still
    needs to be mapped.
    """
    db.execute(f"""
        CREATE TABLE submission (
            id TEXT PRIMARY KEY,
            form_id TEXT NOT NULL,
            form_version TEXT,
            source_file TEXT,
            submitted_at TEXT,
            imported_at TEXT NOT NULL DEFAULT ({db.now_sql}),
            imported_by TEXT NOT NULL DEFAULT 'unknown',
            status TEXT NOT NULL DEFAULT 'imported'
                CHECK (status IN ('imported', 'withdrawn')))""")
    for table in SUBMISSION_TABLES:
        db.execute(f"ALTER TABLE {table} ADD COLUMN submission_id TEXT "
                   "REFERENCES submission (id)")
        db.execute(f"ALTER TABLE {table} ADD COLUMN answers TEXT")
        db.execute(f"CREATE INDEX {table}_submission_idx ON {table} (submission_id)")
    for flag in ("anonymised", "needs_mapping"):
        db.execute(f"ALTER TABLE party ADD COLUMN {flag} INTEGER NOT NULL DEFAULT 0 "
                   f"CHECK ({flag} IN (0, 1))")
    refresh_audit_triggers(db)


Migration = Callable[[Backend, int], None]
MIGRATIONS: dict[int, Migration] = {
    1: _v1_core_tables,
    2: _v2_history_and_rules,
    3: _v3_row_versions,
    4: _v4_submissions,
    5: v5_adjudication_and_certificates,
    6: v6_parcel_lineage,
    7: v7_field_packages,
    8: v8_register_guards,
    9: v9_keys_at_rest,
}
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(db: Backend, current: int, srid: int, target: int = SCHEMA_VERSION) -> list[int]:
    """Run the steps after ``current`` up to ``target``; the caller holds the transaction."""
    applied = []
    for version in range(current + 1, target + 1):
        MIGRATIONS[version](db, srid)
        db.execute("UPDATE stdm_store_info SET value = ? WHERE key = 'schema_version'",
                   (str(version),))
        db.execute("INSERT INTO stdm_schema_history (version, applied_at) VALUES (?, "
                   f"{db.now_sql})", (version,))
        applied.append(version)
    return applied
