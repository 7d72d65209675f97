"""The people working in a store, their roles, and who may do what.

Roles are checked here, in core, by every action that needs one, so a
button the GUI forgot to hide still cannot approve a claim. A store with
no users yet is open to everyone as before (the first person to sign in
becomes its administrator); once users exist, adjudication and issuing
need someone signed in with the right role.

Honest limit: a SpatiaLite store is a file, and whoever can write the file
can bypass any application check. Roles keep honest people in their lane
and record who did what; they are not a security boundary on SpatiaLite.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .errors import PermissionDeniedError, ValidationError
from .model import Record
from .records import RecordRepository, require
from .schema import ROLES

if TYPE_CHECKING:
    from .store import Store

#: which roles may do each action; the GUI asks the same table
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "enumerate": ("enumerator", "supervisor", "land_officer", "administrator"),
    "record_objection": ("enumerator", "supervisor", "land_officer", "administrator"),
    "verify": ("supervisor", "land_officer"),
    "return_claim": ("supervisor", "land_officer"),
    "open_public_display": ("supervisor", "land_officer"),
    "resolve_objection": ("land_officer",),
    "approve": ("land_officer",),
    "issue": ("land_officer",),
    "reprint": ("land_officer",),
    "revoke": ("land_officer",),
    "supersede": ("land_officer",),
    "manage_users": ("administrator",),
    "cut_field_package": ("supervisor", "land_officer", "administrator"),
    "merge_field_package": ("supervisor", "land_officer"),
    "manage_keys": ("administrator",),
}
PBKDF2_ITERATIONS = 200_000


@dataclass
class User(Record):
    login: str = ""
    full_name: str = ""
    role: str = "enumerator"
    password_hash: Optional[str] = None


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """PBKDF2-SHA256, stored as ``pbkdf2$<iterations>$<salt hex>$<hash hex>``."""
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2${iterations}${salt.hex()}${digest.hex()}"


def password_matches(stored: str | None, password: str | None) -> bool:
    if not stored:
        return not password  # an account without a password takes none
    try:
        scheme, iterations, salt, expected = stored.split("$")
        if scheme != "pbkdf2":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", (password or "").encode("utf-8"),
                                     bytes.fromhex(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), expected)


class UserRepository(RecordRepository):
    table = "app_user"
    record_class = User
    unselected_columns = ()

    def validate(self, record: User) -> None:
        require(bool(record.login and record.login.strip()), "A user needs a login name",
                table=self.table, field="login", record_id=record.id)
        require(bool(record.full_name and record.full_name.strip()),
                "A user needs a full name (it is printed on certificates)",
                table=self.table, field="full_name", record_id=record.id)
        require(record.role in ROLES,
                f"Unknown role {record.role!r}; the roles are {', '.join(ROLES)}",
                table=self.table, field="role", value=record.role, record_id=record.id)

    def _prepare_batch(self, records: list[User]) -> None:  # type: ignore[override]
        for record in records:
            self.validate(record)
            taken = self.db.scalar("SELECT count(*) FROM app_user WHERE login = ? AND id <> ?",
                                   (record.login, record.id or ""))
            require(not taken, f"The login {record.login!r} is already taken",
                    table=self.table, field="login", value=record.login, record_id=record.id)

    def by_login(self, login: str) -> User | None:
        found = self.find("login = ?", (login,))
        return found[0] if found else None  # type: ignore[return-value]

    def count(self) -> int:
        return int(self.db.scalar(
            "SELECT count(*) FROM app_user WHERE end_lifespan_version IS NULL"))

    def create(self, login: str, full_name: str, role: str,
               password: str | None = None) -> User:
        """Add a user: only an administrator may, except the very first (who must be one)."""
        if self.count() == 0:
            require(role == "administrator",
                    "The first user of a store must be its administrator",
                    table=self.table, field="role", value=role)
        else:
            require_permission(self.store, "manage_users")
        user = User(login=login.strip(), full_name=full_name.strip(), role=role,
                    password_hash=hash_password(password) if password else None)
        return self.add(user)  # type: ignore[return-value]

    def change_role(self, login: str, role: str) -> User:
        require_permission(self.store, "manage_users")
        user = self._existing(login)
        return self.update(user.id, role=role)  # type: ignore[return-value, arg-type]

    def set_password(self, login: str, password: str | None) -> User:
        """An administrator sets anyone's password; a user may change their own."""
        me = self.store.user
        if me is None or me.login != login:
            require_permission(self.store, "manage_users")
        user = self._existing(login)
        return self.update(user.id,  # type: ignore[arg-type, return-value]
                           password_hash=hash_password(password) if password else None)

    def deactivate(self, login: str) -> None:
        require_permission(self.store, "manage_users")
        user = self._existing(login)
        me = self.store.user
        require(me is None or me.login != login, "You cannot deactivate yourself",
                table=self.table, field="login", value=login)
        self.retire(user.id)  # type: ignore[arg-type]

    def _existing(self, login: str) -> User:
        user = self.by_login(login)
        if user is None:
            raise ValidationError(f"There is no user {login!r}", table=self.table,
                                  field="login", value=login)
        return user


def sign_in(store: "Store", login: str, password: str | None = None) -> User:
    """Make ``login`` the person working in this store session; checks the password."""
    user = store.users.by_login(login)
    if user is None or not password_matches(user.password_hash, password):
        # one message for both, so that logins cannot be probed
        raise PermissionDeniedError(f"Unknown user or wrong password for {login!r}.",
                                    action="sign_in", role=None, needed=())
    store.user = user
    store.actor = user.login
    return user


def resume_session(store: "Store", login: str) -> User:
    """Make ``login``, who signed in earlier with a password, the person working in a
    newly opened connection to the same store.

    The user is read again, so that a role changed or an account deactivated
    since the sign-in takes effect at once; a user who is gone is refused.
    """
    user = store.users.by_login(login)
    if user is None:
        raise PermissionDeniedError(
            f"{login!r} is no longer a user of this store; sign in again.",
            action="sign_in", role=None, needed=())
    store.user = user
    store.actor = user.login
    return user


def sign_out(store: "Store") -> None:
    store.user = None


def allowed(store: "Store", action: str) -> bool:
    """Whether the person signed in may do ``action`` (for enabling buttons)."""
    try:
        require_permission(store, action)
    except PermissionDeniedError:
        return False
    return True


#: what a store with no users yet allows without signing in: the field work
SINGLE_USER_ACTIONS = ("enumerate", "cut_field_package", "merge_field_package")


def require_permission(store: "Store", action: str) -> User | None:
    """Refuse ``action`` unless the person signed in has a role that allows it.

    A store with no users yet keeps working as a single-user store for
    enumeration and field packages only; adjudication, certificates, users and keys always
    need a signed-in user with one of the roles in PERMISSIONS.
    """
    needed = PERMISSIONS[action]
    user = getattr(store, "user", None)
    if user is None:
        if action in SINGLE_USER_ACTIONS and store.users.count() == 0:
            return None
        raise PermissionDeniedError(
            f"Sign in to {action.replace('_', ' ')}: it needs the role "
            f"{' or '.join(needed)}.", action=action, role=None, needed=needed)
    if user.role not in needed:
        raise PermissionDeniedError(
            f"{user.full_name} ({user.role}) may not {action.replace('_', ' ')}: it needs the "
            f"role {' or '.join(needed)}.", action=action, role=user.role, needed=needed)
    return user
