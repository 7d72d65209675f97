"""Issue #5 acceptance: a field package's project opens on its own, offline.

The 320-parcel demo settlement is loaded into a store, a package is cut for
two blocks and its project written; then the main store is moved away (its
file and its folder renamed), so that anything in the project still reading
from it breaks. The package's project is read headless with QgsProject, as
QGIS on a laptop and QField on a phone read it, and compared with the
project of the main store written before the move: the same layers, forms,
widgets, constraints and relations, reading only from the package folder.
The folder is also copied elsewhere (the original then moved away too) and
opened there, since that is what the team does with it.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from qgis.core import (
    QgsApplication,
    QgsDataSourceUri,
    QgsExpression,
    QgsExpressionContextUtils,
    QgsFeatureRequest,
    QgsFieldConstraints,
    QgsProject,
)

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.packages.field_package import (
    PACKAGE_STORE,
    FieldPackage,
    PackageRequest,
    cut_package,
    read_manifest,
)
from stdm_plugin.core.store.schema import PROVENANCE_COLUMNS
from stdm_plugin.qgis.packages.field_project import (
    ENUMERATOR_EXPRESSION,
    PROJECT_FILE,
    write_package_project,
)
from stdm_plugin.qgis.project.layers import layer_key
from stdm_plugin.qgis.project.project import write_project

ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA = ROOT / "demo" / "data"
FORMS = ROOT / "forms"
BLOCKS = ["B2A", "B2B"]
LAYER_ID = re.compile(r"\w+_[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}")
PROVENANCE_ALIASES = {"prov_team": "Team", "prov_device": "Device",
                      "prov_enumerator": "Enumerator", "prov_package": "Field package",
                      "prov_at": "Came in (UTC)"}
#: which store table each layer shows (the parcels and structures share spatial_unit)
LAYER_TABLES = {"parcels": "spatial_unit", "structures": "spatial_unit",
                "structure_points": "spatial_unit", "parties": "party",
                "tenure": "social_tenure", "documents": "supporting_document"}


@dataclass
class OfficeProject:
    """What the main store's own project has, read back before the store was moved."""

    widgets: dict[str, dict[str, str]] = field(default_factory=dict)
    hard_constraints: dict[str, set[str]] = field(default_factory=dict)
    constraint_expressions: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, dict[str, str]] = field(default_factory=dict)
    read_only: dict[str, set[str]] = field(default_factory=dict)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    record_tab: dict[str, list[str]] = field(default_factory=dict)
    relations: set[str] = field(default_factory=set)


@dataclass
class Cut:
    package: FieldPackage
    project: str
    main_store: str
    moved_to: str
    office: OfficeProject
    documents: dict[str, str]


def read_office_project(path: str) -> OfficeProject:
    project = QgsProject()
    office = OfficeProject()
    try:
        assert project.read(path), project.error()
        for layer in project.mapLayers().values():
            key = layer_key(layer)
            fields = layer.fields()
            config = layer.editFormConfig()
            office.widgets[key] = {f.name(): layer.editorWidgetSetup(i).type()
                                   for i, f in enumerate(fields)}
            office.hard_constraints[key] = {
                f.name() for f in fields
                if f.constraints().constraintStrength(QgsFieldConstraints.ConstraintExpression)
                == QgsFieldConstraints.ConstraintStrengthHard}
            office.constraint_expressions[key] = constraint_expressions(layer)
            office.defaults[key] = default_expressions(layer)
            office.read_only[key] = {f.name() for i, f in enumerate(fields)
                                     if config.readOnly(i)}
            office.aliases[key] = {f.name(): f.alias() for f in fields}
            office.record_tab[key] = record_tab_fields(layer)
        office.relations = set(project.relationManager().relations())
    finally:
        project.clear()
    return office


def constraint_expressions(layer) -> dict[str, str]:
    return {f.name(): layer.constraintExpression(i) for i, f in enumerate(layer.fields())
            if layer.constraintExpression(i)}


def default_expressions(layer) -> dict[str, str]:
    """Layer ids (a project's own) written as <layer>, to compare two projects."""
    return {f.name(): LAYER_ID.sub("<layer>", layer.defaultValueDefinition(i).expression())
            for i, f in enumerate(layer.fields())
            if layer.defaultValueDefinition(i).expression()}


