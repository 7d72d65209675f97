#!/usr/bin/env python3
"""Geometry check benchmark: our check_geometry against SpatiaLite SQL and QGIS.

A seeded settlement of N parcels on a slightly irregular grid (15 m cells,
inner corners moved up to 1 m) with half as many structures, and defects
planted where we know them: overlaps and gaps (0.1% of the parcels each:
a parcel edge moved 0.6 m out or in along its neighbours' edges), invalid
bow-ties, duplicates (exact and 5 mm apart), parcels wholly and partly
outside the settlement boundary, structures (footprints and GPS points)
outside every parcel, and footprints crossing their parcel line by 0.1 m,
within the tolerance (0.02% each, 0.01% for the parcels outside). The
store is written with raw SQL (the set-up is not measured).

- stdm_check: ``check_geometry`` on the store: every kind, every planted
  defect found and nothing else (asserted exactly).
- stdm_check_postgis: the same on a PostGIS copy of the store.
- spatialite_sql: the overlap check alone as SpatiaLite SQL: a self-join
  through the R-tree of ``spatial_unit.boundary``, ``ST_Overlaps`` and
  ``ST_Area(ST_Intersection(...)) > 0.5`` (mod_spatialite 5).
- qgis_validity: QGIS's own "Check validity" (qgis:checkvalidity, GEOS
  method) over the same parcels, in process with a QgsApplication.

Each variant runs in its own process (peak memory = its max RSS),
interleaved, median of the repeats; the set-up too runs in a process of
its own, so that the parent stays small (see set_up).
"""
from __future__ import annotations

import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CELL = 15.0
JITTER = 1.0
SHIFT = 0.6  #: how far an overlap or gap moves a parcel edge (metres)
ORIGIN = (380_000.0, 580_000.0)
MARGIN = 5.0  #: settlement boundary beyond the grid
SRID = 32630
SEED = 6
PAGE = 50_000
EXPECTED_KINDS = ("invalid_geometry", "overlap", "duplicate", "gap", "outside_settlement",
                  "structure_outside_parcel")


