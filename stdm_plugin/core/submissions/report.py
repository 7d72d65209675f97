"""What an import of submissions did: counts, and every row it did not take, with why.

The report is the supervisor's to-do list after an import: each line names
the file, the row as a spreadsheet shows it (the header is row 1), the
column, the value and the reason, so that the row can be found and fixed
in the export without reading code or logs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..store.report_csv import write_report_csv

#: what each kind of problem means, for the dialog's legend
PROBLEM_KINDS = {
    "encoding": "the file is not UTF-8 text",
    "unreadable": "the file is not a table the importer can read",
    "missing_file": "no file was given for a table of the mapping",
    "missing_column": "a column the mapping reads is not in the file",
    "bad_row": "the row does not have the header's shape",
    "missing_key": "the row has no submission key",
    "duplicate_key": "the submission key appears twice in the export",
    "orphan_repeat": "a repeat row whose parent row is not in the export",
    "unknown_choice": "an answer the mapping's value list does not know",
    "bad_date": "a date in another format than the mapping accepts",
    "bad_number": "a number that is not what the field takes",
    "bad_geometry": "a geopoint, geotrace or geoshape that is not a usable geometry",
    "missing_media": "a photo or file named in the row is not in the media folder",
    "required_missing": "a required answer is empty",
    "invalid_record": "the record breaks a rule of the store",
    "rejected_with_submission": "the row is fine, but another row of its submission is not",
}
CSV_COLUMNS = ("file", "spreadsheet_row", "field", "value", "reason", "kind", "target",
               "submission_id")


@dataclass
class RowProblem:
    """One row not imported, or one file not read.

    ``spreadsheet_row`` is the row number a spreadsheet shows (the header is
    row 1, so the first answers are row 2); for an encoding problem it is
    the line of the file. It is None for a problem with a whole file.
    """

    file: str
    spreadsheet_row: Optional[int]
    field: Optional[str]
    value: Optional[str]
    reason: str
    kind: str
    #: the model field the column feeds, when there is one
    target: Optional[str] = None
    submission_id: Optional[str] = None


@dataclass
class ImportReport:
    form_id: str
    mode: str
    #: True when the import's records were committed
    written: bool = False
    submissions_seen: int = 0
    imported: int = 0
    #: already in the store from an earlier import of the same export
    skipped: int = 0
    rejected: int = 0
    #: valid, but not written because another submission failed (all-or-nothing)
    held_back: int = 0
    rows_read: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    households_needing_mapping: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    skipped_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: RowProblem) -> None:
        self.problems.append(problem)

    def rejected_rows(self) -> set[tuple[str, int]]:
        return {(p.file, p.spreadsheet_row) for p in self.problems
                if p.spreadsheet_row is not None}

    def summary(self) -> str:
        """A few lines for the message bar and the log."""
        lines = [f"{self.form_id}: {self.submissions_seen} submission(s) in the export; "
                 f"{self.imported} imported, {self.skipped} already imported, "
                 f"{self.rejected} rejected."]
        if self.held_back:
            lines.append(f"Nothing was written: {self.rejected} submission(s) have problems, "
                         f"so the {self.held_back} valid one(s) were held back too "
                         "(all-or-nothing). Fix the rows listed in the report, or import "
                         "the valid rows only.")
        if self.created:
            lines.append("Created: " + ", ".join(f"{n} {table}" for table, n in
                                                 self.created.items()) + ".")
        if self.households_needing_mapping:
            lines.append(f"{self.households_needing_mapping} household(s) have no parcel or "
                         "structure yet and are flagged for mapping.")
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s); see the report.")
        return "\n".join(lines)

    def write_csv(self, path: str) -> None:
        """The problems as a CSV a spreadsheet opens (UTF-8 with a byte-order mark)."""
        write_report_csv(path, CSV_COLUMNS,
                         ([getattr(p, c) for c in CSV_COLUMNS] for p in self.problems))
