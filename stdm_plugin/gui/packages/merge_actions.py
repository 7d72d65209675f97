"""STDM ▸ Merge field package…: a returned package, compared, decided, merged, reported.

``merge_field_package(plugin)`` is the menu entry: the store shown in the
project, opened as the person signed in to it (the sign-in dialog comes
first when nobody who may merge is signed in), then the package folder
with what its manifest says. ``start_merge(plugin, folder)`` does the rest
without asking for the folder (tests, the Python console): the comparison
runs in the background, then the merge dialog shows what it found; its
Merge runs the core's merge in the background, and the report comes last,
with the message bar and the store's layers refreshed.

One merge at a time: ``plugin.merge_flow`` holds the one under way (the
plugin's ``__init__`` does not know it, so it is read with ``getattr``);
unloading the plugin (``close_merge``, or its menu being deleted) cancels
its task and closes its windows.
"""
from __future__ import annotations

from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsProject

from ...core.store.errors import PermissionDeniedError
from ...core.store.redaction import redact
from ...core.store.users import require_permission
from ...qgis.i18n import tr
from ...qgis.packages.merge_task import AnalyseMergeTask, ApplyMergeTask, MergeOutcome, MergeTarget
from ...qgis.packages.merge_view import package_label, summary_line
from ...qgis.project.project import refresh_layers, store_groups, store_layers

ACTION = "merge_field_package"
LOG_TAG = "STDM"


def merge_field_package(plugin) -> Optional["MergeFlow"]:
    """The menu entry: the store shown, who merges, the folder, then the comparison."""
    from .package_pick_dialog import PackagePickDialog

    running = _running(plugin)
    if running is not None:
        running.raise_windows()
        return running
    target = merge_target(plugin)
    if target is None:
        return None
    dialog = PackagePickDialog(target.label, parent=plugin.iface.mainWindow())
    if not dialog.exec_():
        return None
    return start_merge(plugin, dialog.chosen_folder(), target)


def start_merge(plugin, folder: str, target: Optional[MergeTarget] = None,
                **options) -> Optional["MergeFlow"]:
    """Compare ``folder`` with the store shown, in the background; returns the flow."""
    running = _running(plugin)
    if running is not None:
        plugin._warning(tr("A field package is being merged already; finish that merge "
                           "first."))
        running.raise_windows()
        return None
    target = target or merge_target(plugin)
    if target is None:
        return None
    flow = MergeFlow(plugin, target)
    plugin.merge_flow = flow
    return flow if flow.analyse(folder, options) is not None else None


def close_merge(plugin) -> None:
    """For the plugin's unload: cancel a merge under way (nothing is merged) and close its
    windows. Deleting the plugin's menu does the same, later, from the event loop."""
    flow = getattr(plugin, "merge_flow", None)
    if flow is not None:
        flow.close()


def merge_target(plugin) -> Optional[MergeTarget]:
    """The store shown, with the person who may merge into it; None with the reason shown."""
    opened = plugin.open_signed_in_store()
    if opened is None:
        return None
    store, source = opened
    try:
        require_permission(store, ACTION)
    except PermissionDeniedError:
        store.close()  # nobody signed in who may: ask, as the other actions do
        opened = plugin.open_signed_in_store(ACTION)
        if opened is None:
            return None
        store, source = opened
    with store:
        login = store.user.login if store.user is not None else None
        return MergeTarget(source, source.label, login, store.actor)


def _running(plugin) -> Optional["MergeFlow"]:
    """The merge under way (comparing, deciding or merging); a report left open is not."""
    flow = getattr(plugin, "merge_flow", None)
    return flow if flow is not None and flow.busy else None


