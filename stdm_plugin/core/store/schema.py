"""The names the schema is written with: record columns, audited tables, roles, states, rules.

The migrations create the schema from these, and the code that reads or
guards it (users, adjudication, certificates, field packages, the QGIS
forms) takes the same names from here.
"""
from __future__ import annotations

from .backend import Backend


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
#: certificate fields frozen from schema 8 on too: what it was printed with, and its lifespan
CERTIFICATE_PRINT_COLUMNS = ("template", "pdf_file", "pdf_sha256", "end_lifespan_version")
#: how the office's private key is written once it is encrypted with a passphrase (schema 9)
PROTECTED_KEY_PREFIX = "stdm-key1:"
#: what an office key keeps for ever once made: the key itself and who made it, for whom
OFFICE_KEY_FROZEN_COLUMNS = ("id", "office_name", "algorithm", "public_key", "created_at",
                             "created_by")
#: the store's own log of trust acts: keys protected or retired, unverified backups accepted
STORE_EVENT_TABLE = "store_event"
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


SESSION_TABLE = "stdm_session"


def create_session_table(db: Backend) -> None:
    """Where a SpatiaLite connection of the plugin says who is writing, for the length of
    its own transaction only (the row is gone before it commits): a write that finds no
    row there was made by another program. PostGIS keeps it in a setting instead."""
    db.execute(f"CREATE TABLE IF NOT EXISTS {SESSION_TABLE} (id INTEGER PRIMARY KEY "
               "CHECK (id = 1), actor TEXT NOT NULL)")


def office_key_update_refused(differs: str) -> str:
    """SQL that is true for an update of office_key the rules refuse (``differs`` is the
    dialect's "IS NOT" or "IS DISTINCT FROM").

    The key itself never changes. Its private part changes once, from the clear form of
    schemas 5 to 8 to the encrypted form or to nothing (a backup leaves a clear key out).
    Retiring sets when, by whom and why once; a retired key never comes back.
    """
    frozen = " OR ".join(f"NEW.{c} {differs} OLD.{c}" for c in OFFICE_KEY_FROZEN_COLUMNS)
    prefix_length = len(PROTECTED_KEY_PREFIX)
    clear_before = (f"substr(OLD.private_key, 1, {prefix_length}) <> '{PROTECTED_KEY_PREFIX}' "
                    "AND OLD.private_key <> ''")
    protected_or_gone = (f"(substr(NEW.private_key, 1, {prefix_length}) = "
                         f"'{PROTECTED_KEY_PREFIX}' OR NEW.private_key = '')")
    retired = " OR ".join(f"NEW.{c} {differs} OLD.{c}"
                          for c in ("retired_at", "retired_by", "retired_reason"))
    return (f"({frozen}) OR (NEW.private_key {differs} OLD.private_key AND NOT "
            f"({clear_before} AND {protected_or_gone})) "
            f"OR (OLD.retired_at IS NOT NULL AND ({retired}))")
