"""Certificate register and Verify certificate windows (issue "Occupancy certificates",
points 5 and 6, GUI side).

A small store with two certificates issued by the core: KOU-2026-000001 on
parcel KOU-P00001 (Awa and Issa Koné, half each) and KOU-2026-000002 on
KOU-P00002 (Issa, tenant). They are issued with a fake render (a tiny PDF);
reprints and supersessions go through the window, with a real
CertificateRenderer. Modal forms and questions are answered by replacing
their exec_ (or QMessageBox.question, QFileDialog), as in
test_adjudication_gui.py; what the core wrote is read back from the store.
"""
import base64
import json
import pathlib
import shutil
import sqlite3
import subprocess

import pytest
from qgis.core import Qgis, QgsProject
from qgis.PyQt.QtCore import QThread
from qgis.PyQt.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox

from stdm_plugin.core import SocialTenure
from stdm_plugin.core.adjudication.adjudication import (
    approve,
    open_public_display,
    return_to_enumeration,
    verify,
)
from stdm_plugin.core.certificates.certificates import find_certificate, issue_certificate
from stdm_plugin.core.certificates.office_keys import (
    active_office_key,
    create_office_key,
    office_keys,
    unlock_office_key,
)
from stdm_plugin.core.certificates.signing import sign
from stdm_plugin.core.certificates.snapshot import text_sha256
from stdm_plugin.core.store.users import sign_in
from stdm_plugin.gui.adjudication.step_forms import FormDialog
from stdm_plugin.gui.certificates.register_dialog import (
    RegisterDialog,
    certificate_rows,
    template_for,
)
from stdm_plugin.gui.certificates.verify_dialog import VerifyDialog, read_key_file
from stdm_plugin.qgis.certificates.layout import CertificateRenderer, shipped_template

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"
FIRST, SECOND, THIRD = "KOU-2026-000001", "KOU-2026-000002", "KOU-2026-000003"
#: the office key's passphrase in these tests
KEY = "office key passphrase"


def fake_render(sheet, path):
    with open(path, "wb") as handle:
        handle.write(b"%PDF-1.4 fake " + sheet.number.encode() + b"\n%%EOF\n")


def adjudicate(store, claim_ids):
    """Verified by the supervisor, displayed in January, approved by the land officer."""
    sign_in(store, "sup", "sup")
    verify(store, claim_ids)
    open_public_display(store, store.info["parcels"][0].settlement_id, "2026-01-05",
                        "2026-02-04")
    sign_in(store, "officer", "cert")
    approve(store, claim_ids, today="2026-02-10")
    unlock_office_key(store, KEY)


@pytest.fixture
def register(filled_store, tmp_path):
    """filled_store with people, an office key and two certificates; the officer signed in."""
    store = filled_store
    store.users.create("admin", "Adèle Admin", "administrator", password="s3cret")
    sign_in(store, "admin", "s3cret")
    store.users.create("sup", "Seydou Superviseur", "supervisor", password="sup")
    store.users.create("officer", "Léa Officer", "land_officer", password="cert")
    create_office_key(store, "Koumassi land office", KEY)
    first, second = store.info["parcels"]
    store.spatial_units.update(first.id, block="A")
    store.spatial_units.update(second.id, block="B")
    tenant = store.tenure.add(SocialTenure(party_id=store.info["issa"].id,
                                           spatial_unit_id=second.id, tenure_type="tenant"))
    store.info["tenant"] = tenant
    adjudicate(store, [c.id for c in store.tenure.find()])
    for parcel in (first, second):
        issue_certificate(store, parcel.id, fake_render, str(tmp_path / "issued"),
                          today="2026-03-01")
    return store


class Reports(list):
    def __call__(self, message, ok):
        self.append((message, ok))


def window(store, layer=None):
    return RegisterDialog(store, "settlement.sqlite", layer, Reports())


def shown_rows(dialog):
    return [[dialog.table.item(r, c).text() for c in range(dialog.table.columnCount())]
            for r in range(dialog.table.rowCount())]


def payload(store, number):
    return find_certificate(store, number).qr_payload


