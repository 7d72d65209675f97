"""Split a parcel along a line drawn on the map, merge the parcels selected on it.

"Split parcel" is a map tool: a click picks the parcel of the store's
Parcels layer (or the one parcel already selected is taken), further clicks
draw the cut line, a right click (double click, Enter) ends it, Backspace
takes the last point back and Esc stops. "Merge selected parcels" takes the
two or more parcels selected on the Parcels layer. Either way the core plans
first (plan_split, plan_merge: nothing written), the plan is shown with the
pieces, their areas and the claims involved, and what happens to the
claims is the user's explicit choice among the core's options; then the
core applies the plan in one transaction, refusing if anything changed
since it was shown. Every refusal comes back in the message bar with the
core's reasons.

``ParcelToolActions`` is a mixin of the plugin (through CadastreActions);
``split_along`` and ``merge_parcels`` are the dialog-free entries tests and
scripts call, with the answer given as ``tenure``.
"""
from __future__ import annotations

from typing import Optional

import shapely
from qgis.core import (
    QgsCoordinateTransform,
    QgsExpression,
    QgsFeatureRequest,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsMapCanvas, QgsMapMouseEvent
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QRadioButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ...core.cadastre.parcel_lineage import apply_merge, apply_split, plan_merge, plan_split
from ...core.store.errors import PermissionDeniedError, StdmError
from ...core.store.users import require_permission
from ...qgis.i18n import tr
from ...qgis.project.project import refresh_layers, shown_store
from ..forms.shape_tool import ShapeCaptureTool

PROBLEM_STYLE = "color: #a94442;"


class SplitParcelTool(ShapeCaptureTool):
    """Pick a parcel, then draw the line to cut it along; ``captured`` gives the line."""

    parcel_chosen = pyqtSignal(str)

    def __init__(self, canvas: QgsMapCanvas, parcels: QgsVectorLayer,
                 parcel_id: Optional[str] = None) -> None:
        super().__init__(canvas, "line")
        self.parcels = parcels
        self.parcel_id = parcel_id

    def canvasReleaseEvent(self, event: QgsMapMouseEvent) -> None:
        if self.parcel_id is None:
            if event.button() == Qt.LeftButton:
                self.pick(event.mapPoint())
            elif event.button() == Qt.RightButton:
                self.cancel()
            return
        super().canvasReleaseEvent(event)

    def pick(self, point: QgsPointXY) -> Optional[str]:
        """The parcel under ``point`` (canvas CRS) becomes the one to split."""
        here = self.toLayerCoordinates(self.parcels, point)
        request = QgsFeatureRequest().setFilterRect(QgsRectangle(here.x(), here.y(), here.x(),
                                                                 here.y()))
        spot = QgsGeometry.fromPointXY(here)
        for feature in self.parcels.getFeatures(request):
            if feature.geometry().intersects(spot):
                self.parcel_id = str(feature["id"])
                self.parcels.selectByIds([feature.id()])
                self.parcel_chosen.emit(self.parcel_id)
                return self.parcel_id
        return None


class PlanDialog(QDialog):
    """A plan in words and the choice of what happens to the claims."""

    def __init__(self, title: str, html: str, choices: list[tuple[str, str, bool]],
                 confirm: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        text = QTextBrowser()
        text.setHtml(html)
        text.setMinimumHeight(180)
        layout.addWidget(text, 1)
        self.buttons_by_choice: dict[str, QRadioButton] = {}
        group = QButtonGroup(self)
        if len(choices) > 1:
            layout.addWidget(QLabel(tr("<b>What happens to the claims</b>")))
        for value, label, enabled in choices:
            button = QRadioButton(label)
            button.setEnabled(enabled)
            group.addButton(button)
            self.buttons_by_choice[value] = button
            if len(choices) > 1:
                layout.addWidget(button)
        first = next((b for b in self.buttons_by_choice.values() if b.isEnabled()), None)
        if first is not None:
            first.setChecked(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText(confirm)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, 420)

    def choice(self) -> Optional[str]:
        return next((v for v, b in self.buttons_by_choice.items() if b.isChecked()), None)


def _claims_html(claims) -> str:
    if not claims:
        return tr("<p>No current claims: no tenure to move.</p>")
    items = "".join(f"<li>{c.describe()}</li>" for c in claims)
    return tr("<p>Current claims ({0}):</p>").format(len(claims)) + f"<ul>{items}</ul>"


def split_html(plan) -> str:
    pieces = "".join(tr("<li>Piece {0}: {1:,.2f} m²</li>").format(i + 1, area)
                     for i, area in enumerate(plan.piece_areas_m2))
    html = tr("<p><b>{0}</b> ({1:,.2f} m²) is cut into {2} new parcels, which get new codes; "
              "{0} is retired and the lineage register keeps where they came from.</p>"
              ).format(plan.parcel_code, sum(plan.piece_areas_m2), len(plan.pieces))
    html += f"<ul>{pieces}</ul>"
    if plan.structures:
        html += tr("<p>{0} structure(s) move to the piece that holds most of each.</p>").format(
            len(plan.structures))
    return html + _claims_html(plan.claims)


def merge_html(plan) -> str:
    html = tr("<p><b>{0}</b> become one parcel of {1:,.2f} m² with a new code; they are "
              "retired and the lineage register keeps where it came from.</p>").format(
        ", ".join(plan.parcel_codes), plan.area_m2)
    if plan.structures:
        html += tr("<p>{0} structure(s) move to the merged parcel.</p>").format(
            len(plan.structures))
    html += _claims_html(plan.claims)
    if plan.claims and len(plan.carried) < len(plan.claims):
        html += tr("<p>A claim held alike on every parcel is carried once: {0} claim(s) "
                   "would be recorded on the merged parcel.</p>").format(len(plan.carried))
    for problem in plan.share_problems:
        html += f'<p style="{PROBLEM_STYLE}">{problem}</p>'
    return html


class ParcelToolActions:
    """Split and merge; mixed into the plugin (through CadastreActions), whose __init__
    sets ``split_tool = None``."""

    # --- menu actions ------------------------------------------------------------------------
    def split_parcel(self) -> Optional[SplitParcelTool]:
        """Start the split tool on the Parcels layer of the store shown; returns it."""
        parcels = self._parcels_layer()
        if parcels is None or not self._may_edit_parcels():
            return None
        self.stop_split_tool()
        chosen = parcels.selectedFeatures()
        canvas = self.iface.mapCanvas()
        tool = SplitParcelTool(canvas, parcels, str(chosen[0]["id"]) if len(chosen) == 1
                               else None)
        tool.captured.connect(lambda line: self._cut_drawn(tool, line))
        tool.cancelled.connect(self.stop_split_tool)
        self.split_tool = tool
        canvas.setMapTool(tool)
        self.iface.messageBar().pushInfo(tr("Split parcel"), tr(
            "Click the parcel to split, then the points of the cut line across it; right "
            "click to end the line, Backspace to take a point back, Esc to stop.")
            if tool.parcel_id is None else tr(
            "Click the points of the cut line across the selected parcel; right click to end "
            "it, Backspace to take a point back, Esc to stop."))
        return tool

    def merge_selected_parcels(self) -> bool:
        parcels = self._parcels_layer()
        if parcels is None:
            return False
        ids = [str(f["id"]) for f in parcels.selectedFeatures()]
        if len(ids) < 2:
            self._error(tr("Select two or more neighbouring parcels on the Parcels layer to "
                           "merge them."))
            return False
        return self.merge_parcels(ids)

    def stop_split_tool(self) -> None:
        tool, self.split_tool = self.split_tool, None
        canvas = self.iface.mapCanvas()
        if tool is not None and canvas.mapTool() is tool:
            canvas.unsetMapTool(tool)

    # --- the work, callable without a mouse -----------------------------------------------------
    def split_along(self, parcel_id: str, cut_line, tenure: Optional[str] = None) -> list[str]:
        """Split ``parcel_id`` along ``cut_line`` (shapely, store CRS); ``tenure`` ("copy" or
        "none") answers the question, else the plan dialog asks. Returns the new parcel ids."""
        opened = self._open_for_parcels()
        if opened is None:
            return []
        store, _source = opened
        with store:
            try:
                plan = plan_split(store, parcel_id, cut_line)
            except StdmError as error:
                self._error(tr("The parcel was not split: {0}").format(error))
                return []
            if tenure is None:
                dialog = PlanDialog(tr("Split {0}").format(plan.parcel_code), split_html(plan), [
                    ("copy", tr("Tenure follows the land: each claim is ended on {0} and "
                                "recorded again, same party, type and share, on every "
                                "piece").format(plan.parcel_code), True),
                    ("none", tr("The claims end with {0}: the new parcels start without "
                                "claims, to be enumerated again").format(plan.parcel_code),
                     True)] if plan.claims else [("copy", "", True)], tr("Split"),
                    self.iface.mainWindow())
                if dialog.exec_() != QDialog.Accepted:
                    return []
                tenure = dialog.choice()
            try:
                result = apply_split(store, plan, tenure=tenure or "copy", confirmed=True)
            except StdmError as error:
                self._error(tr("{0} was not split: {1}").format(plan.parcel_code, error))
                return []
        self.stop_split_tool()
        pieces = tr(" and ").join(f"{c.code} ({c.area_m2:,.2f} m²)" for c in result.children)
        claims = (tr("; {0} claim(s) recorded again on the new parcels").format(
            len(result.new_claims)) if result.new_claims else
            tr("; {0} claim(s) ended").format(len(result.ended_claims))
            if result.ended_claims else "")
        self._parcels_changed([c.id for c in result.children])
        self._success(tr("Split {0} into {1}{2}.").format(plan.parcel_code, pieces, claims))
        return [c.id for c in result.children]

    def merge_parcels(self, parcel_ids: list[str], tenure: Optional[str] = None) -> bool:
        """Merge ``parcel_ids``; ``tenure`` ("carry" or "none") answers the question, else
        the plan dialog asks."""
        opened = self._open_for_parcels()
        if opened is None:
            return False
        store, _source = opened
        with store:
            try:
                plan = plan_merge(store, parcel_ids)
            except StdmError as error:
                self._error(tr("The parcels were not merged: {0}").format(error))
                return False
            codes = ", ".join(plan.parcel_codes)
            if plan.claims and plan.share_problems:
                self._warning(tr("The claims of {0} cannot all be carried onto the merged "
                                 "parcel: {1}").format(codes, " ".join(plan.share_problems)))
            if tenure is None:
                carry = not plan.share_problems
                dialog = PlanDialog(tr("Merge {0}").format(codes), merge_html(plan), [
                    ("carry", tr("Tenure follows the land: the claims are ended on the old "
                                 "parcels and recorded again on the merged one") + (
                        "" if carry else tr(" (not possible: shares over 1)")), carry),
                    ("none", tr("The claims end with the old parcels: the merged parcel starts "
                                "without claims, to be enumerated again"), True)]
                    if plan.claims else [("carry", "", True)], tr("Merge"),
                    self.iface.mainWindow())
                if dialog.exec_() != QDialog.Accepted:
                    return False
                tenure = dialog.choice()
            try:
                result = apply_merge(store, plan, tenure=tenure or "carry", confirmed=True)
            except StdmError as error:
                self._error(tr("{0} were not merged: {1}").format(codes, error))
                return False
        [child] = result.children
        self._parcels_changed([child.id])
        claims = (tr("; {0} claim(s) carried").format(len(result.new_claims))
                  if result.new_claims else tr("; {0} claim(s) ended").format(
            len(result.ended_claims)) if result.ended_claims else "")
        self._success(tr("Merged {0} into {1} ({2:,.2f} m²){3}.").format(
            codes, child.code, child.area_m2 or 0.0, claims))
        return True

    # --- helpers -----------------------------------------------------------------------------
    def _cut_drawn(self, tool: SplitParcelTool, line: QgsGeometry) -> None:
        """The line ends: into the store's CRS, then plan, ask, apply."""
        if tool.parcel_id is None:
            return
        moved = QgsGeometry(line)
        moved.transform(QgsCoordinateTransform(self.iface.mapCanvas().mapSettings()
                                               .destinationCrs(), tool.parcels.crs(),
                                               QgsProject.instance()))
        self.split_along(tool.parcel_id, shapely.from_wkb(bytes(moved.asWkb())))

    def _parcels_layer(self) -> Optional[QgsVectorLayer]:
        shown = shown_store(QgsProject.instance(), self.iface.activeLayer())
        if shown is None:
            from ..store.sign_in_actions import NO_STORE_SHOWN

            self._error(tr(NO_STORE_SHOWN))
            return None
        return shown[1]["parcels"]

    def _open_for_parcels(self):
        """The store shown, opened as the person signed in, if they may change parcels."""
        opened = self.open_signed_in_store()
        if opened is None:
            return None
        store, _source = opened
        try:
            require_permission(store, "enumerate")
        except PermissionDeniedError:
            store.close()  # nobody signed in who may: ask, as the other actions do
            return self.open_signed_in_store("enumerate")
        return opened

    def _may_edit_parcels(self) -> bool:
        opened = self._open_for_parcels()
        if opened is not None:
            opened[0].close()
        return opened is not None

    def _parcels_changed(self, new_ids: list[str]) -> None:
        """Show the new parcels, selected, and the old ones gone."""
        shown = shown_store(QgsProject.instance(), self.iface.activeLayer())
        if shown is None:
            return
        refresh_layers(shown[1])
        ids = ", ".join(QgsExpression.quotedValue(i) for i in new_ids)
        shown[1]["parcels"].selectByExpression(f'"id" IN ({ids})')
