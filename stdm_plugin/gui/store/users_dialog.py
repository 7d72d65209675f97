"""Manage the users of a store: add, change a role, set a password, deactivate.

Only an administrator gets here, and the core checks it again on every
change (``UserRepository``): whatever it refuses (a login already taken, a
missing full name, deactivating oneself, a signed-in person who is no
longer an administrator) is shown in the dialog in red, and nothing changes.
"""
from __future__ import annotations

from typing import Callable, Optional

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.store.errors import StdmError
from ...core.store.schema import ROLES
from ...qgis.i18n import tr
from .sign_in_dialog import PROBLEM_STYLE, password_field, role_label, user_label

DONE_STYLE = "color: #2b6e2b;"


def role_box() -> QComboBox:
    box = QComboBox()
    for role in ROLES:
        box.addItem(role_label(role), role)
    return box


class UsersDialog(QDialog):
    """The users of one store, and what an administrator may change about them."""

    def __init__(self, store, store_label: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setWindowTitle(tr("Users of {0}").format(store_label))
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels([tr("Login"), tr("Full name"), tr("Role"),
                                              tr("Password")])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table)
        parts = QHBoxLayout()
        parts.addWidget(self._selected_box())
        parts.addWidget(self._add_box())
        layout.addLayout(parts)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.refresh()
        self.resize(760, 520)

    # --- the two parts ------------------------------------------------------------
    def _selected_box(self) -> QGroupBox:
        box = self.selected_box = QGroupBox(tr("Selected user"))
        form = QFormLayout(box)
        self.role = role_box()
        self.change_role_button = QPushButton(tr("Change role"))
        self.change_role_button.clicked.connect(self.change_role)
        form.addRow(tr("Role"), self._with_button(self.role, self.change_role_button))
        self.password = password_field()
        self.password.setPlaceholderText(tr("new password"))
        self.set_password_button = QPushButton(tr("Set password"))
        self.set_password_button.clicked.connect(self.set_password)
        self.password.textChanged.connect(self._selection_changed)
        form.addRow(tr("Password"), self._with_button(self.password, self.set_password_button))
        self.deactivate_button = QPushButton(tr("Deactivate…"))
        self.deactivate_button.setToolTip(tr("The user can no longer sign in; what they did "
                                             "stays recorded under their name"))
        self.deactivate_button.clicked.connect(self._deactivate_clicked)
        form.addRow("", self.deactivate_button)
        return box

    def _add_box(self) -> QGroupBox:
        box = QGroupBox(tr("Add a user"))
        form = QFormLayout(box)
        self.new_login = QLineEdit()
        self.new_full_name = QLineEdit()
        self.new_full_name.setPlaceholderText(tr("as printed on certificates"))
        self.new_role = role_box()
        self.new_password = password_field()
        self.new_password.setPlaceholderText(tr("required"))
        form.addRow(tr("Login"), self.new_login)
        form.addRow(tr("Full name"), self.new_full_name)
        form.addRow(tr("Role"), self.new_role)
        form.addRow(tr("Password"), self.new_password)
        self.add_button = QPushButton(tr("Add user"))
        self.add_button.clicked.connect(self.add_user)
        form.addRow("", self.add_button)
        return box

    @staticmethod
    def _with_button(field: QWidget, button: QPushButton) -> QWidget:
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(field, 1)
        line.addWidget(button)
        return row

    # --- reading --------------------------------------------------------------------
    def refresh(self, select: Optional[str] = None) -> None:
        select = select or self.selected_login()
        users = sorted(self.store.users.find(), key=lambda u: (u.full_name.lower(), u.login))
        self.table.setRowCount(len(users))
        for row, user in enumerate(users):
            values = (user.login, user.full_name, role_label(user.role),
                      tr("set") if user.password_hash else tr("none"))
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.UserRole, user.login)
                self.table.setItem(row, column, item)
            if user.login == select:
                self.table.selectRow(row)
        self._selection_changed()

    def selected_login(self) -> Optional[str]:
        rows = self.table.selectionModel().selectedRows() if self.table.model() else []
        return rows[0].data(Qt.UserRole) if rows else None

    def select_login(self, login: str) -> bool:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.UserRole) == login:
                self.table.selectRow(row)
                return True
        return False

    def _selection_changed(self) -> None:
        login = self.selected_login()
        for button in (self.change_role_button, self.deactivate_button):
            button.setEnabled(login is not None)
        self.set_password_button.setEnabled(login is not None and bool(self.password.text()))
        user = self.store.users.by_login(login) if login is not None else None
        self.selected_box.setTitle(tr("Selected user: {0}").format(user.full_name) if user
                                   else tr("Selected user: none, pick one in the list"))
        if user is not None:
            self.role.setCurrentIndex(self.role.findData(user.role))

    # --- changes, each through the core ---------------------------------------------
    def add_user(self) -> bool:
        login = self.new_login.text().strip()
        user = self._change(lambda: self.store.users.create(
            login, self.new_full_name.text(), self.new_role.currentData(),
            self.new_password.text() or None))
        if user is None:
            return False
        for field in (self.new_login, self.new_full_name, self.new_password):
            field.clear()
        self.refresh(select=login)
        self._done(tr("Added {0}.").format(user_label(user)))
        return True

    def change_role(self) -> bool:
        login = self.selected_login()
        user = self._change(lambda: self.store.users.change_role(login, self.role.currentData()))
        if user is None:
            return False
        self.refresh(select=login)
        self._done(tr("{0} is now {1}.").format(user.full_name, role_label(user.role)))
        return True

    def set_password(self) -> bool:
        login = self.selected_login()
        user = self._change(lambda: self.store.users.set_password(login, self.password.text()))
        if user is None:
            return False
        self.password.clear()
        self.refresh(select=login)
        self._done(tr("Set a new password for {0}.").format(user.full_name))
        return True

    def deactivate(self) -> bool:
        login = self.selected_login()
        user = self.store.users.by_login(login) if login else None
        if user is None or self._change(lambda: self.store.users.deactivate(login) or True) \
                is None:
            return False
        self.refresh()
        self._done(tr("Deactivated {0}: they can no longer sign in.").format(
            user_label(user)))
        return True

    def _deactivate_clicked(self) -> None:
        login = self.selected_login()
        answer = QMessageBox.question(
            self, tr("Deactivate user"),
            tr("Deactivate {0}? They will no longer be able to sign in.").format(login))
        if answer == QMessageBox.Yes:
            self.deactivate()

    def _change(self, work: Callable):
        """Run one change through the core; a refusal is shown, and None returned."""
        try:
            return work()
        except StdmError as error:  # PermissionDeniedError, ValidationError...
            self.status.setStyleSheet(PROBLEM_STYLE)
            self.status.setText(tr("Not done: {0}").format(error))
            return None

    def _done(self, text: str) -> None:
        self.status.setStyleSheet(DONE_STYLE)
        self.status.setText(text)
