#!/usr/bin/env python3
"""Field package benchmark (issue #5): merging 20,000 changed records into a large store.

Set-up (not measured, in a process of its own): a store of N parcels
(default 200,000) on a 15 m grid in blocks of 100, each with a household,
a person who owns it, and the claim; a package is cut for about 7,000
parcels (the cut is timed and reported); then the package is edited as
QField leaves it (plain SQL), 20,000 changed records in all:

- 6,000 parcels with a new land use, 6,000 persons with a new phone number,
  1,000 claims deleted;
- 2,334 new parcels, 2,333 new persons and 2,333 new claims on them.

and the office works on meanwhile, so that the merge meets conflicts of
three kinds: 100 of the same persons edited in the store too, 50 persons
added in the store with the ID number of a new person of the package, and
100 parcels added in the store where new parcels of the package lie.

Variants, each on its own copy of the set-up, each in its own process
(peak memory = its max RSS), interleaved, median of the repeats:

- stdm_merge: ``analyse_merge`` + ``apply_merge`` with the policy
  "theirs" for the 250 conflicts: compare every record with the cut's
  fingerprints, find the conflicts, write in one transaction with
  provenance, the history and the register.
- plain_sql: the floor: SQLite applies the same edits knowing already
  what changed, with plain SQL over the ATTACHed package (INSERT ...
  SELECT of the new rows, UPDATE ... FROM of the changed columns, the
  deleted claims retired), in one transaction, through the same audit
  triggers; no comparison, no conflicts, no register.
"""
from __future__ import annotations

import json
import os
import pathlib
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CELL = 15.0
SIDE = 12.0  #: parcel side; the 3 m between parcels keeps neighbours apart
ORIGIN = (380_000.0, 580_000.0)
SRID = 32630
BLOCK = 100
SEED = 5
PACKAGE_BLOCKS = 70  #: about 7,000 parcels
EDITS = {"parcels_changed": 6000, "persons_changed": 6000, "claims_deleted": 1000,
         "parcels_added": 2334, "persons_added": 2333, "claims_added": 2333}
OFFICE = {"persons_edited": 100, "duplicate_persons": 50, "overlapping_parcels": 100}


def rect_wkb(x: float, y: float, w: float = SIDE, h: float = SIDE) -> bytes:
    from shapely.geometry import MultiPolygon, box

    return MultiPolygon([box(x, y, x + w, y + h)]).wkb


