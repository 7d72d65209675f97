"""A merge plan and its report as people read them: names, counts, both versions, CSV.

The merge dialog, its report and the Processing algorithm show the same
things in the same words; they are made here, without widgets, from the
core's plain values: table and action names, what each resolution does
for each kind of conflict, the summary counts per table and per
enumerator, a record's two versions field by field (a geometry as its
area and vertex count, not as hex), and the report's rows for the CSV.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import shapely

from ...core.packages.field_package import FieldPackage
from ...core.packages.merge_plan import (
    ADDED,
    CHANGED,
    CONFLICT_TITLES,
    DELETED,
    DELETED_IN_PACKAGE,
    DELETED_IN_STORE,
    DUPLICATE_PERSON,
    EDITED_BOTH,
    OVERLAPPING_PARCELS,
    Conflict,
    MergePlan,
    MergeReport,
)
from ...core.packages.rows import BOOKKEEPING, FIELD_TABLES, Row, geometry_columns
from ...core.store.report_csv import write_report_csv
from ..i18n import tr
from ..project.attribute_forms import aliases

ACTIONS = (ADDED, CHANGED, DELETED)
#: the columns of the report CSV, as MergeReport.rows() names them
REPORT_COLUMNS = ("section", "table", "action", "enumerator", "count", "record", "detail")
#: shown below what a record says: who changed it last, and when it was retired
CONTEXT_COLUMNS = ("updated_by", "updated_at", "end_lifespan_version")


def table_name(table: str) -> str:
    return {"party": tr("Parties"), "spatial_unit": tr("Parcels and structures"),
            "social_tenure": tr("Tenure claims"),
            "supporting_document": tr("Documents")}.get(table, table)


def action_name(action: str) -> str:
    return {ADDED: tr("Added"), CHANGED: tr("Changed"), DELETED: tr("Deleted")}.get(
        action, action)


def choice_name(choice: str) -> str:
    return {"mine": tr("Keep mine"), "theirs": tr("Keep theirs"),
            "both": tr("Keep both")}.get(choice, choice)


def policy_name(policy: str) -> str:
    if policy == "ask":
        return tr("None: I choose each")
    return choice_name(policy)


def kind_title(kind: str) -> str:
    """The conflict kind's title, as the core names it, translated."""
    return tr(CONFLICT_TITLES.get(kind, kind))


def enumerator_name(enumerator: Optional[str]) -> str:
    return enumerator or tr("(not known)")


def choice_help(conflict: Conflict, choice: str) -> str:
    """What ``choice`` does to this conflict (the resolution's tooltip)."""
    other = ""
    if conflict.store_row:
        other = str(conflict.store_row.get("code") or person_name(conflict.store_row) or "")
    fields = ", ".join(field_label(c) for c in conflict.columns) or tr("the fields it changed")
    texts = {
        EDITED_BOTH: {
            "mine": tr("Keep the store's version; the team's change is not taken (it stays "
                       "in the merge register)."),
            "theirs": tr("Take the team's version of {0}; the store's version stays in the "
                         "record's history.").format(fields),
            "both": tr("Keep the store's record as it is and add the team's version as a new "
                       "record beside it; check afterwards which one is right."),
        },
        DELETED_IN_STORE: {
            "mine": tr("Leave the record deleted (retired) as the store has it; the team's "
                       "changes are not taken."),
            "theirs": tr("Bring the record back, with the team's changes."),
            "both": tr("Bring the record back, with the team's changes (as Keep theirs)."),
        },
        DELETED_IN_PACKAGE: {
            "mine": tr("Keep the record with the store's changes; the team's deletion is "
                       "not taken."),
            "theirs": tr("Delete the record as the team did: it is retired, not erased, and "
                         "its history stays."),
            "both": tr("Keep the record with the store's changes (as Keep mine)."),
        },
        OVERLAPPING_PARCELS: {
            "mine": tr("Keep the store's parcel {0}; the team's new parcel is not added, and "
                       "the claims, structures and documents the team put on it go to {0}."
                       ).format(other),
            "theirs": tr("Add the team's parcel and retire {0}; what was on {0} moves to the "
                         "team's parcel.").format(other),
            "both": tr("Add the team's parcel and keep {0}: both stay, overlapping; correct "
                       "the boundaries afterwards (Check geometry).").format(other),
        },
        DUPLICATE_PERSON: {
            "mine": tr("The same person as {0}, already in the store: the team's new person "
                       "is not added, and their claims and documents go to {0}.").format(other),
            "theirs": tr("The same person: add the team's version and retire {0}; {0}'s "
                         "claims and documents move to it.").format(other),
            "both": tr("Two different people: keep both."),
        },
    }
    return texts.get(conflict.kind, {}).get(choice, choice_name(choice))


