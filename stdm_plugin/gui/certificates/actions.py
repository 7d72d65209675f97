"""The plugin's "Issue certificates…" action.

A mixin of StdmPlugin (like AdjudicationActions, whose per-store sign-in it
uses): the land officer signed in for the store shown picks the parcels,
template and folder, then an ``IssueCertificatesTask`` issues them in the
background with a progress bar and Cancel (QGIS's task manager) while the
map stays usable. The outcome comes back in the message bar and a report
window listing every parcel.

One batch at a time: the store takes one writer, and each certificate
holds the write lock while its PDF is drawn. ``start_issue`` is the
dialog-free entry that tests and scripts call.
"""
from __future__ import annotations

import os
from typing import Any, Optional

from qgis.core import QgsApplication, QgsProject, QgsSettings

from ...core.store.errors import StdmError
from ...qgis.certificates.layout import CertificateTemplateError
from ...qgis.certificates.task import (
    IssueCertificatesTask,
    IssueOutcome,
    IssueRequest,
    output_folder_problem,
    template_problem,
    unlocked_key,
)
from ...qgis.i18n import tr
from ...qgis.project.project import refresh_layers, shown_store
from ...qgis.store.sources import CredentialsError, SpatiaLiteSource
from ..store.sign_in_actions import NO_STORE_SHOWN, store_key

FOLDER_SETTING = "stdm/certificate_folder"


class CertificateActions:
    """Issue certificates; mixed into StdmPlugin, whose __init__ sets ``issue_task = None``
    and ``issue_report_dialog = None``."""

    def certificate_menu_entries(self) -> tuple:
        """(text, slot, tip, on toolbar) of the actions, for initGui's list."""
        return (
            (tr("Issue certificates…"), self.issue_certificates,
             tr("Number, sign and print occupancy certificates for approved parcels of the "
                "store shown in this project (land officer): the map selection, a block or "
                "all of them, one PDF each, in the background"), False),
        )

    # --- menu action (dialog) ----------------------------------------------------------
    def issue_certificates(self) -> Optional[IssueCertificatesTask]:
        """Ask which parcels, template and folder, then start the batch; returns the task."""
        from .issue_dialog import IssueDialog, parcel_choices, selected_parcel_ids

        if self._issue_running():
            return None
        opened = self.open_signed_in_store("issue")
        if opened is None:
            return None
        store, source = opened
        parcels = shown_store(QgsProject.instance(), self.iface.activeLayer())[1]["parcels"]
        with store:
            try:
                choices = parcel_choices(store, selected_parcel_ids(parcels))
            except StdmError as error:
                self._error(tr("The parcels could not be read: {0}").format(error))
                return None
        signed = self.signed_in.get(store_key(source))
        dialog = IssueDialog(source.label, signed.label if signed else "?", choices,
                             self._language(), self._certificate_folder(source),
                             self.iface.mainWindow())
        if not dialog.exec_():
            return None
        request = dialog.request()
        QgsSettings().setValue(FOLDER_SETTING, request.out_dir)
        return self.start_issue(request, passphrase=dialog.passphrase.text())

    # --- the work, callable without dialogs ----------------------------------------------
    def start_issue(self, request: IssueRequest, renderer: Any = None, *,
                    passphrase: str = "") -> Optional[IssueCertificatesTask]:
        """Issue ``request`` for the store shown, as the person signed in to it, signing
        with the office key opened with ``passphrase``; returns the running task, or None
        with the reason in the message bar.

        The template, the folder and the passphrase are checked first: a
        template without the required items, a folder that cannot be written or
        a key that stays locked would fail every parcel. ``renderer`` replaces
        the one made from the template (tests).
        """
        if self._issue_running():
            return None
        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        signed = self.signed_in.get(store_key(source))
        if signed is None:
            self._error(tr("Sign in as a land officer first (STDM ▸ Sign in…); certificates "
                           "carry the name of who issued them."))
            return None
        problems = [] if request.parcel_ids else [tr("no parcels were chosen.")]
        problems += [p for p in (template_problem(request.template_path),
                                 output_folder_problem(request.out_dir)) if p]
        if problems:
            self._error(tr("No certificate was issued: {0}").format(" ".join(problems)))
            return None
        layers = shown_store(QgsProject.instance(), self.iface.activeLayer())[1]
        try:
            signer = unlocked_key(source, signed.login, passphrase)
        except (StdmError, CredentialsError) as error:
            self._error(tr("No certificate was issued: {0}").format(error))
            return None
        try:
            task = IssueCertificatesTask(source, signed.login, request, self._issue_done,
                                         neighbours=layers["parcels"], renderer=renderer,
                                         label=source.label, signer=signer)
        except (CertificateTemplateError, CredentialsError, ValueError) as error:
            self._error(tr("No certificate was issued: {0}").format(error))
            return None
        self.issue_task = task  # QGIS does not keep the Python object alive
        QgsApplication.taskManager().addTask(task)
        return task

    def issuing_from(self, source) -> bool:
        """Whether a batch is issuing from the store ``source`` shows. Meanwhile, on
        SpatiaLite, opening that store for writing from the main thread waits for the
        busy timeout and fails: the worker holds the write lock while each PDF is
        drawn on the main thread (see qgis/certificates/task.py)."""
        task = self.issue_task
        return task is not None and store_key(task.source) == store_key(source)

    def cancel_issuing(self) -> None:
        """Stop after the certificate being issued; those issued stay issued."""
        if self.issue_task is not None:
            self.issue_task.cancel()

    # --- the outcome, on the main thread -------------------------------------------------
    def _issue_done(self, outcome: IssueOutcome) -> None:
        from .issue_report_dialog import IssueReportDialog, outcome_kind, summary_line

        self.issue_task = None
        if self.menu is None:  # the plugin was unloaded meanwhile
            return
        shown = shown_store(QgsProject.instance(), self.iface.activeLayer())
        if shown is not None and outcome.report is not None and outcome.report.issued:
            refresh_layers(shown[1])  # the claims are "issued" now
        message = summary_line(outcome)
        kind = outcome_kind(outcome)
        {"ok": self._success, "partial": self._warning, "failed": self._error}[kind](message)
        if self.issue_report_dialog is not None:
            self.issue_report_dialog.close()
        self.issue_report_dialog = None
        if outcome.report is not None and (outcome.report.issued or outcome.report.refused
                                           or outcome.report.failed):
            self.issue_report_dialog = IssueReportDialog(outcome, self.iface.mainWindow())
            self.issue_report_dialog.show()

    def _issue_running(self) -> bool:
        if self.issue_task is None:
            return False
        self._warning(tr("Certificates are being issued; wait for the batch to end, or "
                         "cancel it in the task bar."))
        return True

    @staticmethod
    def _certificate_folder(source) -> str:
        remembered = str(QgsSettings().value(FOLDER_SETTING, "") or "")
        if remembered:
            return remembered
        if isinstance(source, SpatiaLiteSource):
            return os.path.join(os.path.dirname(os.path.abspath(source.path)), "certificates")
        return os.path.join(os.path.expanduser("~"), "certificates")
