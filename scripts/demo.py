#!/usr/bin/env python3
"""Build the demo settlement store and a QGIS project that opens it (``build.py demo``)."""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stdm_plugin.core import SettlementStore  # noqa: E402
from stdm_plugin.core.demo.settlement import load_demo_settlement  # noqa: E402
from stdm_plugin.core.forms.forms import load_form  # noqa: E402
from stdm_plugin.core.forms.xlsform import code_lists_from_store, export_xlsform  # noqa: E402

STORE_NAME = "koumassi_demo.sqlite"
#: the blocks the demo takes through adjudication and certifies (8 parcels each)
CERTIFIED_BLOCKS = ("B1A", "B1B", "B1C", "B1D", "B1E", "B2A", "B2B", "B2C", "B2D", "B2E")


def fresh(path: pathlib.Path) -> None:
    """Remove what an earlier demo run wrote (only our own file names)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


def build_store(out: pathlib.Path) -> tuple[pathlib.Path, dict[str, int]]:
    store_path = out / STORE_NAME
    fresh(store_path)
    with SettlementStore.create(store_path, 32630, actor="demo") as store:
        counts = load_demo_settlement(store, ROOT / "demo" / "data")
    return store_path, counts


def render_map(project_path: pathlib.Path, png: pathlib.Path) -> None:
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings, QgsProject
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    project = QgsProject()
    try:
        project.read(str(project_path))
        layers = [node.layer() for node in project.layerTreeRoot().findLayers()
                  if node.layer().isSpatial()]
        settings = QgsMapSettings()
        settings.setLayers(layers)
        settings.setDestinationCrs(project.crs())
        settings.setExtent(project.viewSettings().defaultViewExtent())
        settings.setOutputSize(QSize(1400, 900))
        settings.setBackgroundColor(QColor("#f4f1ea"))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        job.renderedImage().save(str(png))
    finally:
        project.clear()


def issue_demo_certificates(store_path: pathlib.Path, out: pathlib.Path):
    """Adjudicate some blocks, then issue their certificates as the land officer would."""
    import shutil
    import subprocess

    from stdm_plugin.core.certificates.batch import issue_batch
    from stdm_plugin.core.demo.adjudication import adjudicate_blocks, sign_in_as
    from stdm_plugin.qgis.certificates.layout import CertificateRenderer, shipped_template
    from stdm_plugin.qgis.project.project import build_layers
    from stdm_plugin.qgis.store.sources import source_for

    folder = out / "certificates"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    with SettlementStore.open(store_path, actor="demo") as store:
        adjudication = adjudicate_blocks(store, CERTIFIED_BLOCKS)
        sign_in_as(store, "land_officer")
        parcels = build_layers(source_for(store))["parcels"]
        with CertificateRenderer(shipped_template("en"), parcels,
                                 folder / ".work") as renderer:
            rendered = {}

            def render(sheet, path):
                renderer.render(sheet, path)
                rendered[sheet.number] = sheet

            # every parcel of the adjudicated blocks: the one under objection is refused,
            # with its reason in the batch report, and the batch goes on
            parcels_of_blocks = [u.id for u in store.spatial_units.find(
                "kind = 'parcel'", (), order_by="code") if u.block in CERTIFIED_BLOCKS]
            report = issue_batch(store, parcels_of_blocks, render, str(folder),
                                 language="en", template="certificate_en.qpt")
            sheets = [rendered[c.number] for c in report.issued]
            if sheets:  # one file to print them all
                renderer.render_many(sheets, folder / "all-certificates.pdf")
        del parcels
        report.to_csv(str(folder / "batch-report.csv"))
    shutil.rmtree(folder / ".work", ignore_errors=True)
    page_png = None
    if report.issued and shutil.which("pdftoppm"):
        first = pathlib.Path(report.issued[0].pdf_path)
        subprocess.run(["pdftoppm", "-r", "110", "-png", "-singlefile", str(first),
                        str(out / "certificate_page1")], check=True)
        page_png = out / "certificate_page1.png"
    return adjudication, report, folder, page_png


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "demo-output"),
                        help="folder for the store, project and map (default: demo-output)")
    args = parser.parse_args()
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    store_path, counts = build_store(out)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    try:
        from stdm_plugin.qgis.project.project import write_project

        project_path = out / "koumassi_demo.qgz"
        with SettlementStore.open(store_path, actor="demo") as store:
            write_project(store, str(project_path))
            xlsform = export_xlsform(load_form(ROOT / "forms" / "enumeration.yaml"),
                                     out / "stdm_enumeration.xlsx",
                                     code_lists=code_lists_from_store(store))
        png = out / "koumassi_demo_map.png"
        render_map(project_path, png)
        adjudication, report, certificates, page_png = issue_demo_certificates(store_path, out)
    finally:
        app.exitQgis()
    print("Demo settlement built:")
    print(f"  {counts['parcels']} parcels, {counts['structures']} structures, "
          f"{counts['parties']} parties (households and persons), {counts['tenure']} tenure "
          "records")
    print(f"  store:   {store_path}")
    print(f"  project: {project_path}   (open it in QGIS: qgis {project_path})")
    print(f"  map:     {png}")
    print(f"  form:    {xlsform}   (XLSForm for ODK Collect / KoBoCollect)")
    print(f"  adjudication: {adjudication.verified} claims in {len(CERTIFIED_BLOCKS)} blocks "
          f"verified and displayed, {adjudication.approved} approved, "
          f"{adjudication.objections_open} objection left open")
    print(f"  certificates: {report.summary()}")
    print(f"    PDFs:   {certificates}/   (one per certificate, named by number)")
    print(f"    report: {certificates / 'batch-report.csv'}   (every refused parcel with "
          "its reason)")
    if page_png:
        print(f"    page 1: {page_png}")
    print("  sign in as: officer / demo-officer (land officer), supervisor / demo-supervisor, "
          "admin / demo-admin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
