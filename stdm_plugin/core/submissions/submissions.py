"""Import what KoBoToolbox and ODK Central export: submissions into store records.

``import_submissions(store, files, mapping)`` reads the main file and one
file per repeat group, joins the rows of each submission by its key,
turns them into parties, spatial units, tenure and documents with a
FieldMapping, and writes them in one transaction. It never raises for bad
input: the ImportReport lists every row it did not take, with why.

- all-or-nothing (the default): one bad row and nothing is written, so an
  export is either in the store or not, never half;
- "valid_rows": each submission in its own savepoint; bad ones are
  reported, good ones kept.

The ``submission`` register (ODK instanceIDs) makes a second import of the
same export skip what is already there instead of duplicating it.
"""
from __future__ import annotations

import fnmatch
import os
import time
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from ..store.errors import MappingError, StoreError, SubmissionFileError, ValidationError
from ..store.records import json_list
from . import odk_values
from .files import SourceTable, read_table
from .mapping import FieldMapping, TableMapping
from .records import (
    RowNode,
    Submission,
    SubmissionBuilder,
    SubmissionPlan,
    column_for,
)
from .report import ImportReport, RowProblem

if TYPE_CHECKING:
    from ..store.store import Store

ALL_OR_NOTHING = "all_or_nothing"
VALID_ROWS = "valid_rows"
MODES = (ALL_OR_NOTHING, VALID_ROWS)
#: submissions written per batch when the whole import stands or falls together
BATCH = 500
Progress = Callable[[int, int], None]


class _RollBackImportError(Exception):
    """Raised inside the import transaction to roll it back (all-or-nothing)."""


