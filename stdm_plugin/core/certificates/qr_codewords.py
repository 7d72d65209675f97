"""QR Code codewords: from payload bytes to the interleaved codeword sequence.

This half of the encoder knows nothing of the symbol's geometry; it holds the
capacity tables of ISO/IEC 18004 and the Reed-Solomon arithmetic, so that both
can be checked against the standard's figures on their own (see ``qr.py`` for
the matrix).
"""
from __future__ import annotations

from functools import lru_cache

ECC_LEVELS = ("L", "M", "Q", "H")
MAX_VERSION = 40

# ISO/IEC 18004, table 9, read per level for versions 1..40: error correction
# codewords in each block, and the number of blocks.
EC_CODEWORDS_PER_BLOCK = {
    "L": (7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
          28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    "M": (10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
          26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28),
    "Q": (13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30,
          28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    "H": (17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28,
          30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
}
EC_BLOCKS = {
    "L": (1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
          8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25),
    "M": (1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
          17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49),
    "Q": (1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20,
          23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68),
    "H": (1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25,
          25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81),
}

_BYTE_MODE = 0b0100
_PAD_BYTES = (0xEC, 0x11)


def check_ecc(ecc: str) -> str:
    """Return the level in upper case, or refuse it with the four valid names."""
    level = str(ecc).upper()
    if level not in ECC_LEVELS:
        raise ValueError(f"Unknown QR error correction level {ecc!r}; use one of L, M, Q, H.")
    return level


def data_module_count(version: int) -> int:
    """Modules left for codewords once the function patterns are drawn.

    Counted from the layout: 3 finders with separators and both format copies
    (3 * 64 + 31 including the dark module), two timing lines, the alignment
    patterns (those on the timing lines share 5 modules with them) and, from
    version 7, two 18-module version blocks.
    """
    size = 4 * version + 17
    used = 3 * 64 + 31 + 2 * (size - 16)
    if version >= 2:
        per_side = version // 7 + 2
        used += 25 * (per_side * per_side - 3) - 5 * 2 * (per_side - 2)
    if version >= 7:
        used += 36
    return size * size - used


def total_codewords(version: int) -> int:
    return data_module_count(version) // 8


def data_codewords(version: int, ecc: str) -> int:
    level = check_ecc(ecc)
    blocks = EC_BLOCKS[level][version - 1]
    return total_codewords(version) - blocks * EC_CODEWORDS_PER_BLOCK[level][version - 1]


def _count_bits(version: int) -> int:
    return 8 if version <= 9 else 16


def byte_capacity(version: int, ecc: str) -> int:
    """Most payload bytes one symbol holds in byte mode (mode and count bits included)."""
    return (8 * data_codewords(version, ecc) - 4 - _count_bits(version)) // 8


def smallest_version(length: int, ecc: str) -> int:
    """The smallest version whose byte-mode capacity takes ``length`` bytes: the
    smallest symbol prints with the largest modules, which scan most reliably."""
    for version in range(1, MAX_VERSION + 1):
        if length <= byte_capacity(version, ecc):
            return version
    raise ValueError(
        f"{length} bytes do not fit in a QR Code at error correction level "
        f"{check_ecc(ecc)}: the maximum is {byte_capacity(MAX_VERSION, ecc)} bytes "
        "(version 40).")


def _data_stream(payload: bytes, version: int, ecc: str) -> list[int]:
    """Mode indicator, byte count and payload, then terminator and pad codewords."""
    capacity = data_codewords(version, ecc)
    bits = format(_BYTE_MODE, "04b") + format(len(payload), f"0{_count_bits(version)}b")
    bits += "".join(format(byte, "08b") for byte in payload)
    bits += "0" * min(4, 8 * capacity - len(bits))
    bits += "0" * (-len(bits) % 8)
    words = [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]
    words += [_PAD_BYTES[i % 2] for i in range(capacity - len(words))]
    return words


# GF(256) with the standard's field polynomial x^8 + x^4 + x^3 + x^2 + 1.
_EXP = [0] * 512
_LOG = [0] * 256
_value = 1
for _power in range(255):
    _EXP[_power] = _value
    _LOG[_value] = _power
    _value <<= 1
    if _value & 0x100:
        _value ^= 0x11D
for _power in range(255, 512):
    _EXP[_power] = _EXP[_power - 255]
del _value, _power


def _multiply(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


@lru_cache(maxsize=None)
def _generator_logs(degree: int) -> tuple[int, ...]:
    """Logarithms of the coefficients (highest power first, leading 1 dropped)
    of the product of (x - a^i) for i in 0..degree-1. Logarithms, because the
    division below only ever multiplies by them; none of the standard's
    generators has a zero coefficient, which the assertion keeps true."""
    poly = [1]
    for i in range(degree):
        root = _EXP[i]
        poly = [high ^ _multiply(low, root) for high, low in zip(poly + [0], [0] + poly)]
    assert all(poly), "a zero coefficient has no logarithm"
    return tuple(_LOG[coefficient] for coefficient in poly[1:])


def reed_solomon_remainder(data: list[int] | bytes, ec_count: int) -> list[int]:
    """The ``ec_count`` error correction codewords of one block: the remainder
    of data(x) * x^ec_count divided by the generator polynomial."""
    generator = _generator_logs(ec_count)
    remainder = [0] * ec_count
    for word in data:
        factor = word ^ remainder[0]
        remainder = remainder[1:] + [0]
        if factor:
            log_factor = _LOG[factor]
            remainder = [value ^ _EXP[log + log_factor]
                         for value, log in zip(remainder, generator)]
    return remainder


def symbol_codewords(payload: bytes, version: int, ecc: str) -> list[int]:
    """Data split into blocks, each with its Reed-Solomon codewords, then
    interleaved so that damage to one area of the symbol spreads over blocks."""
    level = check_ecc(ecc)
    data = _data_stream(payload, version, level)
    block_count = EC_BLOCKS[level][version - 1]
    ec_count = EC_CODEWORDS_PER_BLOCK[level][version - 1]
    short_length, long_count = divmod(len(data), block_count)
    blocks, start = [], 0
    for index in range(block_count):
        length = short_length + (1 if index >= block_count - long_count else 0)
        blocks.append(data[start:start + length])
        start += length
    out = [block[i] for i in range(short_length + 1) for block in blocks if i < len(block)]
    remainders = [reed_solomon_remainder(block, ec_count) for block in blocks]
    out += [remainder[i] for i in range(ec_count) for remainder in remainders]
    return out
