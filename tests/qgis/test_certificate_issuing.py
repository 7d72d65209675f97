"""Issuing certificates through the plugin (issue "Occupancy certificates", point 4).

A batch runs as a QgsTask: numbering, signing and the register in the
worker, each PDF drawn on the main thread. Tests wait for the task by
processing events (the worker waits for the main thread at every
certificate, so blocking the main thread would hang it). The PDFs are read
back with poppler and their QR codes with zbarimg, and every scanned code
is checked against the register.
"""
from __future__ import annotations

import hashlib
import pathlib
import shutil
import subprocess
import threading
import time
from fractions import Fraction

import pytest
from qgis.core import Qgis, QgsProject
from qgis.PyQt.QtCore import QCoreApplication, QEventLoop, QTimer
from qgis.PyQt.QtWidgets import QDialog
from shapely.geometry import box

from stdm_plugin.core import Party, SettlementStore, SocialTenure, SpatialUnit
from stdm_plugin.core.adjudication.adjudication import (
    approve,
    open_public_display,
    record_objection,
    verify,
)
from stdm_plugin.core.certificates.batch import approved_parcels
from stdm_plugin.core.certificates.certificates import revoke
from stdm_plugin.core.certificates.office_keys import create_office_key
from stdm_plugin.core.certificates.sheet import CertificateSheet
from stdm_plugin.core.certificates.verification import verify_payload
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.store.users import sign_in
from stdm_plugin.gui.certificates.issue_dialog import ALL, BLOCK, MAP, IssueDialog
from stdm_plugin.gui.certificates.issue_report_dialog import IssueReportDialog, summary_line
from stdm_plugin.qgis.certificates.layout import CertificateRenderer, shipped_template
from stdm_plugin.qgis.certificates.task import (
    IssueCertificatesTask,
    IssueRequest,
    RenderAbandonedError,
    RenderBridge,
)
from stdm_plugin.qgis.store.sources import PostgresConnection, SpatiaLiteSource
from tests.qgis.test_certificate_layout import needs, pdf_pages, pdf_text

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "correct horse"
DISPLAY = ("2026-01-05", "2026-02-04")
TODAY = "2026-03-01"
#: the office key's passphrase in these tests
KEY = "office key passphrase"


# --- a demo settlement with approved claims, made once and copied per test ------------------
@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    """The demo settlement, users, an office key and approved claims; plus three parcels that
    must be refused: one not approved, one with an open objection, one with shares of 1/2."""
    path = tmp_path_factory.mktemp("demo") / "koumassi.sqlite"
    with SettlementStore.create(path, 32630, actor="setup") as store:
        load_demo_settlement(store, ROOT / "demo" / "data")
        store.users.create("admin", "Ama Administrator", "administrator", PASSWORD)
        sign_in(store, "admin", PASSWORD)
        store.users.create("sup", "Serge Supervisor", "supervisor", PASSWORD)
        store.users.create("officer", "Aïcha Traoré", "land_officer", PASSWORD)
        create_office_key(store, "Koumassi land office", KEY)
        site = store.settlements.find()[0]
        half = store.spatial_units.add(SpatialUnit(
            kind="parcel", settlement_id=site.id, land_use="residential", block="B9Z",
            boundary=box(390000, 580000, 390020, 580015)))
        party = store.parties.add(Party(first_name="Moussa", last_name="Diabaté"))
        store.tenure.add(SocialTenure(party_id=party.id, spatial_unit_id=half.id,
                                      tenure_type="co_owner", share_numerator=1,
                                      share_denominator=2))
        claims = {}
        for claim in store.tenure.find():
            claims.setdefault(claim.spatial_unit_id, []).append(claim)
        whole = sorted(u for u, cs in claims.items()
                       if sum((c.share for c in cs), Fraction(0)) == 1)
        parcels = {u.id for u in store.spatial_units.find("kind = 'parcel'")}
        whole = [u for u in whole if u in parcels]
        not_approved = whole[-1]  # left enumerated
        ids = [c.id for u in whole[:-1] + [half.id] for c in claims[u]]
        sign_in(store, "sup", PASSWORD)
        verify(store, ids)
        open_public_display(store, site.id, *DISPLAY)
        sign_in(store, "officer", PASSWORD)
        approve(store, ids, today="2026-02-10")
        objected = whole[0]
        record_objection(store, claims[objected][0].id, "Kouassi Yao",
                         "Says the back yard is his", raised_on="2026-02-20")
        ready = [p for p in approved_parcels(store) if p not in (objected, half.id)]
        info = {"ready": ready, "not_approved": not_approved, "objected": objected,
                "half": half.id, "code": {u.id: u.code for u in store.spatial_units.find()},
                "blocks": {u.id: u.block for u in store.spatial_units.find()}}
    return path, info