def import_submissions(store: "Store", files: Iterable[str | os.PathLike],
                       mapping: FieldMapping, *, mode: str = ALL_OR_NOTHING,
                       media_dir: str | os.PathLike | None = None,
                       progress: Progress | None = None) -> ImportReport:
    """Load exported submissions into ``store``; see the module docstring."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    mapping.check()
    _check_document_types(store, mapping)
    started = time.perf_counter()
    report = ImportReport(form_id=mapping.form_id, mode=mode)
    tables = _read_tables([os.fspath(f) for f in files], mapping, report)
    if tables is not None:
        submissions = _group(mapping, tables, report)
        _import(store, mapping, submissions, report, mode,
                None if media_dir is None else os.fspath(media_dir), progress)
    report.seconds = time.perf_counter() - started
    return report


def _check_document_types(store: "Store", mapping: FieldMapping) -> None:
    for table in mapping.tables:
        for record in table.records:
            for media in record.media:
                try:
                    store.lookups.check("supporting_document", "document_type",
                                        media.document_type, required=True)
                except ValidationError as exc:
                    raise MappingError(str(exc), where=f"{table.name} > {record.ref} > "
                                       f"media {media.column}") from exc


# --- reading and joining ---------------------------------------------------------------
def _pick_file(files: Sequence[str], table: TableMapping) -> list[str]:
    exact = [f for f in files if os.path.basename(f) == table.file]
    return exact or [f for f in files if fnmatch.fnmatch(os.path.basename(f), table.file)]


def _needed_columns(mapping: FieldMapping, table: TableMapping) -> list[str]:
    names = [table.key_column, table.parent_key_column]
    if table is mapping.main:
        names += [mapping.submitted_at_column, mapping.form_version_column]
    for child in mapping.repeats:
        if child.parent == table.name:
            names.append(child.parent_link_column or table.key_column)
    for record in table.records:
        names += list(record.columns)
        names += [g.column for g in record.geometry] + [m.column for m in record.media]
    return [n for n in dict.fromkeys(names) if n is not None]


def _read_tables(files: Sequence[str], mapping: FieldMapping,
                 report: ImportReport) -> dict[str, SourceTable] | None:
    """Every table of the mapping read from its file, or None if any cannot be."""
    tables: dict[str, SourceTable] = {}
    for table in mapping.tables:
        found = _pick_file(files, table)
        if len(found) != 1:
            given = ", ".join(os.path.basename(f) for f in files) or "none"
            reason = (f"no file given for the table {table.name!r} (a file named "
                      f"{table.file!r}); files given: {given}" if not found else
                      f"{len(found)} files match {table.file!r} for the table "
                      f"{table.name!r}: {', '.join(os.path.basename(f) for f in found)}")
            report.add(RowProblem(table.file, None, None, None, reason, "missing_file"))
            continue
        try:
            source = read_table(found[0], sheet=table.sheet, delimiter=table.delimiter)
        except SubmissionFileError as exc:
            report.add(RowProblem(os.path.basename(exc.path), exc.line, None,
                                  None if exc.value is None else str(exc.value), str(exc),
                                  exc.kind))
            continue
        missing = [c for c in _needed_columns(mapping, table) if c not in source.columns]
        for column in missing:
            report.add(RowProblem(
                source.display_name, 1, column, None,
                f"the mapping reads the column {column!r}, which is not in the header of "
                f"{source.display_name} (its columns: {', '.join(source.columns[:12])}"
                f"{', ...' if len(source.columns) > 12 else ''})", "missing_column"))
        report.rows_read[source.display_name] = len(source.rows)
        tables[table.name] = source
    return None if report.problems else tables


def _group(mapping: FieldMapping, tables: dict[str, SourceTable],
           report: ImportReport) -> list[Submission]:
    """The rows of each submission: its main row with its repeat rows below it."""
    main, source = mapping.main, tables[mapping.main.name]
    report.submissions_seen = len(source.rows)
    submissions: list[Submission] = []
    first_row: dict[str, int] = {}
    nodes: dict[str, list[RowNode]] = {main.name: []}
    for row in source.rows:
        node = RowNode(main, source, row)
        key = odk_values.instance_id(row.values.get(main.key_column or "", ""))
        if not key:
            report.add(node.problem(f"{main.key_column} is empty: without its key the "
                                    "submission cannot be recognised on a later import",
                                    "missing_key", column=main.key_column, value=""))
        elif key in first_row:
            report.add(node.problem(f"the submission {key} appears again (first in row "
                                    f"{first_row[key]}); only the first is imported",
                                    "duplicate_key", column=main.key_column, value=key,
                                    submission_id=key))
        else:
            first_row[key] = row.row
            submissions.append(Submission(key, node))
            nodes[main.name].append(node)
            if row.problem:
                submissions[-1].problems.append(node.problem(row.problem, "bad_row",
                                                             submission_id=key))
    report.rejected += len(source.rows) - len(submissions)
    by_root = {id(s.root): s for s in submissions}
    for table in mapping.repeats:
        nodes[table.name] = _attach(mapping, table, tables[table.name], nodes, by_root,
                                    report)
    return submissions


def _attach(mapping: FieldMapping, table: TableMapping, source: SourceTable,
            nodes: dict[str, list[RowNode]], by_root: dict[int, Submission],
            report: ImportReport) -> list[RowNode]:
    parent_table = mapping.table(table.parent or "")
    link = table.parent_link_column or parent_table.key_column or ""
    index: dict[str, RowNode] = {}
    for parent in nodes[parent_table.name]:
        index.setdefault(parent.row.values.get(link, "").strip(), parent)
    attached = []
    for row in source.rows:
        node = RowNode(table, source, row)
        key = row.values.get(table.parent_key_column or "", "").strip()
        parent = index.get(key)
        if parent is None and parent_table is mapping.main and "/" in key:
            parent = index.get(key.split("/", 1)[0])  # ODK Central's "uuid:.../members[1]"
        if parent is None:
            report.add(node.problem(
                f"its parent row ({link} = {key!r}) is not in {_described(parent_table)}"
                if key else f"{table.parent_key_column} is empty: the row belongs to no "
                "submission", "orphan_repeat", column=table.parent_key_column, value=key))
            continue
        node.parent = parent
        parent.children.append(node)
        attached.append(node)
        root = parent
        while root.parent is not None:
            root = root.parent
        if row.problem:
            submission = by_root[id(root)]
            submission.problems.append(node.problem(row.problem, "bad_row",
                                                    submission_id=submission.id))
    return attached


def _described(table: TableMapping) -> str:
    return f"the {table.name} table ({table.file})"


# --- building and writing -----------------------------------------------------------------
def _import(store: "Store", mapping: FieldMapping, submissions: list[Submission],
            report: ImportReport, mode: str, media_dir: str | None,
            progress: Progress | None) -> None:
    existing = {r["id"] for r in store.db.query(
        f"SELECT id FROM submission WHERE id IN {store.db.json_list_sql}",
        (json_list(s.id for s in submissions),))} if submissions else set()
    builder = SubmissionBuilder(store, mapping, media_dir)
    plans = []
    for submission in submissions:
        if submission.id in existing:
            report.skipped += 1
            report.skipped_ids.append(submission.id)
        else:
            plans.append(builder.build(submission))
    good = [p for p in plans if not p.problems]
    for plan in plans:
        if plan.problems:
            _reject(plan, plan.problems, report)
    if mode == ALL_OR_NOTHING and report.problems:
        report.held_back = len(good)
        return
    written = _write(store, mapping, good, report, mode, progress)
    if written is None:  # a write was refused: all-or-nothing rolled everything back
        refused = {p.submission_id for p in report.problems}
        report.held_back = len([p for p in good if p.id not in refused])
        return
    report.written = True
    report.imported = len(written)
    _count(written, report)


def _reject(plan: SubmissionPlan, problems: list[RowProblem], report: ImportReport) -> None:
    """Report the submission's problems, and each of its other rows as not imported."""
    report.rejected += 1
    for problem in problems:
        report.add(problem)
    bad = {(p.file, p.spreadsheet_row) for p in problems}
    first = problems[0]
    for node in plan.submission.root.walk():
        if (node.source.display_name, node.row.row) not in bad:
            report.add(node.problem(
                f"not imported: its submission {plan.id} has a problem in {first.file} row "
                f"{first.spreadsheet_row}", "rejected_with_submission",
                submission_id=plan.id))


