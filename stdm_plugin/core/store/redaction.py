"""Masking ID and phone numbers in any text, so that no message or report leaks one.

Every ``ExportError`` passes its message through ``redact``, and so does the
free text of an export (core/safety/personal_data.py decides which fields).
It sits with the errors because the lowest capability's messages need it.
"""
from __future__ import annotations

import re

MASK = "[redacted]"

# Text that looks like a number but is safe to show: record ids and ISO dates/times.
_SAFE = (r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
         r"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
# A run of digits with the separators phone and ID numbers are written with.
_NUMBER = r"\+?\(?\d(?:[ .\-/()]{0,2}\d)*"
_PATTERN = re.compile(f"(?P<safe>{_SAFE})|(?P<number>{_NUMBER})")
#: a run with this many digits or more is masked
MIN_MASKED_DIGITS = 6


def redact(text: object) -> str:
    """``text`` with every ID-number-like or phone-number-like run of digits masked.

    A run of six digits or more (spaces, dots, dashes, slashes and
    brackets between them allowed, a leading ``+`` too) is replaced by
    ``[redacted]``; letters before it (``CI`` in ``CI0012345``) are left,
    since alone they say nothing. UUIDs and ISO dates are kept, so that a
    message still says which record and when. Long numbers that are not
    personal (coordinates, hashes) are masked as well: a message loses a
    little, a person's number never leaks.
    """
    def mask(match: re.Match) -> str:
        if match.group("safe"):
            return match.group(0)
        run = match.group(0)
        return MASK if sum(c.isdigit() for c in run) >= MIN_MASKED_DIGITS else run

    return _PATTERN.sub(mask, str(text))