def answering(monkeypatch, reason=None, folder=None, confirm=True):
    """Forms get ``reason``; folder questions ``folder``; Yes/No questions ``confirm``.
    Returns the list of questions asked."""
    asked = []

    def form_exec(form):
        if reason is None:
            return QDialog.Rejected
        form.fields["Reason"].setPlainText(reason)
        return QDialog.Accepted

    def question(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.Yes if confirm else QMessageBox.No
    monkeypatch.setattr(FormDialog, "exec_", form_exec)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(folder or "")))
    return asked


def screenshot(widget, app, name):
    widget.show()
    app.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


def messages(iface, level):
    return [m.split(":", 1)[1] if m.startswith("STDM:") else m
            for m in iface.messageBar().get_messages(level)]


# --- the table --------------------------------------------------------------------------------
def test_the_table_lists_the_register_and_filters(register, qgis_app):
    from stdm_plugin.core.certificates.certificates import revoke

    dialog = window(register)
    assert dialog.count.text() == "2 of 2 certificates listed"
    first, second = shown_rows(dialog)
    assert first[:3] == [FIRST, "KOU-P00001", "Awa Koné (1/2), Issa Koné (1/2)"]
    issued_on = find_certificate(register, FIRST).issued_at[:10]
    assert first[3:] == [issued_on, "Léa Officer", "valid", "1", ""]
    assert second[:3] == [SECOND, "KOU-P00002", "Issa Koné (1)"]
    revoke(register, SECOND, "Wrong parcel")
    dialog.refresh()
    dialog.status_filter.setCurrentIndex(dialog.status_filter.findData("revoked"))
    assert [r[0] for r in shown_rows(dialog)] == [SECOND]
    assert shown_rows(dialog)[0][5] == "revoked"
    dialog.status_filter.setCurrentIndex(dialog.status_filter.findData("valid"))
    assert [r[0] for r in shown_rows(dialog)] == [FIRST]
    dialog.status_filter.setCurrentIndex(0)
    for search, expected in (("issa", [FIRST, SECOND]), ("kone", [FIRST, SECOND]),
                             ("AWA", [FIRST]), ("p00002", [SECOND]), ("000001", [FIRST]),
                             ("zzz", [])):
        dialog.search.setText(search)
        assert [r[0] for r in shown_rows(dialog)] == expected, search
    assert dialog.count.text() == "0 of 2 certificates listed"
    dialog.search.clear()
    assert dialog.select_number(FIRST) and dialog.buttons["history"].isEnabled()
    history = dialog.show_history()
    assert history.findChild(type(dialog.table)).rowCount() == 1
    history.close()
    assert dialog.select_number(SECOND)  # revoked: nothing more to do with it
    assert not any(dialog.buttons[k].isEnabled() for k in ("reprint", "revoke", "supersede"))
    assert dialog.buttons["revoke"].toolTip() == "Only a valid certificate; this one is revoked"


def test_the_template_comes_from_the_project(tmp_path):
    project = QgsProject.instance()
    try:
        assert template_for("fr") == shipped_template("fr")
        assert template_for("xx") == shipped_template("en")
        project.writeEntry("stdm", "certificate_template", "fr")  # a shipped one: the
        assert template_for("en") == shipped_template("en")  # certificate's language counts
        project.writeEntry("stdm", "certificate_template", str(tmp_path / "office.qpt"))
        assert template_for("fr") == str(tmp_path / "office.qpt")
    finally:
        project.removeEntry("stdm", "certificate_template")


# --- reprint, revoke, supersede ----------------------------------------------------------------
def test_a_missing_project_template_is_said_and_nothing_counted(register, qgis_app, tmp_path):
    QgsProject.instance().writeEntry("stdm", "certificate_template",
                                     str(tmp_path / "gone.qpt"))
    try:
        dialog = window(register)
        dialog.select_number(FIRST)
        assert dialog.reprint_selected(str(tmp_path / "out")) is None
    finally:
        QgsProject.instance().removeEntry("stdm", "certificate_template")
    assert dialog.status.text().startswith(
        f"Not done: Certificate template {tmp_path / 'gone.qpt'}: cannot be read")
    assert find_certificate(register, FIRST).print_count == 1