def plan(n: int) -> dict:
    """How many of each defect a settlement of about ``n`` parcels gets."""
    k, m, o = max(1, n // 1000), max(2, n // 5000), max(1, n // 10000)
    m += m % 2  # duplicates: half exact, half 5 mm apart
    side = int(round((n - m - 2 * o) ** 0.5))
    return {"cols": side, "rows": side, "overlaps": k, "gaps": k, "bowties": m,
            "duplicates": m, "outside_whole": o, "outside_part": o, "structures_out": m,
            "points_out": m, "within_tolerance": m}


def settlement_rows(n: int):
    """The parcels and structures as (kind, polygon or point) with the expected findings."""
    import numpy
    import shapely

    p = plan(n)
    cols, rows = p["cols"], p["rows"]
    rng = numpy.random.default_rng(SEED)
    xs = ORIGIN[0] + CELL * numpy.arange(cols + 1)[:, None] + numpy.zeros((1, rows + 1))
    ys = ORIGIN[1] + CELL * numpy.arange(rows + 1)[None, :] + numpy.zeros((cols + 1, 1))
    inner = (slice(1, cols), slice(1, rows))
    xs[inner] += rng.uniform(-JITTER, JITTER, (cols - 1, rows - 1))
    ys[inner] += rng.uniform(-JITTER, JITTER, (cols - 1, rows - 1))
    nodes = numpy.stack([xs, ys], axis=-1)
    i, j = numpy.meshgrid(numpy.arange(cols), numpy.arange(rows), indexing="ij")
    i, j = i.ravel(), j.ravel()
    ring = numpy.stack([nodes[i, j], nodes[i + 1, j], nodes[i + 1, j + 1], nodes[i, j + 1],
                        nodes[i, j]], axis=1)  # A, B, C, D, A
    # planted cells are 4 apart both ways, so no two defects touch
    spaced = numpy.flatnonzero((i % 4 == 2) & (j % 4 == 2) & (i < cols - 2) & (j < rows - 2))
    picked = rng.choice(spaced, p["overlaps"] + p["gaps"] + 3 * p["bowties"], replace=False)
    cuts = numpy.cumsum([p["overlaps"], p["gaps"], p["bowties"], p["duplicates"]])
    over, gap, bow, dup, tol = numpy.split(picked, cuts)
    for cells, sign in ((over, 1.0), (gap, -1.0)):  # move B and C along AB and DC
        a, b, c, d = (ring[cells, k] for k in range(4))
        ring[cells, 1] = b + sign * SHIFT * _unit(b - a)
        ring[cells, 2] = c + sign * SHIFT * _unit(c - d)
    ring[bow] = ring[bow][:, [0, 1, 3, 2, 0]]  # A, B, D, C: a bow-tie
    parcels = list(shapely.polygons(ring))
    half = len(dup) // 2
    parcels += [parcels[c] for c in dup[:half]]
    parcels += [shapely.affinity.translate(parcels[c], 0.005) for c in dup[half:]]
    top, x1 = ORIGIN[1] + rows * CELL, ORIGIN[0] + cols * CELL
    for k in range(p["outside_whole"]):
        parcels.append(shapely.box(ORIGIN[0] + 20 * k, top + 20, ORIGIN[0] + 20 * k + 8,
                                   top + 28))
    for k in range(p["outside_part"]):  # 3 m inside the boundary, 5 m beyond it
        parcels.append(shapely.box(ORIGIN[0] + 20 * k + 10, top + 2, ORIGIN[0] + 20 * k + 18,
                                   top + 10))
    structures = _structures(rng, ring, set(bow.tolist()), tol, p)
    boundary = shapely.box(ORIGIN[0] - MARGIN, ORIGIN[1] - MARGIN, x1 + MARGIN, top + MARGIN)
    expected = {"invalid_geometry": p["bowties"], "overlap": p["overlaps"],
                "duplicate": p["duplicates"], "gap": p["gaps"],
                "outside_settlement": p["outside_whole"] + p["outside_part"],
                "structure_outside_parcel": p["structures_out"] + p["points_out"]}
    return parcels, structures, boundary, expected


def _unit(vectors):
    import numpy

    return vectors / numpy.linalg.norm(vectors, axis=1)[:, None]


def _structures(rng, ring, bowties: set, tolerance_cells, p: dict) -> list:
    """Footprints in half of the cells, GPS points in 1%, and the planted ones."""
    import numpy
    import shapely

    cells = len(ring)
    centre = ring[:, :4].mean(axis=1)
    free = numpy.array([c for c in range(cells) if c not in bowties])
    chosen = rng.choice(free, cells // 2, replace=False)
    out = list(shapely.box(centre[chosen, 0] - 2.5, centre[chosen, 1] - 2.5,
                           centre[chosen, 0] + 2.5, centre[chosen, 1] + 2.5))
    rest = numpy.setdiff1d(free, chosen)[: cells // 100]
    out += list(shapely.points(centre[rest]))
    a, d = ring[tolerance_cells, 0], ring[tolerance_cells, 3]
    along = _unit(d - a)
    inward = numpy.column_stack([along[:, 1], -along[:, 0]])
    mid = (a + d) / 2
    corners = [mid - 2 * along - 0.1 * inward, mid + 2 * along - 0.1 * inward,
               mid + 2 * along + 4 * inward, mid - 2 * along + 4 * inward]
    out += list(shapely.polygons(numpy.stack(corners + corners[:1], axis=1)))
    for k in range(p["structures_out"]):  # in the boundary's margin, below the grid
        out.append(shapely.box(ORIGIN[0] + 20 * k, ORIGIN[1] - 4, ORIGIN[0] + 20 * k + 3,
                               ORIGIN[1] - 1))
    for k in range(p["points_out"]):  # in the margin left of the grid
        out.append(shapely.Point(ORIGIN[0] - 2.5, ORIGIN[1] + 20 * k + 7))
    return out


def fill(store, n: int) -> dict:
    """Write the settlement with plain SQL; returns the findings expected per kind."""
    import shapely

    from stdm_plugin.core import Settlement

    parcels, structures, boundary, expected = settlement_rows(n)
    site = store.settlements.add(Settlement(code="BEN", name="Bench", boundary=boundary))
    db = store.db
    sql = ("INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, area_m2, "
           f"boundary, location, created_by, updated_by) VALUES (?, ?, ?, ?, ?, 'residential', "
           f"?, {db.geometry_param(SRID, True)}, {db.geometry_param(SRID)}, 'bench', 'bench')")
    for kind, letter, shapes in (("parcel", "P", parcels), ("structure", "S", structures)):
        for start in range(0, len(shapes), PAGE):
            page = shapes[start:start + PAGE]
            points = shapely.get_type_id(page) == 0
            blobs = shapely.to_wkb(page)
            spots = shapely.to_wkb(shapely.centroid(page))
            rows = [(str(uuid.uuid4()), kind, site.id, start + k + 1,
                     f"BEN-{letter}{start + k + 1:05d}",
                     None if points[k] else round(shape.area, 2),
                     None if points[k] else blobs[k], spots[k])
                    for k, shape in enumerate(page)]
            with store.transaction():
                db.executemany(sql, rows)
    return {"expected": expected, "parcels": len(parcels), "structures": len(structures),
            "settlement_id": site.id}


# --- the variants, each in its own process -------------------------------------------------
def run_stdm_check(store_path: str, facts: dict) -> dict:
    from stdm_plugin.core import SettlementStore

    with SettlementStore.open(store_path, actor="bench", read_only=True) as store:
        return _timed_check(store, facts)


def run_stdm_check_postgis(store_path: str, facts: dict) -> dict:
    from stdm_plugin.core import SettlementStore

    connection = json.loads(os.environ["STDM_BENCH_PG"])
    with SettlementStore.open_postgis(connection, facts["schema"], actor="bench") as store:
        return _timed_check(store, facts)


def _timed_check(store, facts: dict) -> dict:
    from stdm_plugin.core.cadastre.geometry_check import check_geometry

    start = time.perf_counter()
    report = check_geometry(store)
    seconds = time.perf_counter() - start
    counts = {kind: len(report.of_kind(kind)) for kind in EXPECTED_KINDS}
    if counts != facts["expected"]:
        raise SystemExit(f"check_geometry found {counts}, planted {facts['expected']}")
    return {"seconds": seconds, "found": counts, "checked": report.parcels_checked}


OVERLAP_SQL = """
SELECT count(*) FROM spatial_unit a JOIN spatial_unit b
  ON b.ROWID IN (SELECT pkid FROM idx_spatial_unit_boundary
                 WHERE xmin <= MbrMaxX(a.boundary) AND xmax >= MbrMinX(a.boundary)
                   AND ymin <= MbrMaxY(a.boundary) AND ymax >= MbrMinY(a.boundary))
WHERE a.kind = 'parcel' AND b.kind = 'parcel' AND a.id < b.id
  AND a.end_lifespan_version IS NULL AND b.end_lifespan_version IS NULL
  AND ST_Overlaps(a.boundary, b.boundary) = 1
  AND ST_Area(ST_Intersection(a.boundary, b.boundary)) > 0.5"""


def run_spatialite_sql(store_path: str, facts: dict) -> dict:
    import sqlite3

    from stdm_plugin.core.store.spatialite import load_spatialite

    con = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    load_spatialite(con)
    start = time.perf_counter()
    (found,) = con.execute(OVERLAP_SQL).fetchone()
    seconds = time.perf_counter() - start
    con.close()
    return {"seconds": seconds, "found": {"overlap": found}, "checked": facts["parcels"]}


def run_qgis_validity(store_path: str, facts: dict) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication, QgsProcessingFeedback, QgsVectorLayer

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    import processing
    from processing.core.Processing import Processing

    Processing.initialize()
    try:
        uri = (f"dbname='{store_path}' table=\"spatial_unit\" (boundary) "
               "sql=kind = 'parcel' AND end_lifespan_version IS NULL")
        layer = QgsVectorLayer(uri, "parcels", "spatialite")
        if not layer.isValid():
            raise SystemExit(f"QGIS cannot read {uri}")
        start = time.perf_counter()
        result = processing.run("qgis:checkvalidity", {
            "INPUT_LAYER": layer, "METHOD": 2, "IGNORE_RING_SELF_INTERSECTION": False,
            "VALID_OUTPUT": "memory:", "INVALID_OUTPUT": "memory:", "ERROR_OUTPUT": "memory:"},
            feedback=QgsProcessingFeedback())
        seconds = time.perf_counter() - start
        found = {"invalid_geometry": int(result["INVALID_COUNT"]),
                 "errors": int(result["ERROR_COUNT"]), "valid": int(result["VALID_COUNT"])}
        del layer, result
    finally:
        app.exitQgis()
    return {"seconds": seconds, "found": found, "checked": facts["parcels"]}


VARIANTS = {"stdm_check": run_stdm_check, "stdm_check_postgis": run_stdm_check_postgis,
            "spatialite_sql": run_spatialite_sql, "qgis_validity": run_qgis_validity}


def child(variant: str, store_path: str) -> None:
    with open(store_path + ".json", encoding="utf-8") as handle:
        facts = json.load(handle)
    figures = VARIANTS[variant](store_path, facts)
    figures["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["variant"] = variant
    print(json.dumps(figures))


def measure(variant: str, store_path: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", variant, store_path],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(sizes: list[int], repeat: int, baseline_max: int, postgis_max: int) -> dict:
    """Every size in ``sizes``; the SQL and QGIS baselines up to ``baseline_max`` parcels,
    the PostGIS run up to ``postgis_max``."""
    import contextlib

    results: dict = {}
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        server = None
        if any(n <= postgis_max for n in sizes):
            from tests.postgis_server import running_postgis

            server = stack.enter_context(running_postgis())
            os.environ["STDM_BENCH_PG"] = json.dumps(
                {"host": server.host, "port": server.port, "user": server.user,
                 "dbname": server.dbname})
        for n in sizes:
            path = os.path.join(folder, f"settlement_{n}.sqlite")
            start = time.perf_counter()
            facts = set_up(n, path)
            print(f"set-up: {facts['parcels']:,} parcels, {facts['structures']:,} structures "
                  f"in {time.perf_counter() - start:.0f} s", flush=True)
            variants = {"stdm_check": path}
            if n <= baseline_max:
                variants.update({"spatialite_sql": path, "qgis_validity": path})
            if server is not None and n <= postgis_max:
                pg_path = os.path.join(folder, f"postgis_{n}")
                set_up(n, pg_path, schema=f"geometry_bench_{n}")
                variants["stdm_check_postgis"] = pg_path
            runs: dict[str, list[dict]] = {v: [] for v in variants}
            for _ in range(repeat):
                for variant, where in variants.items():  # interleaved
                    runs[variant].append(measure(variant, where))
            results[n] = _summary(facts, runs)
            _print(n, facts, results[n], repeat)
    return results


def set_up(n: int, path: str, schema: str = "") -> dict:
    """Write the settlement in a process of its own, so that this one stays small.

    (A child started with vfork keeps its parent's peak memory as its own
    starting max RSS on Linux: a parent that built a million shapes would
    hide every variant's peak behind its own.)
    """
    done = subprocess.run([sys.executable, __file__, "--setup", str(n), path, schema],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"set-up of {n} parcels failed:\n{done.stderr[-3000:]}")
    with open(path + ".json", encoding="utf-8") as handle:
        return json.load(handle)


def setup_child(n: int, path: str, schema: str) -> None:
    from stdm_plugin.core import SettlementStore

    if schema:
        connection = json.loads(os.environ["STDM_BENCH_PG"])
        with SettlementStore.create_postgis(connection, schema, SRID, actor="bench") as store:
            facts = {**fill(store, n), "schema": schema}
    else:
        with SettlementStore.create(path, SRID, actor="bench") as store:
            facts = fill(store, n)
    _write_json(path + ".json", facts)


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def _summary(facts: dict, runs: dict[str, list[dict]]) -> dict:
    return {v: {"seconds": statistics.median(r["seconds"] for r in rs),
                "peak_mib": statistics.median(r["peak_mib"] for r in rs),
                "found": rs[-1]["found"], "parcels": facts["parcels"]}
            for v, rs in runs.items()}


def _print(n: int, facts: dict, summary: dict, repeat: int) -> None:
    print(f"Geometry check: {facts['parcels']:,} parcels, {facts['structures']:,} structures "
          f"(median of {repeat}, interleaved); planted: {facts['expected']}")
    print(f"{'variant':<20}{'seconds':>10}{'parcels/s':>12}{'peak MiB':>10}  found")
    for variant, figures in summary.items():
        rate = figures["parcels"] / figures["seconds"]
        print(f"{variant:<20}{figures['seconds']:>10.2f}{rate:>12,.0f}"
              f"{figures['peak_mib']:>10.0f}  {figures['found']}")
    ours = summary["stdm_check"]
    for other in ("spatialite_sql", "qgis_validity", "stdm_check_postgis"):
        if other in summary:
            theirs = summary[other]
            print(f"ratio stdm_check/{other}: time {ours['seconds'] / theirs['seconds']:.2f}x, "
                  f"peak memory {ours['peak_mib'] / theirs['peak_mib']:.2f}x")
    print(flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "--setup":
        setup_child(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--geometry-parcels", default="100000,1000000")
        parser.add_argument("--baseline-max", type=int, default=1_000_000)
        parser.add_argument("--postgis-max", type=int, default=100_000)
        parser.add_argument("--repeat", type=int, default=3)
        args = parser.parse_args()
        bench([int(v) for v in args.geometry_parcels.split(",")], args.repeat,
              args.baseline_max, args.postgis_max)
