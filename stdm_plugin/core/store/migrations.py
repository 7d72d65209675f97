"""Versioned schema migrations.

Each step is frozen once released: a store made by version N opens in a
later plugin and is brought up to date by running steps N+1.. in one
transaction. Never edit a released step; add a new one.
"""
from __future__ import annotations

from typing import Callable

from .backend import Backend
from .lookups import seed_lookups


def record_columns(db: Backend) -> str:
    """Columns every versioned record carries: who and when, and the LADM lifespan."""
    return f"""
    created_at TEXT NOT NULL DEFAULT ({db.now_sql}),
    created_by TEXT NOT NULL DEFAULT 'unknown',
    updated_at TEXT NOT NULL DEFAULT ({db.now_sql}),
    updated_by TEXT NOT NULL DEFAULT 'unknown',
    begin_lifespan_version TEXT NOT NULL DEFAULT ({db.now_sql}),
    end_lifespan_version TEXT"""

#: tables whose changes are audited, with their geometry columns
VERSIONED_TABLES: dict[str, tuple[str, ...]] = {
    "settlement": ("boundary",),
    "party": (),
    "spatial_unit": ("boundary", "location"),
    "social_tenure": (),
    "supporting_document": (),
    "lookup": (),
    "lookup_label": (),
    "app_user": (),
    "public_display": (),
    "objection": (),
    "certificate": (),
    "field_package": (),
}
#: the versioned tables schema 1 made (the ones schema 3 gave a row version)
V1_TABLES = ("settlement", "party", "spatial_unit", "social_tenure", "supporting_document",
             "lookup", "lookup_label")


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


def _v5_adjudication_and_certificates(db: Backend, srid: int) -> None:
    """Users and roles, adjudication of claims, objections, and the certificate register.

    The state of each claim lives on the claim; every change of state is
    also written to ``adjudication_event``, and every act on a certificate
    to ``certificate_event``: both are append-only. Certificates are never
    deleted and what they certify is frozen (database rules).
    """
    RECORD_COLUMNS = record_columns(db)  # noqa: N806 - reads as the SQL it is
    UUID_SQL = f"({db.uuid_sql})"  # noqa: N806
    roles = ", ".join(f"'{r}'" for r in ROLES)
    db.execute(f"""
        CREATE TABLE app_user (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            login TEXT NOT NULL UNIQUE,
            full_name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ({roles})),
            password_hash TEXT,
            {RECORD_COLUMNS},
            row_version INTEGER NOT NULL DEFAULT 1)""")
    db.execute(f"""
        CREATE TABLE public_display (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            settlement_id TEXT NOT NULL REFERENCES settlement (id),
            block TEXT,
            starts_on TEXT NOT NULL,
            ends_on TEXT NOT NULL,
            place TEXT,
            {RECORD_COLUMNS},
            row_version INTEGER NOT NULL DEFAULT 1,
            CHECK (ends_on >= starts_on))""")
    db.execute("ALTER TABLE spatial_unit ADD COLUMN block TEXT")
    states = ", ".join(f"'{s}'" for s in CLAIM_STATES)
    db.execute("ALTER TABLE social_tenure ADD COLUMN adjudication_state TEXT NOT NULL "
               f"DEFAULT 'enumerated' CHECK (adjudication_state IN ({states}))")
    db.execute("ALTER TABLE social_tenure ADD COLUMN public_display_id TEXT "
               "REFERENCES public_display (id)")
    db.execute("CREATE INDEX social_tenure_state_idx ON social_tenure (adjudication_state)")
    db.execute(f"""
        CREATE TABLE adjudication_event (
            id {db.serial_pk},
            social_tenure_id TEXT NOT NULL REFERENCES social_tenure (id),
            from_state TEXT,
            to_state TEXT NOT NULL,
            changed_at TEXT NOT NULL DEFAULT ({db.now_sql}),
            changed_by TEXT NOT NULL,
            role TEXT NOT NULL,
            note TEXT)""")
    db.execute("CREATE INDEX adjudication_event_claim_idx "
               "ON adjudication_event (social_tenure_id)")
    db.execute(f"""
        CREATE TABLE objection (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            social_tenure_id TEXT NOT NULL REFERENCES social_tenure (id),
            objector_name TEXT NOT NULL,
            objector_contact TEXT,
            grounds TEXT NOT NULL,
            raised_on TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'upheld', 'dismissed', 'withdrawn')),
            resolution TEXT,
            resolved_at TEXT,
            resolved_by TEXT,
            {RECORD_COLUMNS},
            row_version INTEGER NOT NULL DEFAULT 1)""")
    db.execute("CREATE INDEX objection_claim_idx ON objection (social_tenure_id)")
    db.execute(f"""
        CREATE TABLE office_key (
            id TEXT PRIMARY KEY,
            office_name TEXT NOT NULL,
            algorithm TEXT NOT NULL DEFAULT 'ed25519',
            public_key TEXT NOT NULL,
            private_key TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT ({db.now_sql}),
            created_by TEXT NOT NULL,
            retired_at TEXT)""")
    db.execute(f"""
        CREATE TABLE certificate (
            id TEXT PRIMARY KEY DEFAULT {UUID_SQL},
            series TEXT NOT NULL,
            seq INTEGER NOT NULL CHECK (seq > 0),
            number TEXT NOT NULL UNIQUE,
            spatial_unit_id TEXT NOT NULL REFERENCES spatial_unit (id),
            snapshot TEXT NOT NULL,
            snapshot_sha256 TEXT NOT NULL,
            key_id TEXT NOT NULL REFERENCES office_key (id),
            signature TEXT NOT NULL,
            language TEXT NOT NULL,
            template TEXT,
            pdf_file TEXT,
            pdf_sha256 TEXT,
            issued_at TEXT NOT NULL,
            issued_by TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'valid'
                CHECK (status IN ('valid', 'revoked', 'superseded')),
            print_count INTEGER NOT NULL DEFAULT 1,
            revoked_reason TEXT,
            superseded_by TEXT REFERENCES certificate (id) DEFERRABLE INITIALLY DEFERRED,
            {RECORD_COLUMNS},
            row_version INTEGER NOT NULL DEFAULT 1,
            UNIQUE (series, seq))""")
    db.execute("CREATE INDEX certificate_unit_idx ON certificate (spatial_unit_id)")
    db.execute(f"""
        CREATE TABLE certificate_event (
            id {db.serial_pk},
            certificate_id TEXT NOT NULL REFERENCES certificate (id),
            event TEXT NOT NULL
                CHECK (event IN ('issued', 'reprinted', 'revoked', 'superseded')),
            happened_at TEXT NOT NULL DEFAULT ({db.now_sql}),
            happened_by TEXT NOT NULL,
            reason TEXT,
            pdf_sha256 TEXT,
            other_certificate_id TEXT REFERENCES certificate (id)
                DEFERRABLE INITIALLY DEFERRED)""")
    db.execute("CREATE INDEX certificate_event_cert_idx ON certificate_event (certificate_id)")
    refresh_audit_triggers(db)
    db.create_register_rules()


