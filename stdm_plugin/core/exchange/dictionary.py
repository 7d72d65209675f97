"""The data dictionary that goes with every export, as CSV (for programs) and Markdown.

One row per field written: the field name in the file, the store column
it comes from, its type, its meaning, the codes (with their English and
French labels) for a coded field, and what was done to it for privacy.
Fields left out for privacy are listed too, with no output name, so the
receiver knows what is missing and why. The dictionary describes data,
it never holds any.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..safety.personal_data import TREATMENT_NOTES, is_personal, treatment
from .formats import WKT_FIELD, PreparedLayer
from .layers import code_labels

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

HEADER = ("layer", "file", "field", "source", "type", "meaning", "codes", "personal_data")
TYPE_NAMES = {"text": "text", "date": "text (ISO 8601 date)",
              "datetime": "text (ISO 8601 date-time, UTC)", "json": "text (JSON)",
              "integer": "integer", "real": "real"}


@dataclass
class DictionaryLayer:
    layer: PreparedLayer
    file: str
    names: dict[str, str]
    count: int


def dictionary_rows(store: "SettlementStore", fmt: str, crs: str, mode: str,
                    layers: list[DictionaryLayer]) -> list[dict[str, str]]:
    rows = []
    for item in layers:
        layer, spec = item.layer, item.layer.spec
        base = {"layer": layer.name, "file": item.file}
        if layer.spatial:
            field = WKT_FIELD if fmt == "csv" or item.file.endswith(".csv") else "(geometry)"
            rows.append({**base, "field": field, "source": f"{spec.table}.{spec.geometry}",
                         "type": f"{spec.geometry_type}, {crs}",
                         "meaning": spec.meaning, "codes": "", "personal_data": ""})
        for column in spec.columns:
            done = treatment(mode, spec.table, column.name)
            note = TREATMENT_NOTES[done]
            if done == "kept" and is_personal(spec.table, column.name):
                note = "personal data, included"
            codes = code_labels(store, spec.table, column)
            rows.append({
                **base, "field": item.names.get(column.name, ""),
                "source": f"{spec.table}.{column.name}",
                "type": TYPE_NAMES[column.kind] if column.name in item.names else "",
                "meaning": column.meaning,
                "codes": "; ".join(f"{code} = {label}" for code, label in codes),
                "personal_data": note})
    return rows


def write_dictionary(csv_path: str, md_path: str, rows: list[dict[str, str]], *, title: str,
                     fmt: str, crs: str, mode: str, counts: dict[str, int],
                     notes: list[str]) -> None:
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"# {title}", "",
             f"- Format: {fmt}", f"- Coordinate reference system: {crs}",
             f"- Personal data mode: {mode}"]
    lines += [f"- {note}" for note in notes]
    current = None
    for row in rows:
        if row["layer"] != current:
            current = row["layer"]
            lines += ["", f"## {current}", "",
                      f"File `{row['file']}`, {counts.get(current, 0)} feature(s).", "",
                      "| Field | Source | Type | Meaning | Codes | Personal data |",
                      "|---|---|---|---|---|---|"]
        cells = [row["field"] or "(not exported)", row["source"], row["type"], row["meaning"],
                 row["codes"], row["personal_data"]]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    with open(md_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

