"""Issuing occupancy certificates in the background, with a progress bar and Cancel.

Two threads share the work, each doing what only it may do:

* the task's worker (``run()``) opens its own connection to the store (a
  SQLite connection stays in the thread that made it), resumes the session
  of the person signed in, and calls the core's ``issue_batch``: checks,
  numbering, signing and the register, one transaction per certificate;
* the main thread draws each PDF (QGIS layouts crash when painted from a
  worker, see layout.py). The core calls ``render(sheet, path)``
  inside each certificate's transaction; that callable is a ``RenderBridge``,
  which hands the sheet to the main thread's event loop and waits until it
  is drawn. An error in the drawing is raised again in the worker, so the
  core rolls that certificate back: nothing is numbered that was not drawn.

Deadlock rule: the main thread must never block waiting for this task
(``waitForFinished``, a ``QThreadPool.waitForDone``, a sleep loop without
processing events): the worker waits for the main thread at every
certificate. Tests wait by processing events. The bridge's wait gives up
when the task is cancelled before its drawing started, so cancelling
first (``unload``, QGIS quitting) always lets the worker end.

While a certificate is drawn the worker holds the store's write
transaction; on SpatiaLite a write (or a plain ``SettlementStore.open``)
from the main thread meanwhile waits for the busy timeout (5 s) before it
fails with "locked", and only then does the main thread draw. Reading is
not affected (WAL), and the layers in the map are read-only readers.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from qgis.core import QgsTask, QgsVectorLayer
from qgis.PyQt.QtCore import QObject, Qt, QThread, pyqtSignal

from ...core.certificates.batch import BatchReport, issue_batch
from ...core.certificates.office_keys import UnlockedKey, unlock_office_key
from ...core.certificates.sheet import CertificateSheet
from ...core.store.errors import StdmError
from ...core.store.users import resume_session
from ..i18n import tr
from ..submissions.import_task import Source, store_opener
from .layout import (
    LANGUAGES,
    CertificateRenderer,
    CertificateTemplateError,
    check_template,
    shipped_template,
)

#: how often a waiting worker looks whether Cancel was pressed (seconds)
POLL_SECONDS = 0.1


class RenderAbandonedError(Exception):
    """Cancel was pressed while a certificate waited for its drawing: it is not issued."""


@dataclass
class IssueRequest:
    """What to issue, with which template, and where to."""

    parcel_ids: list[str]
    out_dir: str
    #: "en" or "fr" for a template shipped with the plugin, else the path of a .qpt file
    template: str = "en"
    #: the language of the certificate's words (the shipped templates decide it)
    language: str = "en"
    merged: bool = False
    series: Optional[str] = None
    today: Optional[str] = None

    @property
    def shipped(self) -> bool:
        return self.template in LANGUAGES

    @property
    def template_path(self) -> str:
        return shipped_template(self.template) if self.shipped else self.template

    @property
    def text_language(self) -> str:
        return self.template if self.shipped else self.language

    @property
    def register_template(self) -> str:
        """What the register keeps: "shipped:en" (found again by any install), or the path."""
        return f"shipped:{self.template}" if self.shipped else os.path.abspath(self.template)


@dataclass
class IssueOutcome:
    """What the task hands back, in plain values (QGIS deletes the task after finished())."""

    request: IssueRequest
    report: Optional[BatchReport] = None
    merged_pdf: str = ""
    report_csv: str = ""
    #: why the batch did not run (permission, office key, store), if it did not
    error: str = ""
    #: what went wrong after the batch (merged PDF, report file); the certificates stand
    notes: list[str] = field(default_factory=list)
    #: Cancel was pressed before the worker started: nothing was tried
    cancelled_before_start: bool = False

    @property
    def cancelled(self) -> bool:
        return self.cancelled_before_start or (self.report is not None
                                               and self.report.cancelled)


def template_problem(path: str) -> str:
    """Why a template cannot make certificates, naming the file and the missing item ids;
    empty when it can. Checked before a batch starts: every parcel would fail."""
    if not path:
        return tr("Choose a certificate template (.qpt).")
    try:
        missing = check_template(path)
    except CertificateTemplateError as error:
        return str(error)
    return str(CertificateTemplateError(path, missing=missing)) if missing else ""


def output_folder_problem(path: str) -> str:
    """Why the PDFs cannot be written into ``path`` (made if missing); empty when they can."""
    if not path:
        return tr("Choose the folder the certificates are written to.")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".stdm-write-check-"):
            pass
    except OSError as error:
        return tr("The certificates cannot be written to {0}: {1}").format(
            path, error.strerror or error)
    return ""


class _RenderJob:
    """One sheet to draw; the worker waits on ``done``."""

    def __init__(self, sheet: CertificateSheet, path: str) -> None:
        self.sheet = sheet
        self.path = path
        self.error: Optional[BaseException] = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._state = "waiting"  # -> "drawing" (main thread) or "abandoned" (worker)

    def start(self) -> bool:
        with self._lock:
            if self._state == "abandoned":
                return False
            self._state = "drawing"
            return True

    def abandon(self) -> bool:
        with self._lock:
            if self._state == "drawing":
                return False  # the main thread is drawing it: it ends soon
            self._state = "abandoned"
            return True


class RenderBridge(QObject):
    """``render(sheet, path)`` for the worker, drawn by a renderer on the bridge's thread.

    Make it on the main thread. Called from another thread it posts the
    sheet to the main thread's event loop and waits; called on its own
    thread it draws at once (no deadlock). It keeps a copy of every sheet
    drawn, with the holders' photos copied into ``keep_dir`` (the core
    removes its own copies after each certificate), for the merged PDF.
    """

    _requested = pyqtSignal(object)

    def __init__(self, renderer: Any, keep_dir: str,
                 is_cancelled: Callable[[], bool] = lambda: False, parent=None) -> None:
        super().__init__(parent)
        self.renderer = renderer
        self.keep_dir = keep_dir
        self.is_cancelled = is_cancelled
        self.drawn: dict[str, CertificateSheet] = {}  # number -> the sheet as drawn
        self.abandoned: list[str] = []  # parcel codes
        self._requested.connect(self._draw, Qt.QueuedConnection)

    def __call__(self, sheet: CertificateSheet, path: str) -> None:
        job = _RenderJob(sheet, str(path))
        if QThread.currentThread() is self.thread():
            self._draw(job)
        else:
            self._requested.emit(job)
            while not job.done.wait(POLL_SECONDS):
                if self.is_cancelled() and job.abandon():
                    self.abandoned.append(sheet.parcel_code)
                    raise RenderAbandonedError(tr("cancelled before its PDF was drawn"))
        if job.error is not None:
            raise job.error

    def _draw(self, job: _RenderJob) -> None:
        if not job.start():
            return
        try:
            self.renderer.render(job.sheet, job.path)
            self.drawn[job.sheet.number] = self._kept(job.sheet)
        except Exception as error:  # raised again in the worker: the core rolls back
            job.error = error
        finally:
            job.done.set()

    def _kept(self, sheet: CertificateSheet) -> CertificateSheet:
        holders = []
        for index, holder in enumerate(sheet.holders):
            photo = holder.photo_path
            if photo and os.path.isfile(photo):
                kept = os.path.join(self.keep_dir, f"{sheet.file_stem}-{index + 1:02d}"
                                    f"{os.path.splitext(photo)[1]}")
                shutil.copyfile(photo, kept)
                holder = dataclasses.replace(holder, photo_path=kept)
            holders.append(holder)
        return dataclasses.replace(sheet, holders=tuple(holders))


def unlocked_key(source: Source, login: str, passphrase: str) -> UnlockedKey:
    """Open the office key with ``passphrase`` for ``login``, on the main thread before a
    batch starts, so that a wrong passphrase is said at once and no worker sees it."""
    with store_opener(source, login)() as store:
        resume_session(store, login)
        return unlock_office_key(store, passphrase)


class IssueCertificatesTask(QgsTask):
    """Issue a batch of certificates; the outcome goes to ``done`` on the main thread.

    Make it on the main thread: it makes the renderer there (a template
    that cannot make certificates raises CertificateTemplateError here,
    before anything starts), unless a ``renderer`` is given.
    """

    def __init__(self, source: Source, login: str, request: IssueRequest,
                 done: Callable[[IssueOutcome], None], *,
                 neighbours: Optional[QgsVectorLayer] = None, renderer: Any = None,
                 label: str = "", signer: Optional[UnlockedKey] = None) -> None:
        super().__init__(tr("Issuing {0} certificate(s){1}").format(
            len(request.parcel_ids), f" — {label}" if label else ""), QgsTask.CanCancel)
        self.request = request
        self.source = source
        self.login = login
        self.signer = signer  #: the office key unlocked by ``login`` (unlocked_key)
        self.done = done
        self._work = tempfile.TemporaryDirectory(prefix="stdm-issue-")
        self.renderer = renderer if renderer is not None else CertificateRenderer(
            request.template_path, neighbours, os.path.join(self._work.name, "qr"))
        self.bridge = RenderBridge(self.renderer, self._work.name, self.isCanceled)
        self._open = store_opener(source, login)  # PostGIS credentials: read here
        self._outcome = IssueOutcome(request)

    # --- worker thread ----------------------------------------------------------------
    def run(self) -> bool:
        request = self.request
        try:
            with self._open() as store:
                resume_session(store, self.login)
                store.signer = self.signer
                report = issue_batch(
                    store, request.parcel_ids, self.bridge, request.out_dir,
                    language=request.text_language, template=request.register_template,
                    series=request.series, today=request.today, progress=self._progress,
                    is_cancelled=self.isCanceled)
            self._outcome.report = _with_abandoned(report, self.bridge.abandoned,
                                                   self.isCanceled())
            return True
        except StdmError as error:
            self._outcome.error = str(error)
        except Exception as error:  # shown in the message bar, not lost in a worker thread
            self._outcome.error = f"{type(error).__name__}: {error}"
        return False

    def _progress(self, done: int, total: int) -> None:
        self.setProgress(100.0 * done / max(total, 1))

    # --- main thread ------------------------------------------------------------------
    def finished(self, result: bool) -> None:
        outcome = self._outcome
        try:
            if result and outcome.report is not None:
                if self.request.merged and outcome.report.issued:
                    self._write_merged(outcome)
                self._write_report(outcome)
            elif not outcome.error:  # cancelled before run() started
                outcome.cancelled_before_start = True
        finally:
            self.close()
        self.done(outcome)

    def close(self) -> None:
        """Drop the renderer and the kept sheets' files; the task cannot draw after this."""
        if self.renderer is not None and hasattr(self.renderer, "close"):
            self.renderer.close()
        self.renderer = self.bridge.renderer = None
        self._work.cleanup()

    def _write_merged(self, outcome: IssueOutcome) -> None:
        numbers = [item.number for item in outcome.report.issued]
        sheets = [self.bridge.drawn[n] for n in numbers if n in self.bridge.drawn]
        if not sheets:
            return
        name = f"certificates_{sheets[0].file_stem}_to_{sheets[-1].file_stem}.pdf"
        path = os.path.join(self.request.out_dir, name)
        try:
            outcome.merged_pdf = self.renderer.render_many(sheets, path)
        except Exception as error:  # the certificates stand; say what is missing
            outcome.notes.append(tr("The merged PDF was not written: {0}").format(error))

    def _write_report(self, outcome: IssueOutcome) -> None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = os.path.join(self.request.out_dir, f"certificate-batch-{stamp}.csv")
        try:
            outcome.report.to_csv(path)
            outcome.report_csv = path
        except OSError as error:
            outcome.notes.append(tr("The batch report was not written to {0}: {1}").format(
                path, error.strerror or error))


def _with_abandoned(report: BatchReport, abandoned: list[str], cancelled: bool) -> BatchReport:
    """A certificate given up while waiting for its drawing was not attempted, not failed."""
    for code in reversed(abandoned):
        if report.failed.pop(code, None) is not None:
            report.not_attempted.insert(0, code)
    report.cancelled = report.cancelled or (cancelled and bool(abandoned))
    return report