@pytest.fixture
def demo(demo_template, tmp_path):
    source, info = demo_template
    path = tmp_path / "koumassi.sqlite"
    shutil.copyfile(source, path)
    return path, info


@pytest.fixture
def shown(plugin, demo):
    """The demo store shown in the project, the land officer signed in."""
    path, info = demo
    assert plugin.show_store(str(path))
    assert plugin.sign_in_as("officer", PASSWORD) is not None
    return path, info


def wait_for_issue(plugin, seconds: float) -> None:
    """Process events until the plugin has the batch's outcome (never block on the task)."""
    deadline = time.monotonic() + seconds
    waker = QTimer()
    waker.start(50)  # WaitForMoreEvents returns at least this often
    try:
        while plugin.issue_task is not None:
            assert time.monotonic() < deadline, "the certificates were not issued in time"
            QCoreApplication.processEvents(QEventLoop.AllEvents | QEventLoop.WaitForMoreEvents)
    finally:
        waker.stop()
    QCoreApplication.processEvents()


def issue(plugin, parcel_ids, out_dir, seconds: float = 120, renderer=None, **options):
    request = IssueRequest(parcel_ids=list(parcel_ids), out_dir=str(out_dir), today=TODAY,
                           **options)
    task = plugin.start_issue(request, renderer=renderer, passphrase=KEY)
    assert task is not None, plugin.iface.messageBar().get_messages(Qgis.Critical)
    wait_for_issue(plugin, seconds)
    return plugin.issue_report_dialog


def messages(iface, level):
    return [m.split(":", 1)[1] if m.startswith("STDM:") else m
            for m in iface.messageBar().get_messages(level)]


def register(path) -> list:
    with SettlementStore.open(path) as store:
        return sorted(store.certificates.find(), key=lambda c: c.seq)


def sha256(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def scan(pdf: pathlib.Path, work: pathlib.Path) -> str:
    """The QR code of page 1, read as a phone would read a printed certificate."""
    needs("pdftoppm", "poppler-utils")
    needs("zbarimg", "zbar-tools")
    prefix = work / pdf.stem
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(prefix)], check=True)
    decoded = subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable",
                              "-Sbinary", str(prefix) + ".png"], capture_output=True,
                             text=True)
    return decoded.stdout.strip()


def changed(text: str, index: int) -> str:
    """``text`` with the character at ``index`` replaced by another of the same kind."""
    old = text[index]
    new = ("7" if old != "7" else "3") if old.isdigit() else ("Q" if old != "Q" else "R")
    return text[:index] + new + text[index + 1:]


