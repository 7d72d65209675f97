"""Sign in, Manage users and Adjudicate claims, on a store shown in the project.

The dialogs are driven as a person would, by their fields and buttons, but
never through a blocking exec_(): a modal dialog's exec_ is replaced by a
function that fills it in and clicks, and the non-modal adjudication window
is used while shown. What the core wrote is read back from the store.
"""
import pathlib
import subprocess

import pytest
from qgis.core import Qgis, QgsFeatureRequest, QgsProject
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox
from shapely.geometry import box

from stdm_plugin.core import Party, SettlementStore, SocialTenure, SpatialUnit
from stdm_plugin.core.adjudication import adjudication as adj
from stdm_plugin.core.store.errors import PermissionDeniedError
from stdm_plugin.core.store.users import resume_session, sign_in, sign_out
from stdm_plugin.gui.adjudication.dialog import AdjudicationDialog, claim_rows
from stdm_plugin.gui.adjudication.step_forms import FormDialog
from stdm_plugin.gui.store.sign_in_dialog import SIGNED_OUT, SignInDialog
from stdm_plugin.gui.store.users_dialog import UsersDialog
from stdm_plugin.qgis.store.sources import PostgresConnection

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"


def messages(iface, level):
    """The message bar's texts, without the "STDM:" title pytest-qgis puts before them."""
    return [m.split(":", 1)[1] if m.startswith("STDM:") else m
            for m in iface.messageBar().get_messages(level)]


def screenshot(widget, app, name):
    widget.show()
    app.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


@pytest.fixture
def team(filled_store):
    """filled_store with an administrator, a supervisor, a land officer and an enumerator;
    parcel 1 (Awa and Issa, half each) in block A, parcel 2 (Issa, tenant) in block B."""
    store = filled_store
    store.users.create("admin", "Adèle Admin", "administrator", password="s3cret")
    sign_in(store, "admin", "s3cret")
    store.users.create("sup", "Seydou Superviseur", "supervisor", password="sup")
    store.users.create("officer", "Léa Officer", "land_officer", password="cert")
    store.users.create("enum", "Eric Enumerator", "enumerator", password="enum")
    sign_out(store)
    first, second = store.info["parcels"]
    store.spatial_units.update(first.id, block="A")
    store.spatial_units.update(second.id, block="B")
    store.tenure.add(SocialTenure(party_id=store.info["issa"].id, spatial_unit_id=second.id,
                                  tenure_type="tenant"))
    return store


@pytest.fixture
def shown(plugin, team):
    assert plugin.show_store(team.path)
    return team


def signing_in_as(monkeypatch, login, password=None, seen=None):
    """Make the sign-in dialog's exec_ pick ``login``, type ``password`` and click OK."""
    def exec_(dialog):
        if seen is not None:
            seen.append(dialog)
        if dialog.first_administrator:
            return QDialog.Rejected
        dialog.choose_login(login)
        dialog.password.setText(password or "")
        dialog.ok_button.click()
        return dialog.result()
    monkeypatch.setattr(SignInDialog, "exec_", exec_)


def filling_forms(monkeypatch, answers):
    """Make each FormDialog's exec_ type ``answers`` (label -> text) into it and click OK."""
    def exec_(form):
        for label, value in answers.items():
            widget = form.fields[label]
            if hasattr(widget, "setPlainText"):
                widget.setPlainText(value)
            elif hasattr(widget, "setDate"):
                widget.setDate(widget.date().fromString(value, "yyyy-MM-dd"))
            elif hasattr(widget, "setEditText") and widget.isEditable():
                widget.setEditText(value)
            elif hasattr(widget, "findText"):
                widget.setCurrentIndex(widget.findText(value))
            else:
                widget.setText(value)
        return QDialog.Accepted
    monkeypatch.setattr(FormDialog, "exec_", exec_)


def states(store):
    return sorted(c.adjudication_state for c in store.tenure.find())


def open_window(plugin, login, password):
    assert plugin.sign_in_as(login, password) is not None
    window = plugin.adjudicate_claims()
    assert window is not None
    return window


