"""The "Enumerate household" wizard driven as an enumerator would, on a real store.

The answers go in through the widgets (texts, combo boxes, dates, file
choosers, clicks on the map canvas), page by page; the store is then read
back through the core to see exactly what was saved.
"""
import pathlib
import re
from fractions import Fraction

import pytest
from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QDate, QEvent, QPoint, Qt
from qgis.PyQt.QtWidgets import QWizard
from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SettlementStore, SocialTenure
from stdm_plugin.gui.forms.enumeration_pages import ParcelPage, RepeatPage
from stdm_plugin.gui.forms.shape_tool import ShapeCaptureTool

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 a photo"
NEW_PARCEL = box(400050, 590000, 400070, 590020)  # beside the two parcels of filled_store


@pytest.fixture
def photos(tmp_path):
    files = {}
    for name in ("street.jpg", "cni.jpg", "convention.jpg"):
        files[name] = tmp_path / name
        files[name].write_bytes(JPEG + name.encode())
    return files


def messages(iface, level):
    return iface.messageBar().get_messages(level)


def show_map(plugin, store, canvas, crs="EPSG:4326"):
    """The store's layers in a canvas that shows another CRS than the store's."""
    assert plugin.show_store(store.path)
    canvas.resize(800, 600)
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem(crs))
    to_canvas = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32630"),
                                       canvas.mapSettings().destinationCrs(),
                                       QgsProject.instance())
    canvas.setExtent(to_canvas.transformBoundingBox(QgsRectangle(400040, 589990, 400080,
                                                                 590030)))
    canvas.refresh()
    return to_canvas


def click(canvas, point, button=Qt.LeftButton):
    """A click on the canvas at a map point (canvas CRS), as the mouse gives it."""
    pixel = canvas.getCoordinateTransform().transform(point)
    event = QgsMapMouseEvent(canvas, QEvent.MouseButtonRelease,
                             QPoint(round(pixel.x()), round(pixel.y())), button)
    canvas.mapTool().canvasReleaseEvent(event)


def choose(answer, code):
    index = answer.editor.findData(code)
    assert index > 0, code
    answer.editor.setCurrentIndex(index)


def set_date(answer, text):
    answer.editor.setDate(QDate.fromString(text, "yyyy-MM-dd"))


def fill_member(entry, first, last, sex, role, *, born=None, age=None, id_type=None,
                id_number=None, id_photo=None, phone=None, claim=None):
    member = entry.main
    member.widget("first_name").editor.setText(first)
    member.widget("last_name").editor.setText(last)
    choose(member.widget("sex"), sex)
    choose(member.widget("household_role"), role)
    if born:
        set_date(member.widget("date_of_birth"), born)
    if age is not None:
        member.widget("age_years").editor.setText(str(age))
    if id_type:
        choose(member.widget("id_document_type"), id_type)
        member.widget("id_document_number").editor.setText(id_number)
    if id_photo:
        member.widget("id_photo").editor.setFilePath(str(id_photo))
    if phone:
        member.widget("phone").editor.setText(phone)
    if claim:
        tenure = entry.nested["tenure"]
        choose(tenure.widget("tenure_type"), claim["type"])
        tenure.widget("share_numerator").editor.setText(str(claim["share"][0]))
        tenure.widget("share_denominator").editor.setText(str(claim["share"][1]))
        if "since" in claim:
            set_date(tenure.widget("tenure_start"), claim["since"])
        if "evidence" in claim:
            tenure.widget("evidence").editor.setText(claim["evidence"])
        if "photo" in claim:
            tenure.widget("evidence_photo").editor.setFilePath(str(claim["photo"]))


def screenshot(wizard, app, name):
    app.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert wizard.grab().save(str(ARTIFACTS / name))


