"""The side files of a Shapefile (.shx, .dbf, .cpg), checked before their features are read.

GDAL reads a damaged Shapefile without a word where it should refuse it: as
many features as the shorter of the .shx and the .dbf holds, attributes
shifted by a few bytes or dropped when the .dbf header does not match its
fields, and texts as ISO-8859-1 when the .cpg names an encoding it does not
know. Each would import part of a file, or its attributes garbled, as if it
were whole. Here each is a SpatialFileError naming the file and what does
not add up, so that whoever sent it can send it again.

Only what any sound writer produces is required: one .dbf record per shape
of the .shx, a header whose lengths agree with its field list, every record
in the file, and a .cpg naming a known single-byte or UTF-8 encoding.
"""
from __future__ import annotations

import codecs
import os
import struct
from typing import NoReturn

from ..store.errors import SpatialFileError

#: the end of the .dbf field list
FIELDS_END = 0x0D
#: Visual FoxPro puts a 263-byte back link between the field list and the records
FOXPRO_BACKLINK = 263
#: what a .dbf header can hold: 65,535 bytes (a 16-bit length)
DBF_HEADER_MAX = 65535
#: no code page name is longer; a .cpg is read no further
CPG_MAX = 200


def sibling(path: str, extension: str) -> str | None:
    """The file of the Shapefile ``path`` with ``extension``, in any letter case."""
    folder, name = os.path.split(os.path.abspath(path))
    wanted = (os.path.splitext(name)[0] + extension).lower()
    found = [n for n in os.listdir(folder) if n.lower() == wanted]
    return os.path.join(folder, found[0]) if found else None


def declared_encoding(path: str) -> tuple[str, str | None] | None:
    """What a Shapefile says its texts are in: (as written, the Python codec), or None.

    A .cpg is read as GDAL reads it ("UTF-8", "1252", "88591", "ANSI 1251",
    or a codec name) and must name an encoding known here, so that its texts
    are decoded here and a text that does not decode is named. Without a
    .cpg, the code page byte of the .dbf header is left to GDAL (codec None).
    """
    cpg = sibling(path, ".cpg")
    if cpg:
        with open(cpg, "rb") as handle:
            written = handle.read(CPG_MAX).decode("ascii", "replace").strip()
        if not written:
            return None
        if written.upper().startswith("LDID/"):
            return written, None  # a dBase code page number, as in the .dbf header
        codec = _codec(written)
        if codec is None:
            raise SpatialFileError(
                f"{path}: its .cpg names the encoding {written[:40]!r}, which is not a known "
                "encoding of a .dbf; write the encoding of its texts in the .cpg (for example "
                "UTF-8 or 1252), or delete the .cpg to have them read as UTF-8, else "
                "Windows-1252.", path=path, kind="encoding")
        return written, codec
    with open(sibling(path, ".dbf") or "", "rb") as handle:
        header = handle.read(32)
    return (f"dBase code page {header[29]}", None) if len(header) > 29 and header[29] else None


def _codec(written: str) -> str | None:
    text, upper = written, written.upper()
    if upper.startswith(("UTF-8", "UTF8")):
        text = "utf-8"
    elif upper.startswith("ANSI "):
        text = "cp" + written[5:].strip()
    elif upper.startswith("8859"):
        text = "iso8859-" + written[4:].lstrip("-_ ")
    elif written.isdigit():
        text = "utf-8" if written == "65001" else "cp" + written
    try:
        b"a".decode(text, "replace")  # LookupError for unknown names, rot13, base64...
        name = codecs.lookup(text).name
    except (LookupError, ValueError):
        return None
    # a .dbf is read byte by byte, its padding is spaces: UTF-16/32 cannot be its encoding
    return None if name.startswith(("utf-16", "utf-32")) else name


def check_records(path: str) -> None:
    """Refuse a Shapefile whose .dbf does not hold exactly one whole record per shape."""
    shx, dbf = sibling(path, ".shx"), sibling(path, ".dbf")
    if shx is None or dbf is None:
        return  # refused earlier, as a missing side file
    with open(shx, "rb") as handle:
        shx_header = handle.read(100)
    with open(dbf, "rb") as handle:
        head = handle.read(DBF_HEADER_MAX + 1)
    if len(shx_header) < 100 or len(head) < 32:
        return  # GDAL has refused these already (it reads them first)
    shapes = (struct.unpack(">i", shx_header[24:28])[0] * 2 - 100) // 8
    records, header_length, record_length = struct.unpack("<IHH", head[4:12])
    end = next((at for at in range(32, len(head), 32) if head[at] == FIELDS_END), None)
    if end is None:
        _refuse(path, "its .dbf header has no end to its list of fields")
    if records != shapes:
        _refuse(path, f"its .dbf holds {records} record(s) and its .shx {shapes} shape(s); "
                "the files may come from two versions of the layer")
    if header_length not in (end + 1, end + 2, end + 1 + FOXPRO_BACKLINK):
        _refuse(path, f"its .dbf header says the records start at byte {header_length}, but "
                f"its list of fields ends at byte {end + 1}")
    widths = [head[at + 16] for at in range(32, end, 32)]  # GDAL reads no high byte
    if record_length != 1 + sum(widths):
        _refuse(path, f"its .dbf header says a record is {record_length} bytes long, but its "
                f"{len(widths)} field(s) take {1 + sum(widths)} bytes with the deletion mark")
    held = (os.path.getsize(dbf) - header_length) // record_length if record_length else 0
    if held < records:
        _refuse(path, f"its .dbf is cut short: it holds {max(held, 0)} of its {records} "
                "records")


def _refuse(path: str, trouble: str) -> NoReturn:
    raise SpatialFileError(f"{path} is refused: {trouble}. Nothing of it was read; ask for "
                           "the Shapefile again, with all its files from the same copy.",
                           path=path, kind="damaged_shapefile")
