"""Verify certificate: is a scanned QR code one of this office's certificates, still valid?

Anyone may ask (a buyer, a bank, a court clerk), so no role is needed.
The code is typed into a text box: a handheld scanner types it like a
keyboard and presses Enter, a phone app copies it to be pasted. The check
itself is the core's (``verification.verify_payload`` against the store's keys
and register; ``verification.verify_offline`` against an exported public key
file, for verifiers without the store); this window only says the answer
in one big coloured word and the facts a verifier compares with the paper.
Whatever the text, it says something and never raises.
"""
from __future__ import annotations

import base64
import binascii
import html
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QFont, QFontDatabase
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ...core.certificates.certificates import certificate_history
from ...core.certificates.office_keys import OfficeKey, office_key
from ...core.certificates.signing import key_id_of
from ...core.certificates.verification import verify_offline, verify_payload
from ...qgis.i18n import tr

#: (background, text) of the result for each outcome
COLOURS = {"valid": ("#1e7d32", "#ffffff"), "signed": ("#1e7d32", "#ffffff"),
           "revoked": ("#b3261e", "#ffffff"), "forged": ("#b3261e", "#ffffff"),
           "superseded": ("#f2a900", "#2b1d00"), "malformed": ("#6b6b6b", "#ffffff"),
           "unknown": ("#6b6b6b", "#ffffff"), "error": ("#6b6b6b", "#ffffff"),
           "ready": ("#ececec", "#333333")}
MAX_KEY_FILE_BYTES = 1 << 20


def headline(status: str) -> str:
    return {"valid": tr("VALID"), "signed": tr("GENUINE SIGNATURE"), "revoked": tr("REVOKED"),
            "forged": tr("FORGED"), "superseded": tr("SUPERSEDED"),
            "malformed": tr("MALFORMED"), "unknown": tr("UNKNOWN STATUS"),
            "error": tr("NOT CHECKED")}.get(status, "")


def forged_label(kind: str) -> str:
    return {"unknown_key": tr("unknown key: not signed by this office"),
            "bad_signature": tr("bad signature: the code was altered or made up"),
            "not_in_register": tr("not in the register: the office never issued this number"),
            "hash_mismatch": tr("hash mismatch: the content differs from the register's"),
            "register_tampered": tr("register tampered: the register's record no longer "
                                    "matches its digest"),
            "key_not_valid": tr("key not in use: the key that signed it was retired before "
                                "the issue date")}.get(kind, kind)


@dataclass(frozen=True)
class CheckResult:
    """What the window shows: one word, one sentence, and facts to compare with the paper."""

    status: str  #: a Verification status, "signed" (key file only) or "error"
    summary: str
    facts: tuple[tuple[str, str], ...] = ()

    @property
    def headline(self) -> str:
        return headline(self.status)

    def fact(self, label: str) -> Optional[str]:
        return next((value for name, value in self.facts if name == label), None)


def preview(text: object, limit: int = 40) -> str:
    """What was read, printable: other characters shown as ·, a long text cut."""
    if not isinstance(text, str) or not text:
        return tr("(nothing)")
    shown = "".join(c if c.isprintable() else "·" for c in text[:limit])
    return shown + (tr(" … ({0} characters)").format(len(text)) if len(text) > limit else "")


# --- against the store's keys and register -------------------------------------------------
def check_against_register(store, text: str, lang: str = "en") -> CheckResult:
    found = verify_payload(store, text)
    if found.status == "malformed":
        return CheckResult("malformed", found.details, ((tr("Read"), preview(text)),))
    if found.status == "forged":
        return CheckResult("forged", found.details, (
            (tr("Problem"), forged_label(found.reason or "")),
            (tr("Number in the code"), found.number or "")))
    cert = found.certificate
    if cert is None or found.status not in ("valid", "revoked", "superseded"):
        return CheckResult(found.status, found.details)
    content = cert.content
    facts = [(tr("Certificate"), cert.number), (tr("Parcel"), parcel_text(content)),
             (tr("Holders"), holders_text(store, content, lang))]
    if found.status == "valid":
        key = office_key(store, cert.key_id)
        facts += [(tr("Issued"), tr("{0} by {1}").format(
            cert.issued_at[:10], content["issued_by"]["full_name"])),
            (tr("Signed by"), f"{key.office_name if key else ''} ({cert.key_id})")]
    elif found.status == "revoked":
        event = last_event(store, cert.number, "revoked")
        facts += [(tr("Revoked"), tr("{0} by {1}").format(
            event["happened_at"][:10], person(store, event["happened_by"]))),
                  (tr("Reason"), cert.revoked_reason or "")]
    else:
        event = last_event(store, cert.number, "superseded")
        facts[2:] = [(tr("Replaced by"), found.superseded_by or ""),
                     (tr("Superseded"), event["happened_at"][:10]),
                     (tr("Reason"), event["reason"] or "")]
    return CheckResult(found.status, found.details, tuple(facts))


