"""The "Who is working?" dialog: sign in to a store, or make its first administrator.

The dialog checks nothing itself but that a new password was typed the
same twice: the password is checked by ``core.users.sign_in`` and the first
user's role by ``UserRepository.create``. Their refusals are shown in the
dialog, which stays open to try again; once accepted, the person is signed
in on the store (``store.user``) and in ``user``.
"""
from __future__ import annotations

from typing import Optional

from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.store.errors import AccountLockedError, PermissionDeniedError, ValidationError
from ...core.store.users import User, sign_in
from ...qgis.i18n import tr

PROBLEM_STYLE = "color: #a94442;"
#: the dialog's result when the person chose to sign out
SIGNED_OUT = 2


def role_label(role: str) -> str:
    return {"enumerator": tr("enumerator"), "supervisor": tr("supervisor"),
            "land_officer": tr("land officer"),
            "administrator": tr("administrator")}.get(role, role)


def user_label(user: User) -> str:
    """How a person is named in the interface: "Léa Officer (land officer)"."""
    return tr("{0} ({1})").format(user.full_name, role_label(user.role))


def password_field() -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.Password)
    return field


class SignInDialog(QDialog):
    """Pick a login and give its password; or, in a store without users, create its
    administrator and sign in as them."""

    def __init__(self, store, store_label: str, current_login: Optional[str] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.store = store
        self.user: Optional[User] = None
        self.setWindowTitle(tr("Who is working?"))
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        users = sorted(store.users.find(), key=lambda u: (u.full_name.lower(), u.login))
        self.first_administrator = not users
        self._names = {user.login: user.full_name for user in users}
        intro = QLabel()
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        layout.addLayout(form)
        if self.first_administrator:
            intro.setText(tr("The store <b>{0}</b> has no users yet. Create its administrator: "
                             "they add the enumerators, supervisors and land officers who "
                             "adjudicate claims.").format(store_label))
            self.new_login = QLineEdit()
            self.new_login.setPlaceholderText(tr("e.g. adele"))
            self.full_name = QLineEdit()
            self.full_name.setPlaceholderText(tr("as printed on certificates"))
            self.new_password = password_field()
            self.new_password_again = password_field()
            form.addRow(tr("Login"), self.new_login)
            form.addRow(tr("Full name"), self.full_name)
            form.addRow(tr("Password"), self.new_password)
            form.addRow(tr("Password again"), self.new_password_again)
            ok_text = tr("Create administrator and sign in")
        else:
            intro.setText(tr("Who is working in the store <b>{0}</b>?").format(store_label))
            self.login = QComboBox()
            for user in users:
                self.login.addItem(tr("{0} — {1} ({2})").format(
                    user.full_name, role_label(user.role), user.login), user.login)
            self.password = password_field()
            form.addRow(tr("Person"), self.login)
            form.addRow(tr("Password"), self.password)
            if current_login:
                self.choose_login(current_login)
            ok_text = tr("Sign in")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.hide()
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.Ok)
        self.ok_button.setText(ok_text)
        self.buttons.accepted.connect(self._ok_clicked)
        self.buttons.rejected.connect(self.reject)
        self.sign_out_button: Optional[QPushButton] = None
        if current_login and not self.first_administrator:
            self.sign_out_button = self.buttons.addButton(tr("Sign out"),
                                                          QDialogButtonBox.ResetRole)
            self.sign_out_button.clicked.connect(lambda: self.done(SIGNED_OUT))
        layout.addWidget(self.buttons)

    def choose_login(self, login: str) -> bool:
        index = self.login.findData(login)
        if index >= 0:
            self.login.setCurrentIndex(index)
        return index >= 0

    def sign_in(self) -> bool:
        """Check the password of the chosen person; says in the dialog when it is wrong."""
        login = self.login.currentData()
        try:
            self.user = sign_in(self.store, login, self.password.text())
        except AccountLockedError as error:  # too many wrong passwords: say until when
            self._problem(str(error))
            self.password.clear()
            return False
        except PermissionDeniedError:
            self._problem(tr("Wrong password for {0}, or the account was deactivated. "
                             "Try again.").format(self._names.get(login, login)))
            self.password.clear()
            self.password.setFocus()
            return False
        return True

    def create_administrator(self) -> bool:
        """Make the first user, administrator of the store, and sign them in."""
        password = self.new_password.text()
        if not password:
            self._problem(tr("Give the administrator a password: whoever signs in as them "
                             "can add users and change roles."))
            return False
        if password != self.new_password_again.text():
            self._problem(tr("The two passwords differ; type the same password twice."))
            self.new_password_again.clear()
            return False
        login = self.new_login.text().strip()
        try:
            self.store.users.create(login, self.full_name.text(), "administrator", password)
            self.user = sign_in(self.store, login, password)
        except (ValidationError, PermissionDeniedError) as error:
            self._problem(str(error))
            return False
        return True

    def _ok_clicked(self) -> None:
        done = self.create_administrator() if self.first_administrator else self.sign_in()
        if done:
            self.accept()

    def _problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()