def test_a_new_parcel_drawn_on_the_map_with_its_household(plugin, filled_store, qgis_iface,
                                                           qgis_canvas, qgis_app, photos):
    to_canvas = show_map(plugin, filled_store, qgis_canvas)
    parcels_before = filled_store.spatial_units.count()
    wizard = plugin.enumerate_household()
    assert wizard is not None and wizard.isVisible()
    assert messages(qgis_iface, Qgis.Critical) == []

    # (a) the parcel: drawn with the mouse on a canvas in WGS 84, stored in UTM 30N
    page = wizard.currentPage()
    assert isinstance(page, ParcelPage) and not page.picking()
    boundary = page.editor.widget("parcel_boundary")
    boundary.editor.click()
    tool = qgis_canvas.mapTool()
    assert isinstance(tool, ShapeCaptureTool)
    corners = [QgsPointXY(x, y) for x, y in list(NEW_PARCEL.exterior.coords)[:-1]]
    for corner in corners:
        click(qgis_canvas, to_canvas.transform(corner))
    click(qgis_canvas, to_canvas.transform(corners[-1]), Qt.RightButton)
    assert qgis_canvas.mapTool() is not tool  # the map gets its own tool back
    drawn = boundary.value()
    assert drawn.geom_type == "Polygon"
    assert drawn.hausdorff_distance(NEW_PARCEL) < 0.2  # metres: a pixel is ~5 cm here
    assert re.fullmatch(r"Drawn: 4 corners, (39\d|40\d) m²", boundary.status.text())
    assert not wizard.validateCurrentPage()  # land use is still missing
    assert "What is the parcel used for? — required" in page.problem_box.text()
    choose(page.editor.widget("land_use"), "mixed")
    assert not page.problem_box.isVisible()  # a fixed problem goes away as it is fixed
    page.editor.widget("address").editor.setText("Îlot 12, lot 4")
    page.editor.widget("parcel_photo").editor.setFilePath(str(photos["street.jpg"]))
    assert page.editor.widget("parcel_photo").value() == ("street.jpg", JPEG + b"street.jpg")
    screenshot(wizard, qgis_app, "enumeration_wizard_parcel.png")
    wizard.next()

    # (b) the household
    household = wizard.currentPage()
    assert household.section.name == "household"
    household.editor.widget("household_name").editor.setText("Famille Traoré")
    wizard.next()

    # (c) the members, each with a claim on the parcel
    members = wizard.currentPage()
    assert isinstance(members, RepeatPage)
    fill_member(members.entries[0], "Fatou", "Traoré", "female", "head", born="1980-05-01",
                id_type="national_id", id_number="CI0098765", id_photo=photos["cni.jpg"],
                phone="+225 05 44 33 22 11",
                claim={"type": "co_owner", "share": (1, 2), "since": "2010-02-15",
                       "evidence": "Convention de vente", "photo": photos["convention.jpg"]})
    second = members.add_entry()
    # a required name missing: Next is refused and the problem is shown on the page
    assert not wizard.validateCurrentPage()
    assert members.problem_box.isVisible()
    assert "2. (no name yet) — First name — required" in members.problem_box.text()
    assert members.list.currentRow() == 1
    assert "color" in second.main.rows["first_name"].label.styleSheet()
    screenshot(wizard, qgis_app, "enumeration_wizard_members_problem.png")
    # relevance, live: the age is asked only while no date of birth is given
    assert second.main.is_shown("age_years")
    set_date(second.main.widget("date_of_birth"), "1975-01-01")
    assert not second.main.is_shown("age_years")
    second.main.widget("date_of_birth").editor.clear()
    assert second.main.is_shown("age_years")
    assert not second.nested["tenure"].is_shown("share_numerator")
    members.list.setCurrentRow(0)  # problems shown follow the answers, not the selection
    second.main.widget("last_name").editor.setText("Traoré")
    assert members.list.currentRow() == 0
    assert "Last name" not in members.problem_box.text()
    fill_member(second, "Moussa", "Traoré", "male", "spouse", age=47,
                claim={"type": "co_owner", "share": (1, 2)})
    assert second.nested["tenure"].is_shown("share_numerator")
    third = members.add_entry()
    fill_member(third, "Awa", "Traoré", "female", "child", age=9)
    assert [members.list.item(i).text() for i in range(3)] == [
        "1. Fatou Traoré", "2. Moussa Traoré", "3. Awa Traoré"]
    assert wizard.validateCurrentPage()
    members.list.setCurrentRow(1)
    screenshot(wizard, qgis_app, "enumeration_wizard_members.png")
    wizard.next()

    # (d) the summary: nothing left to fix, every answer to review
    summary = wizard.currentPage()
    assert summary is wizard.summary
    assert summary.problem_tree.isHidden() and summary.isComplete()
    review = {summary.review.topLevelItem(i).text(0)
              for i in range(summary.review.topLevelItemCount())}
    assert review == {"Parcel", "Household", "Household members"}
    screenshot(wizard, qgis_app, "enumeration_wizard_summary.png")
    wizard.button(QWizard.FinishButton).click()

    assert messages(qgis_iface, Qgis.Critical) == []
    assert any("Famille Traoré" in m and "3 member(s)" in m and "2 tenure claim(s)" in m
               for m in messages(qgis_iface, Qgis.Success))
    assert plugin.wizard is None
    assert_saved_exactly(filled_store, parcels_before)
    layer = QgsProject.instance().mapLayersByName("Parcels")[0]
    assert layer.featureCount() == parcels_before + 1  # the layers were refreshed


