"""The consistency check: what a store holds that its rules say it should not.

The database rules refuse most bad writes, but not all of them: a party can
be retired by a plain SQL UPDATE while its tenure stays current, a tool that
does not switch SQLite's foreign keys on can delete a referenced row, a
document file can be edited or lost beside the store, a float tolerance can
let shares slip just over 1, and disks corrupt pages. This check reads the
whole store and lists each such problem once, with where it is, so that an
administrator can repair it (or restore a backup) before it becomes legal
evidence. It only reads; it never repairs.

The reference checks are plain SQL that runs unchanged on SpatiaLite and
PostGIS; SQLite's own ``integrity_check`` and ``foreign_key_check`` run on
SpatiaLite only (PostgreSQL enforces its foreign keys at all times and has
no page-level equivalent that a client can run).
"""
from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from ..store.errors import StdmError
from ..store.report_csv import write_report_csv

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

ORPHAN = "orphan_reference"
SHARE_OVER_ONE = "share_over_one"
DOCUMENT_MISSING = "document_missing"
DOCUMENT_CHECKSUM = "document_checksum"
INVALID_GEOMETRY = "invalid_geometry"
EMPTY_GEOMETRY = "empty_geometry"
INTEGRITY = "integrity"
FOREIGN_KEY = "foreign_key"
CERTIFICATE_TAMPERED = "certificate_tampered"
CERTIFICATE_STALE = "certificate_stale"
ADJUDICATION_UNTRACED = "adjudication_untraced"
CERTIFICATE_UNTRACED = "certificate_untraced"
KEY_UNPROTECTED = "key_unprotected"
KEY_OUT_OF_PERIOD = "key_out_of_period"
KEY_UNTRACED = "key_untraced"
#: how each kind reads in a summary, in the order a summary lists them
KIND_LABELS = {
    ORPHAN: "references to missing or retired records",
    SHARE_OVER_ONE: "spatial units with shares over 1",
    DOCUMENT_MISSING: "missing documents",
    DOCUMENT_CHECKSUM: "documents not matching their checksum",
    INVALID_GEOMETRY: "invalid geometries",
    EMPTY_GEOMETRY: "spatial units without geometry",
    INTEGRITY: "database integrity problems",
    FOREIGN_KEY: "broken foreign keys",
    CERTIFICATE_TAMPERED: "certificates whose register entry no longer matches its hash",
    CERTIFICATE_STALE: "valid certificates whose parcel or holders have changed since issue",
    ADJUDICATION_UNTRACED: "claims whose adjudication state no event of theirs led to",
    CERTIFICATE_UNTRACED: "certificates whose status or prints their events do not account for",
    KEY_UNPROTECTED: "office keys kept without a passphrase",
    KEY_OUT_OF_PERIOD: "certificates signed with a key that was not in use on their issue date",
    KEY_UNTRACED: "office keys the plugin did not make",
}
CSV_COLUMNS = ("kind", "table", "record_id", "detail")
#: SQLite stops listing page problems after this many: past it the file is lost anyway
MAX_INTEGRITY_MESSAGES = 100


@dataclass(frozen=True)
class Finding:
    """One problem: its kind (one of KIND_LABELS), where it is, and what is wrong."""

    kind: str
    table: str | None
    record_id: str | None
    detail: str


