"""Occupancy certificates as PDFs, drawn by a QGIS print layout template.

The register (core) freezes what a certificate says in a ``CertificateSheet``;
this module only draws sheets. A template is any QGIS layout (.qpt) whose
items read the fields of an atlas coverage layer (render.py
lists them); the plugin ships one per language (resources/, made by
scripts/make_certificate_templates.py) and a land office may bring its own,
as long as the items a certificate cannot do without keep their ids
(``REQUIRED_ITEMS``).

Threads: render on the main thread only
---------------------------------------
Measured with QGIS 3.22.16 (Debian), headless, 20 certificates per run, in a
plain QgsApplication script (10 runs per case) and under pytest-qgis
(8 sessions of 5 tests per case):

* A renderer made on the main thread and used inside ``QgsTask.run()``
  (a QThreadPool worker) is unsafe. Qt warns "Timers cannot be stopped from
  another thread" and "Cannot set parent, new parent is in a different
  thread"; the process crashed (SIGSEGV, once SIGABRT) in 3 of 10 script
  runs and 7 of 8 pytest-qgis sessions, mostly inside ``exportToPdf``
  (``QgsLayoutItemPicture::draw`` in QtSvg): the main thread's event loop
  refreshes the pictures of the layout the worker is painting.
* Everything (project, layers, layout) made and dropped inside ``run()``
  did not crash (10 + 10 script runs, one set with the main thread
  rendering at the same time, and 8 sessions: 1,200 certificates), but
  it is outside what QGIS supports: QGIS logs "Cannot load HTML based item
  label in background threads" for every label it builds there; with the
  main thread rendering too, PROJ printed "proj_create: unrecognized
  format / unknown name" about 50 times a run; objects made in a pool
  thread have no event loop (their deferred deletions never run); QGIS's
  own "Export print layout as PDF" algorithm is flagged NoThreading because
  "layouts are not thread safe"; and the user's parcels layer, a main-thread
  object, would have to be read from the worker.

So ``CertificateRenderer`` refuses to run off the main thread. An issuing
task does the slow part in ``run()`` (reading the register, numbering,
freezing the sheets, writing the register rows) and renders on the main
thread, from ``finished()``. A page costs about 70-100 ms on a 2-core
machine (QGIS's own ``exportToPdfs`` atlas export: about 65-70 ms a page),
so ``render_many`` is fine for a few dozen sheets at once; for more,
``CertificateBatch`` renders one sheet per turn of the event loop, with
progress and cancel, so QGIS stays responsive.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsLayoutExporter,
    QgsPrintLayout,
    QgsProject,
    QgsReadWriteContext,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication, QObject, QThread, QTimer, pyqtSignal
from qgis.PyQt.QtXml import QDomDocument

from ...core.certificates.qr import qr_svg
from ...core.certificates.sheet import CertificateSheet
from ..i18n import tr
from .render import (
    PHOTO_SLOTS,
    SheetFiles,
    coverage_layer,
    neighbours_copy,
    pdf_settings,
    sheet_feature,
)

REQUIRED_ITEMS = ("certificate_number", "parcel_map", "qr_code", "holders", "parcel_code",
                  "issue_date")
LANGUAGES = ("en", "fr")
_PACKAGE_DIR = Path(__file__).resolve().parents[2]


class CertificateTemplateError(Exception):
    """A template that cannot make certificates: unreadable, not a layout, or lacking items."""

    def __init__(self, path: str | os.PathLike, problem: str = "",
                 missing: Iterable[str] = ()) -> None:
        self.path = str(path)
        self.missing = tuple(missing)
        if self.missing:
            problem = tr("it has no item with the id {0}").format(", ".join(self.missing))
        super().__init__(tr("Certificate template {0}: {1}").format(self.path, problem))


class CertificateRenderError(Exception):
    """QGIS could not write the PDF (a locked file, a full disk, a broken layout)."""


def shipped_template(language: str) -> str:
    """The template shipped with the plugin for ``language`` ("en" or "fr")."""
    if language not in LANGUAGES:
        raise ValueError(f"no certificate template for language {language!r}")
    name = f"certificate_{language}.qpt"
    # In the plugin zip resources/ sits in the package; in a checkout, beside it.
    for folder in (_PACKAGE_DIR / "resources", _PACKAGE_DIR.parent / "resources"):
        if (folder / name).is_file():
            return str(folder / name)
    return str(_PACKAGE_DIR / "resources" / name)


def read_template(path: str | os.PathLike) -> QDomDocument:
    """The template's XML; CertificateTemplateError unless it is a QGIS print layout."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CertificateTemplateError(
            path, tr("cannot be read ({0})").format(error.strerror or error)) from error
    document = QDomDocument()
    parsed = document.setContent(data)
    if not (parsed[0] if isinstance(parsed, tuple) else parsed):
        raise CertificateTemplateError(path, tr("is not an XML file"))
    if document.documentElement().tagName() != "Layout":
        raise CertificateTemplateError(path, tr("is not a QGIS print layout template (.qpt)"))
    return document