# --- signing in --------------------------------------------------------------------------
def test_sign_in_dialog_refuses_a_wrong_password_then_signs_in(team, qgis_app):
    dialog = SignInDialog(team, "settlement.sqlite")
    assert [dialog.login.itemData(i) for i in range(dialog.login.count())] == [
        "admin", "enum", "officer", "sup"]  # by full name
    assert dialog.login.itemText(2) == "Léa Officer — land officer (officer)"
    assert dialog.choose_login("officer")
    dialog.password.setText("wrong")
    dialog.ok_button.click()
    assert dialog.result() != QDialog.Accepted and team.user is None
    assert not dialog.problem.isHidden()
    assert "Wrong password for Léa Officer" in dialog.problem.text()
    assert dialog.password.text() == ""
    screenshot(dialog, qgis_app, "sign_in_wrong_password.png")
    dialog.password.setText("cert")
    dialog.ok_button.click()
    assert dialog.result() == QDialog.Accepted
    assert team.user.login == "officer" and team.actor == "officer"
    assert dialog.sign_out_button is None


def test_a_store_without_users_makes_its_first_administrator(filled_store, qgis_app):
    dialog = SignInDialog(filled_store, "settlement.sqlite")
    assert dialog.first_administrator
    assert dialog.ok_button.text() == "Create administrator and sign in"
    dialog.full_name.setText("Adèle Admin")
    dialog.new_password.setText("s3cret")
    dialog.new_password_again.setText("s3cre")
    dialog.ok_button.click()
    assert "The two passwords differ" in dialog.problem.text()
    dialog.new_password_again.setText("s3cret")
    dialog.ok_button.click()  # no login: the core refuses
    assert "A user needs a login name" in dialog.problem.text()
    assert filled_store.users.count() == 0 and dialog.result() != QDialog.Accepted
    dialog.new_login.setText("adele")
    screenshot(dialog, qgis_app, "sign_in_first_administrator.png")
    dialog.ok_button.click()
    assert dialog.result() == QDialog.Accepted
    assert (dialog.user.login, dialog.user.role) == ("adele", "administrator")
    assert filled_store.user.login == "adele"


def test_sign_in_from_the_menu_names_who_is_working(plugin, qgis_iface, shown, monkeypatch):
    sign_in_action = next(a for a in plugin.menu.actions() if a.text() == "Sign in…")
    seen = []
    signing_in_as(monkeypatch, "officer", "cert", seen)
    user = plugin.sign_in_user()
    assert user.login == "officer"
    assert sign_in_action.text() == "Signed in: Léa Officer (land officer) — switch…"
    assert any("Signed in to settlement.sqlite as Léa Officer (land officer)" in m
               for m in messages(qgis_iface, Qgis.Success))
    plugin.sign_in_user()  # the dialog offers to sign out, the current person chosen
    assert seen[-1].login.currentData() == "officer" and seen[-1].sign_out_button is not None
    window = plugin.adjudicate_claims()
    window.select_claims([window.rows[0].claim_id])
    assert window.buttons["record_objection"].isEnabled()
    monkeypatch.setattr(SignInDialog, "exec_", lambda dialog: SIGNED_OUT)
    assert plugin.sign_in_user() is None
    assert sign_in_action.text() == "Sign in…" and plugin.signed_in == {}
    assert "Signed out of settlement.sqlite." in messages(qgis_iface, Qgis.Success)
    assert window.store.user is None and not window.buttons["record_objection"].isEnabled()
    assert plugin.sign_in_as("sup", "sup")
    QgsProject.instance().clear()
    plugin.menu.aboutToShow.emit()  # no store shown: nobody signed in
    assert sign_in_action.text() == "Sign in…"


def test_a_wrong_password_from_a_script_is_a_message(plugin, qgis_iface, shown):
    assert plugin.sign_in_as("officer", "nope") is None
    assert any("Not signed in: Unknown user or wrong password" in m
               for m in messages(qgis_iface, Qgis.Critical))
    assert plugin.signed_in == {}


def test_an_action_needing_a_role_asks_who_is_working_first(plugin, shown, monkeypatch):
    seen = []
    signing_in_as(monkeypatch, "sup", "sup", seen)
    window = plugin.adjudicate_claims()
    assert len(seen) == 1 and window is not None
    assert window.store.user.login == "sup"
    assert "signed in: <b>Seydou Superviseur (supervisor)</b>" in window.who.text()
    assert plugin.adjudicate_claims() is window  # one window at a time