def test_reprint_from_the_plugin_counts_and_renders_on_the_main_thread(
        plugin, qgis_iface, register, qgis_app, tmp_path, monkeypatch):
    assert plugin.show_store(register.path)
    assert plugin.sign_in_as("officer", "cert")
    dialog = plugin.certificate_register()
    assert plugin.certificate_register() is dialog  # one window at a time
    seen = []
    original = CertificateRenderer.render

    def render(renderer, sheet, path):
        seen.append((QThread.currentThread() is qgis_app.thread(),
                     renderer.neighbours.featureCount(), renderer.template_path))
        return original(renderer, sheet, path)
    monkeypatch.setattr(CertificateRenderer, "render", render)
    out = tmp_path / "reprints"
    answering(monkeypatch, folder=out)
    assert dialog.select_number(FIRST)
    dialog.buttons["reprint"].click()
    pdf = out / f"{FIRST}-print2.pdf"
    assert dialog.status.text() == f"Reprinted {FIRST} (print 2) to {pdf}"
    assert pdf.read_bytes().startswith(b"%PDF")
    [(main_thread, neighbours, template)] = seen
    assert main_thread and template == shipped_template("en")
    assert neighbours == 2  # the parcels of the project, drawn around the certified one
    cert = find_certificate(register, FIRST)
    assert (cert.number, cert.print_count, cert.status) == (FIRST, 2, "valid")
    assert shown_rows(dialog)[0][6] == "2"
    assert f"Reprinted {FIRST} (print 2) to {pdf}" in messages(qgis_iface, Qgis.Success)
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert FIRST in text and "Awa Koné" in text
    screenshot(dialog, qgis_app, "register_dialog.png")
    plugin.close_certificate_windows()
    assert plugin.register_dialog is None


def test_revoke_needs_a_reason_and_a_confirmation(register, qgis_app, monkeypatch):
    dialog = window(register)
    dialog.select_number(FIRST)
    asked = answering(monkeypatch, reason="   ")
    dialog.buttons["revoke"].click()
    assert asked == []  # nothing to confirm without a reason
    assert dialog.status.text() == "Not done: Give the reason; it is kept in the register"
    asked = answering(monkeypatch, reason="Issued to the wrong household", confirm=False)
    dialog.buttons["revoke"].click()
    assert len(asked) == 1 and "This cannot be undone" in asked[0]
    assert find_certificate(register, FIRST).status == "valid"
    answering(monkeypatch, reason="Issued to the wrong household")
    dialog.buttons["revoke"].click()
    assert dialog.status.text() == f"Revoked {FIRST}: Issued to the wrong household"
    assert shown_rows(dialog)[0][5] == "revoked" and not dialog.buttons["revoke"].isEnabled()
    assert dialog.report[-1] == (dialog.status.text(), True)
    checked = VerifyDialog(register, "settlement.sqlite").check(payload(register, FIRST))
    assert (checked.status, checked.headline) == ("revoked", "REVOKED")
    assert checked.fact("Reason") == "Issued to the wrong household"
    assert checked.fact("Revoked").endswith(" by Léa Officer")
    screenshot(checked_window(register, FIRST), qgis_app, "verify_revoked.png")


def test_supersede_is_refused_until_the_new_claims_are_approved(register, qgis_app, tmp_path,
                                                                monkeypatch):
    dialog = window(register)
    dialog.select_number(SECOND)
    out = tmp_path / "new"
    answering(monkeypatch, reason="Issa bought the plot", folder=out)
    dialog.buttons["supersede"].click()
    claim = register.info["tenant"]
    lines = dialog.status.text().splitlines()
    assert lines[0] == "Not done: no certificate for KOU-P00002:"
    assert lines[1:] == [f"  • KOU-P00002: the claim of Issa Koné (claim {claim.id[:8]}) is "
                         "issued, not approved."]
    assert dialog.report[-1][1] is False
    assert find_certificate(register, SECOND).status == "valid"
    assert not list(out.glob("*"))  # no PDF, not even a partial one
    return_to_enumeration(register, [claim.id], "Issa bought the plot")
    register.tenure.update(claim.id, tenure_type="owner")
    adjudicate(register, [claim.id])
    dialog.buttons["supersede"].click()
    assert dialog.status.text() == f"{THIRD} supersedes {SECOND}; written to {out / THIRD}.pdf"
    assert (out / f"{THIRD}.pdf").read_bytes().startswith(b"%PDF")
    assert [r[0] for r in shown_rows(dialog)] == [FIRST, SECOND, THIRD]
    assert shown_rows(dialog)[1][5:] == ["superseded", "1", THIRD]
    assert dialog.selected_row().number == SECOND
    checked = VerifyDialog(register, "settlement.sqlite").check(payload(register, SECOND))
    assert (checked.status, checked.fact("Replaced by")) == ("superseded", THIRD)
    assert checked.fact("Reason") == "Issa bought the plot"
    screenshot(checked_window(register, SECOND), qgis_app, "verify_superseded.png")
    screenshot(dialog, qgis_app, "register_superseded.png")
    new = VerifyDialog(register, "settlement.sqlite").check(payload(register, THIRD))
    assert new.status == "valid" and new.fact("Holders") == "Issa Koné — Owner (1)"


