"""Ed25519 (RFC 8032) in pure Python: signing and checking certificates without ``cryptography``.

Stock QGIS installs on Windows do not ship the ``cryptography`` package, and
a plugin zip may not carry compiled code, so this module is what signs and
verifies there (signing.py uses ``cryptography`` when it is present: the
same bytes, faster). Written from the RFC's definitions: the twisted Edwards
curve -x^2 + y^2 = 1 + d x^2 y^2 over GF(2^255 - 19), points in extended
coordinates (X:Y:Z:T), SHA-512 for the key expansion and the challenges.

Verification is the RFC's cofactorless check [S]B = R + [k]A, refusing an S
not below the group order and any point encoding that is not canonical, as
OpenSSL does, so that both paths accept exactly the same signatures.

Python integers are not constant-time: on a shared computer another process
might learn something of the key from signing times. The office signs on its
own computer; install ``cryptography`` where that matters.
"""
from __future__ import annotations

import hashlib
import os

P = 2 ** 255 - 19
#: the order of the base point's group
L = 2 ** 252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1


def _recover_x(y: int, sign: int) -> int | None:
    """The x with the given parity on the curve at y, or None when there is none."""
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P != 0:
        x = x * SQRT_M1 % P
        if (v * x * x - u) % P != 0:
            return None
    if x == 0 and sign:
        return None
    return P - x if x & 1 != sign else x


_BY = 4 * pow(5, P - 2, P) % P
_BX = _recover_x(_BY, 0)
BASE = (_BX, _BY, 1, _BX * _BY % P)  # type: ignore[operator]
IDENTITY = (0, 1, 1, 0)


def _add(p: tuple, q: tuple) -> tuple:
    """The sum of two points (the unified addition of RFC 8032, 5.1.4)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = b - a, dd - c, dd + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _double(p: tuple) -> tuple:
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % P
    g = a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(scalar: int, point: tuple) -> tuple:
    result = IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _double(point)
        scalar >>= 1
    return result


def _encode(point: tuple) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, P - 2, P)
    x, y = x * inverse % P, y * inverse % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _decode(data: bytes) -> tuple | None:
    if len(data) != 32:
        return None
    value = int.from_bytes(data, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def _same(p: tuple, q: tuple) -> bool:
    """Projective equality: x1/z1 = x2/z2 and y1/z1 = y2/z2."""
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _expand(private: bytes) -> tuple[int, bytes]:
    """The secret scalar (clamped) and the prefix hashed into each signature's nonce."""
    if len(private) != 32:
        raise ValueError("An Ed25519 private key is 32 bytes.")
    digest = hashlib.sha512(private).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    return scalar, digest[32:]


def _challenge(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % L


def generate_private_key() -> bytes:
    return os.urandom(32)


def public_key(private: bytes) -> bytes:
    scalar, _ = _expand(private)
    return _encode(_multiply(scalar, BASE))


def sign(private: bytes, message: bytes) -> bytes:
    scalar, prefix = _expand(private)
    public = _encode(_multiply(scalar, BASE))
    nonce = _challenge(prefix, message)
    r_point = _encode(_multiply(nonce, BASE))
    s = (nonce + _challenge(r_point, public, message) * scalar) % L
    return r_point + s.to_bytes(32, "little")


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True only for a valid signature by ``public``; never raises on bad input."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a_point, r_point = _decode(public), _decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a_point is None or r_point is None or s >= L:
        return False
    k = _challenge(signature[:32], public, message)
    return _same(_multiply(s, BASE), _add(r_point, _multiply(k, a_point)))


def is_public_key(public: bytes) -> bool:
    """Whether 32 bytes encode a point of the curve (what a public key must be)."""
    return _decode(public) is not None
