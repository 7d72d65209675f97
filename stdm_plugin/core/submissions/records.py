"""Turning one submission's rows into store records, checked before anything is written.

A submission is the main row and its repeat rows (a household and its
members). Each row becomes the records its table mapping names; every
answer that does not fit becomes a RowProblem naming the file, row,
column and value, and the records are checked with the repositories' own
rules so that the write that follows rarely has anything left to refuse.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Optional

from ..store.errors import SubmissionValueError, ValidationError
from ..store.model import Party, Record, SocialTenure, SpatialUnit
from . import odk_values
from .files import SourceRow, SourceTable
from .mapping import (
    RECORD_TYPES,
    ColumnRule,
    FieldMapping,
    RecordMapping,
    TableMapping,
)
from .report import RowProblem

if TYPE_CHECKING:
    from ..store.store import Store

RECORD_CLASSES = {"party": Party, "spatial_unit": SpatialUnit, "social_tenure": SocialTenure}
REPOSITORIES = {"party": "parties", "spatial_unit": "spatial_units", "social_tenure": "tenure"}
DOCUMENT_TARGET = {"party": "party_id", "spatial_unit": "spatial_unit_id",
                   "social_tenure": "social_tenure_id"}
INT_FIELDS = {"age_years", "share_numerator", "share_denominator"}
DATE_FIELDS = {"date_of_birth", "start_date"}
KEEP = object()  # the answer maps to no code: keep it in answers


@dataclass
class RowNode:
    """One row of the export, placed in its submission's tree."""

    table: TableMapping
    source: SourceTable
    row: SourceRow
    parent: Optional["RowNode"] = None
    children: list["RowNode"] = field(default_factory=list)
    records: dict[str, Record] = field(default_factory=dict)

    def walk(self) -> Iterator["RowNode"]:
        """This row, then its repeat rows: parents always come before their children."""
        yield self
        for child in self.children:
            yield from child.walk()

    def problem(self, reason: str, kind: str, *, column: str | None = None,
                value: Any = None, target: str | None = None,
                submission_id: str | None = None) -> RowProblem:
        return RowProblem(self.source.display_name, self.row.row, column,
                          None if value is None else str(value), reason, kind, target,
                          submission_id)


@dataclass
class Submission:
    id: str
    root: RowNode
    problems: list[RowProblem] = field(default_factory=list)


@dataclass
class PendingDocument:
    path: str
    document_type: str
    target_field: str
    record: Record
    node: RowNode
    column: str


@dataclass
class SubmissionPlan:
    """The records of one submission, ready to write, or the reasons it cannot be."""

    submission: Submission
    parties: list[Party] = field(default_factory=list)
    spatial_units: list[SpatialUnit] = field(default_factory=list)
    tenure: list[SocialTenure] = field(default_factory=list)
    documents: list[PendingDocument] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    #: record id -> the row and mapping it came from, to place a later refusal
    origins: dict[str, tuple[RowNode, RecordMapping]] = field(default_factory=dict)
    submitted_at: Optional[str] = None
    form_version: Optional[str] = None

    @property
    def id(self) -> str:
        return self.submission.id

    def records(self) -> list[Record]:
        return [*self.parties, *self.spatial_units, *self.tenure]