def template_item_ids(document: QDomDocument) -> set[str]:
    items = document.elementsByTagName("LayoutItem")
    return {items.item(i).toElement().attribute("id") for i in range(items.count())}


def check_template(path: str | os.PathLike) -> list[str]:
    """The required item ids the template lacks (empty when it can make certificates)."""
    ids = template_item_ids(read_template(path))
    return [item_id for item_id in REQUIRED_ITEMS if item_id not in ids]


def _require_main_thread() -> None:
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        raise RuntimeError("certificates are rendered on the main thread only "
                           "(see stdm_plugin.qgis.certificates.layout)")


class CertificateRenderer:
    """Draws sheets with one template into PDFs, one atlas page per sheet.

    It owns a private project holding its layers (the coverage layer and a
    copy of ``neighbours_layer``, the parcels drawn around the certified
    one), so the user's project is neither read during a render nor
    restyled. ``work_dir`` receives the QR code files, removed after each
    export. Call ``close()`` (or use ``with``) when done: the layout must
    not outlive QGIS.
    """

    def __init__(self, template_path: str | os.PathLike,
                 neighbours_layer: QgsVectorLayer | None = None,
                 work_dir: str | os.PathLike = ".") -> None:
        _require_main_thread()
        self.template_path = str(template_path)
        document = read_template(self.template_path)
        missing = [i for i in REQUIRED_ITEMS if i not in template_item_ids(document)]
        if missing:
            raise CertificateTemplateError(self.template_path, missing=missing)
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.project = QgsProject()
        self.neighbours = neighbours_copy(neighbours_layer)
        if self.neighbours is not None:
            self.project.addMapLayer(self.neighbours)
        self.layout = QgsPrintLayout(self.project)
        _items, loaded = self.layout.loadFromTemplate(document, QgsReadWriteContext())
        if not loaded:
            raise CertificateTemplateError(self.template_path, tr("QGIS could not load it"))
        self.map = self.layout.itemById("parcel_map")
        self.coverage = None
        self.srid: int | None = None

    def __enter__(self) -> CertificateRenderer:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        """Drop the layout, then the project and its layers (in that order)."""
        self.map = None
        self.layout = None
        self.coverage = self.neighbours = None
        if self.project is not None:
            self.project.clear()
            self.project = None

    def render(self, sheet: CertificateSheet, pdf_path: str | os.PathLike) -> str:
        """Write one certificate, one page; under 0.1 s. Main thread only."""
        return self.render_many([sheet], pdf_path)

    def render_many(self, sheets: Iterable[CertificateSheet],
                    pdf_path: str | os.PathLike) -> str:
        """Write one PDF with a page per sheet, in the given order. Main thread only."""
        _require_main_thread()
        sheets = list(sheets)
        if not sheets:
            raise ValueError("no certificate to render")
        srids = {sheet.srid for sheet in sheets}
        if len(srids) > 1:
            raise ValueError(f"certificates in one PDF must share a CRS, got {sorted(srids)}")
        self._use_srid(srids.pop())
        files = [self._write_files(sheet) for sheet in sheets]
        provider = self.coverage.dataProvider()
        try:
            features = [sheet_feature(self.coverage, s, f) for s, f in zip(sheets, files)]
            provider.truncate()
            if not provider.addFeatures(features)[0]:
                raise CertificateRenderError(tr("The certificates could not be laid out."))
            self.coverage.updateExtents()
            result, error = QgsLayoutExporter.exportToPdf(
                self.layout.atlas(), str(pdf_path), pdf_settings())
            if result != QgsLayoutExporter.Success:
                raise CertificateRenderError(tr("{0}: {1}").format(
                    pdf_path, error or tr("the PDF could not be written")))
        finally:
            provider.truncate()
            for sheet_files in files:
                Path(sheet_files.qr_path).unlink(missing_ok=True)
        return str(pdf_path)

    def _use_srid(self, srid: int) -> None:
        if srid == self.srid:
            return
        coverage = coverage_layer(srid)  # first: a CRS it refuses leaves the renderer as it was
        if self.coverage is not None:
            self.project.removeMapLayer(self.coverage.id())
        self.coverage = coverage
        self.project.addMapLayer(coverage)
        crs = QgsCoordinateReferenceSystem.fromEpsgId(srid)
        self.project.setCrs(crs)
        self.map.setCrs(crs)
        self.map.setLayers([self.coverage] + ([self.neighbours] if self.neighbours else []))
        self.map.setKeepLayerSet(True)
        self.layout.atlas().setCoverageLayer(self.coverage)
        self.layout.atlas().setEnabled(True)
        self.srid = srid

    def _write_files(self, sheet: CertificateSheet) -> SheetFiles:
        # A fresh name per export: QGIS caches SVG pictures by path.
        qr_path = self.work_dir / f"{sheet.file_stem}-{uuid.uuid4().hex[:12]}.qr.svg"
        qr_path.write_text(qr_svg(sheet.qr_payload), encoding="utf-8")
        photos = tuple(h.photo_path if h.photo_path and os.path.isfile(h.photo_path) else ""
                       for h in sheet.holders[:PHOTO_SLOTS])
        return SheetFiles(str(qr_path), photos)


