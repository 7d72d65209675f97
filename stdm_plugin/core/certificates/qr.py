"""QR Code (ISO/IEC 18004) encoder for the verification code on certificates.

Written here, in plain Python, so that the plugin prints a certificate's
signed payload without shipping a third-party wheel into every QGIS install.
Only byte mode is needed: the payload is a few hundred ASCII (or UTF-8) bytes.
The codeword side (capacities, Reed-Solomon) lives in ``qr_codewords``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby

from .qr_codewords import check_ecc, smallest_version, symbol_codewords

__all__ = ["QrMatrix", "encode", "qr_svg"]

# Alignment pattern centres (standard, annex E) are 6, then evenly spaced
# back from size - 7 by this step; versions 2..6 have only 6 and size - 7.
_ALIGNMENT_STEP = (16, 18, 20, 22, 24, 26, 28,  # versions 7..13
                   20, 22, 24, 24, 26, 28, 28,  # 14..20
                   22, 24, 24, 26, 26, 28, 28,  # 21..27
                   24, 24, 26, 26, 26, 28, 28,  # 28..34
                   24, 26, 26, 26, 28, 28)      # 35..40

_ECC_FORMAT_BITS = {"L": 0b01, "M": 0b00, "Q": 0b11, "H": 0b10}
_FORMAT_GENERATOR = 0b10100110111      # BCH(15, 5)
_FORMAT_XOR = 0b101010000010010        # keeps the format bits from being all light
_VERSION_GENERATOR = 0b1111100100101   # BCH(18, 6)

# Mask conditions, i = row, j = column: a module is inverted where true.
_MASKS = (
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
)


@dataclass(frozen=True)
class QrMatrix:
    """A finished symbol, without quiet zone: ``modules[row][column]`` is True
    where dark. Frozen so that a certificate cannot alter what was encoded."""

    version: int
    ecc: str
    mask: int
    size: int
    modules: tuple[tuple[bool, ...], ...]

    def to_svg(self, module_size: float = 4, quiet_zone: int = 4) -> str:
        """A standalone SVG, black on white, ``module_size`` user units per
        module. One path of merged horizontal runs keeps it small enough to
        embed in a print layout."""
        if not module_size > 0:
            raise ValueError(f"module_size must be positive, not {module_size!r}.")
        if int(quiet_zone) != quiet_zone or quiet_zone < 0:
            raise ValueError(f"quiet_zone must be a whole number >= 0, not {quiet_zone!r}.")
        quiet_zone = int(quiet_zone)
        side = self.size + 2 * quiet_zone
        runs = []
        for y, row in enumerate(self.modules):
            x = quiet_zone
            for dark, group in groupby(row):
                length = len(tuple(group))
                if dark:
                    runs.append(f"M{x} {y + quiet_zone}h{length}v1h-{length}z")
                x += length
        pixels = f"{side * module_size:g}"
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels}" height="{pixels}" '
                f'viewBox="0 0 {side} {side}" shape-rendering="crispEdges">'
                f'<rect width="{side}" height="{side}" fill="#fff"/>'
                f'<path fill="#000" d="{"".join(runs)}"/></svg>')

    def to_text(self, quiet_zone: int = 2) -> str:
        """Two characters per module, so the symbol looks square in a terminal
        (and scans from one, which helps when debugging)."""
        blank = "  " * (self.size + 2 * quiet_zone)
        margin = "  " * quiet_zone
        lines = [blank] * quiet_zone
        lines += [margin + "".join("██" if dark else "  " for dark in row) + margin
                  for row in self.modules]
        lines += [blank] * quiet_zone
        return "\n".join(lines)


def encode(data: bytes | str, ecc: str = "M", mask: int | None = None) -> QrMatrix:
    """Encode ``data`` in byte mode (text as UTF-8) in the smallest version that
    holds it at level ``ecc``, which prints with the largest modules.

    The mask is the one of lowest penalty, as the standard asks, unless
    ``mask`` (0..7) forces one (for tests and for comparing with other
    encoders). Raises ValueError when the data does not fit in version 40.
    """
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    else:  # bytes(5) would quietly encode five zero bytes
        raise TypeError(f"QR data must be bytes or str, not {type(data).__name__}.")
    level = check_ecc(ecc)
    if mask is not None and mask not in range(len(_MASKS)):
        raise ValueError(f"QR mask must be 0..7 or None, not {mask!r}.")
    version = smallest_version(len(payload), level)
    layout = _layout(version)
    unmasked = _place(layout, symbol_codewords(payload, version, level))
    best = None
    for candidate in range(len(_MASKS)) if mask is None else (mask,):
        format_rows = _format_rows(layout.size, format_information(level, candidate))
        rows = [plain ^ flip | extra for plain, flip, extra
                in zip(unmasked, _mask_rows(version, candidate), format_rows)]
        score = penalty(rows, layout.size) if mask is None else 0
        if best is None or score < best[0]:
            best = (score, candidate, rows)
    _, chosen, rows = best
    modules = tuple(tuple(bit == "1" for bit in format(row, f"0{layout.size}b"))
                    for row in rows)
    return QrMatrix(version=version, ecc=level, mask=chosen, size=layout.size, modules=modules)


def qr_svg(text: str, ecc: str = "M") -> str:
    """The SVG of ``text`` with the default module size and quiet zone, which
    is what a certificate template needs."""
    return encode(text, ecc).to_svg()


# --- format and version information -------------------------------------------------

def _bch_code(value: int, data_bits: int, generator: int) -> int:
    """``value`` followed by the remainder of its division by ``generator``."""
    check_bits = generator.bit_length() - 1
    remainder = value << check_bits
    for bit in range(data_bits + check_bits - 1, check_bits - 1, -1):
        if remainder >> bit & 1:
            remainder ^= generator << (bit - check_bits)
    return value << check_bits | remainder


def format_information(ecc: str, mask: int) -> int:
    """The 15 format bits: level and mask, BCH protected, XOR-ed with the
    standard's pattern."""
    value = _ECC_FORMAT_BITS[check_ecc(ecc)] << 3 | mask
    return _bch_code(value, 5, _FORMAT_GENERATOR) ^ _FORMAT_XOR


