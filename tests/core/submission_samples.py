"""A synthetic ODK Central export of an STDM enumeration form, for the import tests.

One main file (a household, its parcel as a geoshape, its structure as a
geopoint, its tenure claim, a photo of the house) and one repeat file (the
members, with an ID scan each), joined by KEY / PARENT_KEY as ODK Central
writes them. Tests change single cells to make each kind of bad input.
"""
from __future__ import annotations

import csv
import math
import os
import uuid

from stdm_plugin.core.submissions.mapping import FieldMapping

MAIN_FILE = "stdm_enumeration.csv"
MEMBERS_FILE = "stdm_enumeration-members.csv"
MAIN_COLUMNS = ["SubmissionDate", "hh_name", "parcel_shape", "structure_point", "land_use",
                "tenure_type", "share", "start_date", "house_photo", "water_source",
                "meta-instanceID", "KEY", "FormVersion"]
MEMBER_COLUMNS = ["first_name", "last_name", "sex", "dob", "role", "id_photo", "school",
                  "PARENT_KEY", "KEY"]
# Koumassi, Abidjan: UTM zone 30N
LAT, LON = 5.2990, -3.9500

MAPPING_YAML = """
format: 1
form_id: stdm_enumeration
submitted_at_column: SubmissionDate
form_version_column: FormVersion
date_formats: ['%Y-%m-%d']
main:
  file: stdm_enumeration.csv
  key_column: KEY
  ignored_columns: [meta-instanceID]
  records:
  - type: household
    columns:
      hh_name: {field: group_name, required: true}
  - type: parcel
    constants: {settlement_code: KOU}
    columns:
      land_use:
        field: land_use
        values: {res: residential, com: commercial, mix: mixed}
    geometry:
    - {column: parcel_shape, kind: geoshape, field: boundary}
    media:
    - {column: house_photo, document_type: photo}
  - type: structure
    constants: {settlement_code: KOU}
    links: {parcel_id: parcel}
    geometry:
    - {column: structure_point, kind: geopoint, field: location}
  - type: tenure
    links: {party_id: household, spatial_unit_id: parcel}
    columns:
      tenure_type:
        field: tenure_type
        values: {own: owner, rent: tenant, occ: occupant}
      share: share
      start_date: start_date
repeats:
- name: members
  file: '*-members.csv'
  parent: main
  key_column: KEY
  parent_key_column: PARENT_KEY
  records:
  - type: person
    links: {group_party_id: household}
    columns:
      first_name: first_name
      last_name: last_name
      sex:
        field: sex
        values: {M: male, F: female}
      dob: date_of_birth
      role:
        field: household_role
        values: {head: head, spouse: spouse, child: child}
    media:
    - {column: id_photo, document_type: id_scan}
"""


def mapping() -> FieldMapping:
    return FieldMapping.from_yaml(MAPPING_YAML)


def shape(lat: float, lon: float, width_m: float = 20.0, depth_m: float = 15.0) -> str:
    """An ODK geoshape string: a closed rectangle, latitude first, south-west corner first."""
    dlat = depth_m / 110574.0
    dlon = width_m / (111320.0 * math.cos(math.radians(lat)))
    corners = [(lat, lon), (lat, lon + dlon), (lat + dlat, lon + dlon), (lat + dlat, lon),
               (lat, lon)]
    return ";".join(f"{a:.8f} {b:.8f} 12.0 4.0" for a, b in corners)


def households(count: int = 3) -> list[dict[str, str]]:
    rows = []
    for i in range(count):
        key = f"uuid:{uuid.UUID(int=1000 + i)}"
        lat, lon = LAT + i * 0.001, LON
        rows.append({
            "SubmissionDate": f"2024-03-0{1 + i % 9}T10:1{i % 10}:00.000Z",
            "hh_name": f"Famille {['Koné', 'Traoré', 'Yao', 'Bamba', 'Kouassi'][i % 5]} {i}",
            "parcel_shape": shape(lat, lon),
            "structure_point": f"{lat + 0.00005:.8f} {lon + 0.00005:.8f} 10.0 5.0",
            "land_use": "res", "tenure_type": "own", "share": "1", "start_date": "2015-06-01",
            "house_photo": f"house-{i}.jpg", "water_source": "tap",
            "meta-instanceID": key, "KEY": key, "FormVersion": "2024030101"})
    return rows


def members(main_rows: list[dict[str, str]], per: int = 2) -> list[dict[str, str]]:
    rows = []
    for household in main_rows:
        for j in range(per):
            rows.append({
                "first_name": ["Awa", "Issa", "Mariam", "Yao"][j % 4],
                "last_name": household["hh_name"].split()[1], "sex": "F" if j % 2 == 0 else "M",
                "dob": f"19{80 + j}-04-0{1 + j}", "role": "head" if j == 0 else "child",
                "id_photo": f"id-{household['KEY'][-4:]}-{j}.jpg", "school": "primary",
                "PARENT_KEY": household["KEY"], "KEY": f"{household['KEY']}/members[{j + 1}]"})
    return rows


def write_csv(path: str, rows: list[dict[str, str]], columns: list[str],
              encoding: str = "utf-8") -> str:
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def jpeg(seed: str) -> bytes:
    return b"\xff\xd8\xff\xe0" + seed.encode() * 40


def write_export(folder, main_rows=None, member_rows=None, *, media: bool = True):
    """Write the two CSV files (and the photos they name); returns (files, media_dir)."""
    folder = os.fspath(folder)
    main_rows = households() if main_rows is None else main_rows
    member_rows = members(main_rows) if member_rows is None else member_rows
    files = [write_csv(os.path.join(folder, MAIN_FILE), main_rows, MAIN_COLUMNS),
             write_csv(os.path.join(folder, MEMBERS_FILE), member_rows, MEMBER_COLUMNS)]
    media_dir = os.path.join(folder, "media")
    os.makedirs(media_dir, exist_ok=True)
    if media:
        for row in [*main_rows, *member_rows]:
            for column in ("house_photo", "id_photo"):
                if row.get(column):
                    with open(os.path.join(media_dir, row[column]), "wb") as handle:
                        handle.write(jpeg(row[column]))
    return files, media_dir


def table_counts(store) -> dict[str, int]:
    """Every row in the tables an import writes to, current or not, and the audit log."""
    return {table: store.db.scalar(f"SELECT count(*) FROM {table}")
            for table in ("submission", "party", "spatial_unit", "social_tenure",
                          "supporting_document", "audit_log")}
