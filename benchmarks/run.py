#!/usr/bin/env python3
"""Benchmarks (``build.py bench``): figures go to BENCHMARKS.md, never into unit tests.

insert: N parcels, each with one household and one tenure record, written
through the core (validation, codes, geodesic areas, audit triggers) into a
new store, against plain ``sqlite3`` executemany of the same rows into the
same columns without any of that, measured in the same run. Each variant
runs in its own process so that its peak memory (max RSS) is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SIDE = 15.0  # metres; parcels on a regular grid in UTM 30N
ORIGIN = (380_000.0, 580_000.0)


def source_rows(n: int):
    """The same input for both variants: parcel squares and household names."""
    from shapely.geometry import box

    per_row = int(n ** 0.5) + 1
    parcels = [box(ORIGIN[0] + (i % per_row) * SIDE, ORIGIN[1] + (i // per_row) * SIDE,
                   ORIGIN[0] + (i % per_row + 1) * SIDE, ORIGIN[1] + (i // per_row + 1) * SIDE)
               for i in range(n)]
    names = [f"Ménage {i:06d}" for i in range(n)]
    return parcels, names


def run_core(n: int, path: str) -> float:
    from stdm_plugin.core import SettlementStore

    parcels, names = source_rows(n)
    start = time.perf_counter()
    with SettlementStore.create(path, 32630, actor="bench") as store:
        fill(store, parcels, names)
    return time.perf_counter() - start


def run_core_postgis(n: int, path: str) -> float:
    from stdm_plugin.core import SettlementStore

    connection = json.loads(os.environ["STDM_BENCH_PG"])
    schema = f"bench_{os.getpid()}"
    parcels, names = source_rows(n)
    start = time.perf_counter()
    with SettlementStore.create_postgis(connection, schema, 32630, actor="bench") as store:
        fill(store, parcels, names)
    seconds = time.perf_counter() - start
    import psycopg2

    with psycopg2.connect(**connection) as con, con.cursor() as cursor:
        cursor.execute(f"SELECT pg_total_relation_size(oid) FROM pg_class WHERE relnamespace = "
                       f"'{schema}'::regnamespace")
        sizes = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")
    with open(path, "wb") as handle:  # so the report's file size means the data's size
        handle.truncate(sum(sizes))
    return seconds


def fill(store, parcels, names) -> None:
    """The measured work: one transaction through the core's repositories."""
    from stdm_plugin.core import Party, Settlement, SocialTenure, SpatialUnit

    with store.transaction():
        site = store.settlements.add(Settlement(code="BEN", name="Benchmark"))
        units = store.spatial_units.add_many(
            [SpatialUnit(kind="parcel", settlement_id=site.id, land_use="residential",
                         boundary=p) for p in parcels])
        households = store.parties.add_many(
            [Party(party_type="household", group_name=name) for name in names])
        store.tenure.add_many(
            [SocialTenure(party_id=h.id, spatial_unit_id=u.id, tenure_type="occupant")
             for h, u in zip(households, units)])


BASELINE_SCHEMA = """
CREATE TABLE spatial_unit (id TEXT PRIMARY KEY, kind TEXT, settlement_id TEXT, seq INTEGER,
    code TEXT, land_use TEXT, area_m2 REAL, boundary BLOB, created_by TEXT, updated_by TEXT);
CREATE TABLE party (id TEXT PRIMARY KEY, party_type TEXT, group_name TEXT, created_by TEXT,
    updated_by TEXT);
CREATE TABLE social_tenure (id TEXT PRIMARY KEY, party_id TEXT, spatial_unit_id TEXT,
    tenure_type TEXT, share_numerator INTEGER, share_denominator INTEGER, created_by TEXT,
    updated_by TEXT);
"""


def run_raw(n: int, path: str) -> float:
    import sqlite3
    import uuid

    parcels, names = source_rows(n)
    start = time.perf_counter()
    con = sqlite3.connect(path)
    con.executescript(BASELINE_SCHEMA)
    unit_ids = [str(uuid.uuid4()) for _ in range(n)]
    party_ids = [str(uuid.uuid4()) for _ in range(n)]
    with con:
        con.executemany(
            "INSERT INTO spatial_unit VALUES (?, 'parcel', 'site', ?, ?, 'residential', ?, ?, "
            "'bench', 'bench')",
            ((uid, i + 1, f"BEN-P{i + 1:05d}", p.area, p.wkb)
             for i, (uid, p) in enumerate(zip(unit_ids, parcels))))
        con.executemany("INSERT INTO party VALUES (?, 'household', ?, 'bench', 'bench')",
                        zip(party_ids, names))
        con.executemany(
            "INSERT INTO social_tenure VALUES (?, ?, ?, 'occupant', 1, 1, 'bench', 'bench')",
            ((str(uuid.uuid4()), pid, uid) for pid, uid in zip(party_ids, unit_ids)))
    con.close()
    return time.perf_counter() - start


