"""One write operation for the fault test, run in its own process so it can be SIGKILLed.

Usage: ``python fault_worker.py import|enumerate|copy|certify|merge STORE [ARG]``.

STORE is a SpatiaLite file, or a PostGIS store written as ``postgis:`` and
JSON ``{"connection": {...}, "schema": ...}`` (see ``postgis_spec``); the
target of a copy is named the same way and created by the worker.

The worker prints marker lines to stdout, flushed, so the test knows where
the kill landed: ``started`` when the store is open and the operation is
about to begin, ``begin`` / ``commit`` around every outermost transaction
(``commit`` only after COMMIT has returned), ``household <id>`` after each
saved enumeration and ``done`` at the end.
"""
from __future__ import annotations

import csv
import json
import os
import pathlib
import random
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script, not through pytest
    sys.path.insert(0, str(ROOT))

from shapely.geometry import box  # noqa: E402

from stdm_plugin.core import SettlementStore  # noqa: E402

FORM_PATH = ROOT / "forms" / "enumeration.yaml"
MAIN = "stdm_enumeration.csv"
MEMBERS = "stdm_enumeration-members.csv"
MAIN_COLUMNS = ["SubmissionDate", "parcel-parcel_boundary", "parcel-land_use", "parcel-address",
                "parcel-parcel_photo", "household-household_name", "household-household_remarks",
                "KEY", "FormVersion"]
MEMBER_COLUMNS = ["first_name", "last_name", "sex", "date_of_birth", "age_years",
                  "household_role", "id_document_type", "id_document_number", "id_photo",
                  "phone", "tenure-tenure_type", "tenure-share_numerator",
                  "tenure-share_denominator", "tenure-tenure_start", "tenure-evidence",
                  "tenure-evidence_photo", "PARENT_KEY", "KEY"]
#: what each enumeration saves besides its household: members, claims, photos
ENUMERATION_MEMBERS = 3
ENUMERATION_CLAIMS = 2
ENUMERATION_PHOTOS = 2  # the parcel's and the head's ID
JPEG = b"\xff\xd8\xff\xe0 fault test photo"
POSTGIS = "postgis:"