def test_a_deactivated_user_is_signed_out(plugin, qgis_iface, shown, monkeypatch):
    assert plugin.sign_in_as("officer", "cert")
    sign_in(shown, "admin", "s3cret")
    shown.users.deactivate("officer")
    seen = []
    monkeypatch.setattr(SignInDialog, "exec_", lambda d: seen.append(d) or QDialog.Rejected)
    assert plugin.adjudicate_claims() is None
    assert len(seen) == 1  # asked who is working instead
    assert any("'officer' is no longer a user of this store" in m
               for m in messages(qgis_iface, Qgis.Warning))
    assert plugin.signed_in == {}


def test_resume_session_reads_the_user_again(team):
    sign_in(team, "admin", "s3cret")
    team.users.change_role("sup", "land_officer")
    other = SettlementStore.open(team.path)
    try:
        assert resume_session(other, "sup").role == "land_officer"
        assert other.actor == "sup"
        with pytest.raises(PermissionDeniedError, match="no longer a user"):
            resume_session(other, "nobody")
    finally:
        other.close()


# --- users --------------------------------------------------------------------------------
def test_only_an_administrator_manages_users(plugin, qgis_iface, shown, monkeypatch):
    assert plugin.sign_in_as("officer", "cert")
    opened = []
    monkeypatch.setattr(UsersDialog, "exec_", lambda d: opened.append(d))
    plugin.manage_users()
    assert opened == []
    assert any("Not allowed: Léa Officer (land_officer) may not manage users" in m
               for m in messages(qgis_iface, Qgis.Critical))
    assert plugin.sign_in_as("admin", "s3cret")
    plugin.manage_users()
    assert len(opened) == 1


def test_users_dialog_adds_changes_and_deactivates(team, qgis_app):
    sign_in(team, "admin", "s3cret")
    dialog = UsersDialog(team, "settlement.sqlite")
    assert dialog.table.rowCount() == 4
    dialog.new_login.setText("awa")
    dialog.new_full_name.setText("Awa Diallo")
    dialog.new_role.setCurrentIndex(dialog.new_role.findData("supervisor"))
    dialog.add_button.click()  # without a password: anyone could sign in as Awa
    assert "Not done: Give a password" in dialog.status.text()
    assert team.users.by_login("awa") is None
    dialog.new_password.setText("first-pw")
    dialog.add_button.click()
    assert dialog.status.text() == "Added Awa Diallo (supervisor)."
    assert sign_in(SettlementStore.open(team.path), "awa", "first-pw")
    dialog.new_login.setText("awa")
    dialog.new_full_name.setText("Another Awa")
    dialog.new_password.setText("other-pw")
    dialog.add_button.click()
    assert "Not done: The login 'awa' is already taken" in dialog.status.text()
    assert dialog.select_login("awa")
    dialog.role.setCurrentIndex(dialog.role.findData("land_officer"))
    dialog.change_role_button.click()
    assert team.users.by_login("awa").role == "land_officer"
    assert not dialog.set_password_button.isEnabled()
    dialog.password.setText("pw")
    dialog.set_password_button.click()
    assert "Set a new password for Awa Diallo" in dialog.status.text()
    assert sign_in(SettlementStore.open(team.path), "awa", "pw")
    assert dialog.select_login("admin")
    assert not dialog.deactivate()
    assert "You cannot deactivate yourself" in dialog.status.text()
    assert dialog.select_login("enum")
    assert dialog.deactivate()
    assert team.users.by_login("enum") is None and dialog.table.rowCount() == 4
    dialog.select_login("awa")
    screenshot(dialog, qgis_app, "users_dialog.png")
    sign_in(team, "officer", "cert")  # no longer an administrator: the core refuses
    dialog.new_login.setText("zoe")
    dialog.new_full_name.setText("Zoé")
    dialog.add_button.click()
    assert "Not done: Léa Officer (land_officer) may not manage users" in dialog.status.text()