def record_tab_fields(layer) -> list[str]:
    tabs = {tab.name(): tab for tab in layer.editFormConfig().tabs()}
    return [child.name() for child in tabs["Record"].children()] if "Record" in tabs else []


@pytest.fixture(scope="module")
def cut(qgis_app, tmp_path_factory) -> Cut:
    """The demo store, its office project, a package for two blocks with its project; then
    the main store's folder renamed, so the store and its documents are gone from there."""
    base = tmp_path_factory.mktemp("field_project")
    office_dir = base / "office"
    office_dir.mkdir()
    main_store = office_dir / "koumassi.sqlite"
    documents = {}
    with SettlementStore.create(main_store, 32630, actor="supervisor") as store:
        load_demo_settlement(store, DEMO_DATA)
        in_block = store.db.query("SELECT id FROM spatial_unit WHERE kind = 'parcel' "
                                  "AND block = ? ORDER BY code", (BLOCKS[0],))
        plan = store.documents.attach(b"%PDF-1.4 site plan of the parcel\n", "plan.pdf",
                                      document_type="other",
                                      spatial_unit_id=in_block[0]["id"], storage="folder")
        photo = store.documents.attach(b"\x89PNG\r\n\x1a\n a photo", "front.png",
                                       document_type="photo",
                                       spatial_unit_id=in_block[1]["id"])
        documents = {"folder": plan.id, "embedded": photo.id, "path": plan.relative_path}
        office_project = write_project(store, str(office_dir / "koumassi.qgz"))
        package = cut_package(store, base / "team_a", PackageRequest(
            team="Equipe A", blocks=BLOCKS, enumerators=["moussa"], device="tablet-07"),
            forms_dir=str(FORMS))
    office = read_office_project(office_project)
    project = write_package_project(package)
    moved_to = base / "office-moved-away"
    office_dir.rename(moved_to)
    return Cut(package, project, str(main_store), str(moved_to), office, documents)


def opened(path: str) -> QgsProject:
    """The project read as QGIS and QField read it: into the one project, which value
    relations and the variables of default values are looked up in."""
    project = QgsProject.instance()
    assert project.read(path), project.error()
    return project


def layers_by_key(project: QgsProject) -> dict:
    return {layer_key(layer): layer for layer in project.mapLayers().values()}


def database_of(layer) -> str:
    return os.path.realpath(QgsDataSourceUri(layer.source()).database())


def live_count(store_file: str, table: str) -> int:
    con = sqlite3.connect(store_file)
    try:
        return con.execute(f"SELECT count(*) FROM {table} "
                           "WHERE end_lifespan_version IS NULL").fetchone()[0]
    finally:
        con.close()


def check_reads_package(project: QgsProject, folder: str, package: FieldPackage) -> None:
    """Every layer valid, reading the store in ``folder``, with the package's counts."""
    layers = layers_by_key(project)
    assert set(layers) == {"settlements", "parcels", "structures", "structure_points",
                           "parties", "tenure", "documents", "code_lists"}
    store_file = os.path.realpath(os.path.join(folder, PACKAGE_STORE))
    for key, layer in layers.items():
        assert layer.isValid(), key
        assert layer.providerType() == "spatialite", key
        assert database_of(layer) == store_file, (key, layer.source())
    counts = package.counts
    assert min(counts["spatial_unit"], counts["party"], counts["social_tenure"]) > 0, counts
    assert counts["supporting_document"] == 2
    spatial = sum(layers[k].featureCount() for k in ("parcels", "structures",
                                                     "structure_points"))
    assert spatial == counts["spatial_unit"]
    assert layers["parties"].featureCount() == counts["party"]
    assert layers["tenure"].featureCount() == counts["social_tenure"]
    assert layers["documents"].featureCount() == counts["supporting_document"]
    assert layers["code_lists"].featureCount() == live_count(store_file, "lookup_label") > 0
    # two blocks of 8 parcels, and the neighbours within the margin
    assert 16 < layers["parcels"].featureCount() < 320
    assert layers["settlements"].featureCount() == 1