def say(line: str) -> None:
    """Markers must reach the test before the kill can, hence the flush."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def postgis_spec(connection: dict, schema: str) -> str:
    """A PostGIS store as one command-line argument."""
    return POSTGIS + json.dumps({"connection": connection, "schema": schema})


def open_store(spec: str, actor: str, read_only: bool = False) -> SettlementStore:
    """Open a store named by a file path or by ``postgis_spec``."""
    if spec.startswith(POSTGIS):
        where = json.loads(spec[len(POSTGIS):])
        return SettlementStore.open_postgis(where["connection"], where["schema"], actor=actor)
    return SettlementStore.open(spec, actor=actor, read_only=read_only)


def create_store(spec: str, srid: int, actor: str) -> SettlementStore:
    """Create a new, empty store named by a file path or by ``postgis_spec``."""
    if spec.startswith(POSTGIS):
        where = json.loads(spec[len(POSTGIS):])
        return SettlementStore.create_postgis(where["connection"], where["schema"], srid,
                                              actor=actor)
    return SettlementStore.create(spec, srid, actor=actor)


def write_export(folder: pathlib.Path, n: int, seed: int) -> None:
    """An ODK Central style export of the plugin's own form: n households, 3 members each."""
    rng = random.Random(seed)
    with open(folder / MAIN, "w", newline="", encoding="utf-8") as main, \
            open(folder / MEMBERS, "w", newline="", encoding="utf-8") as members:
        m, p = csv.writer(main), csv.writer(members)
        m.writerow(MAIN_COLUMNS)
        p.writerow(MEMBER_COLUMNS)
        for i in range(n):
            lat, lon = 5.28 + (i // 30) * 0.0002, -3.96 + (i % 30) * 0.0002
            ring = [(lat, lon), (lat, lon + 0.00015), (lat + 0.00014, lon + 0.00016),
                    (lat + 0.00015, lon - 0.00001), (lat, lon)]
            shape = ";".join(f"{a:.7f} {b:.7f} 10.0 4.0" for a, b in ring)
            key = f"uuid:{i:08d}-{rng.getrandbits(16):04x}-4000-8000-{i:012d}"
            m.writerow(["2026-11-20T10:00:00.000Z", shape, "residential", f"Bloc {i // 50}",
                        "", f"Famille {i}", "", key, "2026112501"])
            for j in range(ENUMERATION_MEMBERS):
                owner = j < 2
                p.writerow(["Awa" if j % 2 else "Issa", f"Koné{i}", "female" if j % 2 else "male",
                            "", 30 + j, ("head", "spouse", "child")[j], "", "", "", "",
                            "co_owner" if owner else "", "1" if owner else "",
                            "2" if owner else "", "", "", "", key, f"{key}/members[{j + 1}]"])


def enumeration_answers(i: int) -> dict:
    """Household ``i`` as the wizard hands it over: a new parcel, 3 members, 2 co-owners."""
    x, y = 400000 + 30 * (i % 40), 590000 + 30 * (i // 40)
    head = {"first_name": "Awa", "last_name": f"Koné{i}", "sex": "female",
            "date_of_birth": "1978-03-02", "household_role": "head",
            "id_document_type": "national_id", "id_document_number": f"CI{i:07d}",
            "id_photo": (f"cni-{i}.jpg", JPEG + str(i).encode()),
            "tenure": {"tenure_type": "co_owner", "share_numerator": 1,
                       "share_denominator": 2}}
    spouse = {"first_name": "Issa", "last_name": f"Koné{i}", "sex": "male", "age_years": 51,
              "household_role": "spouse",
              "tenure": {"tenure_type": "co_owner", "share_numerator": 1,
                         "share_denominator": 2}}
    child = {"first_name": "Mariam", "last_name": f"Koné{i}", "sex": "female", "age_years": 9,
             "household_role": "child"}
    return {"parcel": {"parcel_boundary": box(x, y, x + 20, y + 15), "land_use": "residential",
                       "parcel_photo": (f"parcel-{i}.jpg", JPEG + b"p" + str(i).encode())},
            "household": {"household_name": f"Famille Koné {i}"},
            "members": [head, spouse, child]}


def traced(store: SettlementStore) -> SettlementStore:
    """Print ``begin``/``commit`` around outermost transactions (savepoints are not traced)."""
    db = store.db
    begin, commit = db.begin, db.commit

    def traced_begin() -> None:
        begin()
        say("begin")

    def traced_commit() -> None:
        commit()
        say("commit")

    db.begin, db.commit = traced_begin, traced_commit  # type: ignore[method-assign]
    return store


def run_import(path: str, export: str) -> None:
    from stdm_plugin.core.forms.forms import load_form
    from stdm_plugin.core.submissions.form_mapping import mapping_from_form
    from stdm_plugin.core.submissions.submissions import import_submissions

    folder = pathlib.Path(export)
    mapping = mapping_from_form(load_form(FORM_PATH), "KOU")
    with traced(open_store(path, "fault-import")) as store:
        say("started")
        report = import_submissions(store, [folder / MAIN, folder / MEMBERS], mapping)
        if not report.ok:
            raise SystemExit(report.summary())
    say("done")


def run_enumerations(path: str, count: str) -> None:
    from stdm_plugin.core.forms.enumeration import save_enumeration
    from stdm_plugin.core.forms.forms import load_form

    form = load_form(FORM_PATH)
    with traced(open_store(path, "fault-enumerator")) as store:
        settlement = store.settlements.find()[0]
        say("started")
        for i in range(int(count)):
            saved = save_enumeration(store, form, enumeration_answers(i), settlement.id)
            say(f"household {saved['household'].id}")
    say("done")


def run_copy(source: str, target: str) -> None:
    from stdm_plugin.core.store.publish import copy_store

    with open_store(source, "fault-copy", read_only=True) as origin, \
            traced(create_store(target, origin.srid, "fault-copy")) as copy:
        say("started")  # the new, empty target exists: the copy itself is what is killed
        copy_store(origin, copy)
    say("done")


def slow_pdf(sheet, path: str) -> None:
    """A stand-in for the QGIS layout (core only): a PDF written in synced chunks, so
    that kills land while a certificate's file is half written, inside its transaction."""
    with open(path, "wb") as handle:
        handle.write(b"%PDF-1.4\n% " + sheet.number.encode() + b"\n")
        for _ in range(6):
            handle.write(sheet.qr_payload.encode() * 40)
            handle.flush()
            os.fsync(handle.fileno())
        handle.write(b"%%EOF\n")


def run_certify(path: str, out: str) -> None:
    from stdm_plugin.core.certificates.batch import approved_parcels, issue_batch
    from stdm_plugin.core.demo.adjudication import sign_in_as

    with traced(open_store(path, "fault-certify")) as store:
        sign_in_as(store, "land_officer")
        parcels = approved_parcels(store)
        say("started")
        report = issue_batch(store, parcels, slow_pdf, out, language="en")
        if report.refused or report.failed:
            raise SystemExit(report.summary())
    say("done")


#: the demo blocks a field package is cut for, and what its team adds
PACKAGE_BLOCKS = ("B3A", "B3B", "B3C", "B3D", "B3E", "B4A", "B4B", "B4C", "B4D", "B4E")
PACKAGE_NEW_HOUSEHOLDS = 150


def prepare_package(store: SettlementStore, folder: str) -> None:
    """Cut a package from ``store``, edit it as a team would in QField (plain SQL), and
    edit some of the same people in the office meanwhile: conflicts for the merge."""
    import sqlite3
    import uuid

    from stdm_plugin.core.packages.field_package import PACKAGE_STORE, PackageRequest, cut_package
    from stdm_plugin.core.store.spatialite import load_spatialite

    cut_package(store, folder, PackageRequest(team="Fault", blocks=PACKAGE_BLOCKS,
                                              enumerators=["fault-enumerator"]))
    con = sqlite3.connect(os.path.join(folder, PACKAGE_STORE))
    load_spatialite(con)
    settlement = con.execute("SELECT id FROM settlement").fetchone()[0]
    with con:
        con.execute("UPDATE spatial_unit SET land_use = 'mixed' WHERE kind = 'parcel'")
        con.execute("UPDATE party SET phone = '0700000000' WHERE party_type = 'person'")
        con.execute("DELETE FROM social_tenure WHERE rowid % 5 = 0 "
                    "AND adjudication_state = 'enumerated'")
        for i in range(PACKAGE_NEW_HOUSEHOLDS):
            unit, person = str(uuid.uuid4()), str(uuid.uuid4())
            x, y = 398000 + 25 * (i % 30), 588000 + 25 * (i // 30)
            con.execute("INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, boundary) "
                        "VALUES (?, 'parcel', ?, ?, ?, CastToMulti(GeomFromText(?, 32630)))",
                        (unit, settlement, 5000 + i, f"KOU-P{5000 + i:05d}",
                         box(x, y, x + 20, y + 15).wkt))
            con.execute("INSERT INTO party (id, first_name, last_name) VALUES (?, 'Yao', ?)",
                        (person, f"Nouveau{i}"))
            con.execute("INSERT INTO social_tenure (id, party_id, spatial_unit_id, tenure_type) "
                        "VALUES (?, ?, ?, 'occupant')", (str(uuid.uuid4()), person, unit))
    con.close()
    people = store.db.query(
        "SELECT id FROM party WHERE party_type = 'person' AND id IN (SELECT record_id FROM "
        "field_package_base WHERE table_name = 'party') ORDER BY id LIMIT 20")
    with store.transaction():
        for row in people:
            store.parties.update(row["id"], remarks="seen at the office")


def run_merge(path: str, package: str) -> None:
    from stdm_plugin.core.packages.apply import apply_merge
    from stdm_plugin.core.packages.merge import analyse_merge

    with traced(open_store(path, "fault-merge")) as store:
        say("started")
        plan = analyse_merge(store, package)
        report = apply_merge(store, plan, policy="theirs")
        if report.nothing_changed:
            raise SystemExit("the package brought nothing")
    say("done")


OPERATIONS = {"import": run_import, "enumerate": run_enumerations, "copy": run_copy,
              "certify": run_certify, "merge": run_merge}

if __name__ == "__main__":
    OPERATIONS[sys.argv[1]](*sys.argv[2:])