def _v6_parcel_lineage(db: Backend, srid: int) -> None:
    """Where each parcel came from: splits and merges, as an append-only register.

    A split or merge retires its parent parcels (end of lifespan) and adds
    new ones; one row per parent-child pair says which operation joined
    them, when and by whom. Rows are never changed or deleted (a database
    rule), so a parcel's lineage reads the same in every copy of the store.
    """
    operations = ", ".join(f"'{o}'" for o in LINEAGE_OPERATIONS)
    db.execute(f"""
        CREATE TABLE spatial_unit_lineage (
            id {db.serial_pk},
            parent_id TEXT NOT NULL REFERENCES spatial_unit (id),
            child_id TEXT NOT NULL REFERENCES spatial_unit (id),
            operation TEXT NOT NULL CHECK (operation IN ({operations})),
            happened_at TEXT NOT NULL DEFAULT ({db.now_sql}),
            happened_by TEXT NOT NULL,
            note TEXT,
            UNIQUE (parent_id, child_id),
            CHECK (parent_id <> child_id))""")
    # the UNIQUE constraint indexes the parent side; the walk to ancestors needs the child
    db.execute("CREATE INDEX spatial_unit_lineage_child_idx ON spatial_unit_lineage (child_id)")
    db.create_append_only_rules(LINEAGE_TABLES)