def test_a_supervisor_sees_the_acts_disabled_and_the_core_refuses(register, qgis_app):
    sign_in(register, "sup", "sup")
    dialog = window(register)
    dialog.select_number(FIRST)
    assert "signed in: <b>Seydou Superviseur (supervisor)</b>" in dialog.who.text()
    for action in ("reprint", "revoke", "supersede"):
        assert not dialog.buttons[action].isEnabled()
        assert dialog.buttons[action].toolTip() == "Needs the role: land officer"
    assert not dialog.buttons["manage_keys"].isEnabled()
    assert dialog.buttons["history"].isEnabled()
    assert dialog.revoke_selected("I want to") is None
    assert dialog.status.text() == ("Not allowed: Seydou Superviseur (supervisor) may not "
                                    "revoke: it needs the role land_officer.")
    assert dialog.report[-1][1] is False
    assert find_certificate(register, FIRST).status == "valid"
    sign_in(register, "officer", "cert")  # the window follows at the next refresh
    dialog.refresh()
    assert dialog.buttons["revoke"].isEnabled()


def test_the_office_key_is_replaced_and_exported(register, qgis_app, tmp_path, monkeypatch):
    old = active_office_key(register)
    dialog = window(register)
    keys = dialog.office_key_dialog()
    assert keys.create_key("Rogue office", KEY) is None  # the land officer may not
    assert ("Not done: Léa Officer (land_officer) may not manage keys"
            in keys.status.text())
    sign_in(register, "admin", "s3cret")
    dialog.refresh()
    assert dialog.buttons["manage_keys"].isEnabled()
    keys = dialog.office_key_dialog()
    assert f"Key in use: <b>{old.id}</b>, for <b>Koumassi land office</b>" in keys.current.text()
    assert keys.office_name.text() == "Koumassi land office"
    assert "protected by a passphrase" in keys.current.text()
    assert keys.protect_button.isHidden()
    asked = answering(monkeypatch)
    keys.office_name.setText("Koumassi land office (2026)")
    keys.passphrase.setText("the new office passphrase")
    keys.repeated.setText("the new office passphrasf")
    keys.create_button.click()
    assert keys.status.text() == "Not done: the two passphrases differ."
    assert active_office_key(register).id == old.id
    keys.repeated.setText("the new office passphrase")
    keys.create_button.click()
    assert f"The key in use now ({old.id}) is retired" in asked[-1]
    new = active_office_key(register)
    assert new.id != old.id and new.office_name == "Koumassi land office (2026)"
    assert keys.status.text() == (f"New key {new.id} created; new certificates are signed "
                                  "with it, with the passphrase you typed.")
    assert keys.passphrase.text() == keys.repeated.text() == ""
    assert "1 retired key(s)" in keys.current.text()
    screenshot(keys, qgis_app, "register_office_key.png")
    checked = VerifyDialog(register, "settlement.sqlite").check(payload(register, FIRST))
    assert checked.status == "valid"  # signed with the retired key: still valid
    path = tmp_path / "keys.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))
    keys.export_button.click()
    assert keys.status.text().startswith(f"Wrote the public keys to {path}")
    exported = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(k["id"] for k in exported["keys"]) == sorted(k.id for k in
                                                               office_keys(register))
    assert not keys.export_to(str(tmp_path / "missing" / "keys.json"))
    assert "The public keys were not written" in keys.status.text()
    offline = VerifyDialog(None, "")
    assert not offline.use_register.isEnabled() and offline.use_key_file.isChecked()
    assert offline.load_key_file(str(path))
    assert offline.key_file.text() == "keys.json (2 key(s))"
    checked = offline.check(payload(register, FIRST))
    assert (checked.status, checked.headline) == ("signed", "GENUINE SIGNATURE")
    assert checked.fact("Signed by") == f"Koumassi land office ({old.id})"
    assert checked.fact("Key in use") == (f"from {old.created_at[:10]} to "
                                          f"{active_office_key(register).created_at[:10]}")
    assert checked.fact("Issued") == find_certificate(register, FIRST).issued_at[:10]
    assert "cannot tell whether it has since been revoked" in checked.summary
    forged = offline.check(payload(register, FIRST).replace("|K", "|L", 1))
    assert forged.status == "forged"
    screenshot(offline, qgis_app, "verify_key_file.png")