def assert_saved_exactly(store, parcels_before):
    store = SettlementStore.open(store.path)  # a fresh connection: what is on disk
    try:
        assert store.spatial_units.count() == parcels_before + 1
        parcel = store.spatial_units.by_code("KOU-P00003")
        assert (parcel.land_use, parcel.address, parcel.kind) == ("mixed", "Îlot 12, lot 4",
                                                                  "parcel")
        assert parcel.boundary.hausdorff_distance(NEW_PARCEL) < 0.2
        household = store.parties.find("party_type = 'household' AND group_name = ?",
                                       ("Famille Traoré",))
        assert len(household) == 1
        members = {m.first_name: m for m in store.parties.members(household[0].id)}
        assert set(members) == {"Fatou", "Moussa", "Awa"}
        fatou, moussa, awa = members["Fatou"], members["Moussa"], members["Awa"]
        assert (fatou.last_name, fatou.sex, fatou.household_role, fatou.date_of_birth,
                fatou.age_years, fatou.id_document_type, fatou.id_document_number,
                fatou.phone) == ("Traoré", "female", "head", "1980-05-01", None, "national_id",
                                 "CI0098765", "+225 05 44 33 22 11")
        assert (moussa.sex, moussa.household_role, moussa.age_years, moussa.date_of_birth,
                moussa.id_document_type) == ("male", "spouse", 47, None, None)
        assert (awa.household_role, awa.age_years) == ("child", 9)
        claims = {c.party_id: c for c in store.tenure.on_spatial_unit(parcel.id)}
        assert set(claims) == {fatou.id, moussa.id}
        assert (claims[fatou.id].tenure_type, claims[fatou.id].share,
                claims[fatou.id].start_date, claims[fatou.id].evidence) == (
            "co_owner", Fraction(1, 2), "2010-02-15", "Convention de vente")
        assert (claims[moussa.id].share, claims[moussa.id].start_date) == (Fraction(1, 2), None)
        assert store.tenure.share_total(parcel.id) == 1
        documents = {
            ("spatial_unit_id", parcel.id): [("photo", "street.jpg")],
            ("party_id", fatou.id): [("id_scan", "cni.jpg")],
            ("social_tenure_id", claims[fatou.id].id): [("sale_agreement", "convention.jpg")],
            ("party_id", moussa.id): [], ("party_id", awa.id): [],
            ("social_tenure_id", claims[moussa.id].id): []}
        for (field, record_id), expected in documents.items():
            found = store.documents.for_record(field, record_id)
            assert [(d.document_type, d.file_name) for d in found] == expected
            for document in found:
                assert store.documents.content(document.id) == JPEG + document.file_name.encode()
    finally:
        store.close()