def field_label(column: str) -> str:
    """The column's name in the attribute forms; the columns forms do not show, named here."""
    names = {"kind": tr("Kind"), "seq": tr("Number in the settlement"), "block": tr("Block"),
             "boundary": tr("Boundary"), "location": tr("GPS location"),
             "adjudication_state": tr("Adjudication state"),
             "public_display_id": tr("Public display"), "answers": tr("Other answers"),
             "submission_id": tr("Submission"), "anonymised": tr("Anonymised"),
             "needs_mapping": tr("Needs mapping"), "relative_path": tr("File in the store"),
             **aliases()}
    return names.get(column, column.replace("_", " ").capitalize())


def person_name(row: Row) -> str:
    return " ".join(str(row[c]) for c in ("first_name", "last_name", "group_name")
                    if row.get(c))


# --- the plan, summed up -------------------------------------------------------------------
@dataclass
class CountLine:
    """Records added, changed and deleted, for one table (and one enumerator)."""

    table: str
    enumerator: Optional[str] = None
    added: int = 0
    changed: int = 0
    deleted: int = 0

    def add(self, action: str, count: int) -> None:
        setattr(self, action, getattr(self, action) + count)


def count_lines(counts: Counter, by_enumerator: bool = False) -> list[CountLine]:
    """Counts keyed (table, action), or (enumerator, table, action), as lines."""
    lines: dict[tuple, CountLine] = {}
    for key, count in counts.items():
        enumerator, table, action = key if by_enumerator else (None, *key)
        line = lines.setdefault((enumerator or "", table),
                                CountLine(table, enumerator if by_enumerator else None))
        line.add(action, count)
    order = {t: i for i, t in enumerate(FIELD_TABLES)}
    return sorted(lines.values(), key=lambda line: (
        str(line.enumerator or "~"), order.get(line.table, len(order))))


def plan_counts(plan: MergePlan) -> tuple[list[CountLine], list[CountLine]]:
    """What the package brings without conflict, per table and per enumerator."""
    by_table = Counter((c.table, c.action) for c in plan.changes)
    by_person = Counter((c.enumerator, c.table, c.action) for c in plan.changes)
    return count_lines(by_table), count_lines(by_person, by_enumerator=True)


def package_label(manifest: FieldPackage) -> str:
    """The package as the supervisor knows it: its folder and its team."""
    return tr("{0} ({1})").format(os.path.basename(os.path.normpath(manifest.folder)),
                                  manifest.team)


def package_facts(manifest: FieldPackage) -> list[tuple[str, str]]:
    """The manifest as (label, text) lines, for choosing a package."""
    counts = "\n".join(f"{table_name(t)}: {n}" for t, n in manifest.counts.items())
    personal = {"include": tr("included"), "omit": tr("left out"),
                "pseudonymise": tr("pseudonymised")}.get(manifest.personal_data,
                                                         manifest.personal_data)
    return [(tr("Team"), manifest.team),
            (tr("Enumerators"), ", ".join(manifest.enumerators) or tr("(not named)")),
            (tr("Device"), manifest.device or tr("(not named)")),
            (tr("Made on"), manifest.made_at.replace("T", " ").rstrip("Z")[:16] + " UTC"),
            (tr("Made by"), manifest.made_by),
            (tr("Records"), counts),
            (tr("Personal data"), personal)]


# --- one conflict, both versions ------------------------------------------------------------
def record_label(plan: MergePlan, conflict: Conflict) -> str:
    """The conflict's record as a person knows it; a claim by its holder and unit."""
    if conflict.table != "social_tenure":
        return conflict.label
    row = conflict.package_row or conflict.store_row or {}
    party = plan.package_rows.get("party", {}).get(row.get("party_id") or "") or {}
    unit = plan.package_rows.get("spatial_unit", {}).get(row.get("spatial_unit_id") or "") or {}
    holder = person_name(party) or str(row.get("party_id") or "?")
    where = str(unit.get("code") or row.get("spatial_unit_id") or "?")
    return tr("{0} on {1} ({2})").format(holder, where, row.get("tenure_type") or "?")


def conflict_detail(conflict: Conflict) -> str:
    """The core's detail, else the fields the team changed."""
    if conflict.detail or not conflict.columns:
        return conflict.detail
    if len(conflict.columns) > 4:
        return tr("the team changed {0} fields").format(len(conflict.columns))
    return tr("the team changed {0}").format(", ".join(field_label(c)
                                                      for c in conflict.columns))


