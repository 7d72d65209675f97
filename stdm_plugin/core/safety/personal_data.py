"""Personal data in exports and messages: what counts as personal, and what is done with it.

An export leaves the office, so the people it describes decide what goes
with it (issue #7): ``include`` writes everything, ``omit`` leaves the
personal fields out, ``pseudonymise`` replaces names, ID and phone numbers
with pseudonyms. A pseudonym is HMAC-SHA256 of the (normalised) value
under a secret key, shortened to 16 hex digits: the same person gets the
same pseudonym everywhere in an export (and in later exports made with
the same key), so duplicates can still be found and tables still joined,
but nobody without the key can go back from a pseudonym to the value, nor
test a guessed ID number against it. The key is the caller's to keep or
throw away; it is never written to a file or a log. The date of birth is
not pseudonymised (a pseudonym of a date would be easy to guess): a
pseudonymised export gives the age in years instead.

Free text (remarks, addresses, evidence) cannot be pseudonymised field by
field: about a person it is left out; about a parcel or a claim it is
kept with anything that looks like an ID or phone number masked
(``redact``, in core/store/redaction.py). The same ``redact`` cleans every
message the exchange code logs or raises, whatever the mode. Photos and scanned documents are never
exported. Party ids (random UUIDs) are kept: they identify a record, not
a person, and tables join on them.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime, timezone
from typing import Any

from ..store.errors import ExportError
from ..store.redaction import MASK, redact

MODES = ("include", "omit", "pseudonymise")

#: personal columns by table, with the kind of data each holds
PERSONAL_COLUMNS: dict[str, dict[str, str]] = {
    "party": {"first_name": "name", "last_name": "name", "group_name": "name",
              "date_of_birth": "birth", "id_document_number": "identifier",
              "phone": "identifier", "remarks": "personal_text", "answers": "personal_text"},
    "spatial_unit": {"remarks": "free_text", "address": "free_text",
                     "answers": "personal_text"},
    "social_tenure": {"remarks": "free_text", "evidence": "free_text",
                      "answers": "personal_text"},
    # the snapshot names the holders and the officer; the reason may name anyone
    "certificate": {"snapshot": "personal_text", "revoked_reason": "free_text"},
}

#: (mode, kind) -> treatment; anything not listed is kept as it is
TREATMENTS: dict[tuple[str, str], str] = {
    ("omit", "name"): "omitted",
    ("omit", "birth"): "omitted",
    ("omit", "identifier"): "omitted",
    ("omit", "personal_text"): "omitted",
    ("omit", "free_text"): "redacted",
    ("pseudonymise", "name"): "pseudonymised",
    ("pseudonymise", "birth"): "omitted",
    ("pseudonymise", "identifier"): "pseudonymised",
    ("pseudonymise", "personal_text"): "omitted",
    ("pseudonymise", "free_text"): "redacted",
}

#: how each treatment is explained in the data dictionary
TREATMENT_NOTES = {
    "kept": "",
    "omitted": "left out (personal data)",
    "redacted": "kept; ID- and phone-number-like text masked as " + MASK,
    "pseudonymised": "pseudonym: HMAC-SHA256 of the value under the export's secret key, "
                     "first 16 hex digits; equal values give equal pseudonyms",
    "derived_age": "kept; filled from date_of_birth (age at the export date) when missing",
}

#: a short tag per pseudonymised column, so equal texts in different columns differ
PSEUDONYM_TAGS = {"first_name": "FN", "last_name": "LN", "group_name": "GN",
                  "id_document_number": "ID", "phone": "PH"}

def check_mode(mode: str) -> str:
    if mode not in MODES:
            raise ExportError(f"personal_data must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def is_personal(table: str, column: str) -> bool:
    """Whether ``table.column`` can hold personal data (free text included)."""
    return column in PERSONAL_COLUMNS.get(table, {})


def treatment(mode: str, table: str, column: str) -> str:
    """What ``mode`` does to ``table.column``: kept, omitted, redacted or pseudonymised."""
    kind = PERSONAL_COLUMNS.get(table, {}).get(column)
    if kind is None:
        if mode == "pseudonymise" and (table, column) == ("party", "age_years"):
            return "derived_age"
        return "kept"
    return TREATMENTS.get((mode, kind), "kept")


def new_key() -> bytes:
    """A fresh secret for one export's pseudonyms (256 bits)."""
    return secrets.token_bytes(32)


def key_bytes(key: bytes | str | None) -> bytes:
    """The key as bytes: bytes as given, text as hex (what ExportResult hands back)."""
    if key is None:
        return new_key()
    if isinstance(key, bytes):
        raw = key
    else:
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raise ExportError("The pseudonym key must be given as hexadecimal text "
                              "(as returned by the export) or as bytes.") from None
    if len(raw) < 16:
        raise ExportError("The pseudonym key must be at least 16 bytes (32 hex digits).")
    return raw


class Pseudonymiser:
    """Stable pseudonyms under one secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def pseudonym(self, column: str, value: Any) -> str | None:
        if value is None or str(value).strip() == "":
            return None
        tag = PSEUDONYM_TAGS.get(column, "PD")
        digest = hmac.new(self._key, f"{tag}\x1f{normalised(column, value)}".encode("utf-8"),
                          hashlib.sha256).hexdigest()
        return f"{tag}-{digest[:16]}"


def normalised(column: str, value: Any) -> str:
    """The form hashed: the same number or name written differently gives one pseudonym."""
    text = str(value)
    if column == "phone":
        return "".join(c for c in text if c.isdigit())
    if column == "id_document_number":
        return "".join(c for c in text if c.isalnum()).upper()
    return " ".join(text.split()).casefold()


def age_on(born: str | None, day: date) -> int | None:
    """Whole years from an ISO date of birth to ``day``; None when unknown or unreadable."""
    try:
        birth = date.fromisoformat(str(born)[:10]) if born else None
    except ValueError:
        return None
    if birth is None or birth > day:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class PersonalDataFilter:
    """Applies one mode to the rows of the exported tables."""

    def __init__(self, mode: str, key: bytes | str | None = None,
                 today: date | None = None) -> None:
        self.mode = check_mode(mode)
        self.key = key_bytes(key) if mode == "pseudonymise" else None
        self._pseudonyms = Pseudonymiser(self.key) if self.key else None
        self.today = today or datetime.now(timezone.utc).date()

    @property
    def key_hex(self) -> str | None:
        return self.key.hex() if self.key else None

    def kept_columns(self, table: str, columns: list[str]) -> list[str]:
        return [c for c in columns if treatment(self.mode, table, c) != "omitted"]

    def apply(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row as this mode exports it (omitted columns are left for the writer to drop)."""
        if self.mode == "include":
            return row
        out = dict(row)
        for column, value in row.items():
            done = treatment(self.mode, table, column)
            if done == "omitted":
                out[column] = None
            elif done == "redacted" and value is not None:
                out[column] = redact(value)
            elif done == "pseudonymised" and self._pseudonyms is not None:
                out[column] = self._pseudonyms.pseudonym(column, value)
            elif done == "derived_age" and value is None:
                out[column] = age_on(row.get("date_of_birth"), self.today)
        return out