# --- adjudication ------------------------------------------------------------------------
def test_buttons_follow_the_role(plugin, shown, qgis_app):
    window = open_window(plugin, "enum", "enum")
    window.select_claims([window.rows[0].claim_id])
    buttons = window.buttons
    assert not buttons["verify"].isEnabled()
    assert buttons["verify"].toolTip() == "Needs the role: supervisor or land officer"
    assert not buttons["approve"].isEnabled() and buttons["record_objection"].isEnabled()
    assert buttons["history"].isEnabled() and not buttons["print"].isEnabled()
    assert plugin.sign_in_as("officer", "cert")  # the open window follows the sign-in
    assert window.store.user.login == "officer"
    assert all(buttons[k].isEnabled() for k in ("verify", "approve", "return_claim",
                                                 "open_public_display", "record_objection"))
    assert not buttons["resolve_objection"].isEnabled()  # no open objection on it


def test_verify_display_and_approve_through_the_window(plugin, qgis_iface, shown, qgis_app,
                                                        monkeypatch):
    window = open_window(plugin, "sup", "sup")
    assert window.count.text() == "3 of 3 claims listed"
    window.table.selectAll()
    window.buttons["verify"].click()
    assert window.status.text() == "3 claims verified"
    assert "3 claims verified" in messages(qgis_iface, Qgis.Success)
    assert states(shown) == ["verified"] * 3
    filling_forms(monkeypatch, {"Block": "A", "First day": "2026-01-01",
                                "Last day": "2026-01-31", "Place": "Chef's yard"})
    window.buttons["open_public_display"].click()
    assert ("Public display opened for 2 claims, 2026-01-01 to 2026-01-31, block A, at "
            "Chef's yard") in messages(qgis_iface, Qgis.Success)
    assert states(shown) == ["public_display", "public_display", "verified"]
    layer = QgsProject.instance().mapLayersByName("Social tenure")[0]
    assert sorted(f["adjudication_state"] for f in layer.getFeatures(QgsFeatureRequest())) \
        == ["public_display", "public_display", "verified"]  # the layers were refreshed
    window.state_filter.setCurrentIndex(window.state_filter.findData("public_display"))
    assert window.table.rowCount() == 2
    assert window.table.item(0, 7).text() == "2026-01-01 – 2026-01-31"
    window.table.selectAll()
    window.buttons["approve"].click()  # a supervisor may not
    assert not window.buttons["approve"].isEnabled()
    assert plugin.sign_in_as("officer", "cert")
    window.table.selectAll()
    window.buttons["approve"].click()
    assert window.status.text() == "2 claims approved"
    assert states(shown) == ["approved", "approved", "verified"]
    events = adj.claim_events(shown, window.rows[0].claim_id)
    assert [(e["to_state"], e["changed_by"]) for e in events] == [
        ("verified", "sup"), ("public_display", "sup"), ("approved", "officer")]
    window.state_filter.setCurrentIndex(0)
    window.block_filter.setCurrentIndex(window.block_filter.findData("B"))
    assert [window.table.item(r, 0).text() for r in range(window.table.rowCount())] == [
        "KOU-P00002"]
    window.block_filter.setCurrentIndex(0)
    window.select_claims([window.rows[0].claim_id])
    history = window.show_history()
    assert history.findChild(type(window.table)).rowCount() == 3
    screenshot(history, qgis_app, "adjudication_history.png")
    history.close()
    screenshot(window, qgis_app, "adjudication_dialog.png")
    assert messages(qgis_iface, Qgis.Critical) == []


def test_a_refusal_is_shown_in_the_window(plugin, qgis_iface, shown):
    window = open_window(plugin, "officer", "cert")
    window.table.selectAll()
    assert window.approve_selected() is None
    assert window.status.text().startswith("Not done: Claim ")
    assert "is enumerated; to approve it must be public display" in window.status.text()
    assert any("Adjudication: not done" in m for m in messages(qgis_iface, Qgis.Warning))
    assert states(shown) == ["enumerated"] * 3


def test_a_role_changed_meanwhile_counts_at_the_next_step(plugin, qgis_iface, shown):
    window = open_window(plugin, "officer", "cert")
    window.table.selectAll()
    assert window.buttons["verify"].isEnabled()
    sign_in(shown, "admin", "s3cret")  # the administrator, elsewhere
    shown.users.change_role("officer", "enumerator")
    assert window.verify_selected() is None
    assert "Léa Officer (enumerator) may not verify" in window.status.text()
    assert not window.buttons["verify"].isEnabled()
    shown.users.deactivate("officer")
    window.select_claims([window.rows[0].claim_id])
    assert window.record_objection("Moussa Traoré", "My plot") is None
    assert "'officer' is no longer a user of this store" in window.status.text()
    assert window.store.user is None and "signed in: <b>nobody</b>" in window.who.text()
    assert states(shown) == ["enumerated"] * 3 and shown.objections.find() == []


