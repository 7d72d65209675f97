"""Occupancy certificates: the shipped templates, and the PDFs drawn from them.

The PDFs are read back with poppler (pdfinfo, pdftotext, pdftoppm) and the QR
code with zbarimg, as a land officer's reader would; page 1 of each language
is left in test-artifacts/ to be looked at.
"""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import threading
import time

import pytest
from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor, QImage, QPainter
from shapely.geometry import box

from stdm_plugin.core.certificates.sheet import CertificateSheet, SheetHolder
from stdm_plugin.qgis.certificates.layout import (
    REQUIRED_ITEMS,
    CertificateBatch,
    CertificateRenderer,
    CertificateTemplateError,
    check_template,
    shipped_template,
)

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"
PARCEL = (400000, 590000, 400020, 590015)  # 20 m x 15 m in EPSG:32630
PAYLOAD = "STDM1;KOU-2026-000123;KOU-P00013;2026-11-25;sig=Mw3f9a0c1b2dQx7Lk"
DPI = 100
MM = DPI / 25.4  # pixels per millimetre in the check images
HIGHLIGHT = QColor("#d9a441")
# Qt sets "office", "certificate", "Superficie" with the font's ligature glyphs;
# pdftotext gives them back as single characters, PDF viewers' search unfolds them.
LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                           "\ufb04": "ffl"})


def needs(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install {package})")


def pdf_pages(pdf: pathlib.Path) -> tuple[int, str]:
    needs("pdfinfo", "poppler-utils")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    size = re.search(r"^Page size:\s+(.*)$", info, re.M).group(1)
    return pages, size


def pdf_text(pdf: pathlib.Path, page: int | None = None) -> str:
    needs("pdftotext", "poppler-utils")
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", *pages, "-enc", "UTF-8", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout.translate(LIGATURES)


def rasterise(pdf: pathlib.Path, prefix: pathlib.Path, dpi: int) -> pathlib.Path:
    """Page 1 as a PNG, as pdftoppm makes it."""
    needs("pdftoppm", "poppler-utils")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(prefix)], check=True)
    return prefix.with_name(prefix.name + ".png")