class CertificateBatch(QObject):
    """Renders many sheets on the main thread, one per turn of its event loop.

    For a task that froze its sheets in ``run()``: in ``finished()`` make a
    batch, connect ``progressed``/``done`` to the progress bar and the
    message bar, ``start()`` it, and keep a reference until ``done``.
    Each job is a sheet and the PDF to write; a failed sheet is reported in
    ``done`` and does not stop the others.
    """

    progressed = pyqtSignal(int, int)  #: sheets done, sheets in all
    done = pyqtSignal(list, list)  #: PDFs written; (certificate number, error) pairs

    def __init__(self, renderer: CertificateRenderer,
                 jobs: Sequence[tuple[CertificateSheet, str]], parent=None) -> None:
        super().__init__(parent)
        self.renderer = renderer
        self.jobs = list(jobs)
        self.written: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self._next = 0
        self._cancelled = False

    def start(self) -> None:
        _require_main_thread()
        QTimer.singleShot(0, self._step)

    def cancel(self) -> None:
        """Stop after the sheet being drawn; the PDFs already written stay."""
        self._cancelled = True

    def _step(self) -> None:
        if self._cancelled or self._next >= len(self.jobs):
            self.done.emit(self.written, self.failed)
            return
        sheet, pdf_path = self.jobs[self._next]
        self._next += 1
        try:
            self.written.append(self.renderer.render(sheet, pdf_path))
        except (CertificateRenderError, ValueError, OSError) as error:
            self.failed.append((sheet.number, str(error)))
        self.progressed.emit(self._next, len(self.jobs))
        QTimer.singleShot(0, self._step)
