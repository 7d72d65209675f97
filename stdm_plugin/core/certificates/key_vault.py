"""The office's private key at rest: encrypted with a passphrase, never in the clear.

Only the Python standard library is used, so that this works on every QGIS
(the ``cryptography`` package is not in every install). The passphrase is
stretched with scrypt, a memory-hard key derivation (32 MiB and about a
tenth of a second per try here, so guessing passphrases from a stolen
store is slow and cannot be spread cheaply over many GPU cores); the 64
bytes it gives are two keys: one for HMAC-SHA256 used as a stream cipher in
counter mode, one for an HMAC-SHA256 tag over everything written
(encrypt-then-MAC). A wrong passphrase, or any byte changed in the stored
text, fails the tag and nothing is decrypted.

The stored text is ``stdm-key1:scrypt:<n>:<r>:<p>:<salt>:<nonce>:<ciphertext>:<tag>``
(the numbers in decimal, the rest base64url). The scrypt cost is read from
the text but only within limits, so an edited store cannot make the
plugin spend gigabytes or hours on one passphrase.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata

from ..store.errors import StdmError, ValidationError
from ..store.schema import PROTECTED_KEY_PREFIX

SCRYPT_N = 1 << 15
SCRYPT_R = 8
SCRYPT_P = 1
#: what an edited store may ask of scrypt, at most (the cost of n=2**17, r=16: 256 MiB)
MAX_SCRYPT_MEMORY = 256 << 20
MAX_SCRYPT_P = 4
MIN_PASSPHRASE_CHARS = 10
SALT_BYTES = 16
NONCE_BYTES = 16
TAG_BYTES = 32
_PART = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)


class WrongPassphraseError(StdmError):
    """The passphrase does not open the office key (or the stored key was altered)."""


class KeyFormatError(StdmError):
    """The stored private key is not one this plugin writes."""


def is_protected(stored: str | None) -> bool:
    """True for a private key kept encrypted (schema 9 on)."""
    return bool(stored) and str(stored).startswith(PROTECTED_KEY_PREFIX)


def check_passphrase(passphrase: str | None) -> str:
    """The passphrase, normalised; refused when too short to resist guessing."""
    text = unicodedata.normalize("NFC", passphrase or "")
    if len(text.strip()) < MIN_PASSPHRASE_CHARS:
        raise ValidationError(f"The passphrase must be at least {MIN_PASSPHRASE_CHARS} "
                              "characters long (a few words are easier to remember than "
                              "a short password)", table="office_key", field="passphrase")
    return text


def protect(secret: bytes, passphrase: str) -> str:
    """``secret`` encrypted under ``passphrase``, as the text stored in office_key."""
    text = check_passphrase(passphrase)
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    cipher_key, mac_key = _derive(text, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ciphertext = _xor(secret, _keystream(cipher_key, nonce, len(secret)))
    header = f"{PROTECTED_KEY_PREFIX}scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}"
    tag = _tag(mac_key, header, salt, nonce, ciphertext)
    return ":".join((header, *(_b64(part) for part in (salt, nonce, ciphertext, tag))))


def unprotect(stored: str, passphrase: str) -> bytes:
    """The secret inside ``stored``; WrongPassphraseError when the passphrase (or the
    text) is not the one it was written with."""
    parts = str(stored or "")[len(PROTECTED_KEY_PREFIX):].split(":")
    if not is_protected(stored) or len(parts) != 8 or parts[0] != "scrypt":
        raise KeyFormatError("The office key's private part is not an encrypted key this "
                             "plugin writes.")
    n, r, p = (_number(value) for value in parts[1:4])
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= MAX_SCRYPT_P \
            or 128 * r * n > MAX_SCRYPT_MEMORY:
        raise KeyFormatError("The office key asks for a key derivation cost this plugin "
                             "does not accept; the store may have been edited.")
    salt, nonce, ciphertext, tag = (_unb64(value) for value in parts[4:])
    text = unicodedata.normalize("NFC", passphrase or "")
    cipher_key, mac_key = _derive(text, salt, n, r, p)
    header = ":".join((PROTECTED_KEY_PREFIX + parts[0], *parts[1:4]))
    if len(tag) != TAG_BYTES or not hmac.compare_digest(
            tag, _tag(mac_key, header, salt, nonce, ciphertext)):
        raise WrongPassphraseError("That passphrase does not open the office key.")
    return _xor(ciphertext, _keystream(cipher_key, nonce, len(ciphertext)))


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    derived = hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                             maxmem=MAX_SCRYPT_MEMORY + (1 << 20), dklen=64)
    return derived[:32], derived[32:]


def _keystream(key: bytes, nonce: bytes, size: int) -> bytes:
    blocks = (hmac.new(key, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
              for counter in range(-(-size // 32)))
    return b"".join(blocks)[:size]


def _tag(key: bytes, header: str, salt: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    message = b"".join(len(part).to_bytes(2, "big") + part
                       for part in (header.encode("ascii"), salt, nonce, ciphertext))
    return hmac.new(key, message, hashlib.sha256).digest()


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _PART.fullmatch(text) or len(text) > 256:
        raise KeyFormatError("The office key's private part is damaged.")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise KeyFormatError("The office key's private part is damaged.") from error


def _number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 8:
        raise KeyFormatError("The office key's private part is damaged.")
    return int(text)