def test_objections_block_approval_until_resolved(plugin, qgis_iface, shown, qgis_app,
                                                  monkeypatch):
    window = open_window(plugin, "sup", "sup")
    window.table.selectAll()
    window.verify_selected()
    assert window.open_display(shown.info["parcels"][0].settlement_id, "2026-01-01",
                               "2026-01-31")
    assert plugin.sign_in_as("enum", "enum")
    awa = next(r for r in window.rows if r.holder == "Awa Koné")
    window.select_claims([awa.claim_id])
    filling_forms(monkeypatch, {"Objector": "Moussa Traoré", "Contact": "07 00 00 00",
                                "Grounds": "The back wall is on my plot",
                                "Raised on": "2026-01-10"})
    window.buttons["record_objection"].click()
    assert ("Objection by Moussa Traoré recorded against the claim of Awa Koné on "
            "KOU-P00001") in messages(qgis_iface, Qgis.Success)
    assert window.table.item(0, 6).text() == "1"
    assert plugin.sign_in_as("officer", "cert")
    window.table.selectAll()
    assert window.approve_selected() is None
    assert "has an open objection by Moussa Traoré" in window.status.text()
    window.select_claims([awa.claim_id])
    assert window.buttons["resolve_objection"].isEnabled()
    filling_forms(monkeypatch, {"Outcome": "dismissed",
                                "Resolution": "The wall was measured: it is on parcel 1"})
    window.buttons["resolve_objection"].click()
    assert "Objection by Moussa Traoré: dismissed" in messages(qgis_iface, Qgis.Success)
    assert window.table.item(0, 6).text() == ""
    window.table.selectAll()
    assert window.approve_selected() == 3
    [objection] = shown.objections.find()
    assert (objection.status, objection.resolved_by) == ("dismissed", "officer")


def test_an_upheld_objection_and_a_return_send_claims_back(plugin, qgis_iface, shown,
                                                           monkeypatch):
    window = open_window(plugin, "officer", "cert")
    window.table.selectAll()
    window.verify_selected()
    window.select_claims([window.rows[2].claim_id])
    filling_forms(monkeypatch, {"Reason": "The tenant's name is misspelt"})
    window.buttons["return_claim"].click()
    assert "1 claim returned to enumeration" in messages(qgis_iface, Qgis.Success)
    window.select_claims([window.rows[0].claim_id])
    objection = window.record_objection("Moussa Traoré", "My plot")
    assert window.resolve_objection(objection.id, "upheld", "It is his plot")
    assert states(shown) == ["enumerated", "enumerated", "verified"]
    assert window.resolve_objection(objection.id, "dismissed", "again") is None
    assert "The objection is already upheld" in window.status.text()


def test_use_the_parcels_selected_on_the_map(plugin, shown):
    window = open_window(plugin, "sup", "sup")
    parcels = QgsProject.instance().mapLayersByName("Parcels")[0]
    second = shown.info["parcels"][1].id
    parcels.selectByIds([f.id() for f in parcels.getFeatures() if f["id"] == second])
    assert window.use_map_selection(True) == 1
    assert window.table.rowCount() == 1 and window.map_button.isChecked()
    assert window.selected_claim_ids() == [r.claim_id for r in window.rows
                                           if r.parcel_id == second]
    window.verify_selected()
    assert window.status.text() == "1 claim verified"
    parcels.removeSelection()
    assert window.use_map_selection(True) == 0
    assert "No claims on the parcels selected on the map (0 selected)" in window.status.text()
    window.map_button.click()  # unchecks: all claims again
    assert window.table.rowCount() == 3