# --- the acceptance test ---------------------------------------------------------------------
def test_two_hundred_certificates_through_the_task(plugin, shown, qgis_iface, tmp_path):
    path, info = shown
    parcels = info["ready"][:200]
    assert len(parcels) == 200
    out = tmp_path / "certificates"
    started = time.monotonic()
    dialog = issue(plugin, parcels, out, seconds=600)
    seconds = time.monotonic() - started
    report = dialog.outcome.report
    assert (len(report.issued), report.refused, report.failed) == (200, {}, {})
    print(f"\n200 certificates through the task in {seconds:.1f} s "
          f"({200 / seconds:.1f} per second)")
    assert messages(qgis_iface, Qgis.Success) [-1].strip() == "200 certificates issued."

    certificates = register(path)
    assert [c.seq for c in certificates] == list(range(1, 201))  # gap-free
    assert {c.spatial_unit_id for c in certificates} == set(parcels)
    pdfs = sorted(out.glob("KOU-2026-*.pdf"))
    assert [p.stem for p in pdfs] == [c.number for c in certificates]
    for cert, pdf in zip(certificates, pdfs):
        assert sha256(pdf) == cert.pdf_sha256, cert.number
    assert not list(out.glob(".stdm-certificate-*"))  # no partial file left

    sample = [certificates[i] for i in (0, 49, 99, 150, 199)]
    payloads = {}
    with SettlementStore.open(path) as store:
        for cert in sample:
            pdf = out / f"{cert.number}.pdf"
            text = " ".join(pdf_text(pdf).split())
            assert cert.number in text and cert.parcel_code in text
            for holder in cert.content["holders"]:
                assert " ".join(holder["name"].split()) in text, (cert.number, holder)
            payload = scan(pdf, tmp_path)
            assert payload == cert.qr_payload
            assert verify_payload(store, payload).status == "valid"
            payloads[cert.number] = payload
        payload = payloads[sample[0].number]
        parts = payload.split("|")
        number_at = len(parts[0]) + 1 + len(parts[1]) - 2  # a digit of the sequence
        date_at = len("|".join(parts[:2])) + 1 + 3  # the last digit of the year of issue
        digest_at = len("|".join(parts[:3])) + 1 + 10
        signature_at = len("|".join(parts[:5])) + 1 + 20
        for index in (number_at, date_at, digest_at, signature_at):
            assert verify_payload(store, changed(payload, index)).status == "forged", index
        sign_in(store, "officer", PASSWORD)
        revoke(store, sample[-1].number, "Boundary drawn over the neighbour's yard")
        assert verify_payload(store, payloads[sample[-1].number]).status == "revoked"


# --- refusals, cancel and failures --------------------------------------------------------------
def test_refused_parcels_are_reported_and_the_batch_goes_on(plugin, shown, qgis_iface,
                                                            tmp_path):
    path, info = shown
    refused = [info["not_approved"], info["objected"], info["half"]]
    parcels = info["ready"][:2] + refused + info["ready"][2:4]
    dialog = issue(plugin, parcels, tmp_path / "out")
    report = dialog.outcome.report
    code = info["code"]
    assert [i.parcel_code for i in report.issued] == [code[p] for p in
                                                      info["ready"][:2] + info["ready"][2:4]]
    assert [i.number for i in report.issued] == [f"KOU-2026-{n:06d}" for n in (1, 2, 3, 4)]
    assert set(report.refused) == {code[p] for p in refused}
    reasons = {k: " ".join(v) for k, v in report.refused.items()}
    assert "not approved" in reasons[code[info["not_approved"]]]
    assert "open objection by Kouassi Yao" in reasons[code[info["objected"]]]
    assert "add up to 1/2, not 1" in reasons[code[info["half"]]]
    [warning] = messages(qgis_iface, Qgis.Warning)
    assert warning.strip() == "4 certificates issued, 3 refused — see report"
    rows = dialog.rows()
    assert [r[0] for r in rows] == ["Issued"] * 4 + ["Refused"] * 3
    assert rows[0][1:3] == [code[info["ready"][0]], "KOU-2026-000001"]
    csv_text = pathlib.Path(dialog.outcome.report_csv).read_text(encoding="utf-8-sig")
    assert csv_text.count(",refused,") == 3 and csv_text.count(",issued,") == 4
    assert len(register(path)) == 4