@dataclass
class ConsistencyReport:
    """Everything the check found in one store (``location``); empty means consistent."""

    location: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Findings per kind, in the order of KIND_LABELS."""
        counted = Counter(f.kind for f in self.findings)
        return {kind: counted[kind] for kind in KIND_LABELS if counted[kind]}

    def summary(self) -> str:
        """One line for a message bar or a log."""
        if self.ok:
            return f"No problems found in {self.location}."
        parts = "; ".join(f"{KIND_LABELS[kind]}: {n}" for kind, n in self.counts().items())
        return f"{len(self.findings)} problem(s) found in {self.location} — {parts}."

    def write_csv(self, path: str | os.PathLike) -> str:
        """Write the findings as CSV (UTF-8, one row each); written whole or not at all."""
        return write_report_csv(path, CSV_COLUMNS, (
            (f.kind, f.table, f.record_id, f.detail) for f in self.findings), bom=False)


@dataclass(frozen=True)
class ReferenceRule:
    """A column that must point at an existing record, and when it must be current.

    ``while_current``: the rule binds current records only, and the record they
    point at must be current too (a retired household may keep its retired
    members). Otherwise the record pointed at must exist, current or not: a
    document of a retired party is still that party's evidence.
    """

    table: str
    column: str
    target: str
    while_current: bool


REFERENCE_RULES = (
    ReferenceRule("social_tenure", "party_id", "party", True),
    ReferenceRule("social_tenure", "spatial_unit_id", "spatial_unit", True),
    ReferenceRule("party", "group_party_id", "party", True),
    ReferenceRule("spatial_unit", "parcel_id", "spatial_unit", True),
    ReferenceRule("spatial_unit", "settlement_id", "settlement", False),
    ReferenceRule("supporting_document", "party_id", "party", False),
    ReferenceRule("supporting_document", "spatial_unit_id", "spatial_unit", False),
    ReferenceRule("supporting_document", "social_tenure_id", "social_tenure", False),
)


def check_store(store: "SettlementStore") -> ConsistencyReport:
    """Read the whole store and report every inconsistency found (never repairs)."""
    report = ConsistencyReport(store.db.location)
    try:
        if store.db.dialect == "spatialite":
            report.findings += sqlite_integrity(store)
            if any(f.kind == INTEGRITY for f in report.findings):
                return report  # a damaged file: what the other checks read is not reliable
        report.findings += orphan_references(store)
        report.findings += shares_over_one(store)
        report.findings += document_problems(store)
        report.findings += geometry_problems(store)
        if store.db.table_exists("certificate"):
            report.findings += certificate_problems(store)
            report.findings += untraced_adjudication(store)
            report.findings += untraced_certificates(store)
            report.findings += office_key_problems(store)
    except sqlite3.DatabaseError as error:  # a page too damaged to read at all
        report.findings.append(Finding(INTEGRITY, None, None, f"The database cannot be read: "
                                                              f"{error}"))
    return report


def office_key_problems(store: "SettlementStore") -> list[Finding]:
    """Keys that still sign in the clear (stores from before schema 9), and certificates
    dated outside the period their key was in use (a key used after it was retired, or a
    register edited)."""
    from ..store.schema import PROTECTED_KEY_PREFIX

    findings = [Finding(KEY_UNPROTECTED, "office_key", row["id"],
                        f"office key {row['id']} is in use and kept without a passphrase: "
                        "an administrator should protect it, then create a new key")
                for row in store.db.query(
                    "SELECT id FROM office_key WHERE retired_at IS NULL AND private_key <> '' "
                    f"AND substr(private_key, 1, {len(PROTECTED_KEY_PREFIX)}) <> "
                    f"'{PROTECTED_KEY_PREFIX}' ORDER BY id")]
    findings += [Finding(KEY_OUT_OF_PERIOD, "certificate", row["id"],
                         f"certificate {row['number']} was issued {row['issued_at'][:19]}, "
                         f"outside the period of its key {row['key_id']} "
                         f"({row['created_at'][:10]} to {(row['retired_at'] or 'now')[:10]})")
                 for row in store.db.query(
                     "SELECT c.id, c.number, c.issued_at, c.key_id, k.created_at, k.retired_at "
                     "FROM certificate c JOIN office_key k ON k.id = c.key_id "
                     "WHERE c.issued_at < k.created_at OR c.issued_at > k.retired_at "
                     "ORDER BY c.number")]
    return findings + untraced_keys(store)


def untraced_keys(store: "SettlementStore") -> list[Finding]:
    """Keys made since schema 9 that no key_created event of the plugin accounts for: a
    key written into the file by another program, to sign certificates of its own."""
    from ..store.schema import STORE_EVENT_TABLE

    if not store.db.table_exists(STORE_EVENT_TABLE):
        return []
    since = store.db.scalar("SELECT min(applied_at) FROM stdm_schema_history WHERE version = 9")
    made = set()
    for row in store.db.query(f"SELECT details FROM {STORE_EVENT_TABLE} "
                              "WHERE event = 'key_created'"):
        try:
            made.add(json.loads(row["details"])["key_id"])
        except (TypeError, ValueError, KeyError):
            continue
    return [Finding(KEY_UNTRACED, "office_key", row["id"],
                    f"office key {row['id']} ({row['office_name']}) was not made by the "
                    "plugin's own action: certificates it signs are not the office's")
            for row in store.db.query("SELECT id, office_name, created_at FROM office_key "
                                      "ORDER BY created_at, id")
            if row["id"] not in made and since is not None and row["created_at"] >= since]


def orphan_references(store: "SettlementStore") -> list[Finding]:
    """Records pointing at a record that does not exist or (while current) is retired."""
    findings = []
    for rule in REFERENCE_RULES:
        current_only = "c.end_lifespan_version IS NULL" if rule.while_current else "1 = 1"
        retired = " OR r.end_lifespan_version IS NOT NULL" if rule.while_current else ""
        rows = store.db.query(
            f"SELECT c.id AS id, c.{rule.column} AS ref, r.id AS found, "
            f"r.end_lifespan_version AS ended FROM {rule.table} c "
            f"LEFT JOIN {rule.target} r ON r.id = c.{rule.column} "
            f"WHERE c.{rule.column} IS NOT NULL AND {current_only} "
            f"AND (r.id IS NULL{retired}) ORDER BY c.id")
        for row in rows:
            state = ("does not exist" if row["found"] is None
                     else f"was retired at {row['ended']}")
            who = f"current {rule.table}" if rule.while_current else rule.table
            findings.append(Finding(
                ORPHAN, rule.table, row["id"],
                f"{who} {row['id']} points at {rule.target} {row['ref']} ({rule.column}), "
                f"which {state}"))
    return findings


def shares_over_one(store: "SettlementStore") -> list[Finding]:
    """Spatial units whose current shares add up to more than 1, summed exactly.

    SQL narrows down the candidates with a float sum (cheap on a big store);
    the verdict is Fraction arithmetic, because the database rules compare
    floats with a tolerance and shares such as 1/2 + 1000000001/2000000000
    pass them.
    """
    db = store.db
    candidates = [row["spatial_unit_id"] for row in db.query(
        "SELECT spatial_unit_id FROM social_tenure WHERE end_lifespan_version IS NULL "
        "GROUP BY spatial_unit_id "
        "HAVING sum(share_numerator * 1.0 / share_denominator) > 0.999999")]
    if not candidates:
        return []
    from ..store.records import json_list

    totals: dict[str, Fraction] = defaultdict(Fraction)
    holders: Counter = Counter()
    for row in db.query(
            "SELECT spatial_unit_id, share_numerator, share_denominator FROM social_tenure "
            f"WHERE end_lifespan_version IS NULL AND spatial_unit_id IN {db.json_list_sql}",
            (json_list(candidates),)):
        unit = row["spatial_unit_id"]
        totals[unit] += Fraction(row["share_numerator"], row["share_denominator"])
        holders[unit] += 1
    codes = {row["id"]: row["code"] for row in db.query(
        f"SELECT id, code FROM spatial_unit WHERE id IN {db.json_list_sql}",
        (json_list(candidates),))}
    return [Finding(SHARE_OVER_ONE, "spatial_unit", unit,
                    f"The {holders[unit]} current tenure shares on {codes.get(unit) or unit} "
                    f"add up to {total} (more than 1)")
            for unit, total in sorted(totals.items()) if total > 1]


def document_problems(store: "SettlementStore") -> list[Finding]:
    """Documents whose bytes are gone or changed (the repository's own verify)."""
    try:
        problems = store.documents.verify()
    except StdmError as error:  # e.g. a folder document in a store without a folder
        return [Finding(DOCUMENT_MISSING, "supporting_document", None,
                        f"The documents could not all be read: {error}")]
    return [Finding(DOCUMENT_CHECKSUM if p.problem == "checksum mismatch" else DOCUMENT_MISSING,
                    "supporting_document", p.document_id, f"{p.file_name}: {p.problem}")
            for p in problems]


def geometry_problems(store: "SettlementStore") -> list[Finding]:
    """Current spatial units with no usable geometry, or one GEOS calls invalid."""
    from shapely import wkb
    from shapely.validation import explain_validity

    db = store.db
    findings = []
    rows = db.query(
        f"SELECT id, kind, code, {db.geometry_as_wkb('boundary')} AS boundary, "
        f"{db.geometry_as_wkb('location')} AS location FROM spatial_unit "
        "WHERE end_lifespan_version IS NULL ORDER BY id")
    for row in rows:
        name = f"{row['kind']} {row['code']}"
        needed = ("boundary",) if row["kind"] == "parcel" else ("boundary", "location")
        shapes = {}
        for column in ("boundary", "location"):
            if row[column] is None:
                continue
            try:
                shapes[column] = wkb.loads(bytes(row[column]))
            except Exception as error:  # shapely raises GEOSException, not a subclass we own
                findings.append(Finding(INVALID_GEOMETRY, "spatial_unit", row["id"],
                                        f"{name}: {column} cannot be read ({error})"))
                shapes[column] = None
        if not any(column in shapes for column in needed):
            findings.append(Finding(EMPTY_GEOMETRY, "spatial_unit", row["id"],
                                    f"{name} has no {' or '.join(needed)}"))
        for column, shape in shapes.items():
            if shape is None:
                continue
            if shape.is_empty:
                findings.append(Finding(EMPTY_GEOMETRY, "spatial_unit", row["id"],
                                        f"{name}: {column} is empty"))
            elif not shape.is_valid:
                findings.append(Finding(INVALID_GEOMETRY, "spatial_unit", row["id"],
                                        f"{name}: {column} is not valid: "
                                        f"{explain_validity(shape)}"))
    return findings


def certificate_problems(store: "SettlementStore") -> list[Finding]:
    """Register entries changed behind the rules, and valid certificates gone stale.

    A certificate's snapshot must still hash to the SHA-256 it was signed
    with (else someone edited the register past its triggers). A valid
    certificate must still describe its parcel: the same boundary and the
    same current holders with the same shares; otherwise the land officer
    should supersede or revoke it.
    """
    import hashlib
    import json

    from shapely import wkb

    from ..certificates.snapshot import geometry_wkb

    db = store.db
    findings = []
    rows = db.query("SELECT c.id, c.number, c.status, c.snapshot, c.snapshot_sha256, "
                    f"c.spatial_unit_id, {db.geometry_as_wkb('u.boundary')} AS boundary "
                    "FROM certificate c LEFT JOIN spatial_unit u ON u.id = c.spatial_unit_id "
                    "ORDER BY c.series, c.seq")
    claims: dict[str, set] = defaultdict(set)
    for row in db.query("SELECT spatial_unit_id, party_id, share_numerator, share_denominator "
                        "FROM social_tenure WHERE end_lifespan_version IS NULL "
                        "AND adjudication_state = 'issued'"):
        claims[row["spatial_unit_id"]].add(
            (row["party_id"], Fraction(row["share_numerator"], row["share_denominator"])))
    for row in rows:
        text = row["snapshot"] or ""
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != row["snapshot_sha256"]:
            findings.append(Finding(CERTIFICATE_TAMPERED, "certificate", row["id"],
                                    f"Certificate {row['number']}: its stored snapshot does "
                                    "not hash to the value it was signed with"))
            continue
        if row["status"] != "valid":
            continue
        snapshot = json.loads(text)
        changed = []
        if row["boundary"] is None:
            changed.append("the parcel has no boundary any more")
        else:
            now = geometry_wkb(wkb.loads(bytes(row["boundary"])))
            if hashlib.sha256(now).hexdigest() != snapshot["parcel"]["geometry_sha256"]:
                changed.append("the parcel boundary changed")
        certified = {(h["party_id"], Fraction(h["share"])) for h in snapshot["holders"]}
        if certified != claims.get(row["spatial_unit_id"], set()):
            changed.append("its holders or shares changed")
        if changed:
            findings.append(Finding(CERTIFICATE_STALE, "certificate", row["id"],
                                    f"Certificate {row['number']} is valid but "
                                    f"{' and '.join(changed)} since it was issued"))
    return findings


def untraced_adjudication(store: "SettlementStore") -> list[Finding]:
    """Claims whose state is not where their newest adjudication event took them.

    The database lets a state move only behind its event; a claim found
    otherwise was edited by a program that first removed that rule.
    """
    rows = store.db.query(
        "SELECT t.id, t.adjudication_state AS state, e.to_state FROM social_tenure t "
        "LEFT JOIN adjudication_event e ON e.id = (SELECT max(id) FROM adjudication_event "
        "WHERE social_tenure_id = t.id) WHERE t.end_lifespan_version IS NULL ORDER BY t.id")
    return [Finding(ADJUDICATION_UNTRACED, "social_tenure", r["id"],
                    f"The claim is {r['state']}, but its adjudication events "
                    + (f"end at {r['to_state']}" if r["to_state"] else "are none"))
            for r in rows if r["state"] != (r["to_state"] or "enumerated")]


#: the status a certificate has after each kind of event
STATUS_AFTER = {"issued": "valid", "reprinted": "valid", "revoked": "revoked",
                "superseded": "superseded"}


def untraced_certificates(store: "SettlementStore") -> list[Finding]:
    """Certificates whose status is not what their newest event made it, or whose print
    count is not the number of their prints."""
    rows = store.db.query(
        "SELECT c.id, c.number, c.status, c.print_count, e.event, (SELECT count(*) FROM "
        "certificate_event p WHERE p.certificate_id = c.id AND p.event IN ('issued', "
        "'reprinted')) AS prints FROM certificate c LEFT JOIN certificate_event e ON e.id = "
        "(SELECT max(id) FROM certificate_event WHERE certificate_id = c.id) ORDER BY c.number")
    findings = []
    for r in rows:
        if r["status"] != STATUS_AFTER.get(r["event"]) or r["print_count"] != r["prints"]:
            findings.append(Finding(
                CERTIFICATE_UNTRACED, "certificate", r["id"],
                f"Certificate {r['number']} is {r['status']}, printed {r['print_count']} "
                f"time(s), but its events end at {r['event'] or 'nothing'} with {r['prints']} "
                "print(s)"))
    return findings


def sqlite_integrity(store: "SettlementStore") -> list[Finding]:
    """SQLite's own checks of the file: damaged pages and indexes, broken foreign keys."""
    con = store.db.connection  # type: ignore[attr-defined]
    findings = []
    for (message,) in con.execute(f"PRAGMA integrity_check({MAX_INTEGRITY_MESSAGES})"):
        if message == "ok":
            continue
        findings += [Finding(INTEGRITY, None, None, line) for line in message.splitlines()
                     if line.strip() and not line.startswith("*** in database")]
    if findings:
        return findings
    for table, rowid, parent, _ in con.execute("PRAGMA foreign_key_check").fetchall():
        record_id = _record_id(con, table, rowid)
        findings.append(Finding(FOREIGN_KEY, table, record_id,
                                f"{table} {record_id} points at a row of {parent} that does "
                                "not exist"))
    return findings


def _record_id(con: sqlite3.Connection, table: str, rowid: int | None) -> str:
    """The record's id when the table has one; else SQLite's row number."""
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        row = con.execute(f"SELECT id FROM {quoted} WHERE rowid = ?", (rowid,)).fetchone()
    except sqlite3.OperationalError:  # a table without an id column
        row = None
    return str(row[0]) if row else f"rowid {rowid}"
