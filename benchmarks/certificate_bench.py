#!/usr/bin/env python3
"""Certificate benchmark: issuing N certificates against QGIS's own atlas export.

stdm_issue: the plugin's whole issuing path for N approved parcels, one
certificate at a time (eligibility checks, gap-free numbering, snapshot,
Ed25519 signature, QR code, one PDF from the certificate layout, SHA-256 of
the PDF, register rows and claim states, one transaction each).

qgis_atlas: the same layout, over the same parcels with the same printed
values, exported by QGIS's own atlas (``QgsLayoutExporter.exportToPdfs``,
one PDF per feature) with nothing else: the floor for drawing these pages.
Its sheets are prepared before the clock starts.

Both run in their own process (peak memory = max RSS of that process, QGIS
included), interleaved, on copies of one prepared store.
"""
from __future__ import annotations

import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIDE = 14.0
ORIGIN = (395_000.0, 585_000.0)
PER_ROW = 25
FIRST = ["Awa", "Issa", "Mariam", "Yao", "Fatou", "Seydou", "Adjoua", "Koffi", "Aminata"]
LAST = ["Koné", "Traoré", "Kouassi", "Bamba", "Ouattara", "Diallo"]


def prepare_store(path: str, n: int) -> None:
    """N parcels on a grid, each held by two co-owners, all approved."""
    from shapely.geometry import box

    from stdm_plugin.core import Party, Settlement, SettlementStore, SocialTenure, SpatialUnit
    from stdm_plugin.core.demo.adjudication import adjudicate_blocks

    with SettlementStore.create(path, 32630, actor="bench") as store:
        site = store.settlements.add(Settlement(code="BEN", name="Bench Campement"))
        parcels = store.spatial_units.add_many([SpatialUnit(
            kind="parcel", settlement_id=site.id, land_use="residential",
            block=f"R{i // PER_ROW:02d}",
            boundary=box(ORIGIN[0] + (i % PER_ROW) * SIDE, ORIGIN[1] + (i // PER_ROW) * SIDE,
                         ORIGIN[0] + (i % PER_ROW + 1) * SIDE,
                         ORIGIN[1] + (i // PER_ROW + 1) * SIDE)) for i in range(n)])
        people = store.parties.add_many([Party(
            first_name=FIRST[i % len(FIRST)], last_name=f"{LAST[i % len(LAST)]} {i // 2}")
            for i in range(2 * n)])
        store.tenure.add_many([SocialTenure(
            party_id=people[2 * i + j].id, spatial_unit_id=parcels[i].id,
            tenure_type="co_owner", share_numerator=1, share_denominator=2)
            for i in range(n) for j in range(2)])
        adjudicate_blocks(store, None, objection=False)


def _qgis():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    return app


def run_stdm_issue(store_path: str, out: str) -> tuple[float, int]:
    from stdm_plugin.core import SettlementStore
    from stdm_plugin.core.certificates.batch import approved_parcels, issue_batch
    from stdm_plugin.core.demo.adjudication import sign_in_as
    from stdm_plugin.qgis.certificates.layout import CertificateRenderer, shipped_template
    from stdm_plugin.qgis.project.project import build_layers
    from stdm_plugin.qgis.store.sources import source_for

    with SettlementStore.open(store_path, actor="bench") as store:
        sign_in_as(store, "land_officer")
        parcels = build_layers(source_for(store))["parcels"]
        with CertificateRenderer(shipped_template("en"), parcels, out + "/work") as renderer:
            ids = approved_parcels(store)
            start = time.perf_counter()
            report = issue_batch(store, ids, renderer.render, out, language="en")
            seconds = time.perf_counter() - start
        del parcels
    if report.refused or report.failed:
        raise SystemExit(f"benchmark batch not clean: {report.summary()}")
    return seconds, len(report.issued)


def frozen_sheets(store) -> list:
    """The sheets the issuing path would print, without numbering anything."""
    from stdm_plugin.core.certificates.batch import approved_parcels
    from stdm_plugin.core.certificates.snapshot import (
        build_snapshot,
        certificate_sheet,
        read_parcel_claims,
    )
    from stdm_plugin.core.store.store import utc_now

    sheets = []
    for seq, parcel_id in enumerate(approved_parcels(store), start=1):
        number = f"BEN-2026-{seq:06d}"
        snapshot = build_snapshot(store, read_parcel_claims(store, parcel_id), number=number,
                                  series="BEN-2026", issued_at=utc_now(), issuer=store.user,
                                  language="en")
        # a payload as long as a signed one: the QR code has the same size
        payload = f"STDM2|{number}|2026-01-01|{'A' * 43}|{'0' * 16}|{'B' * 86}"
        sheets.append(certificate_sheet(store, snapshot, payload, tempfile.gettempdir()))
    return sheets


def run_qgis_atlas(store_path: str, out: str) -> tuple[float, int]:
    from qgis.core import QgsLayoutExporter

    from stdm_plugin.core import SettlementStore
    from stdm_plugin.core.demo.adjudication import sign_in_as
    from stdm_plugin.qgis.certificates.layout import CertificateRenderer, shipped_template
    from stdm_plugin.qgis.certificates.render import pdf_settings, sheet_feature
    from stdm_plugin.qgis.project.project import build_layers
    from stdm_plugin.qgis.store.sources import source_for

    with SettlementStore.open(store_path, actor="bench") as store:
        sign_in_as(store, "land_officer")
        sheets = frozen_sheets(store)
        parcels = build_layers(source_for(store))["parcels"]
        with CertificateRenderer(shipped_template("en"), parcels, out + "/work") as renderer:
            renderer._use_srid(sheets[0].srid)  # the coverage layer, as render() sets it up
            files = [renderer._write_files(s) for s in sheets]
            layer = renderer.coverage
            layer.dataProvider().addFeatures(
                [sheet_feature(layer, s, f) for s, f in zip(sheets, files)])
            layer.updateExtents()
            atlas = renderer.layout.atlas()
            atlas.setFilenameExpression('"certificate_number"')
            start = time.perf_counter()
            result, error = QgsLayoutExporter.exportToPdfs(atlas, out + "/atlas.pdf",
                                                           pdf_settings())
            seconds = time.perf_counter() - start
            if result != QgsLayoutExporter.Success:
                raise SystemExit(f"atlas export failed: {error}")
        del parcels
    written = len([p for p in os.listdir(out) if p.endswith(".pdf")])
    return seconds, written


VARIANTS = {"stdm_issue": run_stdm_issue, "qgis_atlas": run_qgis_atlas}


def child(variant: str, template_store: str) -> None:
    app = _qgis()
    try:
        with tempfile.TemporaryDirectory() as folder:
            store = os.path.join(folder, "bench.sqlite")
            shutil.copy(template_store, store)
            out = os.path.join(folder, "pdf")
            os.mkdir(out)
            seconds, pages = VARIANTS[variant](store, out)
    finally:
        app.exitQgis()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"variant": variant, "seconds": seconds, "pdfs": pages,
                      "peak_mib": peak_kib / 1024}))


def measure(variant: str, template_store: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", variant, template_store],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(n: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        template = os.path.join(folder, "template.sqlite")
        prepare_store(template, n)
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(repeat):
            for variant in VARIANTS:  # interleaved, so machine noise hits both alike
                runs[variant].append(measure(variant, template))
    summary = {v: {"seconds": statistics.median(r["seconds"] for r in rs),
                   "peak_mib": statistics.median(r["peak_mib"] for r in rs),
                   "pdfs": rs[-1]["pdfs"]} for v, rs in runs.items()}
    print(f"Certificates: {n} approved parcels, 2 holders each (median of {repeat}, "
          "interleaved)")
    print(f"{'variant':<12}{'seconds':>10}{'PDFs':>7}{'per minute':>12}{'peak MiB':>10}")
    for variant, figures in summary.items():
        print(f"{variant:<12}{figures['seconds']:>10.2f}{figures['pdfs']:>7}"
              f"{60 * figures['pdfs'] / figures['seconds']:>12.0f}"
              f"{figures['peak_mib']:>10.0f}")
    ours, atlas = summary["stdm_issue"], summary["qgis_atlas"]
    print(f"ratio stdm_issue/qgis_atlas: time {ours['seconds'] / atlas['seconds']:.2f}x, "
          f"peak memory {ours['peak_mib'] / atlas['peak_mib']:.2f}x")
    return summary


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--certificates", type=int, default=500)
        parser.add_argument("--repeat", type=int, default=3)
        args = parser.parse_args()
        bench(args.certificates, args.repeat)