# --- the package project on its own ------------------------------------------------------
def test_the_main_store_is_gone_and_the_package_is_whole(cut):
    assert not os.path.exists(cut.main_store)
    assert not os.path.exists(cut.main_store + ".documents")
    assert os.path.isfile(cut.project)
    assert os.path.basename(cut.project) == PROJECT_FILE
    assert read_manifest(cut.package.folder).id == cut.package.id
    copied = os.path.join(cut.package.store_file + ".documents", cut.documents["path"])
    assert os.path.isfile(copied)


def test_every_layer_reads_the_package_store_with_its_counts(cut):
    project = opened(cut.project)
    try:
        check_reads_package(project, cut.package.folder, cut.package)
        assert project.title() == "Field package: team Equipe A"
        assert project.crs().authid() == "EPSG:32630"
    finally:
        project.clear()


def test_the_project_file_names_no_server_password_or_office_path(cut):
    with zipfile.ZipFile(cut.project) as packed:
        xml = next(packed.read(n) for n in packed.namelist() if n.endswith(".qgs")).decode()
    # the layers' sources (the project's annotation layer has an empty one)
    sources = [s for s in re.findall(r"<datasource>([^<]*)</datasource>", xml) if s]
    assert len(sources) == 8
    assert all(s.startswith("dbname='./field_store.sqlite' ") for s in sources), sources
    assert re.findall(r"<provider[^>]*>([^<]*)</provider>", xml) == ["spatialite"] * 8
    assert "authcfg" not in xml and "postgres" not in xml and "password" not in xml
    assert os.path.dirname(cut.main_store) not in xml
    assert '<Absolute type="bool">false</Absolute>' in xml


def test_the_forms_are_those_of_the_office_project(cut):
    project = opened(cut.project)
    try:
        layers = layers_by_key(project)
        for key, layer in layers.items():
            fields = layer.fields()
            widgets = {f.name(): layer.editorWidgetSetup(i).type() for i, f in enumerate(fields)}
            assert widgets == cut.office.widgets[key], key
            config = layer.editFormConfig()
            assert {f.name() for i, f in enumerate(fields)
                    if config.readOnly(i)} == cut.office.read_only[key], key
            assert {f.name(): f.alias() for f in fields} == cut.office.aliases[key], key
            assert record_tab_fields(layer) == cut.office.record_tab[key], key
            hard = {f.name() for f in fields
                    if f.constraints().constraintStrength(
                        QgsFieldConstraints.ConstraintExpression)
                    == QgsFieldConstraints.ConstraintStrengthHard}
            assert hard == cut.office.hard_constraints[key], key
            assert constraint_expressions(layer) == cut.office.constraint_expressions[key], key
            # the same defaults, but who a record is by names the package's enumerator
            office_defaults = dict(cut.office.defaults[key])
            for name in ("created_by", "updated_by"):
                if name in office_defaults:
                    assert office_defaults.pop(name) == "@user_account_name"
                    office_defaults[name] = ENUMERATOR_EXPRESSION
            assert default_expressions(layer) == office_defaults, key
        # not merely equal: the widgets a team needs are there
        parcels, parties, tenure = layers["parcels"], layers["parties"], layers["tenure"]
        assert cut.office.widgets["parcels"]["land_use"] == "ValueRelation"
        assert cut.office.widgets["parties"]["party_type"] == "ValueMap"
        assert cut.office.widgets["tenure"]["party_id"] == "RelationReference"
        assert "share_numerator" in cut.office.hard_constraints["tenure"]
        share = tenure.fields().indexOf("share_numerator")
        assert '"share_numerator" <= "share_denominator"' in tenure.constraintExpression(share)
        land_use = parcels.editorWidgetSetup(parcels.fields().indexOf("land_use")).config()
        assert land_use["Layer"] == layers["code_lists"].id()
        feature = next(parcels.getFeatures(QgsFeatureRequest().setFilterExpression(
            "\"land_use\" = 'residential'")))
        context = parcels.createExpressionContext()
        context.setFeature(feature)
        assert QgsExpression('represent_value("land_use")').evaluate(context) == "Residential"
        reference = tenure.editorWidgetSetup(tenure.fields().indexOf("party_id")).config()
        assert project.relationManager().relation(reference["Relation"]).isValid()
        assert parties.displayExpression().startswith("CASE WHEN")
    finally:
        project.clear()