def test_a_household_on_a_parcel_picked_on_the_map(plugin, filled_store, qgis_iface,
                                                    qgis_canvas, qgis_app):
    show_map(plugin, filled_store, qgis_canvas)
    parcels = QgsProject.instance().mapLayersByName("Parcels")[0]
    target = filled_store.info["parcels"][1]  # no claims on it yet
    parcels.selectByExpression(f"\"id\" = '{target.id}'")
    wizard = plugin.enumerate_household()
    page = wizard.currentPage()
    assert page.picking() and "KOU-P00002" in page.selection.text()
    assert not page.editor.isEnabled()  # the parcel questions are not asked
    screenshot(wizard, qgis_app, "enumeration_wizard_parcel_picked.png")
    wizard.next()
    wizard.currentPage().editor.widget("household_name").editor.setText("Ménage Bamba")
    wizard.next()
    fill_member(wizard.currentPage().entries[0], "Ibrahim", "Bamba", "male", "head", age=38,
                claim={"type": "tenant", "share": (1, 1)})
    wizard.next()
    assert wizard.currentPage() is wizard.summary and wizard.summary.isComplete()
    wizard.button(QWizard.FinishButton).click()
    assert messages(qgis_iface, Qgis.Critical) == []
    with SettlementStore.open(filled_store.path) as store:
        assert store.spatial_units.count() == 2  # no new parcel
        claims = store.tenure.on_spatial_unit(target.id)
        assert [(c.tenure_type, c.share) for c in claims] == [("tenant", Fraction(1))]
        ibrahim = store.parties.get(claims[0].party_id)
        household = store.parties.get(ibrahim.group_party_id)
        assert (ibrahim.first_name, ibrahim.age_years, household.group_name) == (
            "Ibrahim", 38, "Ménage Bamba")


def test_picking_on_the_map_and_shares_that_cannot_pass_one(plugin, filled_store, qgis_iface,
                                                             qgis_canvas, qgis_app):
    to_canvas = show_map(plugin, filled_store, qgis_canvas)
    qgis_canvas.setExtent(to_canvas.transformBoundingBox(QgsRectangle(399990, 589990, 400050,
                                                                      590030)))
    wizard = plugin.enumerate_household()
    page = wizard.currentPage()
    page.pick.setChecked(True)
    assert not wizard.validateCurrentPage()
    assert "Select one parcel on the map" in page.problem_box.text()
    page.pick_button.click()  # then a click inside KOU-P00001, where Awa and Issa hold 1/2 each
    assert qgis_canvas.mapTool() is page.pick_tool
    click(qgis_canvas, to_canvas.transform(QgsPointXY(400010, 590007)))
    assert qgis_canvas.mapTool() is not page.pick_tool
    assert page.parcel_id() == filled_store.info["parcels"][0].id
    assert "KOU-P00001" in page.selection.text()
    assert wizard.validateCurrentPage()
    wizard.next()
    wizard.currentPage().editor.widget("household_name").editor.setText("Famille Koné")
    wizard.next()
    members = wizard.currentPage()
    fill_member(members.entries[0], "Issa", "Koné", "male", "head", age=51,
                claim={"type": "owner", "share": (1, 1)})
    fill_member(members.add_entry(), "Awa", "Koné", "female", "spouse", age=46,
                claim={"type": "owner", "share": (1, 1)})
    # Awa and Issa already hold the whole parcel: the claims are counted with theirs
    assert not wizard.validateCurrentPage()
    assert ("the shares claimed on the parcel add up to 3, more than 1 (with 1 already held "
            "by others)") in members.problem_box.text()
    members.remove_entry(1)
    assert not wizard.validateCurrentPage()
    assert "add up to 2, more than 1 (with 1 already held by others)" in (
        members.problem_box.text())
    # Awa gives up her half in the store: a claim on that half now fits
    parcel_id = filled_store.info["parcels"][0].id
    awa_claim = next(t for t in filled_store.tenure.on_spatial_unit(parcel_id)
                     if t.party_id == filled_store.info["awa"].id)
    filled_store.tenure.retire(awa_claim.id)
    fill_member(members.entries[0], "Issa", "Koné", "male", "head", age=51,
                claim={"type": "owner", "share": (1, 2)})
    assert wizard.validateCurrentPage()
    wizard.next()
    # meanwhile another user claims that half: Save checks again and refuses, nothing is
    # written, and the wizard stays open with the answers
    with filled_store.reopen(actor="other officer") as other:
        moussa = other.parties.add(Party(first_name="Moussa", last_name="Bamba"))
        other.tenure.add(SocialTenure(party_id=moussa.id, spatial_unit_id=parcel_id,
                                      tenure_type="tenant", share_numerator=1,
                                      share_denominator=2))
    before = (filled_store.parties.count(), filled_store.tenure.count())
    wizard.button(QWizard.FinishButton).click()
    assert plugin.wizard is wizard and wizard.currentPage() is wizard.summary
    assert "add up to 3/2, more than 1 (with 1 already held by others)" in (
        wizard.summary.problem_box.text())
    assert (filled_store.parties.count(), filled_store.tenure.count()) == before
    wizard.close()
    assert plugin.wizard is None