class SubmissionBuilder:
    def __init__(self, store: "Store", mapping: FieldMapping,
                 media_dir: str | None) -> None:
        self.store = store
        self.mapping = mapping
        self.media_dir = media_dir
        self._settlements: dict[str, str] | None = None

    def build(self, submission: Submission) -> SubmissionPlan:
        plan = SubmissionPlan(submission, problems=list(submission.problems))
        self._meta(plan)
        answers: dict[int, tuple[Record, dict[str, Any]]] = {}
        for node in submission.root.walk():
            self._build_row(plan, node, answers)
        for record, kept in answers.values():
            record.answers = json.dumps(kept, ensure_ascii=False)
        if not plan.spatial_units:  # enumerated, but not yet on the map
            for party in plan.parties:
                if party.party_type != "person" or not party.group_party_id:
                    party.needs_mapping = 1
        return plan

    def _meta(self, plan: SubmissionPlan) -> None:
        root, mapping = plan.submission.root, self.mapping
        if mapping.form_version_column:
            plan.form_version = root.row.values.get(mapping.form_version_column) or None
        column = mapping.submitted_at_column
        if column and (root.row.values.get(column) or "").strip():
            try:
                plan.submitted_at = odk_values.timestamp(root.row.values[column], column=column)
            except SubmissionValueError as exc:
                plan.problems.append(root.problem(str(exc), exc.kind, column=column,
                                                  value=exc.value, submission_id=plan.id))

    # --- one row ---------------------------------------------------------------------
    def _build_row(self, plan: SubmissionPlan, node: RowNode,
                   answers: dict[int, tuple[Record, dict[str, Any]]]) -> None:
        taken: set[str] = set()
        created = []
        for rule in node.table.records:
            record = self._build_record(plan, node, rule, taken)
            if record is not None:
                node.records[rule.ref] = record
                created.append(record)
        kept = {column: value for column, value in node.row.values.items()
                if column not in taken and column not in self._structural(node.table)
                and value.strip() != ""}
        if not kept:
            return
        if created:
            answers[id(created[0])] = (created[0], kept)
            return
        holder = next((n for n in _ancestors(node) if n.records), None)
        if holder is None:
            return
        first = next(iter(holder.records.values()))
        entry = answers.setdefault(id(first), (first, {}))[1]
        entry.setdefault(node.table.name, []).append(kept)

    def _structural(self, table: TableMapping) -> set[str]:
        """Columns that join rows or describe the submission, not answers."""
        names = {table.key_column, table.parent_key_column, *table.ignored_columns}
        if table is self.mapping.main:
            names |= {self.mapping.submitted_at_column, self.mapping.form_version_column}
        return {n for n in names if n is not None}

    def _build_record(self, plan: SubmissionPlan, node: RowNode, rule: RecordMapping,
                      taken: set[str]) -> Record | None:
        table, subtype = RECORD_TYPES[rule.type]
        values = node.row.values
        if rule.only_if is not None and not (values.get(rule.only_if) or "").strip():
            return None  # the question that makes this record was not answered
        if table == "spatial_unit" and not any(
                (values.get(g.column) or "").strip() or g.required for g in rule.geometry):
            return None  # not mapped yet: the household is flagged instead
        links = {}
        for link, ref in rule.links.items():
            target = _resolve(node, ref)
            if target is None:
                return None  # what it would point at was not made (an unmapped parcel)
            links[link] = target.id
        record: Any = RECORD_CLASSES[table](id=str(uuid.uuid4()), **links)
        if table == "party":
            record.party_type = subtype
            record.anonymised = int(bool(self.mapping.anonymised))
        elif table == "spatial_unit":
            record.kind = subtype
        record.submission_id = plan.id
        for name, constant in rule.constants.items():
            self._assign(plan, node, record, ColumnRule(field=name), f"(constant {name})",
                         "" if constant is None else str(constant))
        for column, column_rule in rule.columns.items():
            if self._assign(plan, node, record, column_rule, column, values.get(column, "")):
                if not column_rule.keep_original:
                    taken.add(column)
        self._geometries(plan, node, record, rule, taken)
        self._media(plan, node, record, rule, taken)
        plan.origins[record.id] = (node, rule)
        getattr(plan, REPOSITORIES[table]).append(record)
        try:
            getattr(self.store, REPOSITORIES[table]).validate(record)
        except ValidationError as exc:
            column = column_for(rule, exc.field)
            if any(p.field == column and p.spreadsheet_row == node.row.row
                   and p.file == node.source.display_name for p in plan.problems):
                return record  # already said why: the empty or unreadable answer
            plan.problems.append(node.problem(
                str(exc), "invalid_record", column=column,
                value=exc.value if exc.value is not None else values.get(column or ""),
                target=exc.field, submission_id=plan.id))
        return record

    def _assign(self, plan: SubmissionPlan, node: RowNode, record: Record, rule: ColumnRule,
                column: str, raw: str) -> bool:
        """Read one answer into the record; False when nothing was taken from it."""
        try:
            value = self._value(raw, rule, column)
        except SubmissionValueError as exc:
            plan.problems.append(node.problem(str(exc), exc.kind, column=column,
                                              value=raw, target=rule.field,
                                              submission_id=plan.id))
            return True
        if value is KEEP or value is None:
            return False
        if rule.field == "share":
            record.share_numerator, record.share_denominator = value  # type: ignore[attr-defined]
        elif rule.field == "settlement_code":
            record.settlement_id = value  # type: ignore[attr-defined]
        else:
            setattr(record, rule.field, value)
        return True

    def _value(self, raw: str, rule: ColumnRule, column: str) -> Any:
        text = raw.strip()
        if not text:
            if rule.required:
                raise SubmissionValueError(f"{column} is empty, and the mapping says it is "
                                           f"required (it fills {rule.field})",
                                           kind="required_missing", field=column, value=raw)
            return None
        if rule.values:
            code = odk_values.choice(text, rule.values, column=column)
            if code is None:
                return KEEP
            text = code
        if rule.field in INT_FIELDS:
            return odk_values.whole_number(text, column=column)
        if rule.field in DATE_FIELDS:
            return odk_values.date_value(text, rule.date_formats or self.mapping.date_formats,
                                         column=column)
        if rule.field == "share":
            return odk_values.share(text, column=column)
        if rule.field == "settlement_code":
            return self._settlement_id(text, column)
        return text

    def _settlement_id(self, code: str, column: str) -> str:
        if self._settlements is None:
            self._settlements = {s.code: s.id for s in self.store.settlements.find()}
        if code not in self._settlements:
            known = ", ".join(sorted(self._settlements)) or "none yet"
            raise SubmissionValueError(
                f"{column}: there is no settlement with code {code!r} in the store (known: "
                f"{known}); add it first", kind="unknown_choice", field=column, value=code)
        return self._settlements[code]

    def _geometries(self, plan: SubmissionPlan, node: RowNode, record: Any,
                    rule: RecordMapping, taken: set[str]) -> None:
        for geometry in rule.geometry:
            raw = (node.row.values.get(geometry.column) or "").strip()
            if not raw:
                if geometry.required:
                    plan.problems.append(node.problem(
                        f"{geometry.column} is empty, and the mapping says the {rule.type} "
                        f"needs its {geometry.kind}", "required_missing",
                        column=geometry.column, value="", target=geometry.field,
                        submission_id=plan.id))
                continue
            taken.add(geometry.column)
            try:
                shape = odk_values.odk_geometry(
                    raw, geometry.kind, column=geometry.column, srid=self.store.srid,
                    polygon=geometry.field == "boundary")
            except SubmissionValueError as exc:
                plan.problems.append(node.problem(str(exc), exc.kind, column=geometry.column,
                                                  value=raw, target=geometry.field,
                                                  submission_id=plan.id))
                continue
            setattr(record, geometry.field, shape)

    def _media(self, plan: SubmissionPlan, node: RowNode, record: Record,
               rule: RecordMapping, taken: set[str]) -> None:
        for media in rule.media:
            name = (node.row.values.get(media.column) or "").strip()
            if not name:
                if media.required:
                    plan.problems.append(node.problem(
                        f"{media.column} is empty, and the mapping says a file is required",
                        "required_missing", column=media.column, value="",
                        target=f"document:{media.document_type}", submission_id=plan.id))
                continue
            taken.add(media.column)
            try:
                path = self._media_path(name, media.column, plan.id)
            except SubmissionValueError as exc:
                plan.problems.append(node.problem(str(exc), exc.kind, column=media.column,
                                                  value=name,
                                                  target=f"document:{media.document_type}",
                                                  submission_id=plan.id))
                continue
            plan.documents.append(PendingDocument(
                path, media.document_type, DOCUMENT_TARGET[RECORD_TYPES[rule.type][0]], record,
                node, media.column))

    def _media_path(self, name: str, column: str, submission_id: str) -> str:
        """Where the file named by an answer is: ODK Central puts media in ``media/``,
        KoBoToolbox's download in one folder per submission."""
        base = os.path.basename(name.replace("\\", "/"))
        if not self.media_dir:
            raise SubmissionValueError(
                f"{column}: the answer names the file {base!r}, but no media folder was "
                "given; choose the folder the export's photos were unpacked to",
                kind="missing_media", field=column, value=name)
        folder = os.path.abspath(self.media_dir)
        # The key names KoBo's per-submission folder, but it comes from the export: a key
        # such as "uuid:../.." or an absolute path must not lead out of the media folder.
        inside = os.path.realpath(folder)
        instance = submission_id.split(":", 1)[-1]
        for candidate in (os.path.join(folder, base), os.path.join(folder, "media", base),
                          os.path.join(folder, instance, base)):
            if "\x00" in candidate:  # no file has such a name; realpath would raise
                continue
            real = os.path.realpath(candidate)
            if os.path.commonpath([inside, real]) == inside and os.path.isfile(real):
                return candidate
        raise SubmissionValueError(
            f"{column}: the file {base!r} is not in the media folder {folder} (nor in its "
            f"media/ or {instance}/ subfolder)", kind="missing_media", field=column,
            value=name)


#: model fields filled from a field of another name
READ_INTO = {"share_numerator": "share", "share_denominator": "share",
             "settlement_id": "settlement_code"}


def column_for(rule: RecordMapping, field: str | None) -> str | None:
    """The export column (or constant) that filled a model field, to name it in a report."""
    names = {field, READ_INTO.get(field or "")}
    for column, column_rule in rule.columns.items():
        if column_rule.field in names:
            return column
    for geometry in rule.geometry:
        if geometry.field in names:
            return geometry.column
    for name in rule.constants:
        if name in names:
            return f"(constant {name})"
    return field


def _ancestors(node: RowNode) -> Iterator[RowNode]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _resolve(node: RowNode, ref: str) -> Record | None:
    """The record named ``ref`` in this row, or else in the nearest parent row."""
    for candidate in (node, *_ancestors(node)):
        if ref in candidate.records:
            return candidate.records[ref]
    return None