def _write(store: "Store", mapping: FieldMapping, plans: list[SubmissionPlan],
           report: ImportReport, mode: str,
           progress: Progress | None) -> list[SubmissionPlan] | None:
    """Write the plans in one transaction; None if all-or-nothing had to roll back."""
    from ..store.store import utc_now

    stamp = (utc_now(), store.actor)
    size = BATCH if mode == ALL_OR_NOTHING else 1
    written: list[SubmissionPlan] = []
    try:
        with store.transaction():
            for start in range(0, len(plans), size):
                chunk = plans[start:start + size]
                written += _write_chunk(store, mapping, chunk, stamp, report)
                if progress:
                    progress(min(start + size, len(plans)), len(plans))
            if mode == ALL_OR_NOTHING and len(written) < len(plans):
                raise _RollBackImportError()
    except _RollBackImportError:
        return None
    return written


def _write_chunk(store: "Store", mapping: FieldMapping,
                 chunk: list[SubmissionPlan], stamp: tuple[str, str],
                 report: ImportReport) -> list[SubmissionPlan]:
    """Write a batch in a savepoint; if it fails, write its submissions one by one."""
    try:
        with store.transaction():
            _insert(store, mapping, chunk, stamp)
        return chunk
    except Exception as exc:  # noqa: BLE001 - sorted below: row errors are reported
        if not _row_error(exc):
            raise
        if len(chunk) == 1:
            _reject(chunk[0], [_write_problem(chunk[0], exc)], report)
            return []
    kept = []
    for plan in chunk:
        kept += _write_chunk(store, mapping, [plan], stamp, report)
    return kept


def _row_error(exc: Exception) -> bool:
    """A refusal that concerns the rows written (not the connection or the disk)."""
    if isinstance(exc, StoreError):
        return False
    return isinstance(exc, ValidationError) or any(
        cls.__name__ in ("IntegrityError", "DataError") for cls in type(exc).__mro__)


def _write_problem(plan: SubmissionPlan, exc: Exception) -> RowProblem:
    record_id = getattr(exc, "record_id", None)
    node, rule = plan.origins.get(record_id or "", (plan.submission.root, None))
    field = getattr(exc, "field", None)
    column = field if rule is None else column_for(rule, field)
    value = node.row.values.get(column or "", getattr(exc, "value", None))
    return node.problem(f"could not be written: {exc}", "invalid_record", column=column,
                        value=value, target=field, submission_id=plan.id)


def _insert(store: "Store", mapping: FieldMapping, chunk: list[SubmissionPlan],
            stamp: tuple[str, str]) -> None:
    imported_at, imported_by = stamp
    store.db.executemany(
        "INSERT INTO submission (id, form_id, form_version, source_file, submitted_at, "
        "imported_at, imported_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(p.id, mapping.form_id, p.form_version, os.path.basename(p.submission.root.source.path),
          p.submitted_at, imported_at, imported_by) for p in chunk])
    parties = [r for p in chunk for r in p.parties]
    units = sorted((r for p in chunk for r in p.spatial_units),
                   key=lambda u: u.kind != "parcel")  # parcels before their structures
    tenure = [r for p in chunk for r in p.tenure]
    for repository, records in ((store.parties, parties), (store.spatial_units, units),
                                (store.tenure, tenure)):
        if records:
            repository.add_many(records)
    for plan in chunk:
        for document in plan.documents:
            with open(document.path, "rb") as handle:
                content = handle.read()
            store.documents.attach(
                content, os.path.basename(document.path), document_type=document.document_type,
                storage=mapping.media_storage, submission_id=plan.id,
                **{document.target_field: document.record.id})


def _count(plans: list[SubmissionPlan], report: ImportReport) -> None:
    created = {"submission": len(plans), "party": 0, "spatial_unit": 0, "social_tenure": 0,
               "supporting_document": 0}
    for plan in plans:
        created["party"] += len(plan.parties)
        created["spatial_unit"] += len(plan.spatial_units)
        created["social_tenure"] += len(plan.tenure)
        created["supporting_document"] += len(plan.documents)
        report.households_needing_mapping += sum(
            1 for p in plan.parties if p.needs_mapping and p.party_type != "person")
    report.created = created