def version_information(version: int) -> int:
    """The 18 version bits printed from version 7 on."""
    return _bch_code(version, 6, _VERSION_GENERATOR)


def _format_cells(size: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(row, column) of format bit i in the copy by the top-left finder and in
    the copy split between the other two finders."""
    first = [(i, 8) for i in range(6)] + [(7, 8), (8, 8), (8, 7)]
    first += [(8, 14 - i) for i in range(9, 15)]
    second = [(8, size - 1 - i) for i in range(8)] + [(size - 15 + i, 8) for i in range(8, 15)]
    return list(zip(first, second))


def _format_rows(size: int, bits: int) -> list[int]:
    rows = [0] * size
    for i, cells in enumerate(_format_cells(size)):
        if bits >> i & 1:
            for row, column in cells:
                rows[row] |= 1 << (size - 1 - column)
    return rows


# --- the symbol's layout ------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    size: int
    base: tuple[int, ...]       # function patterns drawn, one int per row (bit = column)
    region: tuple[int, ...]     # data modules, same encoding
    cells: tuple[tuple[int, int], ...]  # (row, column bit) in codeword placement order


def alignment_centres(version: int) -> list[int]:
    if version < 2:
        return []
    last = 4 * version + 10
    if version < 7:
        return [6, last]
    count = version // 7 + 2
    step = _ALIGNMENT_STEP[version - 7]
    return [6] + [last - step * k for k in range(count - 2, -1, -1)]


@lru_cache(maxsize=8)
def _layout(version: int) -> _Layout:
    """Draw the function patterns of ``version`` and list the remaining modules
    in the order codeword bits go into them: two-column strips from the right,
    zigzagging up then down, skipping the vertical timing column."""
    size = 4 * version + 17
    dark = [[False] * size for _ in range(size)]
    fixed = [[False] * size for _ in range(size)]

    def put(row: int, column: int, value: bool) -> None:
        dark[row][column] = value
        fixed[row][column] = True

    for top, left in ((0, 0), (0, size - 7), (size - 7, 0)):
        for r in range(-1, 8):
            for c in range(-1, 8):
                if 0 <= top + r < size and 0 <= left + c < size:
                    ring = max(abs(r - 3), abs(c - 3))
                    put(top + r, left + c, ring in (0, 1, 3))
    for i in range(8, size - 8):
        put(6, i, i % 2 == 0)
        put(i, 6, i % 2 == 0)
    centres = alignment_centres(version)
    under_finders = {(6, 6), (6, size - 7), (size - 7, 6)}
    for row in centres:
        for column in centres:
            if (row, column) in under_finders:
                continue
            for r in range(-2, 3):
                for c in range(-2, 3):
                    put(row + r, column + c, max(abs(r), abs(c)) != 1)
    for first, second in _format_cells(size):
        put(*first, False)
        put(*second, False)
    put(size - 8, 8, True)
    if version >= 7:
        bits = version_information(version)
        for i in range(18):
            a, b = size - 11 + i % 3, i // 3
            put(a, b, bool(bits >> i & 1))
            put(b, a, bool(bits >> i & 1))

    cells = []
    upward = True
    for right in range(size - 1, 0, -2):
        if right <= 6:
            right -= 1
        for row in (range(size - 1, -1, -1) if upward else range(size)):
            for column in (right, right - 1):
                if not fixed[row][column]:
                    cells.append((row, 1 << (size - 1 - column)))
        upward = not upward

    def as_ints(grid: list[list[bool]]) -> tuple[int, ...]:
        return tuple(int("".join("1" if v else "0" for v in row), 2) for row in grid)

    region = as_ints([[not value for value in row] for row in fixed])
    return _Layout(size=size, base=as_ints(dark), region=region, cells=tuple(cells))


@lru_cache(maxsize=64)
def _mask_rows(version: int, mask: int) -> tuple[int, ...]:
    """Which data modules ``mask`` inverts, one int per row."""
    layout = _layout(version)
    condition = _MASKS[mask]
    size = layout.size
    return tuple(
        int("".join("1" if condition(i, j) else "0" for j in range(size)), 2) & region
        for i, region in enumerate(layout.region))


def _place(layout: _Layout, codewords: list[int]) -> list[int]:
    """Codeword bits, most significant first, into the data modules; the few
    remainder modules left over stay light."""
    rows = list(layout.base)
    bits = "".join(format(word, "08b") for word in codewords)
    for bit, (row, column_bit) in zip(bits, layout.cells):
        if bit == "1":
            rows[row] |= column_bit
    return rows


# --- mask evaluation (standard, 7.8.3) ----------------------------------------------

_SAME_COLOUR_RUN = re.compile(r"0{5,}|1{5,}")  # lines are joined by "|"
_FINDER_LIKE = ("10111010000", "00001011101")


def run_penalty(lines: list[str]) -> int:
    """Rule 1: 3 points for each run of 5 same-colour modules, +1 per extra module."""
    return sum(len(run) - 2 for run in _SAME_COLOUR_RUN.findall("|".join(lines)))


def block_penalty(rows: list[int], size: int) -> int:
    """Rule 2: 3 points for each 2x2 square of one colour (squares may overlap)."""
    pairs = (1 << (size - 1)) - 1
    total = 0
    for upper, lower in zip(rows, rows[1:]):
        same_vertically = ~(upper ^ lower)
        same_horizontally = ~(upper ^ (upper >> 1))
        total += bin(same_vertically & (same_vertically >> 1) & same_horizontally
                     & pairs).count("1")
    return 3 * total


def finder_penalty(lines: list[str]) -> int:
    """Rule 3: 40 points for each 1:1:3:1:1 dark-light pattern with 4 light
    modules on one side; the quiet zone around the symbol counts as light."""
    padded = "|".join(f"0000{line}0000" for line in lines)
    return 40 * sum(padded.count(pattern) for pattern in _FINDER_LIKE)


def balance_penalty(dark: int, total: int) -> int:
    """Rule 4: 10 points for each full 5 % by which dark modules stray from half."""
    return 10 * (abs(20 * dark - 10 * total) // total)


def penalty(rows: list[int], size: int) -> int:
    """The standard's score of a masked symbol; the encoder keeps the lowest."""
    lines = [format(row, f"0{size}b") for row in rows]
    columns = ["".join(column) for column in zip(*lines)]
    dark = sum(bin(row).count("1") for row in rows)
    return (run_penalty(lines + columns) + block_penalty(rows, size)
            + finder_penalty(lines + columns) + balance_penalty(dark, size * size))
