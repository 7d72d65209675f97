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

from .errors import AccountLockedError, PermissionDeniedError, ValidationError
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
#: wrong passwords in a row an account takes before it is locked for a while
FREE_ATTEMPTS = 5
#: the first lock lasts this long; each further wrong password doubles it, up to a day
LOCK_SECONDS = 30
MAX_LOCK_SECONDS = 24 * 3600
#: a hash of nothing, checked when the login is unknown so that both take the same time
_NOBODY = "pbkdf2$200000$00000000000000000000000000000000$" + "0" * 64


@dataclass
class User(Record):
    login: str = ""
    full_name: str = ""
    role: str = "enumerator"
    password_hash: Optional[str] = None
    #: wrong passwords since the last good one, and until when signing in is locked
    failed_sign_ins: int = 0
    locked_until: Optional[str] = None
    last_failed_at: Optional[str] = None


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """PBKDF2-SHA256, stored as ``pbkdf2$<iterations>$<salt hex>$<hash hex>``."""
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2${iterations}${salt.hex()}${digest.hex()}"


def password_matches(stored: str | None, password: str | None) -> bool:
    """Whether ``password`` is the one ``stored`` was made from; an empty password or an
    account without one never matches."""
    if not stored or not password:
        return False
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

    def create(self, login: str, full_name: str, role: str, password: str | None) -> User:
        """Add a user: only an administrator may, except the very first (who must be one).

        Every account has a password: one made without would let anyone sign in as it.
        """
        if self.count() == 0:
            require(role == "administrator",
                    "The first user of a store must be its administrator",
                    table=self.table, field="role", value=role)
        else:
            require_permission(self.store, "manage_users")
        _require_password(password)
        user = User(login=login.strip(), full_name=full_name.strip(), role=role,
                    password_hash=hash_password(password))  # type: ignore[arg-type]
        return self.add(user)  # type: ignore[return-value]

    def change_role(self, login: str, role: str) -> User:
        require_permission(self.store, "manage_users")
        user = self._existing(login)
        return self.update(user.id, role=role)  # type: ignore[return-value, arg-type]

    def set_password(self, login: str, password: str | None) -> User:
        """An administrator's reset of anyone's password (recorded in the history under
        the administrator's name); it also lifts a lock."""
        require_permission(self.store, "manage_users")
        _require_password(password)
        user = self._existing(login)
        return self.update(user.id, password_hash=hash_password(password),  # type: ignore
                           failed_sign_ins=0, locked_until=None)

    def change_own_password(self, old_password: str | None, password: str | None) -> User:
        """The person signed in changes their own password, giving the old one first."""
        me = self.store.user
        if me is None:
            raise PermissionDeniedError("Sign in to change your password.",
                                        action="change_password", role=None, needed=())
        user = self._existing(me.login)
        if not password_matches(user.password_hash, old_password):
            raise PermissionDeniedError("The old password is wrong; the password was not "
                                        "changed.", action="change_password", role=user.role,
                                        needed=())
        _require_password(password)
        return self.update(user.id,  # type: ignore[arg-type, return-value]
                           password_hash=hash_password(password))  # type: ignore[arg-type]

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


def _require_password(password: str | None) -> None:
    require(bool(password), "Give a password: without one anyone could sign in as this "
            "person", table="app_user", field="password_hash")


def sign_in(store: "Store", login: str, password: str | None) -> User:
    """Make ``login`` the person working in this store session; checks the password.

    Wrong passwords are counted in the store: after FREE_ATTEMPTS in a row the
    account is locked for LOCK_SECONDS, doubling with each further wrong one.
    """
    from .store import utc_now

    user = store.users.by_login(login)
    now = utc_now()
    if user is not None and (user.locked_until or "") > now:
        raise AccountLockedError(
            f"Too many wrong passwords for {login!r}: signing in is locked until "
            f"{user.locked_until[:19].replace('T', ' ')} UTC, or until an administrator sets "
            "a new password.", locked_until=user.locked_until)
    if not password_matches(user.password_hash if user else _NOBODY, password):
        if user is not None:
            _count_failure(store, user, now)
        # one message for both, so that logins cannot be probed
        raise PermissionDeniedError(f"Unknown user or wrong password for {login!r}.",
                                    action="sign_in", role=None, needed=())
    if user.failed_sign_ins and not getattr(store.db, "read_only", False):  # type: ignore
        with store.transaction():
            store.db.execute("UPDATE app_user SET failed_sign_ins = 0, locked_until = NULL, "
                             "updated_at = ?, updated_by = ? WHERE id = ?",
                             (now, user.login, user.id))  # type: ignore[union-attr]
        user = store.users.by_login(login)
    store.user = user
    store.actor = user.login  # type: ignore[union-attr]
    return user  # type: ignore[return-value]


def _count_failure(store: "Store", user: User, now: str) -> None:
    """One more wrong password for ``user``, and the lock it earns, written at once."""
    import datetime as dt

    failures = (user.failed_sign_ins or 0) + 1
    locked = None
    if failures >= FREE_ATTEMPTS:
        seconds = min(LOCK_SECONDS * 2 ** (failures - FREE_ATTEMPTS), MAX_LOCK_SECONDS)
        until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
        locked = until.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if getattr(store.db, "read_only", False):
        return  # a store opened read-only cannot count; the wrong password is still refused
    with store.transaction():  # in the name the attempt was made in
        store.db.execute("UPDATE app_user SET failed_sign_ins = ?, locked_until = ?, "
                         "last_failed_at = ?, updated_at = ?, updated_by = ? WHERE id = ?",
                         (failures, locked, now, now, user.login, user.id))


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