@dataclass
class FieldLine:
    """One field of a conflict's record, in the store and in the package."""

    column: str
    label: str
    mine: str
    theirs: str
    #: the two versions differ here
    differs: bool
    #: the team changed this field: "Keep theirs" takes it
    taken: bool
    #: who and when, not what the record says: shown, never highlighted
    context: bool = False


def compare(conflict: Conflict, srid: int) -> list[FieldLine]:
    """Both versions of the record, field by field, in the table's column order."""
    mine, theirs = conflict.store_row, conflict.package_row
    columns = _columns(row for row in (mine, theirs) if row)
    lines = []
    for column in columns:
        if column == "id" or column in BOOKKEEPING:
            continue
        a, b = _value(mine, column), _value(theirs, column)
        # a duplicate's store row holds only what the comparison read: a column missing
        # there is not known, not different
        known = mine is not None and theirs is not None and column in mine and column in theirs
        lines.append(FieldLine(
            column, field_label(column), describe(conflict.table, column, a, srid, mine),
            describe(conflict.table, column, b, srid, theirs), differs=known and a != b,
            taken=column in conflict.columns))
    for column in CONTEXT_COLUMNS:
        if column in columns:
            lines.append(FieldLine(
                column, field_label(column), describe(conflict.table, column,
                                                      _value(mine, column), srid, mine),
                describe(conflict.table, column, _value(theirs, column), srid, theirs),
                differs=False, taken=False, context=True))
    lines.append(FieldLine("id", tr("Record id"), str(_value(mine, "id") or ""),
                           str(_value(theirs, "id") or ""), differs=False, taken=False,
                           context=True))
    return lines


def side_titles(conflict: Conflict) -> tuple[str, str]:
    """What the two versions are, for the column headers."""
    if conflict.kind in (OVERLAPPING_PARCELS, DUPLICATE_PERSON):
        return (tr("Already in the store: {0}").format(_short(conflict.store_row)),
                tr("New in the package: {0}").format(_short(conflict.package_row)))
    return (tr("In the store (mine)"), tr("In the package (theirs)"))


def _short(row: Optional[Row]) -> str:
    row = row or {}
    return str(row.get("code") or person_name(row) or str(row.get("id") or "")[:8])


def _columns(rows: Iterable[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _value(row: Optional[Row], column: str) -> Any:
    return None if row is None else row.get(column)


def describe(table: str, column: str, value: Any, srid: int, row: Optional[Row]) -> str:
    """A value as text; a geometry as its kind, area and vertices."""
    if row is None:
        return tr("— deleted —")
    if column not in row:
        return tr("(not compared)")
    if value is None or value == "":
        return ""
    if column in geometry_columns(table) and isinstance(value, (bytes, bytearray)):
        return describe_geometry(bytes(value), srid)
    return str(value)


def describe_geometry(wkb: bytes, srid: int) -> str:
    try:
        shape = shapely.from_wkb(wkb)
    except shapely.errors.ShapelyError:
        return tr("unreadable geometry ({0} bytes)").format(len(wkb))
    vertices = shapely.get_num_coordinates(shape)
    if shape.geom_type in ("Point", "MultiPoint"):
        return tr("{0} at {1:.1f}, {2:.1f}").format(shape.geom_type, shape.centroid.x,
                                                 shape.centroid.y)
    text = tr("{0}, {1} vertices").format(shape.geom_type, vertices)
    if shape.area > 0:
        from ...core.store.crs import area_calculator

        text = tr("{0}, {1:,.1f} m², {2} vertices").format(
            shape.geom_type, area_calculator(srid).area_m2(shape), vertices)
    if not shape.is_valid:
        text += " — " + tr("invalid")
    return text


# --- the report ----------------------------------------------------------------------------
def report_counts(report: MergeReport) -> tuple[list[CountLine], list[CountLine]]:
    return count_lines(report.counts), count_lines(report.by_enumerator, by_enumerator=True)


def summary_line(report: MergeReport, package: str, store: str) -> str:
    """One line for the message bar."""
    totals = Counter()
    for (_table, action), count in report.counts.items():
        totals[action] += count
    return tr("Merged the field package {0} into {1}: {2} added, {3} changed, {4} deleted; "
              "{5} conflict(s) resolved, {6} code(s) renumbered.").format(
        package, store, totals[ADDED], totals[CHANGED], totals[DELETED],
        len(report.resolved), len(report.renumbered))


def save_report_csv(report: MergeReport, path: str) -> str:
    """The report as CSV (core/store/report_csv.py: whole or not at all)."""
    rows = [[row.get(c) for c in REPORT_COLUMNS] for row in report.rows()]
    return write_report_csv(os.fspath(path), REPORT_COLUMNS, rows)