def parcel_text(content: dict) -> str:
    parcel, settlement = content["parcel"], content.get("settlement") or {}
    block = tr(", block {0}").format(parcel["block"]) if parcel.get("block") else ""
    return f"{parcel['code']}{block} — {settlement.get('name', '')} ({settlement.get('code', '')})"


def holders_text(store, content: dict, lang: str) -> str:
    labels = store.lookups.labels("tenure_type", lang)
    return "\n".join(f"{h['name']} — {labels.get(h['tenure_type'], h['tenure_type'])} "
                     f"({Fraction(h['share'])})" for h in content["holders"])


def person(store, login: str) -> str:
    """The full name of a user of the store, else the login (a user since deactivated)."""
    user = store.users.by_login(login) if login else None
    return user.full_name if user else login


def last_event(store, number: str, event: str) -> dict:
    found = [e for e in certificate_history(store, number) if e["event"] == event]
    return found[-1] if found else {"happened_at": "", "happened_by": "", "reason": ""}


# --- with an exported public key file only --------------------------------------------------
class KeyFileError(Exception):
    """A file that holds no public key to check with."""


def read_key_file(path: str) -> list[OfficeKey]:
    """The keys of a file written by "Export public keys…", or of one base64 public key."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
        text = data.decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(tr("{0} cannot be read: {1}").format(path, error)) from error
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(tr("{0} is too large to be a public key file.").format(path))
    try:
        document = json.loads(text)
    except ValueError:
        return [_bare_key(text, path)]
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeyFileError(tr("{0} is not a public key file.").format(path))
    keys = [OfficeKey(id=k["id"], office_name=str(k.get("office_name") or ""),
                      public_key=k["public_key"], created_at=str(k.get("created_at") or ""),
                      created_by=str(k.get("created_by") or ""),
                      retired_at=str(k["retired_at"]) if k.get("retired_at") else None,
                      retired_reason=str(k["retired_reason"]) if k.get("retired_reason")
                      else None)
            for k in entries if isinstance(k, dict) and isinstance(k.get("id"), str)
            and isinstance(k.get("public_key"), str)]
    if not keys:
        raise KeyFileError(tr("{0} holds no public key.").format(path))
    return keys


def _bare_key(text: str, path: str) -> OfficeKey:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyFileError(tr("{0} is neither a public key file nor a public key.").format(path))
    return OfficeKey(id=key_id_of(raw), office_name="", public_key=text, created_at="",
                     created_by="")


def check_with_keys(keys: list[OfficeKey], text: str) -> CheckResult:
    found = verify_offline(keys, text)
    if found.status == "malformed":
        return CheckResult("malformed", found.details, ((tr("Read"), preview(text)),))
    facts = [(tr("Problem"), forged_label(found.reason or ""))] \
        if found.status == "forged" else [(tr("Certificate"), found.number or "")]
    if found.status == "forged":
        facts.append((tr("Number in the code"), found.number or ""))
    key = found.key
    if key is not None:
        facts.append((tr("Signed by"), f"{key.office_name} ({key.id})".lstrip()))
        if key.created_at:
            facts.append((tr("Key in use"), key_period(key)))
    if found.issued_on:
        facts.append((tr("Issued"), found.issued_on))
    return CheckResult(found.status, offline_summary(found), tuple(facts))


def key_period(key: OfficeKey) -> str:
    if key.retired_at:
        return tr("from {0} to {1}").format(key.created_at[:10], key.retired_at[:10])
    return tr("from {0}, still in use").format(key.created_at[:10])


def offline_summary(found) -> str:
    number = found.number or ""
    if found.status == "signed":
        if found.issued_on is None:
            return tr("Certificate {0} was signed by the office's key. Its code is older and "
                      "carries no issue date: compare the date printed on it with the key's "
                      "period. Without the register this cannot tell whether it has since "
                      "been revoked or superseded: ask the land office.").format(number)
        return tr("Certificate {0} was signed by the office's key, which was in use on its "
                  "issue date. Without the register this cannot tell whether it has since "
                  "been revoked or superseded: ask the land office.").format(number)
    if found.reason == "unknown_key":
        return tr("None of the keys in the file signed certificate {0}: it was not issued by "
                  "this office.").format(number)
    if found.reason == "key_not_valid":
        return tr("Certificate {0} is dated {1}, when the key that signed it was not in use: "
                  "the key was used after it was retired.").format(number, found.issued_on)
    return tr("The signature of certificate {0} does not match its content.").format(number)


# --- the window -------------------------------------------------------------------------------
class VerifyDialog(QDialog):
    """A box for the scanned code and the answer under it, big and coloured."""

    def __init__(self, store, store_label: str, lang: str = "en",
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.store, self.lang = store, lang
        self.keys: list[OfficeKey] = []
        self.result: Optional[CheckResult] = None
        self.setWindowTitle(tr("Verify certificate"))
        layout = QVBoxLayout(self)
        self.use_register = QRadioButton(
            tr("Against the register of {0}").format(store_label) if store is not None
            else tr("Against a register (no settlement store is shown in this project)"))
        self.use_key_file = QRadioButton(tr("With a public key file only:"))
        self.key_file = QLabel(tr("no file chosen"))
        self.key_file.setTextFormat(Qt.PlainText)
        choose = QPushButton(tr("Choose…"))
        choose.clicked.connect(self._choose_key_file)
        self.use_register.setEnabled(store is not None)
        (self.use_register if store is not None else self.use_key_file).setChecked(True)
        layout.addWidget(self.use_register)
        key_line = QHBoxLayout()
        for widget in (self.use_key_file, self.key_file):
            key_line.addWidget(widget)
        key_line.addStretch(1)
        key_line.addWidget(choose)
        layout.addLayout(key_line)
        hint = QLabel(tr("Scan the certificate's QR code into the box (a scanner types it and "
                         "presses Enter), or paste what a phone app read, then press Enter."))
        hint.setWordWrap(True)
        layout.addWidget(hint)
        code_line = QHBoxLayout()
        self.code = QLineEdit()
        self.code.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.code.setPlaceholderText("STDM1|KOU-2026-000123|…")
        self.code.setClearButtonEnabled(True)
        self.code.returnPressed.connect(self.check)
        self.verify_button = QPushButton(tr("Verify"))
        self.verify_button.setDefault(True)
        self.verify_button.clicked.connect(lambda _checked=False: self.check())
        code_line.addWidget(self.code, 1)
        code_line.addWidget(self.verify_button)
        layout.addLayout(code_line)
        layout.addWidget(self._result_frame(), 1)
        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.show_result(None)
        self.resize(760, 520)

    def _result_frame(self) -> QFrame:
        self.frame = QFrame()
        self.frame.setObjectName("verifyResult")
        inside = QVBoxLayout(self.frame)
        inside.setContentsMargins(18, 14, 18, 14)
        self.headline = QLabel()
        font = QFont(self.font())
        font.setPointSize(30)
        font.setBold(True)
        self.headline.setFont(font)
        self.summary = QLabel()
        self.facts = QLabel()
        for label in (self.summary, self.facts):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.summary.setTextFormat(Qt.PlainText)
        self.facts.setTextFormat(Qt.RichText)
        for widget in (self.headline, self.summary, self.facts):
            inside.addWidget(widget)
        inside.addStretch(1)
        return self.frame

    def check(self, text: Optional[str] = None) -> CheckResult:
        """Check ``text`` (default: the box); shows and returns the answer, never raises."""
        text = self.code.text() if text is None else text
        try:
            result = self._check(text)
        except Exception as error:  # noqa: BLE001 - no text may take QGIS down
            result = CheckResult("error", tr("The check could not be done: {0}").format(error))
        self.show_result(result)
        self.code.selectAll()  # the next scan replaces it
        return result

    def _check(self, text: str) -> CheckResult:
        if self.use_key_file.isChecked():
            if not self.keys:
                return CheckResult("error", tr("Choose the public key file first."))
            return check_with_keys(self.keys, text)
        return check_against_register(self.store, text, self.lang)

    def load_key_file(self, path: str) -> bool:
        try:
            self.keys = read_key_file(path)
        except KeyFileError as error:
            self.keys = []
            self.key_file.setText(tr("no file chosen"))
            self.show_result(CheckResult("error", str(error)))
            return False
        self.key_file.setText(tr("{0} ({1} key(s))").format(Path(path).name, len(self.keys)))
        self.use_key_file.setChecked(True)
        self.show_result(None)
        return True

    def _choose_key_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Public key file"), "",
                                              tr("Public key file (*.json *.txt);;All files (*)"))
        if path:
            self.load_key_file(path)

    def show_result(self, result: Optional[CheckResult]) -> None:
        self.result = result
        background, colour = COLOURS.get(result.status if result else "ready", COLOURS["error"])
        self.headline.setVisible(result is not None)
        self.headline.setText(result.headline if result else "")
        self.frame.setStyleSheet(
            f"QFrame#verifyResult {{ background-color: {background}; border-radius: 8px; }}")
        # On each label: one hidden while the frame's sheet changed kept the old colour.
        for label in (self.headline, self.summary, self.facts):
            label.setStyleSheet(f"color: {colour};")
        self.summary.setText(result.summary if result else tr("The answer appears here."))
        rows = "".join(
            f"<tr><td><b>{html.escape(name)}</b></td>"
            f"<td>{html.escape(value).replace(chr(10), '<br>')}</td></tr>"
            for name, value in (result.facts if result else ()))
        self.facts.setText(f"<table cellpadding='3'>{rows}</table>" if rows else "")