def test_a_key_kept_in_the_clear_is_shown_protected_and_retired(register, qgis_app,
                                                                monkeypatch):
    """A store from before schema 9: its key is in the clear until an administrator
    protects it; then it is retired (say, a laptop with a copy went missing)."""
    from stdm_plugin.core.certificates import ed25519
    from stdm_plugin.core.certificates.signing import key_id_of

    private_raw = ed25519.generate_private_key()
    public_raw = ed25519.public_key(private_raw)
    with register.transaction():
        register.db.execute("UPDATE office_key SET retired_at = '2098-12-31T00:00:00Z'")
        register.db.execute(
            "INSERT INTO office_key (id, office_name, public_key, private_key, created_at, "
            "created_by) VALUES (?, 'Koumassi land office', ?, ?, '2099-01-01T00:00:00Z', "
            "'admin')", (key_id_of(public_raw), base64.b64encode(public_raw).decode(),
                         base64.b64encode(private_raw).decode()))
    sign_in(register, "admin", "s3cret")
    keys = window(register).office_key_dialog()
    assert "NOT protected" in keys.current.text() and not keys.protect_button.isHidden()
    screenshot(keys, qgis_app, "register_office_key_unprotected.png")
    keys.passphrase.setText("a passphrase at last")
    keys.repeated.setText("a passphrase at last")
    keys.protect_button.click()
    assert "is now protected by the passphrase" in keys.status.text()
    assert keys.protect_button.isHidden() and "protected by a passphrase" in keys.current.text()
    monkeypatch.setattr(QInputDialog, "getText",
                        staticmethod(lambda *a, **k: ("a laptop with a copy was stolen", True)))
    keys.retire_button.click()
    assert keys.status.text().startswith(f"Key {key_id_of(public_raw)} is retired")
    assert "no signing key yet" in keys.current.text() and not keys.retire_button.isEnabled()
    [retired] = [k for k in office_keys(register) if k.id == key_id_of(public_raw)]
    assert retired.retired_reason == "a laptop with a copy was stolen"


# --- verification -----------------------------------------------------------------------------
def checked_window(store, number):
    dialog = VerifyDialog(store, "settlement.sqlite")
    dialog.code.setText(payload(store, number))
    dialog.verify_button.click()
    return dialog


def altered_signature(text):
    head, signature = text.rsplit("|", 1)
    swapped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return f"{head}|{swapped}"


def test_verify_says_valid_and_forged_in_each_way(register, qgis_app):
    dialog = VerifyDialog(register, "settlement.sqlite")
    assert dialog.use_register.isChecked()
    good = payload(register, FIRST)
    dialog.code.setText(good + "\r\n")  # a scanner's line end is forgiven
    dialog.code.returnPressed.emit()
    result = dialog.result
    assert (result.status, dialog.headline.text()) == ("valid", "VALID")
    assert result.fact("Certificate") == FIRST
    assert result.fact("Parcel") == "KOU-P00001, block A — Koumassi Campement (KOU)"
    assert result.fact("Holders") == "Awa Koné — Co-owner (1/2)\nIssa Koné — Co-owner (1/2)"
    assert result.fact("Issued").endswith(" by Léa Officer")
    assert "Koumassi land office" in result.fact("Signed by")
    assert "Awa Koné — Co-owner (1/2)<br>Issa Koné" in dialog.facts.text()
    assert dialog.code.selectedText() == dialog.code.text()  # the next scan replaces it
    screenshot(dialog, qgis_app, "verify_valid.png")
    key = active_office_key(register)
    cert = find_certificate(register, FIRST)
    day = cert.issued_at[:10]
    _sig, never_issued = sign(register.signer, "KOU-2026-000999", cert.snapshot_sha256, day)
    _sig, other_content = sign(register.signer, FIRST, text_sha256("something else"), day)
    for text, problem in (
            (altered_signature(good), "bad signature: the code was altered or made up"),
            (good.replace(key.id, "0123456789abcdef"), "unknown key: not signed by this office"),
            (never_issued, "not in the register: the office never issued this number"),
            (other_content, "hash mismatch: the content differs from the register's")):
        result = dialog.check(text)
        assert (result.status, result.fact("Problem")) == ("forged", problem), problem
        assert dialog.headline.text() == "FORGED"
    dialog.check(altered_signature(good))
    screenshot(dialog, qgis_app, "verify_forged.png")