def _v7_field_packages(db: Backend, srid: int) -> None:
    """Field packages: what was cut for which team, and where each record came from.

    A field package is a copy of part of the store that a team edits
    offline. The store keeps a register of the packages it cut, with one
    fingerprint per record as it was at the cut (``field_package_base``),
    so that a returned package can be told apart from edits made since in
    the office, and a package cut from another store, or from a state this
    store no longer has, is refused. Every merge, and every conflict with
    both of its versions and how it was resolved, is kept in append-only
    registers. Records carry their provenance: the team, device,
    enumerator and package they came from, and when.
    """
    for table in PROVENANCE_TABLES:
        for column in PROVENANCE_COLUMNS:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX party_id_document_idx ON party (id_document_number)")
    modes = ", ".join(f"'{m}'" for m in ("include", "omit", "pseudonymise"))
    db.execute(f"""
        CREATE TABLE field_package (
            id TEXT PRIMARY KEY,
            store_id TEXT NOT NULL,
            team TEXT NOT NULL,
            enumerators TEXT NOT NULL DEFAULT '[]',
            device TEXT,
            area_wkt TEXT NOT NULL,
            margin_m {db.real_type} NOT NULL DEFAULT 0,
            personal_data TEXT NOT NULL CHECK (personal_data IN ({modes})),
            base_audit_id INTEGER NOT NULL,
            schema_version INTEGER NOT NULL,
            record_count INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'cut' CHECK (status IN ('cut', 'merged')),
            merge_count INTEGER NOT NULL DEFAULT 0,
            last_merged_at TEXT,
            last_merged_by TEXT,
            {record_columns(db)})""")
    db.execute("""
        CREATE TABLE field_package_base (
            package_id TEXT NOT NULL REFERENCES field_package (id),
            table_name TEXT NOT NULL,
            record_id TEXT NOT NULL,
            store_hash TEXT NOT NULL,
            package_hash TEXT NOT NULL,
            package_values TEXT,
            PRIMARY KEY (package_id, table_name, record_id))""")
    db.execute(f"""
        CREATE TABLE package_merge (
            id TEXT PRIMARY KEY,
            package_id TEXT NOT NULL REFERENCES field_package (id),
            merged_at TEXT NOT NULL DEFAULT ({db.now_sql}),
            merged_by TEXT NOT NULL,
            policy TEXT,
            summary TEXT NOT NULL)""")
    db.execute(f"""
        CREATE TABLE merge_conflict (
            id {db.serial_pk},
            merge_id TEXT NOT NULL REFERENCES package_merge (id),
            package_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            table_name TEXT NOT NULL,
            record_id TEXT NOT NULL,
            other_record_id TEXT,
            store_values TEXT,
            package_values TEXT,
            resolution TEXT NOT NULL CHECK (resolution IN ('mine', 'theirs', 'both')),
            resolved_by TEXT NOT NULL,
            resolved_at TEXT NOT NULL DEFAULT ({db.now_sql}))""")
    db.execute("CREATE INDEX merge_conflict_record_idx ON merge_conflict (table_name, record_id)")
    db.create_append_only_rules(PACKAGE_REGISTER_TABLES)
    refresh_audit_triggers(db)


#: roles of the people working in a store, from least to most trusted
ROLES = ("enumerator", "supervisor", "land_officer", "administrator")
#: the adjudication states of a tenure claim, in order
CLAIM_STATES = ("enumerated", "verified", "public_display", "approved", "issued")
#: claim fields that cannot change once a claim is past enumeration
CLAIM_LOCKED_COLUMNS = ("party_id", "spatial_unit_id", "tenure_type", "share_numerator",
                        "share_denominator", "end_lifespan_version")
#: certificate fields frozen at issue
CERTIFICATE_FROZEN_COLUMNS = ("series", "seq", "number", "spatial_unit_id", "snapshot",
                              "snapshot_sha256", "key_id", "signature", "issued_at",
                              "issued_by", "language")
#: tables that only ever grow (schema 5: its rules are made by create_register_rules)
APPEND_ONLY_TABLES = ("adjudication_event", "certificate_event")
#: the append-only tables of schema 6 (a separate list: schema 5 must not see them)
LINEAGE_TABLES = ("spatial_unit_lineage",)
#: how a parcel can come from others
LINEAGE_OPERATIONS = ("split", "merge")


#: the record tables a field team edits, which say where each record came from
PROVENANCE_TABLES = ("party", "spatial_unit", "social_tenure", "supporting_document")
#: the provenance of a record: team, device, enumerator, field package, when
PROVENANCE_COLUMNS = ("prov_team", "prov_device", "prov_enumerator", "prov_package", "prov_at")
#: the append-only registers of schema 7
PACKAGE_REGISTER_TABLES = ("package_merge", "merge_conflict")

#: the record tables that remember which submission brought a record
SUBMISSION_TABLES = ("party", "spatial_unit", "social_tenure", "supporting_document")
#: columns left out of the audit values: document bytes are covered by their sha256
AUDIT_SKIPPED_COLUMNS = ("content",)


def refresh_audit_triggers(db: Backend) -> None:
    """(Re)create audit triggers from the live columns; call after any column change."""
    for table, geometry_columns in VERSIONED_TABLES.items():
        if not db.table_exists(table):  # made by a later step than the one running
            continue
        columns = [c for c in db.columns(table) if c not in AUDIT_SKIPPED_COLUMNS]
        db.create_audit_triggers(table, columns, geometry_columns)


Migration = Callable[[Backend, int], None]
MIGRATIONS: dict[int, Migration] = {
    1: _v1_core_tables,
    2: _v2_history_and_rules,
    3: _v3_row_versions,
    4: _v4_submissions,
    5: _v5_adjudication_and_certificates,
    6: _v6_parcel_lineage,
    7: _v7_field_packages,
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