VARIANTS = {"core": run_core, "core_postgis": run_core_postgis, "raw_sqlite3": run_raw}


def child(variant: str, n: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        seconds = VARIANTS[variant](n, os.path.join(folder, "bench.sqlite"))
        size = os.path.getsize(os.path.join(folder, "bench.sqlite"))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"variant": variant, "seconds": seconds, "peak_mib": peak_kib / 1024,
                      "file_mib": size / 2**20}))


def measure(variant: str, n: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", variant, "--parcels", str(n)],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per variant, interleaved; the median is reported")
    parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--suite", choices=("insert", "import", "certificates", "geometry",
                                            "packages", "signing", "all"),
                        default="all", help="insert (this file), import (import_bench.py), "
                        "certificates (certificate_bench.py), geometry (geometry_bench.py), "
                        "packages (package_bench.py), signing (signing_bench.py), or all six")
    parser.add_argument("--package-parcels", type=int, default=200_000,
                        help="parcels in the store the packages suite merges into")
    parser.add_argument("--certificates", type=int, default=500,
                        help="certificates for the certificates suite")
    parser.add_argument("--signatures", type=int, default=200,
                        help="payloads signed and verified by the signing suite")
    parser.add_argument("--submissions", type=int, default=50_000,
                        help="submissions for the import suite")
    parser.add_argument("--geometry-parcels", default="100000,1000000",
                        help="settlement sizes for the geometry suite, comma-separated")
    parser.add_argument("--geometry-baseline-max", type=int, default=1_000_000,
                        help="largest size the SpatiaLite SQL and QGIS baselines run on")
    parser.add_argument("--geometry-postgis-max", type=int, default=100_000,
                        help="largest size the check also runs on PostGIS")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.parcels)
        return 0
    if args.suite in ("signing", "all"):
        from signing_bench import bench as signing_bench

        signing_bench(args.signatures, args.repeat)
        if args.suite == "signing":
            return 0
    if args.suite in ("packages", "all"):
        from package_bench import bench as package_bench

        package_bench(args.package_parcels, args.repeat)
        if args.suite == "packages":
            return 0
    if args.suite in ("geometry", "all"):
        from geometry_bench import bench as geometry_bench

        geometry_bench([int(n) for n in args.geometry_parcels.split(",")], args.repeat,
                       args.geometry_baseline_max, args.geometry_postgis_max)
        if args.suite == "geometry":
            return 0
    if args.suite in ("certificates", "all"):
        from certificate_bench import bench as certificate_bench

        certificate_bench(args.certificates, args.repeat)
        if args.suite == "certificates":
            return 0
    if args.suite in ("import", "all"):
        from import_bench import bench

        bench(args.submissions, args.repeat)
        if args.suite == "import":
            return 0
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    from tests.postgis_server import running_postgis

    with running_postgis() as server:
        os.environ["STDM_BENCH_PG"] = json.dumps(
            {"host": server.host, "port": server.port, "user": server.user,
             "dbname": server.dbname})
        for _ in range(args.repeat):
            for variant in VARIANTS:  # interleaved, so machine noise hits all alike
                runs[variant].append(measure(variant, args.parcels))
    summary = {v: {"seconds": statistics.median(r["seconds"] for r in rs),
                   "peak_mib": statistics.median(r["peak_mib"] for r in rs),
                   "file_mib": rs[-1]["file_mib"]} for v, rs in runs.items()}
    raw = summary["raw_sqlite3"]
    print(f"Bulk insert: {args.parcels:,} parcels + 1 household + 1 tenure each "
          f"(median of {args.repeat}, interleaved)")
    print(f"{'variant':<14}{'seconds':>10}{'rows/s':>12}{'peak MiB':>10}{'file MiB':>10}")
    for variant, figures in summary.items():
        rate = 3 * args.parcels / figures["seconds"]
        print(f"{variant:<14}{figures['seconds']:>10.2f}{rate:>12,.0f}"
              f"{figures['peak_mib']:>10.0f}{figures['file_mib']:>10.1f}")
    for variant in ("core", "core_postgis"):
        figures = summary[variant]
        print(f"ratio {variant}/raw_sqlite3: time {figures['seconds'] / raw['seconds']:.1f}x, "
              f"peak memory {figures['peak_mib'] / raw['peak_mib']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