def fill(path: str, n: int) -> dict:
    """The store, written with plain SQL through its own triggers."""
    from stdm_plugin.core import SettlementStore
    from stdm_plugin.core.store.spatialite import load_spatialite

    SettlementStore.create(path, SRID, actor="bench").close()
    con = sqlite3.connect(path)
    load_spatialite(con)
    settlement = str(uuid.uuid4())
    cols = int(n ** 0.5) + 1
    with con:
        con.execute("INSERT INTO settlement (id, code, name) VALUES (?, 'BEN', 'Bench')",
                    (settlement,))
        parcels, parties, claims = [], [], []
        for i in range(n):
            x = ORIGIN[0] + (i % cols) * CELL
            y = ORIGIN[1] + (i // cols) * CELL
            unit, home, person = (str(uuid.uuid4()) for _ in range(3))
            block = f"B{(i // cols) // 10:03d}-{(i % cols) // 10:03d}"
            parcels.append((unit, settlement, i + 1, f"BEN-P{i + 1:06d}", block, rect_wkb(x, y)))
            parties.append((home, "household", None, None, f"Ménage {i}", None, None))
            parties.append((person, "person", f"Prénom{i}", f"Nom{i}", None, home,
                            f"CI{i:08d}"))
            claims.append((str(uuid.uuid4()), person, unit))
        con.executemany("INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, "
                        "block, boundary) VALUES (?, 'parcel', ?, ?, ?, 'residential', ?, "
                        f"GeomFromWKB(?, {SRID}))", parcels)
        con.executemany("INSERT INTO party (id, party_type, first_name, last_name, group_name, "
                        "group_party_id, id_document_number) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        parties)
        con.executemany("INSERT INTO social_tenure (id, party_id, spatial_unit_id, tenure_type) "
                        "VALUES (?, ?, ?, 'owner')", claims)
    con.close()
    return {"parcels": n, "cols": cols, "settlement": settlement}


def set_up_child(n: int, folder: str) -> None:
    from stdm_plugin.core import SettlementStore
    from stdm_plugin.core.packages.field_package import PackageRequest, cut_package

    store_path = os.path.join(folder, "store.sqlite")
    facts = fill(store_path, n)
    rng = random.Random(SEED)
    with SettlementStore.open(store_path, actor="office") as store:
        blocks = sorted({r["block"] for r in store.db.query(
            "SELECT DISTINCT block FROM spatial_unit")})
        chosen = rng.sample(blocks, PACKAGE_BLOCKS)
        start = time.perf_counter()
        package = cut_package(store, os.path.join(folder, "package"), PackageRequest(
            team="Bench", blocks=chosen, enumerators=["bench"]))
        facts["cut_seconds"] = time.perf_counter() - start
        facts["package_counts"] = package.counts
    facts["cut_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    facts.update(edit_package(os.path.join(folder, "package", "field_store.sqlite"), facts, rng))
    office_work(store_path, facts, rng)
    with open(os.path.join(folder, "facts.json"), "w", encoding="utf-8") as handle:
        json.dump(facts, handle)


def edit_package(path: str, facts: dict, rng: random.Random) -> dict:
    from stdm_plugin.core.store.spatialite import load_spatialite

    con = sqlite3.connect(path)
    load_spatialite(con)
    units = [r[0] for r in con.execute("SELECT id FROM spatial_unit ORDER BY id")]
    persons = [r[0] for r in con.execute("SELECT id FROM party WHERE party_type = 'person' "
                                         "ORDER BY id")]
    claims = [r[0] for r in con.execute("SELECT id FROM social_tenure ORDER BY id")]
    changed_persons = rng.sample(persons, EDITS["persons_changed"])
    # new parcels in an empty strip south of the grid
    y0 = ORIGIN[1] - 200.0
    added = []
    with con:
        con.executemany("UPDATE spatial_unit SET land_use = 'mixed', updated_by = 'bench' "
                        "WHERE id = ?", [(u,) for u in rng.sample(units, EDITS["parcels_changed"])])
        con.executemany("UPDATE party SET phone = ?, updated_by = 'bench' WHERE id = ?",
                        [(f"07{i:08d}", p) for i, p in enumerate(changed_persons)])
        con.executemany("DELETE FROM social_tenure WHERE id = ?",
                        [(c,) for c in rng.sample(claims, EDITS["claims_deleted"])])
        settlement = facts["settlement"]
        for i in range(EDITS["parcels_added"]):
            unit = str(uuid.uuid4())
            added.append(unit)
            con.execute("INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, "
                        "boundary, created_by, updated_by) VALUES (?, 'parcel', ?, ?, ?, "
                        f"'residential', GeomFromWKB(?, {SRID}), 'bench', 'bench')",
                        (unit, settlement, facts["parcels"] + 1 + i,
                         f"BEN-P{facts['parcels'] + 1 + i:06d}",
                         rect_wkb(ORIGIN[0] + i * CELL, y0)))
        new_persons = []
        for i in range(EDITS["persons_added"]):
            person = str(uuid.uuid4())
            new_persons.append(person)
            con.execute("INSERT INTO party (id, party_type, first_name, last_name, "
                        "id_document_number, created_by, updated_by) VALUES "
                        "(?, 'person', ?, ?, ?, 'bench', 'bench')",
                        (person, f"Nouveau{i}", "Habitant", f"NEW{i:08d}"))
            con.execute("INSERT INTO social_tenure (id, party_id, spatial_unit_id, tenure_type, "
                        "created_by, updated_by) VALUES (?, ?, ?, 'occupant', 'bench', 'bench')",
                        (str(uuid.uuid4()), person, added[i]))
    con.close()
    return {"changed_persons": changed_persons[:OFFICE["persons_edited"]], "y0": y0}


def office_work(path: str, facts: dict, rng: random.Random) -> None:
    from stdm_plugin.core.store.spatialite import load_spatialite

    con = sqlite3.connect(path)
    load_spatialite(con)
    with con:
        con.executemany("UPDATE party SET remarks = 'seen at the office' WHERE id = ?",
                        [(p,) for p in facts.pop("changed_persons")])
        con.executemany("INSERT INTO party (id, party_type, first_name, last_name, "
                        "id_document_number) VALUES (?, 'person', ?, 'Habitant', ?)",
                        [(str(uuid.uuid4()), f"Nouveau{i}", f"NEW{i:08d}")
                         for i in range(OFFICE["duplicate_persons"])])
        con.executemany("INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, "
                        f"boundary) VALUES (?, 'parcel', ?, ?, ?, GeomFromWKB(?, {SRID}))",
                        [(str(uuid.uuid4()), facts["settlement"], 900_000 + i,
                          f"BEN-P{900_000 + i}", rect_wkb(ORIGIN[0] + i * CELL + 3, facts["y0"]))
                         for i in range(OFFICE["overlapping_parcels"])])
    con.close()


# --- the variants ---------------------------------------------------------------
def run_stdm_merge(folder: str) -> dict:
    from stdm_plugin.core import SettlementStore
    from stdm_plugin.core.packages.apply import apply_merge
    from stdm_plugin.core.packages.merge import analyse_merge

    with SettlementStore.open(os.path.join(folder, "store.sqlite"), actor="office") as store:
        start = time.perf_counter()
        plan = analyse_merge(store, os.path.join(folder, "package"))
        analysed = time.perf_counter() - start
        report = apply_merge(store, plan, policy="theirs")
        seconds = time.perf_counter() - start
        kinds: dict[str, int] = {}
        for conflict, _ in report.resolved:
            kinds[conflict.kind] = kinds.get(conflict.kind, 0) + 1
    return {"seconds": seconds, "analyse_seconds": analysed, "changes": len(plan.changes),
            "conflicts": kinds}


def run_plain_sql(folder: str) -> dict:
    from stdm_plugin.core.store.spatialite import load_spatialite

    con = sqlite3.connect(os.path.join(folder, "store.sqlite"), isolation_level=None)
    load_spatialite(con)
    con.execute("ATTACH DATABASE ? AS p", (os.path.join(folder, "package", "field_store.sqlite"),))
    start = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    for table, columns in (("spatial_unit", "id, kind, settlement_id, seq, code, land_use, "
                                            "boundary, created_by, updated_by"),
                           ("party", "id, party_type, first_name, last_name, "
                                     "id_document_number, created_by, updated_by"),
                           ("social_tenure", "id, party_id, spatial_unit_id, tenure_type, "
                                             "created_by, updated_by")):
        con.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM p.{table} x "
                    f"WHERE NOT EXISTS (SELECT 1 FROM main.{table} m WHERE m.id = x.id)")
    con.execute("UPDATE main.spatial_unit SET land_use = x.land_use, updated_by = x.updated_by "
                "FROM p.spatial_unit x WHERE x.id = spatial_unit.id "
                "AND x.land_use IS NOT spatial_unit.land_use")
    con.execute("UPDATE main.party SET phone = x.phone, updated_by = x.updated_by "
                "FROM p.party x WHERE x.id = party.id AND x.phone IS NOT party.phone")
    con.execute("UPDATE main.social_tenure SET end_lifespan_version = "
                "strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id IN (SELECT record_id FROM "
                "main.field_package_base WHERE table_name = 'social_tenure' AND record_id NOT IN "
                "(SELECT id FROM p.social_tenure))")
    changes = con.total_changes
    con.execute("COMMIT")
    seconds = time.perf_counter() - start
    con.close()
    return {"seconds": seconds, "changes": changes}


VARIANTS = {"stdm_merge": run_stdm_merge, "plain_sql": run_plain_sql}


def child(variant: str, folder: str) -> None:
    figures = VARIANTS[variant](folder)
    figures["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def _run(args: list[str], what: str) -> str:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def bench(n: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        base = os.path.join(work, "base")
        os.makedirs(base)
        start = time.perf_counter()
        _run(["--setup", str(n), base], "set-up")
        with open(os.path.join(base, "facts.json"), encoding="utf-8") as handle:
            facts = json.load(handle)
        print(f"set-up: {n:,} parcels, package of {facts['package_counts']} cut in "
              f"{facts['cut_seconds']:.2f} s (peak {facts['cut_peak_mib']:.0f} MiB, with the "
              f"set-up), all in {time.perf_counter() - start:.0f} s", flush=True)
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for round_ in range(repeat):
            for variant in VARIANTS:  # interleaved, each on a fresh copy
                copy = os.path.join(work, f"{variant}-{round_}")
                shutil.copytree(base, copy)
                runs[variant].append(json.loads(_run(["--child", variant, copy],
                                                     variant).strip().splitlines()[-1]))
                shutil.rmtree(copy)
    summary = {v: {"seconds": statistics.median(r["seconds"] for r in rs),
                   "peak_mib": statistics.median(r["peak_mib"] for r in rs), "last": rs[-1]}
               for v, rs in runs.items()}
    print(f"Field package merge: {sum(EDITS.values()):,} changed records into {n:,} parcels "
          f"(median of {repeat}, interleaved)")
    print(f"{'variant':<12}{'seconds':>10}{'records/s':>12}{'peak MiB':>10}  details")
    for variant, figures in summary.items():
        rate = sum(EDITS.values()) / figures["seconds"]
        print(f"{variant:<12}{figures['seconds']:>10.2f}{rate:>12,.0f}"
              f"{figures['peak_mib']:>10.0f}  {figures['last']}")
    ours, floor = summary["stdm_merge"], summary["plain_sql"]
    print(f"ratio stdm_merge/plain_sql: time {ours['seconds'] / floor['seconds']:.2f}x, "
          f"peak memory {ours['peak_mib'] / floor['peak_mib']:.2f}x", flush=True)
    return summary


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "--setup":
        set_up_child(int(sys.argv[2]), sys.argv[3])
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--parcels", type=int, default=200_000)
        parser.add_argument("--repeat", type=int, default=3)
        options = parser.parse_args()
        bench(options.parcels, options.repeat)