def test_display_list_pdf_names_the_holders(plugin, qgis_iface, shown, tmp_path):
    window = open_window(plugin, "sup", "sup")
    window.table.selectAll()
    window.verify_selected()
    display = window.open_display(shown.info["parcels"][0].settlement_id, "2026-02-01",
                                  "2026-02-28", place="Chef's yard")
    path = tmp_path / "display.pdf"
    assert window.print_display_list_to(display.id, str(path))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    for expected in ("Public display of claims — Koumassi Campement (KOU)",
                     "All blocks · 2026-02-01 to 2026-02-28 · at Chef's yard",
                     "Awa Koné", "Issa Koné", "KOU-P00001", "KOU-P00002", "Co-owner",
                     "Tenant", "1/2", "Page 1 of 1", "3 claim(s) on 2 parcel(s)"):
        assert expected in text
    assert any("Wrote the display list (1 page(s))" in m
               for m in messages(qgis_iface, Qgis.Success))
    assert window.buttons["print"].isEnabled()
    assert not window.print_display_list_to(display.id, str(tmp_path / "no" / "x.pdf"))
    assert "The display list was not written" in window.status.text()


def test_claim_rows_in_french(team):
    rows = claim_rows(team, "fr")
    assert [(r.parcel_code, r.block, r.holder, r.tenure, r.share) for r in rows] == [
        ("KOU-P00001", "A", "Awa Koné", "Copropriétaire", "1/2"),
        ("KOU-P00001", "A", "Issa Koné", "Copropriétaire", "1/2"),
        ("KOU-P00002", "B", "Issa Koné", "Locataire", "1")]


def test_the_display_form_looks_right(plugin, shown, qgis_app, monkeypatch):
    window = open_window(plugin, "sup", "sup")
    forms = []

    def exec_(form):
        forms.append(form)
        screenshot(form, qgis_app, "adjudication_display_form.png")
        return QDialog.Rejected
    monkeypatch.setattr(FormDialog, "exec_", exec_)
    window.buttons["open_public_display"].click()
    assert len(forms) == 1 and states(shown) == ["enumerated"] * 3
    ok = forms[0].findChild(QDialogButtonBox).button(QDialogButtonBox.Ok)
    assert ok.text() == "Open public display"
    assert isinstance(window, AdjudicationDialog)


def test_adjudication_on_a_postgis_store(plugin, qgis_iface, postgis_server, tmp_path):
    connection = PostgresConnection(schema=postgis_server.fresh_schema(),
                                    host=postgis_server.host, port=str(postgis_server.port),
                                    dbname=postgis_server.dbname, user=postgis_server.user)
    assert plugin.create_postgis_store(connection, "EPSG:32630", ("YOP", "Yopougon"))
    with SettlementStore.open_postgis(connection.psycopg2_params(), connection.schema) as store:
        store.users.create("admin", "Adèle Admin", "administrator", password="s3cret")
        sign_in(store, "admin", "s3cret")
        store.users.create("officer", "Léa Officer", "land_officer", password="cert")
        parcel = store.spatial_units.add(SpatialUnit(
            kind="parcel", settlement_id=store.settlements.by_code("YOP").id, block="C",
            boundary=box(400000, 590000, 400020, 590015)))
        awa = store.parties.add(Party(first_name="Awa", last_name="Bamba"))
        store.tenure.add(SocialTenure(party_id=awa.id, spatial_unit_id=parcel.id,
                                      tenure_type="owner"))
    window = open_window(plugin, "officer", "cert")
    assert plugin.signed_in[f"postgres://{connection.host}:{connection.port}/"
                            f"{connection.dbname}/{connection.schema}"].login == "officer"
    window.table.selectAll()
    assert window.verify_selected() == 1
    display = window.open_display(parcel.settlement_id, "2026-01-01", "2026-01-31", "C")
    window.table.selectAll()
    assert window.approve_selected() == 1
    assert window.table.item(0, 5).text() == "approved"
    path = tmp_path / "yop.pdf"
    assert window.print_display_list_to(display.id, str(path))
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert "Awa Bamba" in text and "Yopougon" in text
    assert messages(qgis_iface, Qgis.Critical) == []


def test_nothing_opens_the_store_while_a_batch_issues_from_it(plugin, qgis_iface, shown,
                                                              monkeypatch):
    """The batch's worker holds the SpatiaLite write lock while each PDF is drawn: opening
    the store to write would wait for the busy timeout, then fail. Say so at once."""
    monkeypatch.setattr(plugin, "issuing_from", lambda source: True)
    assert plugin.open_signed_in_store("verify") is None
    assert any("Certificates are being issued from this store" in m
               for m in messages(qgis_iface, Qgis.Warning))