def test_verify_names_a_tampered_register(register, qgis_app):
    """Someone edits the store file behind the core's back (its rules dropped)."""
    good = payload(register, FIRST)
    con = sqlite3.connect(register.path)
    try:
        triggers = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'certificate'")]
        for name in triggers:
            con.execute(f'DROP TRIGGER "{name}"')
        con.execute("UPDATE certificate SET snapshot = replace(snapshot, 'Awa', 'Ava') "
                    "WHERE number = ?", (FIRST,))
        con.commit()
    finally:
        con.close()
    result = VerifyDialog(register, "settlement.sqlite").check(good)
    assert result.status == "forged"
    assert result.fact("Problem").startswith("register tampered")


GARBAGE = ("", "   ", "hello", "STDM1|||||", "STDM1||||", "STDM1|KOU-2026-000001|x|y|z",
           "x" * 1_000_000, "\x00\x01\x02\xff\ufffe\ud800 STDM1|", "STDM1|" + "é" * 400,
           "STDM1|KOU-2026-000001|" + "A" * 43 + "|0123456789abcdef|" + "A" * 86 + "\x00")


def test_verify_never_crashes_on_garbage(register, qgis_app):
    dialog = VerifyDialog(register, "settlement.sqlite")
    for text in GARBAGE:
        result = dialog.check(text)
        assert (result.status, dialog.headline.text()) == ("malformed", "MALFORMED"), text[:40]
        assert result.summary and result.fact("Read")
        dialog.code.setText(text)  # through the box too (it keeps at most 32767 characters)
        dialog.verify_button.click()
        assert dialog.result.status == "malformed"


def test_verify_malformed_says_what_was_read(register, qgis_app):
    dialog = VerifyDialog(register, "settlement.sqlite")
    result = dialog.check("STDM1|||||")
    assert "is not a certificate code" in result.summary
    assert result.fact("Read") == "STDM1|||||"
    assert dialog.check("a\x00b").fact("Read") == "a·b"
    assert dialog.check("").fact("Read") == "(nothing)"
    assert dialog.check("y" * 1000).fact("Read") == "y" * 40 + " … (1000 characters)"
    screenshot(dialog, qgis_app, "verify_malformed.png")


def test_bad_key_files_are_said_not_raised(tmp_path, qgis_app, register):
    dialog = VerifyDialog(None, "")
    assert dialog.check(payload(register, FIRST)).summary == "Choose the public key file first."
    for name, content in (("empty.json", b""), ("garbage.bin", b"\xff\xfe\x00 junk"),
                          ("list.json", b'{"keys": 5}'), ("nokey.json", b'{"keys": [{}]}'),
                          ("short.txt", b"c2hvcnQ=")):
        path = tmp_path / name
        path.write_bytes(content)
        assert not dialog.load_key_file(str(path)), name
        assert dialog.result.status == "error" and dialog.headline.text() == "NOT CHECKED"
    assert not dialog.load_key_file(str(tmp_path / "nowhere.json"))
    broken = tmp_path / "broken.json"
    key = active_office_key(register)
    broken.write_text(json.dumps({"keys": [{"id": key.id, "public_key": "!!",
                                            "retired_at": 5}]}), encoding="utf-8")
    assert dialog.load_key_file(str(broken))
    result = dialog.check(payload(register, FIRST))
    assert result.status == "error" and "not an Ed25519 public key" in result.summary
    bare = tmp_path / "key.txt"
    bare.write_text(key.public_key + "\n", encoding="utf-8")
    assert [k.id for k in read_key_file(str(bare))] == [key.id]
    assert dialog.load_key_file(str(bare))
    assert dialog.check(payload(register, FIRST)).status == "signed"