class CancellingRenderer(CertificateRenderer):
    """Presses Cancel (as the task bar would) while drawing the ``at``-th certificate."""

    def __init__(self, *args, at: int, task_of, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.at, self.task_of, self.drawn = at, task_of, 0

    def render(self, sheet, pdf_path):
        self.drawn += 1
        if self.drawn == self.at:
            self.task_of().cancel()
        return super().render(sheet, pdf_path)


def test_cancel_keeps_what_was_issued_numbered_without_gaps(plugin, shown, qgis_iface,
                                                            tmp_path):
    path, info = shown
    parcels = info["ready"][:30]
    renderer = CancellingRenderer(shipped_template("en"), None, tmp_path / "qr", at=5,
                                  task_of=lambda: plugin.issue_task)
    dialog = issue(plugin, parcels, tmp_path / "out", renderer=renderer)
    report = dialog.outcome.report
    assert report.cancelled and len(report.issued) == 5
    assert report.not_attempted == [info["code"][p] for p in parcels[5:]]
    assert [c.seq for c in register(path)] == [1, 2, 3, 4, 5]
    assert len(list((tmp_path / "out").glob("KOU-*.pdf"))) == 5
    [warning] = messages(qgis_iface, Qgis.Warning)
    assert warning.strip() == ("5 certificates issued, cancelled with 25 not attempted — see "
                               "report")


class FailingRenderer(CertificateRenderer):
    """QGIS fails to write the PDF of one parcel, half-way through writing it."""

    def __init__(self, *args, fail_for: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_for = fail_for

    def render(self, sheet, pdf_path):
        if sheet.parcel_code == self.fail_for:
            pathlib.Path(pdf_path).write_bytes(b"%PDF-1.4 half")
            raise OSError(28, "No space left on device")
        return super().render(sheet, pdf_path)


def test_a_failed_drawing_leaves_its_parcel_unnumbered(plugin, shown, qgis_iface, tmp_path):
    path, info = shown
    parcels = info["ready"][:4]
    failing = info["code"][parcels[1]]
    renderer = FailingRenderer(shipped_template("en"), None, tmp_path / "qr",
                               fail_for=failing)
    dialog = issue(plugin, parcels, tmp_path / "out", renderer=renderer, merged=True)
    report = dialog.outcome.report
    assert list(report.failed) == [failing]
    assert "No space left on device" in report.failed[failing]
    certificates = register(path)
    assert [c.seq for c in certificates] == [1, 2, 3]
    assert parcels[1] not in {c.spatial_unit_id for c in certificates}
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("*.pdf")) == [
        "KOU-2026-000001.pdf", "KOU-2026-000002.pdf", "KOU-2026-000003.pdf",
        "certificates_KOU-2026-000001_to_KOU-2026-000003.pdf"]
    assert not list(out.glob(".stdm-certificate-*"))
    assert dialog.rows()[-1][:2] == ["Failed", failing]


def test_merged_pdf_has_a_page_per_certificate(plugin, shown, tmp_path):
    path, info = shown
    parcels = info["ready"][:4]
    dialog = issue(plugin, parcels, tmp_path / "out", merged=True, template="fr")
    merged = pathlib.Path(dialog.outcome.merged_pdf)
    assert merged.name == "certificates_KOU-2026-000001_to_KOU-2026-000004.pdf"
    assert pdf_pages(merged)[0] == 4
    for page, item in enumerate(dialog.outcome.report.issued, start=1):
        text = pdf_text(merged, page)
        assert item.number in text and item.parcel_code in text
        assert "CERTIFICAT D'OCCUPATION" in text
    assert register(path)[0].template == "shipped:fr"
    assert register(path)[0].language == "fr"


def test_a_bad_template_or_folder_is_refused_before_anything_starts(plugin, shown, qgis_iface,
                                                                    tmp_path):
    path, info = shown
    text = pathlib.Path(shipped_template("en")).read_text(encoding="utf-8")
    broken = tmp_path / "office.qpt"
    broken.write_text(text.replace('id="qr_code"', 'id="qr_old"').replace(
        'id="holders"', 'id="names"'), encoding="utf-8")
    parcels = info["ready"][:3]
    for template, expected in ((str(broken), "no item with the id qr_code, holders"),
                               (str(tmp_path / "gone.qpt"), "cannot be read")):
        qgis_iface.messageBar().clear_messages()
        request = IssueRequest(parcels, str(tmp_path / "out"), template=template)
        assert plugin.start_issue(request, passphrase=KEY) is None
        [error] = messages(qgis_iface, Qgis.Critical)
        assert template in error and expected in error, error
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    qgis_iface.messageBar().clear_messages()
    assert plugin.start_issue(IssueRequest(parcels, str(blocker / "sub")), passphrase=KEY) is None
    [error] = messages(qgis_iface, Qgis.Critical)
    assert "cannot be written to" in error and "a file" in error
    assert plugin.issue_task is None and register(path) == []


def test_a_wrong_passphrase_issues_nothing(plugin, shown, qgis_iface, tmp_path):
    path, info = shown
    request = IssueRequest(info["ready"][:3], str(tmp_path / "out"), today=TODAY)
    for passphrase, expected in (("", "does not open"), ("office key passphrasE", "does not open")):
        qgis_iface.messageBar().clear_messages()
        assert plugin.start_issue(request, passphrase=passphrase) is None
        [error] = messages(qgis_iface, Qgis.Critical)
        assert "No certificate was issued" in error and expected in error, error
    assert plugin.issue_task is None and register(path) == []
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# --- the dialogs ---------------------------------------------------------------------------
def screenshot(widget, name: str) -> None:
    widget.show()
    QCoreApplication.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


def test_the_dialog_counts_each_way_of_choosing(plugin, shown, qgis_iface, tmp_path,
                                                monkeypatch):
    path, info = shown
    parcels_layer = QgsProject.instance().mapLayersByName("Parcels")[0]
    chosen = info["ready"][:3] + [info["not_approved"]]
    parcels_layer.selectByExpression(
        "id IN (" + ", ".join(f"'{p}'" for p in chosen) + ")")
    seen = []

    def exec_(dialog):
        seen.append(dialog)
        assert dialog.mode() == MAP and len(dialog.parcel_ids()) == 4
        assert "3 of them are ready" in dialog.count.text()
        dialog.choose_mode(BLOCK, "B1A")
        block_ids = [p for p in info["ready"] if info["blocks"][p] == "B1A"]
        assert dialog.parcel_ids() == block_ids and len(block_ids) > 0
        assert dialog.count.text().startswith(f"{len(block_ids)} parcel(s)")
        dialog.choose_mode(ALL)
        assert len(dialog.parcel_ids()) == len(info["ready"]) + 2  # objection, half too
        dialog.template.setCurrentIndex(dialog.template.findData("custom"))
        dialog.custom_path.setText(str(tmp_path / "missing.qpt"))
        dialog._template_changed()
        assert "missing.qpt" in dialog.template_note.text()
        dialog.out_dir.setText(str(tmp_path / "out"))
        screenshot(dialog, "issue_dialog_problem.png")
        dialog.accept()
        assert dialog.result() != QDialog.Accepted and "missing.qpt" in dialog.problem.text()
        dialog.template.setCurrentIndex(dialog.template.findData("fr"))
        dialog.choose_mode(BLOCK, "B1A")
        dialog.merged.setChecked(True)
        dialog.accept()
        assert dialog.result() != QDialog.Accepted
        assert "Type the office key's passphrase" in dialog.problem.text()
        dialog.passphrase.setText(KEY)
        screenshot(dialog, "issue_dialog.png")
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(IssueDialog, "exec_", exec_)
    assert plugin.issue_certificates() is not None
    wait_for_issue(plugin, 60)
    assert QgsProject.instance().readEntry("stdm", "certificate_template", "")[0] == "fr"
    report_dialog = plugin.issue_report_dialog
    assert len(report_dialog.outcome.report.issued) == len(seen[0].parcel_ids())
    assert report_dialog.outcome.merged_pdf
    screenshot(report_dialog, "issue_report.png")

    def reopen(dialog):
        assert dialog.template.currentData() == "fr"  # the project remembers
        return QDialog.Rejected

    monkeypatch.setattr(IssueDialog, "exec_", reopen)
    assert plugin.issue_certificates() is None


def test_the_report_lists_refusals_and_failures(plugin, shown, tmp_path):
    path, info = shown
    parcels = info["ready"][:3] + [info["objected"], info["half"]]
    renderer = FailingRenderer(shipped_template("en"), None, tmp_path / "qr",
                               fail_for=info["code"][parcels[2]])
    dialog = issue(plugin, parcels, tmp_path / "out", renderer=renderer)
    assert summary_line(dialog.outcome) == ("2 certificates issued, 2 refused, 1 failed — "
                                            "see report")
    assert [r[0] for r in dialog.rows()] == ["Issued", "Issued", "Refused", "Refused",
                                             "Failed"]
    screenshot(dialog, "issue_report_refusals.png")
    assert isinstance(dialog, IssueReportDialog)


# --- the bridge between the worker and the main thread -------------------------------------
class RecordingRenderer:
    def __init__(self) -> None:
        self.calls = []

    def render(self, sheet, pdf_path):
        self.calls.append(threading.current_thread() is threading.main_thread())
        pathlib.Path(pdf_path).write_bytes(b"%PDF-1.4 " + sheet.number.encode())


def a_sheet(number="KOU-2026-000001"):
    return CertificateSheet(number=number, settlement_code="KOU", settlement_name="Koumassi",
                            parcel_code="KOU-P00001", parcel_wkb=box(0, 0, 1, 1).wkb,
                            srid=32630, area_m2=1.0, holders=(), issue_date="2026-03-01",
                            issued_by="Aïcha Traoré", qr_payload="x")


def test_the_bridge_draws_at_once_on_its_own_thread(qgis_app, tmp_path):
    renderer = RecordingRenderer()
    bridge = RenderBridge(renderer, str(tmp_path))
    bridge(a_sheet(), str(tmp_path / "a.pdf"))  # no event loop needed: no deadlock
    assert renderer.calls == [True] and (tmp_path / "a.pdf").is_file()
    assert list(bridge.drawn) == ["KOU-2026-000001"]


def test_the_bridge_draws_a_workers_sheet_on_the_main_thread(qgis_app, tmp_path):
    renderer = RecordingRenderer()
    bridge = RenderBridge(renderer, str(tmp_path))
    worker = threading.Thread(target=lambda: bridge(a_sheet(), str(tmp_path / "w.pdf")))
    worker.start()
    deadline = time.monotonic() + 10
    while worker.is_alive() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    worker.join(1)
    assert not worker.is_alive()
    assert renderer.calls == [True] and (tmp_path / "w.pdf").is_file()


def test_a_worker_waiting_for_a_drawing_gives_up_on_cancel(qgis_app, tmp_path):
    """The main thread is busy (no events processed): Cancel still frees the worker, and the
    sheet it gave up is not drawn later."""
    renderer = RecordingRenderer()
    cancelled = threading.Event()
    bridge = RenderBridge(renderer, str(tmp_path), cancelled.is_set)
    raised = []

    def issue_one():
        try:
            bridge(a_sheet(), str(tmp_path / "late.pdf"))
        except RenderAbandonedError as error:
            raised.append(error)

    worker = threading.Thread(target=issue_one)
    worker.start()
    time.sleep(0.3)
    assert worker.is_alive()  # waiting for the main thread
    cancelled.set()
    worker.join(5)
    assert not worker.is_alive() and len(raised) == 1
    assert bridge.abandoned == ["KOU-P00001"]
    QCoreApplication.processEvents()  # the posted drawing arrives now, and is skipped
    assert renderer.calls == [] and not (tmp_path / "late.pdf").exists()


def test_unloading_the_plugin_stops_a_batch_between_certificates(plugin, shown, tmp_path):
    path, info = shown
    task = plugin.start_issue(IssueRequest(info["ready"][:40], str(tmp_path / "out"),
                                           today=TODAY), passphrase=KEY)
    assert task is not None
    deadline = time.monotonic() + 60
    while len(list((tmp_path / "out").glob("KOU-*.pdf"))) < 2:
        assert time.monotonic() < deadline
        QCoreApplication.processEvents()
        time.sleep(0.005)
    plugin.unload()
    wait_for_issue(plugin, 60)
    seqs = [c.seq for c in register(path)]
    assert 2 <= len(seqs) < 40 and seqs == list(range(1, len(seqs) + 1))
    assert len(list((tmp_path / "out").glob("KOU-*.pdf"))) == len(seqs)
    assert not list((tmp_path / "out").glob(".stdm-certificate-*"))
    assert plugin.issue_report_dialog is None  # unloaded: no window pops up


def test_issuing_from_a_postgis_store(plugin, qgis_iface, postgis_server, tmp_path):
    connection = PostgresConnection(schema=postgis_server.fresh_schema(),
                                    host=postgis_server.host, port=str(postgis_server.port),
                                    dbname=postgis_server.dbname, user=postgis_server.user)
    assert plugin.create_postgis_store(connection, "EPSG:32630", ("YOP", "Yopougon"))
    with SettlementStore.open_postgis(connection.psycopg2_params(), connection.schema) as store:
        store.users.create("admin", "Adèle Admin", "administrator", PASSWORD)
        sign_in(store, "admin", PASSWORD)
        store.users.create("officer", "Léa Officer", "land_officer", PASSWORD)
        create_office_key(store, "Yopougon land office", KEY)
        site = store.settlements.by_code("YOP")
        parcels, claims = [], []
        for n, name in enumerate(("Awa Bamba", "Issa Touré", "Fanta Koné")):
            parcel = store.spatial_units.add(SpatialUnit(
                kind="parcel", settlement_id=site.id, block="C",
                boundary=box(400000 + 30 * n, 590000, 400020 + 30 * n, 590015)))
            first, last = name.split()
            party = store.parties.add(Party(first_name=first, last_name=last))
            claims.append(store.tenure.add(SocialTenure(
                party_id=party.id, spatial_unit_id=parcel.id, tenure_type="owner")).id)
            parcels.append(parcel.id)
        sign_in(store, "officer", PASSWORD)
        verify(store, claims)
        open_public_display(store, site.id, *DISPLAY)
        approve(store, claims, today="2026-02-10")
    assert plugin.sign_in_as("officer", PASSWORD) is not None
    dialog = issue(plugin, parcels, tmp_path / "out")
    assert [i.number for i in dialog.outcome.report.issued] == [
        "YOP-2026-000001", "YOP-2026-000002", "YOP-2026-000003"]
    with SettlementStore.open_postgis(connection.psycopg2_params(), connection.schema) as store:
        for item in dialog.outcome.report.issued:
            assert verify_payload(store, item.qr_payload).status == "valid"
            cert = store.certificates.by_number(item.number)
            assert cert.pdf_sha256 == sha256(item.pdf_path) and cert.issued_by == "officer"
    assert messages(qgis_iface, Qgis.Critical) == []


def test_the_plugin_knows_which_store_it_is_issuing_from(plugin, shown, tmp_path):
    path, info = shown
    source = plugin._shown_source()
    assert not plugin.issuing_from(source)
    assert plugin.start_issue(IssueRequest(info["ready"][:3], str(tmp_path / "out"),
                                           today=TODAY), passphrase=KEY) is not None
    assert plugin.issuing_from(source)
    assert not plugin.issuing_from(SpatiaLiteSource(str(tmp_path / "other.sqlite")))
    assert plugin.start_issue(IssueRequest(info["ready"][3:4], str(tmp_path / "out")),
                              passphrase=KEY) is None
    assert "being issued" in messages(plugin.iface, Qgis.Warning)[-1]
    wait_for_issue(plugin, 60)
    assert not plugin.issuing_from(source) and len(register(path)) == 3


def test_a_batch_cancelled_before_it_started_says_so(plugin, shown, qgis_iface, tmp_path):
    path, info = shown
    outcomes = []
    task = IssueCertificatesTask(plugin._shown_source(), "officer",
                                 IssueRequest(info["ready"][:3], str(tmp_path / "out")),
                                 outcomes.append, renderer=RecordingRenderer())
    task.finished(False)  # what QGIS calls for a task cancelled while queued
    [outcome] = outcomes
    assert outcome.cancelled and outcome.report is None
    plugin._issue_done(outcome)
    assert messages(qgis_iface, Qgis.Warning) == [
        "No certificate was issued: the batch was cancelled before it started."]
    assert plugin.issue_report_dialog is None and register(path) == []