def test_without_a_store_or_a_settlement_the_message_bar_says_what_to_do(
        plugin, qgis_iface, tmp_path):
    assert plugin.enumerate_household() is None
    assert any("Show a settlement store in this project first" in m
               for m in messages(qgis_iface, Qgis.Critical))
    qgis_iface.messageBar().clear_messages()
    assert plugin.create_store(str(tmp_path / "empty.sqlite"), "EPSG:32630", None)
    assert plugin.enumerate_household() is None
    assert any("has no settlement yet" in m for m in messages(qgis_iface, Qgis.Critical))


def test_several_settlements_are_offered_and_problems_read_in_french(plugin, filled_store,
                                                                    qgis_canvas):
    filled_store.settlements.add(Settlement(code="ABO", name="Abobo Baoulé"))
    show_map(plugin, filled_store, qgis_canvas)
    from stdm_plugin.gui.forms.enumeration_wizard import EnumerationWizard
    from stdm_plugin.qgis.project.enumeration_session import EnumerationSession

    session = EnumerationSession.for_project(QgsProject.instance())
    try:
        wizard = EnumerationWizard(session.form, session.store.lookups,
                                   session.layers["parcels"], session.settlement_choices(),
                                   "fr", qgis_canvas, lambda *args: False)
        page = wizard.parcel_page
        assert [page.settlement.itemText(i) for i in range(page.settlement.count())] == [
            "ABO — Abobo Baoulé", "KOU — Koumassi Campement"]
        assert page.title() == "Parcelle"
        member = wizard.page_of("members").entries[0].main
        assert member.rows["first_name"].label.text().startswith("Prénom")
        member.widget("age_years").editor.setText("140")
        problem = next(p for p in wizard.problems() if p.question == "age_years")
        assert wizard.describe(problem) == ("Membres du ménage", "1. (no name yet)",
                                            "Âge en années",
                                            "L'âge est compris entre 0 et 130.")
        sex = member.widget("sex").editor
        assert [sex.itemText(i) for i in range(sex.count())][:3] == ["", "Féminin", "Masculin"]
        wizard.close()
    finally:
        session.close()


def test_on_a_postgis_store_with_the_shape_handed_to_the_map_tool(plugin, qgis_iface,
                                                                   qgis_canvas, postgis_server):
    from test_plugin_postgis import connection_to

    schema = postgis_server.fresh_schema()
    assert plugin.create_postgis_store(connection_to(postgis_server, schema), "EPSG:32630",
                                       ("YOP", "Yopougon"))
    qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32630"))
    wizard = plugin.enumerate_household()
    assert wizard is not None, messages(qgis_iface, Qgis.Critical)
    page = wizard.currentPage()
    tool = page.editor.widget("parcel_boundary").start()
    for x, y in list(NEW_PARCEL.exterior.coords)[:-1]:
        tool.add_point(QgsPointXY(x, y))
    assert tool.finish()
    assert page.editor.widget("parcel_boundary").value().equals(NEW_PARCEL)
    choose(page.editor.widget("land_use"), "residential")
    wizard.next()
    wizard.currentPage().editor.widget("household_name").editor.setText("Famille Yao")
    wizard.next()
    fill_member(wizard.currentPage().entries[0], "Kouassi", "Yao", "male", "head", age=60,
                claim={"type": "owner", "share": (1, 1)})
    wizard.next()
    wizard.button(QWizard.FinishButton).click()
    assert messages(qgis_iface, Qgis.Critical) == []
    connection = {"host": postgis_server.host, "port": postgis_server.port,
                  "user": postgis_server.user, "dbname": postgis_server.dbname}
    with SettlementStore.open_postgis(connection, schema) as store:
        parcel = store.spatial_units.by_code("YOP-P00001")
        assert parcel.boundary.equals(NEW_PARCEL) and parcel.land_use == "residential"
        [claim] = store.tenure.on_spatial_unit(parcel.id)
        assert store.parties.get(claim.party_id).first_name == "Kouassi"
    assert QgsProject.instance().mapLayersByName("Parcels")[0].featureCount() == 1
