#!/usr/bin/env python3
"""Import benchmark: N submissions of the plugin's own form (a household, its parcel
as a geoshape, four members, two of them co-owners) from an ODK Central style
CSV export, through the core's importer, against loading the same rows with
ogr2ogr and with raw sqlite3 executemany, in the same run. Each variant runs
in its own process, so its peak memory (max RSS) is its own.
"""
from __future__ import annotations

import csv
import json
import os
import pathlib
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAIN = "stdm_enumeration.csv"
MEMBERS = "stdm_enumeration-members.csv"
FIRST = ["Awa", "Issa", "Mariam", "Yao", "Fatou", "Seydou", "Adjoua", "Koffi", "Aminata"]
LAST = ["Koné", "Traoré", "Kouassi", "Bamba", "Ouattara", "Yao", "Diallo"]


def write_export(folder: pathlib.Path, n: int, seed: int = 11) -> None:
    """Seeded export: ``n`` main rows and 4n member rows, as ODK Central writes them."""
    rng = random.Random(seed)
    per_row = int(n ** 0.5) + 1
    with open(folder / MAIN, "w", newline="", encoding="utf-8") as main, \
            open(folder / MEMBERS, "w", newline="", encoding="utf-8") as members:
        m = csv.writer(main)
        p = csv.writer(members)
        # every column of the form, as a real export has them (unanswered ones empty)
        m.writerow(["SubmissionDate", "parcel-parcel_boundary", "parcel-land_use",
                    "parcel-address", "parcel-parcel_photo", "household-household_name",
                    "household-household_remarks", "KEY", "FormVersion"])
        p.writerow(["first_name", "last_name", "sex", "date_of_birth", "age_years",
                    "household_role", "id_document_type", "id_document_number", "id_photo",
                    "phone", "tenure-tenure_type", "tenure-share_numerator",
                    "tenure-share_denominator", "tenure-tenure_start", "tenure-evidence",
                    "tenure-evidence_photo", "PARENT_KEY", "KEY"])
        for i in range(n):
            lat = 5.28 + (i // per_row) * 0.0002
            lon = -3.96 + (i % per_row) * 0.0002
            ring = [(lat, lon), (lat, lon + 0.00015), (lat + 0.00014, lon + 0.00016),
                    (lat + 0.00015, lon - 0.00001), (lat, lon)]
            shape = ";".join(f"{a:.7f} {b:.7f} 10.0 4.0" for a, b in ring)
            key = f"uuid:{i:08d}-{rng.getrandbits(16):04x}-4000-8000-{i:012d}"
            last = rng.choice(LAST)
            m.writerow(["2026-11-20T10:00:00.000Z", shape, "residential", f"Bloc {i // 50}",
                        "", f"Famille {last} {i}", "", key, "2026112501"])
            for j in range(4):
                owner = j < 2
                p.writerow([rng.choice(FIRST), last, "female" if j % 2 else "male", "",
                            30 + j if j < 2 else 5 + j, "head" if j == 0 else
                            ("spouse" if j == 1 else "child"), "", "", "", "",
                            "co_owner" if owner else "", "1" if owner else "",
                            "2" if owner else "", "", "", "", key,
                            f"{key}/members[{j + 1}]"])


def run_core(folder: pathlib.Path, out: pathlib.Path) -> dict:
    from stdm_plugin.core import Settlement, SettlementStore
    from stdm_plugin.core.forms.forms import load_form
    from stdm_plugin.core.submissions.form_mapping import mapping_from_form
    from stdm_plugin.core.submissions.submissions import import_submissions

    form = load_form(ROOT / "forms" / "enumeration.yaml")
    start = time.perf_counter()
    with SettlementStore.create(out, 32630, actor="bench") as store:
        store.settlements.add(Settlement(code="KOU", name="Koumassi"))
        report = import_submissions(store, [folder / MAIN, folder / MEMBERS],
                                    mapping_from_form(form, "KOU"))
        if not report.ok:
            raise SystemExit(report.summary())
        counts = {"parties": store.parties.count(), "tenure": store.tenure.count()}
    return {"seconds": time.perf_counter() - start, **counts}


def run_raw(folder: pathlib.Path, out: pathlib.Path) -> dict:
    import sqlite3

    start = time.perf_counter()
    con = sqlite3.connect(out)
    with con:
        for name, table in ((MAIN, "main"), (MEMBERS, "members")):
            with open(folder / name, newline="", encoding="utf-8") as handle:
                rows = csv.reader(handle)
                header = next(rows)
                columns = ", ".join(f"c{i} TEXT" for i in range(len(header)))
                con.execute(f"CREATE TABLE {table} ({columns})")
                con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(header))})",
                                rows)
    con.close()
    return {"seconds": time.perf_counter() - start}


def run_ogr2ogr(folder: pathlib.Path, out: pathlib.Path) -> dict:
    start = time.perf_counter()
    for name in (MAIN, MEMBERS):
        subprocess.run(["ogr2ogr", "-f", "SQLite", "-append", "-gt", "65536", str(out),
                        str(folder / name)], check=True, capture_output=True)
    return {"seconds": time.perf_counter() - start}


VARIANTS = {"core_import": run_core, "ogr2ogr": run_ogr2ogr, "raw_sqlite3": run_raw}


def child(variant: str, folder: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = pathlib.Path(scratch) / "out.sqlite"
        figures = VARIANTS[variant](pathlib.Path(folder), out)
        figures["file_mib"] = os.path.getsize(out) / 2**20
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # ogr2ogr itself
    figures["peak_mib"] = max(own, children) / 1024
    print(json.dumps(figures))


def measure(variant: str, folder: pathlib.Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", variant, str(folder)],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        export = pathlib.Path(folder)
        write_export(export, n)
        rows = n * 5
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(repeat):
            for variant in VARIANTS:  # interleaved, so machine noise hits all alike
                runs[variant].append(measure(variant, export))
    summary = {v: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mib",
                                                                     "file_mib")}
               for v, rs in runs.items()}
    core = runs["core_import"][-1]
    print(f"Import: {n:,} submissions = {rows:,} CSV rows (household + parcel geoshape + 4 "
          f"members, 2 co-owners) -> {core['parties']:,} parties, {core['tenure']:,} tenure "
          f"(median of {repeat}, interleaved)")
    print(f"{'variant':<14}{'seconds':>10}{'rows/s':>12}{'peak MiB':>10}{'file MiB':>10}")
    for variant, figures in summary.items():
        print(f"{variant:<14}{figures['seconds']:>10.2f}{rows / figures['seconds']:>12,.0f}"
              f"{figures['peak_mib']:>10.0f}{figures['file_mib']:>10.1f}")
    core_figures = summary["core_import"]
    for baseline in ("ogr2ogr", "raw_sqlite3"):
        base = summary[baseline]
        print(f"ratio core_import/{baseline}: time "
              f"{core_figures['seconds'] / base['seconds']:.1f}x, "
              f"peak memory {core_figures['peak_mib'] / base['peak_mib']:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--submissions", type=int, default=50_000)
        parser.add_argument("--repeat", type=int, default=3)
        args = parser.parse_args()
        bench(args.submissions, args.repeat)