class MergeFlow:
    """One merge on the main thread: its task, its merge dialog, then its report."""

    def __init__(self, plugin, target: MergeTarget) -> None:
        self.plugin = plugin
        self.target = target
        self.task = None
        self.plan = None
        self.dialog = None
        self.report_dialog = None
        #: False once the flow is over (or closed): a late task outcome is then ignored
        self.active = True
        menu = getattr(plugin, "menu", None)
        if menu is not None:
            menu.destroyed.connect(self.close)  # the plugin was unloaded

    @property
    def busy(self) -> bool:
        return self.active and (self.task is not None or self.dialog is not None)

    # --- comparing -------------------------------------------------------------------------
    def analyse(self, folder: str, options: Optional[dict] = None):
        try:
            task = AnalyseMergeTask(self.target, folder, self._analysed, options)
        except Exception as error:  # e.g. PostGIS credentials that cannot be read
            self._finish()
            self._error(tr("The field package {0} was not compared: {1}").format(folder, error))
            return None
        return self._run(task)

    def _analysed(self, outcome: MergeOutcome) -> None:
        from .merge_dialog import MergeDialog

        self.task = None
        if not self.active:
            return
        name = outcome.package_name
        if outcome.cancelled:
            self._finish()
            self._warning(tr("Comparing the field package {0} was cancelled; nothing was "
                             "merged.").format(name))
            return
        if outcome.plan is None:
            self._finish()
            self._error(tr("Field package {0}: {1}").format(name, outcome.error))
            return
        plan = self.plan = outcome.plan
        if plan.is_empty:
            self._finish()
            self._info(self._nothing_new(name, plan.merge_count))
            return
        self.dialog = MergeDialog(plan, self.target.label, self.merge,
                                  self.plugin.iface.mainWindow())
        self.dialog.rejected.connect(self._dialog_closed)
        self.dialog.cancel_requested.connect(self._cancel_merge)
        self.dialog.show()

    def _nothing_new(self, name: str, merge_count: int) -> str:
        if merge_count:
            return tr("The field package {0} brings nothing new to {1}: it was merged {2} "
                      "time(s) already and nothing changed in it since.").format(
                name, self.target.label, merge_count)
        return tr("The field package {0} brings nothing new to {1}: no record was changed "
                  "in the field.").format(name, self.target.label)

    # --- merging ---------------------------------------------------------------------------
    def merge(self, resolutions: dict[str, str], policy: str):
        """Merge the plan with these choices in the background; returns the task."""
        if self.task is not None or self.plan is None:
            return None
        try:
            task = ApplyMergeTask(self.target, self.plan, resolutions, policy, self._merged)
        except Exception as error:
            self._failed(tr("The merge did not start: {0}").format(error))
            return None
        if self.dialog is not None:
            self.dialog.merging()
            task.progressChanged.connect(self.dialog.set_progress)
        return self._run(task)

    def _merged(self, outcome: MergeOutcome) -> None:
        from .merge_report_dialog import MergeReportDialog

        self.task = None
        if not self.active:
            return
        name = outcome.package_name
        report = outcome.report
        if outcome.cancelled:
            self._failed(tr("The merge of {0} was cancelled; nothing was merged.").format(name),
                         warning=True)
            return
        if report is None:  # a store changed since the comparison needs a new one
            self._failed(tr("Field package {0}: {1}").format(name, outcome.error),
                         retry=outcome.kind != "stale")
            return
        self._refresh()
        if report.nothing_changed:
            self._info(self._nothing_new(name, report.already_merged))
            self._finish()
            return
        self.plugin._success(summary_line(report, package_label(self.plan.package),
                                          self.target.label))
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.rejected.disconnect(self._dialog_closed)
            dialog.accept()
            dialog.deleteLater()
        self.report_dialog = MergeReportDialog(report, self.plan, self.target.label,
                                               self.plugin.iface.mainWindow())
        self._finish()  # the report stays open; another merge may start
        self.report_dialog.show()

    def _failed(self, message: str, warning: bool = False, retry: bool = True) -> None:
        (self._warning if warning else self._error)(message)
        if self.dialog is not None:
            self.dialog.failed(message, retry)
        else:
            self._finish()

    def _refresh(self) -> None:
        """Show what the merge wrote, in the store's layers (if they are still shown)."""
        for group in store_groups(QgsProject.instance()):
            if group.customProperty("stdm/store") == self.target.label:
                refresh_layers(store_layers(group))

    # --- the windows and the end --------------------------------------------------------------
    def _run(self, task):
        self.task = task  # QGIS does not keep the Python object alive
        QgsApplication.taskManager().addTask(task)
        return task

    def raise_windows(self) -> None:
        for window in (self.dialog, self.report_dialog):
            if window is not None:
                window.raise_()
                window.activateWindow()

    def _cancel_merge(self) -> None:
        """Cancel pressed while merging: the transaction is rolled back, the dialog stays."""
        if self.task is not None:
            self.task.cancel()

    def _dialog_closed(self) -> None:
        """The merge dialog was closed without merging: the flow ends."""
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.deleteLater()
        if self.task is None:
            self._finish()

    def close(self, *_args) -> None:
        """Cancel the task (nothing is merged) and close the windows; for unload."""
        self.active = False
        if self.task is not None:
            self.task.cancel()
        for window in (self.dialog, self.report_dialog):
            if window is not None:
                try:
                    window.done(0)  # closes even while merging (the task is cancelled)
                    window.deleteLater()
                except RuntimeError:  # already deleted with QGIS's main window
                    pass
        self.dialog = self.report_dialog = None
        self._finish()

    def _finish(self) -> None:
        self.active = False
        if getattr(self.plugin, "merge_flow", None) is self:
            self.plugin.merge_flow = None

    # --- messages ------------------------------------------------------------------------------
    def _error(self, message: str) -> None:
        self.plugin._error(message)

    def _warning(self, message: str) -> None:
        self.plugin._warning(message)

    def _info(self, message: str) -> None:
        QgsMessageLog.logMessage(redact(message), LOG_TAG, Qgis.Info)
        self.plugin.iface.messageBar().pushMessage(tr("STDM"), message, Qgis.Info, 10)