def photo(path: pathlib.Path) -> str:
    """A passport-like photo: a head and shoulders on a pale blue ground."""
    image = QImage(350, 450, QImage.Format_RGB32)
    image.fill(QColor("#cfe0ea"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setPen(Qt.NoPen)
    painter.setBrush(QColor("#5b3a29"))
    painter.drawEllipse(110, 90, 130, 160)
    painter.setBrush(QColor("#2f4f6f"))
    painter.drawEllipse(40, 290, 270, 260)
    painter.end()
    image.save(str(path))
    return str(path)


def sheet(number: str = "KOU-2026-000123", language: str = "en", photos: tuple = (),
          **changes) -> CertificateSheet:
    tenure = "Co-owner" if language == "en" else "Copropriétaire"
    names = ("Awa Koné", "Issa Koné")
    holders = tuple(SheetHolder(name, tenure, "1/2", photos[i] if i < len(photos) else None)
                    for i, name in enumerate(names))
    values = dict(
        number=number, settlement_code="KOU", settlement_name="Koumassi Campement",
        parcel_code="KOU-P00013", parcel_wkb=box(*PARCEL).wkb, srid=32630, area_m2=300.04,
        holders=holders, issue_date="2026-11-25", issued_by="Mariam Traoré",
        qr_payload=PAYLOAD, language=language, block="B3",
        land_use="Residential" if language == "en" else "Habitation")
    values.update(changes)
    return CertificateSheet(**values)


@pytest.fixture
def neighbours(qgis_app):
    """The certified parcel and the eight parcels around it, as the store's layer has them."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:32630&field=code:string", "parcels", "memory")
    features = []
    for index, (i, j) in enumerate((i, j) for j in (1, 0, -1) for i in (-1, 0, 1)):
        feature = QgsFeature(layer.fields())
        feature.setAttribute("code", f"KOU-P{9 + index:05d}")
        x, y = PARCEL[0] + 20 * i, PARCEL[1] + 15 * j
        feature.setGeometry(QgsGeometry.fromWkt(box(x, y, x + 20, y + 15).wkt))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    yield layer
    del layer


@pytest.fixture
def make_renderer(neighbours, tmp_path):
    made = []

    def make(language: str = "en", template: str | None = None) -> CertificateRenderer:
        renderer = CertificateRenderer(template or shipped_template(language), neighbours,
                                       tmp_path / "work")
        made.append(renderer)
        return renderer

    yield make
    for renderer in made:
        renderer.close()


# ------------------------------------------------------------------ templates

@pytest.mark.parametrize("language", ["en", "fr"])
def test_shipped_templates_have_every_required_item(language):
    path = pathlib.Path(shipped_template(language))
    assert path.is_file() and path.name == f"certificate_{language}.qpt"
    assert check_template(path) == []


def test_template_without_qr_code_is_refused_naming_it(tmp_path, neighbours):
    text = pathlib.Path(shipped_template("en")).read_text(encoding="utf-8")
    assert text.count('id="qr_code"') == 1
    broken = tmp_path / "no_qr.qpt"
    broken.write_text(text.replace('id="qr_code"', 'id="qr_old"'), encoding="utf-8")
    assert check_template(broken) == ["qr_code"]
    with pytest.raises(CertificateTemplateError) as caught:
        CertificateRenderer(broken, neighbours, tmp_path)
    assert "qr_code" in str(caught.value) and str(broken) in str(caught.value)
    assert caught.value.missing == ("qr_code",)


def test_missing_and_foreign_files_are_template_errors(tmp_path):
    style = tmp_path / "parcels.qml"
    style.write_text("<!DOCTYPE qgis><qgis version='3.22'><renderer-v2/></qgis>")
    notes = tmp_path / "notes.qpt"
    notes.write_text("not XML at all")
    for path in (tmp_path / "absent.qpt", style, notes):
        with pytest.raises(CertificateTemplateError, match=re.escape(str(path))):
            check_template(path)


def test_every_required_item_is_in_the_list():
    assert set(REQUIRED_ITEMS) == {"certificate_number", "parcel_map", "qr_code", "holders",
                                   "parcel_code", "issue_date"}


# ------------------------------------------------------------------ PDFs

def test_english_certificate_is_one_a4_page_of_real_text(make_renderer, tmp_path):
    photos = (photo(tmp_path / "awa.png"),)
    pdf = pathlib.Path(make_renderer("en").render(sheet(photos=photos),
                                                  tmp_path / "cert.pdf"))
    pages, size = pdf_pages(pdf)
    assert pages == 1 and "(A4)" in size
    text = pdf_text(pdf)
    for expected in ("CERTIFICATE OF OCCUPANCY", "No. KOU-2026-000123", "KOU-P00013",
                     "KOU — Koumassi Campement", "B3", "Residential", "300.0 m²",
                     "Awa Koné — Co-owner (1/2)", "Issa Koné — Co-owner (1/2)",
                     "25 November 2026", "Mariam Traoré", "Land officer", "Witness / Chief",
                     "Scan the QR code to verify this"):
        assert expected in text, expected
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(pdf, ARTIFACTS / "certificate_en.pdf")
    rasterise(pdf, ARTIFACTS / "certificate_en", 150)


def test_french_certificate_speaks_french(make_renderer, tmp_path):
    pdf = pathlib.Path(make_renderer("fr").render(sheet(language="fr"), tmp_path / "fr.pdf"))
    text = pdf_text(pdf)
    for expected in ("CERTIFICAT D'OCCUPATION", "N° KOU-2026-000123", "Quartier", "Îlot",
                     "Superficie", "300,0 m²", "TITULAIRES", "Awa Koné — Copropriétaire (1/2)",
                     "Date de délivrance", "25 novembre 2026", "Délivré par",
                     "L'agent foncier", "Scannez le code QR"):
        assert expected in text, expected
    assert "Certificate" not in text and "Holders" not in text
    ARTIFACTS.mkdir(exist_ok=True)
    rasterise(pdf, ARTIFACTS / "certificate_fr", 150)


def test_many_sheets_make_one_pdf_with_a_page_each(make_renderer, tmp_path):
    sheets = [sheet(f"KOU-2026-{n:06d}", parcel_code=f"KOU-P{n:05d}") for n in (7, 8, 9, 10)]
    pdf = pathlib.Path(make_renderer("en").render_many(sheets, tmp_path / "batch.pdf"))
    assert pdf_pages(pdf)[0] == 4
    for page, certificate in enumerate(sheets, start=1):
        text = pdf_text(pdf, page)
        assert certificate.number in text and certificate.parcel_code in text
    assert list((tmp_path / "work").glob("*.svg")) == []  # QR files are cleaned up


def test_qr_code_decodes_to_the_payload(make_renderer, tmp_path):
    needs("zbarimg", "zbar-tools")
    pdf = make_renderer("en").render(sheet(), tmp_path / "qr.pdf")
    for dpi in (200, 300):
        png = rasterise(pathlib.Path(pdf), tmp_path / f"qr-{dpi}", dpi)
        decoded = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True,
                                 text=True)
        assert decoded.stdout.strip() == PAYLOAD, f"{dpi} dpi: {decoded.stderr}"


def test_map_shows_the_parcel_highlighted_among_its_neighbours(make_renderer, tmp_path):
    pdf = make_renderer("en").render(sheet(), tmp_path / "map.pdf")
    image = QImage(str(rasterise(pathlib.Path(pdf), tmp_path / "map", DPI)))
    highlight = neighbour = 0
    for y in range(int(150 * MM), int(226 * MM), 2):  # inside the map frame
        for x in range(int(19 * MM), int(143 * MM), 2):
            colour = image.pixelColor(x, y)
            if _near(colour, HIGHLIGHT):
                highlight += 1
            elif _near(colour, QColor("#f1f2f4")):
                neighbour += 1
    assert highlight > 500 and neighbour > highlight  # a parcel amid a larger neighbourhood
    assert "KOU-P00009" in pdf_text(pathlib.Path(pdf))  # neighbours are labelled


def test_empty_and_missing_photos_draw_nothing(make_renderer, tmp_path):
    photos = (photo(tmp_path / "awa.png"), str(tmp_path / "gone.png"))
    pdf = make_renderer("en").render(sheet(photos=photos), tmp_path / "photos.pdf")
    image = QImage(str(rasterise(pathlib.Path(pdf), tmp_path / "photos", DPI)))

    def ink(left_mm: float, top_mm: float) -> int:
        """Non-white pixels in a photo slot (21 x 27 mm)."""
        return sum(1 for y in range(int(top_mm * MM), int((top_mm + 27) * MM))
                   for x in range(int(left_mm * MM), int((left_mm + 21) * MM))
                   if image.pixelColor(x, y).lightness() < 245)

    assert ink(150, 147) > 1000  # the photo of the first holder
    assert ink(173, 147) == 0  # a missing file: no cross, no frame
    assert ink(150, 176) == 0 and ink(173, 176) == 0  # no third or fourth holder


# ------------------------------------------------------------------ threads

def test_rendering_off_the_main_thread_is_refused(make_renderer, tmp_path):
    renderer = make_renderer("en")
    caught = []

    def render_in_worker():
        try:
            renderer.render(sheet(), tmp_path / "worker.pdf")
        except RuntimeError as error:
            caught.append(error)

    worker = threading.Thread(target=render_in_worker)
    worker.start()
    worker.join()
    assert caught and "main thread" in str(caught[0])
    assert not (tmp_path / "worker.pdf").exists()


def test_batch_renders_one_sheet_per_event_loop_turn(qgis_app, make_renderer, tmp_path):
    jobs = [(sheet(f"KOU-2026-{n:06d}"), str(tmp_path / f"{n}.pdf")) for n in range(3)]
    jobs.insert(1, (sheet("KOU-2026-BAD", srid=999999), str(tmp_path / "bad.pdf")))
    batch = CertificateBatch(make_renderer("en"), jobs)
    progress, outcome = [], []
    batch.progressed.connect(lambda done, total: progress.append((done, total)))
    batch.done.connect(lambda written, failed: outcome.append((written, failed)))
    batch.start()
    deadline = time.monotonic() + 60
    while not outcome and time.monotonic() < deadline:
        qgis_app.processEvents()
    written, failed = outcome[0]
    assert written == [str(tmp_path / f"{n}.pdf") for n in range(3)]  # the others go on
    assert [number for number, _message in failed] == ["KOU-2026-BAD"]
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert "KOU-2026-000002" in pdf_text(pathlib.Path(written[2]))


def _near(colour: QColor, target: QColor, tolerance: int = 12) -> bool:
    return (abs(colour.red() - target.red()) <= tolerance
            and abs(colour.green() - target.green()) <= tolerance
            and abs(colour.blue() - target.blue()) <= tolerance)
