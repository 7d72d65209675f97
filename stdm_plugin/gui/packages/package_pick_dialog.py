"""Choosing a returned field package: what its folder says about itself, before anything
is compared (team, enumerators, device, when and by whom it was made, what it holds)."""
from __future__ import annotations

import html
from typing import Optional

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.packages.field_package import FieldPackage, read_manifest
from ...core.store.errors import FieldPackageError
from ...qgis.i18n import tr
from ...qgis.packages.merge_view import package_facts
from ..store.sign_in_dialog import PROBLEM_STYLE


class PackagePickDialog(QDialog):
    """A package folder and what its manifest says; OK only for a folder that is one."""

    def __init__(self, store_label: str, folder: str = "",
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.manifest: Optional[FieldPackage] = None
        self.setWindowTitle(tr("Merge field package into {0}").format(store_label))
        layout = QVBoxLayout(self)
        intro = QLabel(tr("Choose the folder of a package a team sent back (it holds "
                          "package.json and field_store.sqlite). It is compared with "
                          "{0} first; nothing is written until you merge.").format(store_label))
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.PlainText)
        layout.addWidget(intro)
        line = QHBoxLayout()
        self.folder = QLineEdit(folder)
        self.folder.setPlaceholderText(tr("Package folder"))
        self.folder.textChanged.connect(self._read)
        browse = QPushButton(tr("Browse…"))
        browse.clicked.connect(self._browse)
        line.addWidget(self.folder, 1)
        line.addWidget(browse)
        layout.addLayout(line)
        #: what the manifest says, by label (shown as one table in ``facts``)
        self.fact_texts: dict[str, str] = {}
        box = QGroupBox(tr("The package"))
        self.facts = QLabel()
        self.facts.setTextInteractionFlags(Qt.TextSelectableByMouse)
        QVBoxLayout(box).addWidget(self.facts)
        layout.addWidget(box)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setTextFormat(Qt.PlainText)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.Ok)
        self.ok_button.setText(tr("Compare with the store"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._read()

    def chosen_folder(self) -> str:
        return self.folder.text().strip()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, tr("Returned field package"),
                                                self.chosen_folder())
        if path:
            self.folder.setText(path)

    def _read(self) -> None:
        self.manifest = None
        folder = self.chosen_folder()
        problem = ""
        if folder:
            try:
                self.manifest = read_manifest(folder)
            except FieldPackageError as error:
                problem = str(error)
        self.fact_texts = dict(package_facts(self.manifest)) if self.manifest else {}
        self.facts.setText("<table cellspacing='3'>" + "".join(
            f"<tr><td valign='top'>{html.escape(label)}</td><td>"
            f"{html.escape(text).replace(chr(10), '<br>')}</td></tr>"
            for label, text in self.fact_texts.items()) + "</table>"
            if self.fact_texts else tr("No package chosen yet."))
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        self.ok_button.setEnabled(self.manifest is not None)
        if self.isVisible():
            self._fit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's hook
        super().showEvent(event)
        self._fit()  # the sizes are right once the widgets are polished, i.e. shown

    def _fit(self) -> None:
        """As tall as this package's facts, at a width where the wrapped intro fits."""
        self.layout().activate()
        width = max(self.width(), self.sizeHint().width(), 640)
        self.resize(width, max(self.layout().totalHeightForWidth(width),
                               self.sizeHint().height()))
