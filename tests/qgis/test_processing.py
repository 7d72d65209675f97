"""The "stdm" Processing provider (issue #6 point 5, and point 1's algorithm).

Every algorithm is run as a script or model runs it, through
``processing.run("stdm:...")``, on a small store with planted defects (an
overlap, a gap and a bow-tie written by raw SQL, since the repository
refuses it) and on small files written here with fiona. The last test
runs the packaged plugin from the command line with ``qgis_process``.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import fiona
import pytest
import shapely
from qgis.core import (
    QgsApplication,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDateTime, Qt
from shapely.geometry import box, mapping

from stdm_plugin.core import Party, Settlement, SettlementStore, SpatialUnit
from stdm_plugin.plugin import StdmPlugin

QGIS_PYTHON_PLUGINS = "/usr/share/qgis/python/plugins"
QGIS_PROCESS = "/usr/bin/qgis_process.bin"  # /usr/bin/qgis_process is Debian's wrapper
ALGORITHMS = ["stdm:checkgeometry", "stdm:cutfieldpackage", "stdm:exportchanges",
              "stdm:exportstore", "stdm:importstructures", "stdm:mergefieldpackage",
              "stdm:reconcilecadastre"]
X0, Y0 = 400_000.0, 590_000.0
BOW_TIE = shapely.Polygon([(X0 + 60, Y0 + 60), (X0 + 80, Y0 + 75), (X0 + 80, Y0 + 60),
                           (X0 + 60, Y0 + 75)])
PLANTED = {"invalid_geometry": ("KOU-P00099",), "overlap": ("KOU-P00001", "KOU-P00005"),
           "gap": ("KOU-P00005", "KOU-P00006", "KOU-P00007", "KOU-P00010")}
UTM30 = "EPSG:32630"
QGIS_PROCESS_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def processing(qgis_app):
    """Processing initialised as in QGIS, and the provider registered as qgis_process does
    it: the plugin built without a GUI (iface None) and only initProcessing called."""
    if QGIS_PYTHON_PLUGINS not in sys.path:
        sys.path.append(QGIS_PYTHON_PLUGINS)
    from processing.core.Processing import Processing

    Processing.initialize()
    import processing as runner

    plugin = StdmPlugin(None)
    plugin.initProcessing()
    assert plugin.processing_provider is not None
    yield runner
    QgsApplication.processingRegistry().removeProvider(plugin.processing_provider)
    plugin.processing_provider = None


@pytest.fixture
def defects(tmp_path):
    """KOU: 4 x 4 parcels of 20 m (KOU-P00001.. column by column) in a boundary with a
    10 m margin; P00001 overlaps P00005 by 20 m², P00006 leaves a 10 m² gap, and a
    bow-tie KOU-P00099 is written by raw SQL. One person, Awa Koné, for the exports."""
    path = tmp_path / "defects.sqlite"
    with SettlementStore.create(path, 32630, actor="tester") as store:
        site = store.settlements.add(Settlement(code="KOU", name="Koumassi Campement",
                                                boundary=box(X0 - 10, Y0 - 10, X0 + 90, Y0 + 90)))
        grid = store.spatial_units.add_many([
            SpatialUnit(kind="parcel", settlement_id=site.id, land_use="residential",
                        boundary=box(X0 + 20 * i, Y0 + 20 * j, X0 + 20 * i + 20, Y0 + 20 * j + 20))
            for i in range(4) for j in range(4)])
        store.spatial_units.update(grid[0].id, boundary=box(X0, Y0, X0 + 21, Y0 + 20))
        store.spatial_units.update(grid[5].id, boundary=box(X0 + 20, Y0 + 20, X0 + 39.5, Y0 + 40))
        with store.transaction():
            store.db.execute(
                "INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, boundary) "
                f"VALUES ('bowtie', 'parcel', ?, 99, 'KOU-P00099', 'residential', "
                f"{store.db.geometry_param(store.srid, True)})", (site.id, BOW_TIE.wkb))
        store.parties.add(Party(first_name="Awa", last_name="Koné", sex="female"))
    return str(path)


def write_polygons(path: Path, shapes: list, crs: str | None = UTM30, driver: str = "GeoJSON",
                   refs: list[str] | None = None) -> str:
    schema = {"geometry": "Polygon", "properties": {"ref": "str"}}
    with fiona.open(path, "w", driver=driver, crs=crs, schema=schema) as out:
        for k, shape in enumerate(shapes):
            out.write({"geometry": mapping(shape),
                       "properties": {"ref": refs[k] if refs else f"F{k}"}})
    return str(path)


def features(path: str, layer: str | None = None) -> list[dict]:
    with fiona.open(path, layer=layer) as source:
        return [dict(f["properties"], geometry=None if f["geometry"] is None
                     else shapely.geometry.shape(f["geometry"])) for f in source]


def refused(runner, algorithm: str, parameters: dict, **kwargs) -> str:
    with pytest.raises(QgsProcessingException) as caught:
        runner.run(algorithm, parameters, **kwargs)
    return str(caught.value)


# --- the provider -------------------------------------------------------------------------
def test_the_plugin_registers_and_removes_the_provider(plugin):
    provider = QgsApplication.processingRegistry().providerById("stdm")
    assert provider is plugin.processing_provider
    assert provider.name() == "STDM Settlement Mapper"
    assert not provider.icon().isNull()
    assert sorted(a.id() for a in provider.algorithms()) == ALGORITHMS
    for algorithm in provider.algorithms():
        assert algorithm.shortHelpString() and algorithm.displayName()
        assert algorithm.parameterDefinition("STORE") is not None
    plugin.unload()
    assert QgsApplication.processingRegistry().providerById("stdm") is None
    plugin.initProcessing()  # the fixture unloads again


# --- check geometry -------------------------------------------------------------------------
def test_check_geometry_lists_the_planted_defects(processing, defects, tmp_path):
    progress = []
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(progress.append)
    result = processing.run("stdm:checkgeometry", {
        "STORE": defects, "SETTLEMENT": "KOU", "OVERLAP_TOLERANCE": 0.5, "GAP_TOLERANCE": 25,
        "OUTPUT": str(tmp_path / "points.gpkg"), "AREAS": str(tmp_path / "areas.gpkg")},
        feedback=feedback)
    assert (result["INVALID_GEOMETRY"], result["OVERLAP"], result["GAP"]) == (1, 1, 1)
    assert (result["FINDINGS"], result["PARCELS_CHECKED"]) == (3, 17)
    assert result["DUPLICATE"] == result["STRUCTURE_OUTSIDE_PARCEL"] == 0
    assert progress and progress[-1] == pytest.approx(100)
    points = QgsVectorLayer(result["OUTPUT"], "points", "ogr")
    assert points.isValid() and points.featureCount() == 3
    assert points.crs().authid() == UTM30
    assert [f.name() for f in points.fields()][1:] == ["kind", "table", "record_codes",
                                                      "record_ids", "detail", "area_m2"]
    found = {f["kind"]: f for f in features(result["OUTPUT"])}
    assert {k: tuple(f["record_codes"].split(";")) for k, f in found.items()} == PLANTED
    assert found["overlap"]["area_m2"] == pytest.approx(20, rel=0.01)
    assert found["overlap"]["record_ids"].count(";") == 1
    assert "Self-intersection" in found["invalid_geometry"]["detail"]
    assert found["invalid_geometry"]["geometry"].equals(shapely.Point(X0 + 70, Y0 + 67.5))
    areas = {f["kind"]: f for f in features(result["AREAS"])}
    assert set(areas) == set(PLANTED)
    assert areas["gap"]["geometry"].equals(box(X0 + 39.5, Y0 + 20, X0 + 40, Y0 + 40))
    assert areas["overlap"]["geometry"].area == pytest.approx(20)


def test_check_geometry_tolerances_and_settlement(processing, defects):
    result = processing.run("stdm:checkgeometry", {
        "STORE": defects, "OVERLAP_TOLERANCE": 25, "GAP_TOLERANCE": 5,
        "OUTPUT": "TEMPORARY_OUTPUT"})
    assert (result["OVERLAP"], result["GAP"], result["INVALID_GEOMETRY"]) == (0, 0, 1)
    assert result["OUTPUT"].featureCount() == 1
    assert "AREAS" not in result  # optional: made only when asked for
    message = refused(processing, "stdm:checkgeometry", {
        "STORE": defects, "SETTLEMENT": "ABO", "OUTPUT": "TEMPORARY_OUTPUT"})
    assert "ABO" in message and "KOU" in message


def test_check_geometry_refuses_what_is_not_a_store(processing, tmp_path):
    assert "nowhere.sqlite does not exist" in refused(processing, "stdm:checkgeometry", {
        "STORE": str(tmp_path / "nowhere.sqlite"), "OUTPUT": "TEMPORARY_OUTPUT"})
    photo = tmp_path / "photo.sqlite"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not a database")
    message = refused(processing, "stdm:checkgeometry", {"STORE": str(photo),
                                                         "OUTPUT": "TEMPORARY_OUTPUT"})
    assert "photo.sqlite" in message and "not a settlement store" in message


def test_check_geometry_cancelled_before_and_while_running(processing, defects, tmp_path):
    before = QgsProcessingFeedback()
    before.cancel()
    output = tmp_path / "never.gpkg"
    message = refused(processing, "stdm:checkgeometry", {"STORE": defects,
                                                         "OUTPUT": str(output)},
                      feedback=before)
    assert "cancelled" in message
    during = QgsProcessingFeedback()
    seen = []

    def cancel_at_first_progress(value: float) -> None:
        seen.append(value)
        during.cancel()

    during.progressChanged.connect(cancel_at_first_progress)
    message = refused(processing, "stdm:checkgeometry", {"STORE": defects,
                                                         "OUTPUT": str(output)},
                      feedback=during)
    assert "The geometry check was cancelled" in message
    assert len(seen) == 1 and seen[0] < 100
    assert not output.exists()


# --- import structures ----------------------------------------------------------------------
def footprints(tmp_path: Path, with_bow_tie: bool) -> str:
    shapes = [box(X0 + 2, Y0 + 22, X0 + 8, Y0 + 28), box(X0 + 42, Y0 + 2, X0 + 48, Y0 + 8)]
    if with_bow_tie:
        shapes.append(shapely.Polygon([(X0 + 62, Y0 + 2), (X0 + 68, Y0 + 8), (X0 + 68, Y0 + 2),
                                       (X0 + 62, Y0 + 8)]))
    return write_polygons(tmp_path / "footprints.gpkg", shapes, driver="GPKG")


def structure_count(path: str) -> int:
    with SettlementStore.open(path, read_only=True) as store:
        return len(store.spatial_units.structures())


def test_import_structures_all_or_nothing_then_valid_only(processing, defects, tmp_path):
    source = footprints(tmp_path, with_bow_tie=True)
    problems = tmp_path / "problems.csv"
    params = {"STORE": defects, "INPUT": source, "SETTLEMENT": "KOU", "MODE": 0,
              "PROBLEMS": str(problems)}
    held = processing.run("stdm:importstructures", params)
    assert held["WRITTEN"] is False
    assert (held["FEATURES_READ"], held["IMPORTED"], held["REJECTED"],
            held["HELD_BACK"]) == (3, 0, 1, 2)
    assert structure_count(defects) == 0
    [row] = list(csv.DictReader(open(held["PROBLEMS"], encoding="utf-8-sig")))
    assert (row["file"], row["fid"], row["kind"]) == (source, "3", "invalid_geometry")
    done = processing.run("stdm:importstructures", {**params, "MODE": 1})
    assert done["WRITTEN"] is True
    assert (done["IMPORTED"], done["REJECTED"], done["LINKED_TO_PARCELS"]) == (2, 1, 2)
    assert structure_count(defects) == 2


def test_import_structures_source_crs_and_unreadable_files(processing, defects, tmp_path):
    bare = write_polygons(tmp_path / "bare.shp", [box(X0 + 2, Y0 + 2, X0 + 8, Y0 + 8)],
                          crs=None, driver="ESRI Shapefile")
    (tmp_path / "bare.prj").unlink(missing_ok=True)  # a Shapefile that does not say its CRS
    params = {"STORE": defects, "INPUT": bare, "SETTLEMENT": "KOU", "MODE": 1}
    message = refused(processing, "stdm:importstructures", params)
    assert "bare.shp" in message and "source CRS" in message
    done = processing.run("stdm:importstructures", {**params, "SOURCE_CRS": UTM30})
    assert (done["IMPORTED"], done["LINKED_TO_PARCELS"]) == (1, 1)
    missing = str(tmp_path / "nowhere.geojson")
    assert "nowhere.geojson" in refused(processing, "stdm:importstructures",
                                        {**params, "INPUT": missing})
    assert "ABO" in refused(processing, "stdm:importstructures",
                            {**params, "SETTLEMENT": "ABO"})


# --- reconcile with a cadastre ----------------------------------------------------------------
def test_reconcile_cadastre_classifies_both_sides(processing, defects, tmp_path):
    cadastre = write_polygons(tmp_path / "cadastre.geojson", [
        box(X0, Y0 + 20, X0 + 20, Y0 + 40),  # KOU-P00002 as it is
        box(X0, Y0 + 40, X0 + 21, Y0 + 60),  # KOU-P00003, 20 m² larger
        box(X0 + 500, Y0, X0 + 520, Y0 + 20)], refs=["A", "B", "C"])  # not enumerated
    result = processing.run("stdm:reconcilecadastre", {
        "STORE": defects, "CADASTRE": cadastre, "ID_FIELD": "ref", "MIN_OVERLAP": 0.5,
        "TOLERANCE": 5, "OUTPUT": str(tmp_path / "reconciled.gpkg")})
    assert (result["CADASTRAL_MATCHED"], result["CADASTRAL_CHANGED_BOUNDARY"],
            result["CADASTRAL_MISSING"], result["CADASTRAL_CONFLICT"]) == (1, 1, 1, 0)
    assert (result["ENUMERATED_MATCHED"], result["ENUMERATED_CHANGED_BOUNDARY"],
            result["ENUMERATED_NEW"]) == (1, 1, 15)
    rows = {(f["side"], f["parcel"]): f for f in features(result["OUTPUT"])}
    assert len(rows) == 20
    matched = rows[("enumerated", "KOU-P00002")]
    assert (matched["status"], matched["partners"]) == ("matched", "A")
    assert rows[("cadastral", "B")]["symmetric_difference_m2"] == pytest.approx(20, rel=0.01)
    assert rows[("cadastral", "C")]["status"] == "missing"
    message = refused(processing, "stdm:reconcilecadastre", {
        "STORE": defects, "CADASTRE": cadastre, "ID_FIELD": "parcel_no",
        "OUTPUT": "TEMPORARY_OUTPUT"})
    assert "cadastre.geojson" in message and "parcel_no" in message
    assert "lost.gpkg" in refused(processing, "stdm:reconcilecadastre", {
        "STORE": defects, "CADASTRE": str(tmp_path / "lost.gpkg"),
        "OUTPUT": "TEMPORARY_OUTPUT"})


# --- exports ----------------------------------------------------------------------------------
def test_export_store_formats_crs_and_personal_data(processing, defects, tmp_path):
    folder = tmp_path / "export"
    params = {"STORE": defects, "FORMAT": 0, "CRS": "EPSG:4326", "LAYERS": [0, 2],
              "PERSONAL_DATA": 1, "OUTPUT": str(folder)}
    result = processing.run("stdm:exportstore", params)
    gpkg = folder / "stdm_export.gpkg"
    assert gpkg.is_file() and Path(result["DICTIONARY"]).is_file()
    assert (result["PARCELS"], result["PARTIES"], result["STRUCTURES"]) == (17, 1, 0)
    assert set(fiona.listlayers(gpkg)) == {"parcels", "parties"}
    with fiona.open(gpkg, layer="parcels") as parcels:
        assert parcels.crs.to_epsg() == 4326 and len(parcels) == 17
    assert "Awa" not in json.dumps([f for f in features(str(gpkg), "parties")], default=str)
    message = refused(processing, "stdm:exportstore", params)
    assert "stdm_export.gpkg" in message
    again = processing.run("stdm:exportstore", {**params, "OVERWRITE": True,
                                                "PERSONAL_DATA": 0})
    assert again["PSEUDONYM_KEY"] == ""
    assert "Awa" in json.dumps([f for f in features(str(gpkg), "parties")], default=str)
    csv_out = processing.run("stdm:exportstore", {**params, "FORMAT": 3, "LAYERS": [0],
                                                  "OUTPUT": str(tmp_path / "csv")})
    assert (tmp_path / "csv" / "parcels.csv").is_file() and csv_out["PARTIES"] == 0
    pseudo = processing.run("stdm:exportstore", {**params, "PERSONAL_DATA": 2,
                                                 "OUTPUT": str(tmp_path / "pseudo")})
    assert len(pseudo["PSEUDONYM_KEY"]) >= 32


def test_export_changes_since_a_date(processing, defects, tmp_path):
    params = {"STORE": defects, "SINCE": "2000-01-01", "FORMAT": 2,
              "OUTPUT": str(tmp_path / "changes")}
    result = processing.run("stdm:exportchanges", params)
    assert result["NEW"] >= 16 and result["RETIRED"] == 0
    assert Path(result["CHANGES"]).is_file() and result["CHANGES"].endswith(".geojson")
    assert len(features(result["CHANGES"])) == result["NEW"] + result["MODIFIED"]
    future = QDateTime.fromString("2999-01-01T00:00:00Z", Qt.ISODate)
    none = processing.run("stdm:exportchanges", {**params, "SINCE": future,
                                                 "OUTPUT": str(tmp_path / "none")})
    assert (none["NEW"], none["MODIFIED"], none["RETIRED"]) == (0, 0, 0)
    assert "ISO 8601" in refused(processing, "stdm:exportchanges",
                                 {**params, "SINCE": "last week"})


# --- from the command line, the packaged plugin ------------------------------------------------
def qgis_process_env(profiles: Path) -> dict[str, str]:
    """A throwaway profile (QGIS_CUSTOM_CONFIG_PATH/profiles/default) and the venv's
    packages (shapely 2) for QGIS's Python; the repository itself is not on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "QGIS_OPTIONS_PATH")}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(profiles),
               PYTHONPATH=sysconfig.get_paths()["purelib"],
               PATH=os.pathsep.join(("/usr/bin", env.get("PATH", ""))))
    return env


