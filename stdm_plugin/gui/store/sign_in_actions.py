"""The plugin's sign-in and user management actions, and who is signed in to which store.

A mixin of StdmPlugin (like StoreSafetyActions). Who is signed in is kept
for the QGIS session, per store: ``signed_in`` maps a store's key (its
file, or its PostGIS connection and schema) to a login and how to name
them. Every action opens its own connection to the store shown in the
project and makes that person the one working in it with
``users.resume_session``, which reads them again: a deactivated account or
a changed role counts at once. When an action needs a role and nobody is
signed in for the store, the sign-in dialog comes first. The plugin menu's
first entry says who is signed in for the store shown.
"""
from __future__ import annotations

import os
from typing import NamedTuple, Optional

from ...core.store.errors import PermissionDeniedError, StdmError
from ...core.store.users import User, require_permission, resume_session, sign_in, sign_out
from ...qgis.i18n import tr, user_language
from ...qgis.store.sources import CredentialsError, SpatiaLiteSource, open_store
from .sign_in_dialog import SIGNED_OUT, SignInDialog, user_label

NO_STORE_SHOWN = ("Show a settlement store in this project first (STDM ▸ New or Open "
                  "settlement store).")
SIGN_IN_TEXT = "Sign in…"


class SignedIn(NamedTuple):
    login: str
    label: str  # "Léa Officer (land officer)"


def store_key(source) -> str:
    """Which store a source shows, whatever layer of it is active."""
    if isinstance(source, SpatiaLiteSource):
        return os.path.normcase(os.path.abspath(source.path))
    return (f"postgres://{source.service or f'{source.host}:{source.port}'}/"
            f"{source.dbname}/{source.schema}")


class SignInActions:
    """Sign in, manage users; mixed into StdmPlugin, whose __init__ sets ``signed_in = {}``."""

    def sign_in_menu_entries(self) -> tuple:
        """(text, slot, tip, on toolbar) of the actions, for initGui's list."""
        if self.menu is not None:  # the first entry names who is signed in
            self.menu.aboutToShow.connect(self.show_who_is_signed_in)
        return (
            (tr(SIGN_IN_TEXT), self.sign_in_user,
             tr("Say who is working in the store shown in this project: adjudication and "
                "certificates need someone signed in with the right role"), False),
            (tr("Manage users…"), self.manage_users,
             tr("Add the people who work in the store shown in this project, change their "
                "role or password, deactivate them (administrator)"), False),
        )

    # --- menu actions (dialogs) -------------------------------------------------------
    def sign_in_user(self) -> Optional[User]:
        """Ask who is working in the store shown (or make its first administrator)."""
        opened = self.open_signed_in_store()
        if opened is None:
            return None
        store, source = opened
        with store:
            return self._ask_who_is_working(store, source)

    def manage_users(self) -> None:
        from ..store.users_dialog import UsersDialog

        opened = self.open_signed_in_store("manage_users")
        if opened is None:
            return
        store, source = opened
        with store:
            UsersDialog(store, source.label, self.iface.mainWindow()).exec_()
            self._remember_again(store, source)  # the administrator may have changed

    # --- the work, callable without dialogs --------------------------------------------
    def sign_in_as(self, login: str, password: Optional[str] = None) -> Optional[User]:
        """Sign ``login`` in to the store shown; the message bar says whether it worked."""
        opened = self.open_signed_in_store()
        if opened is None:
            return None
        store, source = opened
        with store:
            try:
                user = sign_in(store, login, password)
            except PermissionDeniedError as error:
                self._error(tr("Not signed in: {0}").format(error))
                return None
            self._signed_in_now(store, source, user)
        return user

    def sign_out_of_shown_store(self) -> None:
        source = self._shown_source()
        if source is not None and self.signed_in.pop(store_key(source), None):
            self._success(tr("Signed out of {0}.").format(source.label))
            self._follow_sign_in(source, None)
        self.show_who_is_signed_in()

    def open_signed_in_store(self, action: Optional[str] = None):
        """The store shown in the project, opened, with the person signed in for it set as
        the one working; (store, source), or None with the reason in the message bar.

        When ``action`` needs a role that nobody signed in has, the sign-in dialog comes
        first; the caller closes the store.
        """
        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        issuing = getattr(self, "issuing_from", None)
        if issuing is not None and isinstance(source, SpatiaLiteSource) and issuing(source):
            # the batch's worker holds the SpatiaLite write lock while each PDF is drawn
            self._warning(tr("Certificates are being issued from this store; wait for the "
                             "batch to finish (or cancel it) before working on it."))
            return None
        try:
            store = open_store(source)
        except (StdmError, CredentialsError) as error:
            self._error(tr("The store could not be opened: {0}").format(error))
            return None
        key = store_key(source)
        if key in self.signed_in:
            try:
                self._remember_again(store, source)
            except PermissionDeniedError as error:
                self._warning(str(error))
        if action is not None and store.user is None \
                and self._ask_who_is_working(store, source) is None:
            store.close()  # nobody signed in: the sign-in was cancelled or refused
            return None
        try:
            if action is not None:
                require_permission(store, action)
        except PermissionDeniedError as error:
            store.close()
            self._error(tr("Not allowed: {0} (STDM ▸ Sign in… to switch to someone "
                           "else)").format(error))
            return None
        return store, source

    def show_who_is_signed_in(self) -> str:
        """Name the person signed in to the store shown in the menu's first entry."""
        source = self._shown_source()
        signed = self.signed_in.get(store_key(source)) if source is not None else None
        text = (tr("Signed in: {0} — switch…").format(signed.label) if signed
                else tr(SIGN_IN_TEXT))
        action = self._sign_in_action()
        if action is not None:
            action.setText(text)
        return text

    # --- keeping who is signed in ------------------------------------------------------
    def _ask_who_is_working(self, store, source) -> Optional[User]:
        key = store_key(source)
        current = self.signed_in.get(key)
        dialog = SignInDialog(store, source.label, current.login if current else None,
                              self.iface.mainWindow())
        result = dialog.exec_()
        if result == SIGNED_OUT:
            sign_out(store)
            self.sign_out_of_shown_store()
            return None
        if result != SignInDialog.Accepted or dialog.user is None:
            return None
        self._signed_in_now(store, source, dialog.user)
        return dialog.user

    def _signed_in_now(self, store, source, user: User) -> None:
        self.signed_in[store_key(source)] = SignedIn(user.login, user_label(user))
        self.show_who_is_signed_in()
        self._success(tr("Signed in to {0} as {1}.").format(source.label, user_label(user)))
        self._follow_sign_in(source, user)

    def _remember_again(self, store, source) -> None:
        """Resume the session of the person signed in for ``source``; forget them if gone."""
        key = store_key(source)
        signed = self.signed_in.get(key)
        if signed is None:
            return
        try:
            user = resume_session(store, signed.login)
        except PermissionDeniedError:
            del self.signed_in[key]
            self.show_who_is_signed_in()
            raise
        self.signed_in[key] = SignedIn(user.login, user_label(user))
        self.show_who_is_signed_in()

    def _sign_in_action(self):
        for action in self.actions:
            if action.objectName() == "stdmSignIn":
                return action
        for action in self.actions:
            if action.text() == tr(SIGN_IN_TEXT):
                action.setObjectName("stdmSignIn")
                return action
        return None

    def _follow_sign_in(self, source, user: Optional[User]) -> None:
        """A window left open on ``source``'s store follows who is signed in (``None``:
        signed out); the mixins that keep such a window override this."""

    @staticmethod
    def _language() -> str:
        return user_language()