def test_provenance_is_read_only_record_keeping_in_every_store(cut):
    for office_or_package in (cut.office, None):
        if office_or_package is None:
            project = opened(cut.project)
            try:
                layers = layers_by_key(project)
                read_only = {k: {f.name() for i, f in enumerate(layer.fields())
                                 if layer.editFormConfig().readOnly(i)}
                             for k, layer in layers.items()}
                aliases = {k: {f.name(): f.alias() for f in layer.fields()}
                           for k, layer in layers.items()}
                record = {k: record_tab_fields(layer) for k, layer in layers.items()}
            finally:
                project.clear()
        else:
            read_only, aliases = office_or_package.read_only, office_or_package.aliases
            record = office_or_package.record_tab
        for key in LAYER_TABLES:
            assert set(PROVENANCE_COLUMNS) <= read_only[key], key
            assert {c: aliases[key][c] for c in PROVENANCE_COLUMNS} == PROVENANCE_ALIASES
            assert record[key][-5:] == list(PROVENANCE_COLUMNS), key


def test_relations_are_all_valid_and_as_many_as_in_the_office(cut):
    project = opened(cut.project)
    try:
        relations = project.relationManager().relations()
        assert len(relations) == len(cut.office.relations) == 12
        assert set(relations) == cut.office.relations
        assert all(relation.isValid() for relation in relations.values())
        layers = layers_by_key(project)
        parcel_tenure = relations["stdm_parcel_tenure"]
        held = [f for f in layers["parcels"].getFeatures()
                if list(parcel_tenure.getRelatedFeatures(f))]
        assert held, "no parcel of the package lists its tenure"
        claim = next(parcel_tenure.getRelatedFeatures(held[0]))
        holder = relations["stdm_party_tenure"].getReferencedFeature(claim)
        assert holder.isValid() and holder["id"] == claim["party_id"]
        documents = relations["stdm_parcel_documents"]
        with_plan = [f for f in layers["parcels"].getFeatures()
                     if any(d["id"] == cut.documents["folder"]
                            for d in documents.getRelatedFeatures(f))]
        assert len(with_plan) == 1
    finally:
        project.clear()


def test_project_variables_and_who_new_records_are_by(cut):
    project = opened(cut.project)
    try:
        scope = QgsExpressionContextUtils.projectScope(project)
        assert scope.variable("stdm_package_id") == cut.package.id
        assert scope.variable("stdm_team") == "Equipe A"
        assert scope.variable("stdm_device") == "tablet-07"
        assert scope.variable("stdm_enumerator") == "moussa"
        parcels = layers_by_key(project)["parcels"]
        for name in ("created_by", "updated_by"):
            index = parcels.fields().indexOf(name)
            definition = parcels.defaultValueDefinition(index)
            assert definition.expression() == ENUMERATOR_EXPRESSION
            assert definition.applyOnUpdate() == (name == "updated_by")
            assert parcels.defaultValue(index) == "moussa"
    finally:
        project.clear()


def test_a_package_for_several_enumerators_names_whoever_is_logged_in(cut, tmp_path):
    copied = tmp_path / "team_b"
    shutil.copytree(cut.package.folder, copied)
    package = read_manifest(copied)
    package.enumerators = ["moussa", "aya"]
    package.device = None
    project = opened(write_package_project(package))
    try:
        scope = QgsExpressionContextUtils.projectScope(project)
        assert scope.variable("stdm_team") == "Equipe A"
        assert not scope.hasVariable("stdm_enumerator")
        assert not scope.hasVariable("stdm_device")
        parties = layers_by_key(project)["parties"]
        index = parties.fields().indexOf("created_by")
        assert parties.defaultValue(index) == QgsApplication.userLoginName()
    finally:
        project.clear()


def test_the_folder_copied_elsewhere_opens_there(cut, tmp_path):
    """The team's copy: relative paths, and nothing read from where it was cut."""
    elsewhere = tmp_path / "laptop" / "Equipe A package"
    shutil.copytree(cut.package.folder, elsewhere)
    original = cut.package.folder
    away = original + "-moved"
    os.rename(original, away)
    try:
        project = opened(str(elsewhere / PROJECT_FILE))
        try:
            check_reads_package(project, str(elsewhere), cut.package)
            assert len(project.relationManager().relations()) == 12
            assert all(r.isValid() for r in project.relationManager().relations().values())
        finally:
            project.clear()
    finally:
        os.rename(away, original)