def test_verify_from_the_plugin_needs_nobody_signed_in(plugin, qgis_iface, register, qgis_app):
    offline = plugin.verify_certificate()  # no store shown: key file only
    assert offline is not None and not offline.use_register.isEnabled()
    plugin.close_certificate_windows()
    assert plugin.verify_dialog is None
    assert plugin.show_store(register.path)
    dialog = plugin.verify_certificate()
    assert plugin.verify_certificate() is dialog
    assert dialog.use_register.text() == "Against the register of settlement.sqlite"
    assert dialog.check(payload(register, SECOND)).status == "valid"
    assert plugin.signed_in == {}
    QgsProject.instance().clear()  # the store is no longer shown: the window closes
    assert plugin.verify_dialog is None
    assert messages(qgis_iface, Qgis.Critical) == []


def test_the_register_needs_someone_signed_in(plugin, qgis_iface, register, monkeypatch):
    from stdm_plugin.gui.store.sign_in_dialog import SignInDialog

    assert plugin.show_store(register.path)
    monkeypatch.setattr(SignInDialog, "exec_", lambda dialog: QDialog.Rejected)
    assert plugin.certificate_register() is None
    assert plugin.register_dialog is None
    assert rows_of(register) == [FIRST, SECOND]


def rows_of(store):
    return [r.number for r in certificate_rows(store)]


def test_register_and_verify_on_a_postgis_store(plugin, qgis_iface, postgis_server, tmp_path,
                                                 monkeypatch):
    from shapely.geometry import box

    from stdm_plugin.core import Party, SettlementStore, SpatialUnit
    from stdm_plugin.qgis.store.sources import PostgresConnection

    connection = PostgresConnection(schema=postgis_server.fresh_schema(),
                                    host=postgis_server.host, port=str(postgis_server.port),
                                    dbname=postgis_server.dbname, user=postgis_server.user)
    assert plugin.create_postgis_store(connection, "EPSG:32630", ("YOP", "Yopougon"))
    with SettlementStore.open_postgis(connection.psycopg2_params(), connection.schema) as store:
        store.users.create("admin", "Adèle Admin", "administrator", password="s3cret")
        sign_in(store, "admin", "s3cret")
        store.users.create("sup", "Seydou Superviseur", "supervisor", password="sup")
        store.users.create("officer", "Léa Officer", "land_officer", password="cert")
        create_office_key(store, "Yopougon land office", KEY)
        site = store.settlements.by_code("YOP")
        parcel = store.spatial_units.add(SpatialUnit(
            kind="parcel", settlement_id=site.id, boundary=box(400000, 590000, 400020, 590015)))
        awa = store.parties.add(Party(first_name="Awa", last_name="Bamba"))
        claim = store.tenure.add(SocialTenure(party_id=awa.id, spatial_unit_id=parcel.id,
                                              tenure_type="owner"))
        store.info = {"parcels": [parcel]}
        adjudicate(store, [claim.id])
        issued = issue_certificate(store, parcel.id, fake_render, str(tmp_path / "issued"),
                                   today="2026-03-01")
    assert plugin.sign_in_as("officer", "cert")
    dialog = plugin.certificate_register()
    assert shown_rows(dialog)[0][:3] == ["YOP-2026-000001", parcel.code, "Awa Bamba (1)"]
    answering(monkeypatch, folder=tmp_path / "reprints")
    dialog.select_number(issued.number)
    dialog.buttons["reprint"].click()
    assert (tmp_path / "reprints" / "YOP-2026-000001-print2.pdf").read_bytes()[:4] == b"%PDF"
    verifier = plugin.verify_certificate()
    result = verifier.check(issued.qr_payload)
    assert (result.status, result.fact("Holders")) == ("valid", "Awa Bamba — Owner (1)")
    assert messages(qgis_iface, Qgis.Critical) == []
