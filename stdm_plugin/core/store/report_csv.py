"""Reports saved as CSV: written whole or not at all, in the encoding a spreadsheet opens.

Every report the plugin offers to save (consistency findings, geometry
problems, import and batch reports, reconciliations) goes through here, so
a disk filling up or a crash half-way never leaves half a report under the
name the user chose.
"""
from __future__ import annotations

import csv
import os
import tempfile
from typing import Any, Iterable, Sequence


def write_report_csv(path: str | os.PathLike, header: Sequence[str],
                     rows: Iterable[Sequence[Any]], *, bom: bool = True) -> str:
    """Write ``header`` then ``rows`` (None as empty); ``bom`` for Excel (UTF-8 with a
    byte-order mark). Returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, partial = tempfile.mkstemp(dir=folder, prefix=".report-", suffix=".csv.partial")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if value is None else value for value in row])
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return path
