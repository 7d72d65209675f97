"""stdm:mergefieldpackage: merge a returned field package from a model or the command line.

What the merge dialog does with a person choosing, done with a policy: the
package is compared with the store, every conflict is resolved by the
policy (``ask``, the default, resolves none, so a package with a conflict
is refused with the first one named and nothing is merged), and the plan
is written in the core's one transaction. A store with users needs
someone who may merge: the user name and password come from an
authentication configuration of QGIS's authentication manager (never from a
plain parameter, which Processing would keep in its history).
"""
from __future__ import annotations

from collections import Counter

from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
)

from ...core.packages.apply import apply_merge
from ...core.packages.merge import analyse_merge
from ...core.packages.merge_plan import ADDED, CHANGED, DELETED
from ...core.store.errors import PermissionDeniedError
from ...core.store.users import sign_in
from ..i18n import tr
from ..store.processing import FeedbackPace, StoreAlgorithm, core_errors
from .merge_view import save_report_csv

#: the policy's values, as scripts and qgis_process give them (POLICY=theirs)
POLICY_VALUES = ("mine", "theirs", "both", "ask")


class MergeFieldPackageAlgorithm(StoreAlgorithm):
    PACKAGE = "PACKAGE"
    POLICY = "POLICY"
    AUTH = "AUTH"
    OUTPUT = "OUTPUT"
    CONFLICTS = "CONFLICTS"
    MERGE_ID = "MERGE_ID"
    GROUP = "fieldwork"

    def name(self) -> str:
        return "mergefieldpackage"

    def displayName(self) -> str:  # noqa: N802 - Processing's hook
        return tr("Merge field package")

    def group(self) -> str:
        return tr("Field packages")

    def shortHelpString(self) -> str:  # noqa: N802
        return tr(
            "Merges a field package a team brought back (its folder, with package.json and "
            "field_store.sqlite) into the settlement store it was cut from: the records the "
            "team added, changed and deleted, in one transaction, all or nothing.\n\n"
            "Conflicts (a record changed in the store and in the package, deleted on one "
            "side and changed on the other, a new parcel overlapping one added since, a new "
            "person who looks like one in the store) are resolved by the policy: 'mine' "
            "keeps the store's version, 'theirs' takes the package's, 'both' keeps both. "
            "'ask' (the default) resolves none: a package with a conflict is refused, "
            "naming it, and nothing is merged; merge it in QGIS (STDM ▸ Merge field "
            "package…) to decide each conflict.\n\n"
            "A store with users needs someone who may merge (supervisor or land officer): "
            "choose an authentication configuration (Basic: user name and password) for "
            "them. A package merged before brings only what changed since. The report CSV "
            "lists the counts per table and enumerator, each conflict with its resolution "
            "and the renumbered codes.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_store_parameter()
        self.addParameter(QgsProcessingParameterFile(
            self.PACKAGE, tr("Field package (folder)"),
            behavior=QgsProcessingParameterFile.Folder))
        self.addParameter(QgsProcessingParameterEnum(
            self.POLICY, tr("Resolve conflicts by keeping"), list(POLICY_VALUES),
            defaultValue="ask", usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterAuthConfig(
            self.AUTH, tr("Sign in as (authentication configuration with user name and "
                          "password)"), optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, tr("Merge report (CSV)"), tr("CSV (*.csv)"), optional=True,
            createByDefault=False))
        for action in (ADDED, CHANGED, DELETED):
            self.addOutput(QgsProcessingOutputNumber(action.upper(), tr("Records {0}").format(
                tr(action))))
        self.addOutput(QgsProcessingOutputNumber(self.CONFLICTS, tr("Conflicts resolved")))
        self.addOutput(QgsProcessingOutputString(self.MERGE_ID, tr("Merge id (empty when "
                                                                   "nothing changed)")))

    def processAlgorithm(self, parameters, context, feedback) -> dict:  # noqa: N802
        pace = FeedbackPace(feedback)
        folder = self.parameterAsFile(parameters, self.PACKAGE, context)
        if not folder:
            raise QgsProcessingException(tr("Choose the field package's folder ({0}).").format(
                self.PACKAGE))
        policy = self.parameterAsEnumString(parameters, self.POLICY, context) or "ask"
        report_path = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        pace.stop_if_cancelled(tr("The merge"))
        store = self.open_store(parameters, context, feedback, write=True)
        try:
            with core_errors():
                self.sign_in(store, parameters, context, feedback)
                feedback.setProgressText(tr("Comparing the package with the store"))
                plan = analyse_merge(store, folder)
                feedback.pushInfo(tr("{0} change(s) without conflict, {1} conflict(s), {2} "
                                     "record(s) unchanged.").format(
                    len(plan.changes), len(plan.conflicts), plan.unchanged))
                pace.stop_if_cancelled(tr("The merge"))
                feedback.setProgressText(tr("Merging"))
                try:
                    report = apply_merge(
                        store, plan, policy=policy, cancelled=feedback.isCanceled,
                        progress=lambda fraction, _m: feedback.setProgress(100.0 * fraction))
                except PermissionDeniedError as error:
                    raise QgsProcessingException(tr("{0} Choose an authentication "
                                                    "configuration ({1}) for someone who may "
                                                    "merge.").format(error, self.AUTH)) from None
        finally:
            store.close()
        totals = Counter()
        for (_table, action), count in report.counts.items():
            totals[action] += count
        if report.nothing_changed:
            feedback.pushInfo(tr("Nothing to merge: the package brings nothing new (merged {0} "
                                 "time(s) before).").format(report.already_merged))
        else:
            feedback.pushInfo(tr("Merged: {0} added, {1} changed, {2} deleted; {3} conflict(s) "
                                 "resolved ({4}); {5} code(s) renumbered.").format(
                totals[ADDED], totals[CHANGED], totals[DELETED], len(report.resolved), policy,
                len(report.renumbered)))
        for old, new in sorted(report.renumbered.items()):
            feedback.pushInfo(tr("Renumbered {0} → {1}").format(old, new))
        results = {action.upper(): totals[action] for action in (ADDED, CHANGED, DELETED)}
        results.update({self.CONFLICTS: len(report.resolved),
                        self.MERGE_ID: report.merge_id or ""})
        if report_path:
            with core_errors():
                results[self.OUTPUT] = save_report_csv(report, report_path)
        feedback.setProgress(100)
        return results

    def sign_in(self, store, parameters: dict, context, feedback) -> None:
        """Sign in the user of the authentication configuration, if one was chosen."""
        authcfg = self.parameterAsString(parameters, self.AUTH, context)
        if not authcfg:
            return
        config = QgsAuthMethodConfig()
        loaded = QgsApplication.authManager().loadAuthenticationConfig(authcfg, config, True)
        ok, config = loaded if isinstance(loaded, tuple) else (loaded, config)  # PyQGIS: a pair
        if not ok:
            raise QgsProcessingException(tr("The authentication configuration {0} could not "
                                            "be read.").format(authcfg))
        user = sign_in(store, config.config("username"), config.config("password"))
        feedback.pushInfo(tr("Signed in as {0} ({1}).").format(user.full_name, user.role))
