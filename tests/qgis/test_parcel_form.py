"""The parcel form a land officer opens: its Tenure tab lists the claims and their parties."""
import pathlib
import time

from qgis.core import QgsFeatureRequest, QgsProject
from qgis.gui import (
    QgsAttributeDialog,
    QgsAttributeEditorContext,
    QgsRelationEditorWidget,
    QgsRelationReferenceWidget,
)
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QComboBox, QTableView, QTabWidget

from stdm_plugin.qgis.project.project import add_store_to_project

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"


def wait_for_party_names(dialog, app, seconds=5.0):
    """Relation reference widgets fetch the party in a background thread; let them finish."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        texts = [w.findChild(QComboBox).currentText()
                 for w in dialog.findChildren(QgsRelationReferenceWidget)
                 if w.objectName() == "party_id"]
        if texts and not any(t.startswith("(") for t in texts):
            return texts
        time.sleep(0.05)
    raise AssertionError(f"party names not shown: {texts}")


def test_parcel_form_shows_tenure_records_with_party_names(filled_store, qgis_app,
                                                           qgis_canvas):
    project = QgsProject.instance()
    layers = add_store_to_project(project, filled_store)
    dialog = None
    try:
        parcel_id = filled_store.info["parcels"][0].id
        feature = next(layers["parcels"].getFeatures(
            QgsFeatureRequest().setFilterExpression(f"\"id\" = '{parcel_id}'")))
        context = QgsAttributeEditorContext()
        context.setMapCanvas(qgis_canvas)
        dialog = QgsAttributeDialog(layers["parcels"], feature, False, None, True, context)
        dialog.resize(900, 480)
        dialog.show()
        tabs = dialog.findChild(QTabWidget)
        titles = [tabs.tabText(i) for i in range(tabs.count())]
        assert titles[:2] == ["General", "Tenure"]
        tabs.setCurrentIndex(1)
        qgis_app.processEvents()
        editor = tabs.widget(1).findChild(QgsRelationEditorWidget)
        assert editor.relation().id() == "stdm_parcel_tenure"
        model = editor.findChild(QTableView, "mTableView").model()
        assert model.rowCount() == 2
        shown = {model.index(row, col).data()
                 for row in range(2) for col in range(model.columnCount())}
        assert {"Awa Koné — Co-owner (1/2)", "Issa Koné — Co-owner (1/2)"} & shown or {
            "Awa Koné", "Issa Koné"} <= shown, shown
        wait_for_party_names(dialog, qgis_app)
        ARTIFACTS.mkdir(exist_ok=True)
        assert dialog.grab().save(str(ARTIFACTS / "parcel_form_tenure_tab.png"))
    finally:
        if dialog is not None:
            dialog.close()
            dialog.deleteLater()
            # delete the form now, while its layers exist: deleted later (in the
            # fixture's teardown, after project.clear()) its widgets read freed layers
            QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
            qgis_app.processEvents()
        project.clear()
