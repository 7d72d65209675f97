"""What the user is asked when a backup cannot be authenticated, and the key file dialogs.

A restore refused as unverified (core/safety/backup_trust.py) offers three
ways on: import the store's backup key (the fix: the backup is then
checked), accept the backup as an administrator of its store (recorded in
the restored store), or cancel. The acceptance dialog says plainly that the
acceptance is the administrator's word, put on record, not a check.
"""
from __future__ import annotations

from typing import Optional

from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from ...core.safety.backup import Acceptance, UnverifiedBackupError
from ...core.safety.backup_trust import UNSIGNED
from ...qgis.i18n import tr
from ..store.sign_in_dialog import password_field

KEY_FILES = "STDM backup key (*.stdmkey *.json);;All files (*)"
#: what the user chose after an unverified restore
IMPORT_KEY, ACCEPT = "import_key", "accept"


def unverified_text(error: UnverifiedBackupError, backup_name: str) -> str:
    """Why the backup cannot be authenticated, and what to do; for the bar and the box."""
    if error.reason == UNSIGNED:
        why = tr("The backup {0} cannot be authenticated: it is not signed (it was made "
                 "before backups were signed, or its signature was removed).").format(
                     backup_name)
    else:
        why = tr("The backup {0} cannot be authenticated: this computer does not hold the "
                 "backup key of its store ({1}).").format(backup_name, error.store_id)
    return tr("{0} Nothing was restored. Import the store's backup key (exported on the "
              "computer that made the backup), or have an administrator of the store accept "
              "the backup; the acceptance is recorded in the restored store.").format(why)


def ask_what_to_do(parent: Optional[QWidget], error: UnverifiedBackupError,
                   backup_name: str) -> str:
    """IMPORT_KEY, ACCEPT or '' (cancelled)."""
    box = QMessageBox(QMessageBox.Warning, tr("Backup not authenticated"),
                      unverified_text(error, backup_name), QMessageBox.Cancel, parent)
    import_button = box.addButton(tr("Import backup key…"), QMessageBox.AcceptRole)
    accept_button = box.addButton(tr("Accept as administrator…"), QMessageBox.ActionRole)
    box.setDefaultButton(import_button)
    box.exec_()
    clicked = box.clickedButton()
    if clicked is import_button:
        return IMPORT_KEY
    if clicked is accept_button:
        return ACCEPT
    return ""


def ask_key_file(parent: Optional[QWidget]) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, tr("Backup key to import"), "",
                                          tr(KEY_FILES))
    return path


class AcceptanceDialog(QDialog):
    """Login, password and a note of the administrator who accepts an unverified backup."""

    def __init__(self, backup_name: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Accept an unverified backup"))
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        intro = QLabel(tr(
            "Restore <b>{0}</b> although its origin cannot be checked. Sign in as an "
            "administrator of the store in the backup, and say why you trust it. Your name, "
            "the note and the backup's checksum are recorded in the restored store; importing "
            "the store's backup key instead lets the plugin check the backup itself."
        ).format(backup_name))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        layout.addLayout(form)
        self.login = QLineEdit()
        self.password = password_field()
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText(tr("e.g. our own backup of 3 March, kept in the safe"))
        self.note.setMaximumHeight(90)
        form.addRow(tr("Administrator's login"), self.login)
        form.addRow(tr("Password"), self.password)
        form.addRow(tr("Why you trust it"), self.note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.Ok)
        self.ok_button.setText(tr("Accept and restore"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.login.textChanged.connect(self._update_ok)
        self.note.textChanged.connect(self._update_ok)
        self._update_ok()

    def _update_ok(self) -> None:
        self.ok_button.setEnabled(bool(self.login.text().strip()
                                       and self.note.toPlainText().strip()))

    def acceptance(self) -> Acceptance:
        return Acceptance(self.login.text().strip(), self.password.text(),
                          self.note.toPlainText().strip())


def ask_acceptance(parent: Optional[QWidget], backup_name: str) -> Optional[Acceptance]:
    dialog = AcceptanceDialog(backup_name, parent)
    if dialog.exec_() != QDialog.Accepted:
        return None
    return dialog.acceptance()