def qgis_process(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([QGIS_PROCESS, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=QGIS_PROCESS_TIMEOUT_S, check=False)


@pytest.mark.skipif(not os.path.exists(QGIS_PROCESS),
                    reason=f"{QGIS_PROCESS} is not installed (Debian package qgis)")
def test_qgis_process_runs_the_packaged_plugin(defects, tmp_path):
    from tests.e2e.qgis_desktop import REPO_ROOT, load_build_module

    plugin_zip = load_build_module().build_package(REPO_ROOT, tmp_path / "dist")
    profiles = tmp_path / "profiles"
    plugins = profiles / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(plugins)
    env = qgis_process_env(profiles)
    enabled = qgis_process(env, tmp_path, "plugins", "enable", "stdm_plugin")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    assert "Enabled stdm_plugin" in enabled.stdout
    listed = qgis_process(env, tmp_path, "list")
    assert all(a in listed.stdout for a in ALGORITHMS), listed.stdout + listed.stderr

    out, areas = tmp_path / "problems.gpkg", tmp_path / "areas.gpkg"
    run = qgis_process(env, tmp_path, "--json", "run", "stdm:checkgeometry", "--",
                       f"STORE={defects}", "SETTLEMENT=KOU", f"OUTPUT={out}", f"AREAS={areas}")
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(run.stdout[run.stdout.index("{"):])["results"]
    assert (results["OVERLAP"], results["GAP"], results["INVALID_GEOMETRY"]) == (1, 1, 1)
    found = {f["kind"]: tuple(f["record_codes"].split(";")) for f in features(str(out))}
    assert found == PLANTED
    assert {f["kind"] for f in features(str(areas))} == set(PLANTED)

    bad = qgis_process(env, tmp_path, "run", "stdm:importstructures", "--",
                       f"STORE={defects}", f"INPUT={tmp_path / 'nowhere.geojson'}",
                       "SETTLEMENT=KOU")
    assert bad.returncode != 0
    assert "nowhere.geojson" in bad.stdout + bad.stderr
