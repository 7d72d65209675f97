"""Schema steps 5 to 9: adjudication and certificates, parcel lineage, field packages, guards,
office keys at rest.

Frozen once released, like every step (see migrations.py, which runs them).
"""
from __future__ import annotations

from .backend import Backend
from .schema import (
    CLAIM_STATES,
    LINEAGE_OPERATIONS,
    LINEAGE_TABLES,
    PACKAGE_REGISTER_TABLES,
    PROVENANCE_COLUMNS,
    PROVENANCE_TABLES,
    ROLES,
    STORE_EVENT_TABLE,
    create_session_table,
    record_columns,
    refresh_audit_triggers,
)


def v5_adjudication_and_certificates(db: Backend, srid: int) -> None:
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


def v6_parcel_lineage(db: Backend, srid: int) -> None:
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


def v7_field_packages(db: Backend, srid: int) -> None:
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


def v8_register_guards(db: Backend, srid: int) -> None:
    """Legal states change only through the plugin's own acts (issue #14): a claim's state
    only with the adjudication event that moves it, a claim a valid certificate covers not
    at all, a certificate's status and prints only with their certificate event; and wrong
    passwords are counted per account."""
    db.create_guard_rules()
    create_session_table(db)  # the audit log names who wrote through the plugin, or says
    # it was another program; wrong passwords counted in the store, and the lock they earn
    db.execute("ALTER TABLE app_user ADD COLUMN failed_sign_ins INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE app_user ADD COLUMN locked_until TEXT")
    db.execute("ALTER TABLE app_user ADD COLUMN last_failed_at TEXT")
    refresh_audit_triggers(db)


def v9_keys_at_rest(db: Backend, srid: int) -> None:
    """The office's private key is kept encrypted with a passphrase, and a key is retired
    with who and why (issue #14); the store's own log of trust acts (keys protected or
    retired, an unverified backup accepted by an administrator)."""
    db.execute("ALTER TABLE office_key ADD COLUMN retired_by TEXT")
    db.execute("ALTER TABLE office_key ADD COLUMN retired_reason TEXT")
    db.create_key_rules()
    db.execute(f"""
        CREATE TABLE {STORE_EVENT_TABLE} (
            id {db.serial_pk},
            event TEXT NOT NULL,
            happened_at TEXT NOT NULL DEFAULT ({db.now_sql}),
            happened_by TEXT NOT NULL,
            details TEXT)""")
    db.create_append_only_rules((STORE_EVENT_TABLE,))
