"""A Shapefile whose side files do not add up is refused whole, never read in part.

GDAL read each of these without a word: a .dbf with fewer records than the
.shx has shapes gave fewer features, a .dbf header whose record length does
not match its fields gave shifted or no attributes, and a .cpg naming an
unknown encoding gave ISO-8859-1 texts. Found by the Shapefile fuzz target
(tests/core/test_fuzz.py); each input here is written by the test itself.
"""
from __future__ import annotations

import struct
from pathlib import Path

import fiona
import pytest
from shapely.geometry import box, mapping

from stdm_plugin.core import Settlement, SettlementStore
from stdm_plugin.core.cadastre.spatial_files import read_spatial_file
from stdm_plugin.core.cadastre.structures import import_structures
from stdm_plugin.core.store.errors import SpatialFileError

UTM_30N = 32630
SCHEMA = {"geometry": "Polygon", "properties": {"name": "str:40", "n": "int"}}
#: the header of the .dbf written below: 32 bytes, two 32-byte fields, the end mark
HEADER_LENGTH, RECORD_LENGTH = 97, 1 + 40 + 18


def write_footprints(folder: Path, count: int = 4) -> Path:
    path = folder / "footprints.shp"
    with fiona.open(path, "w", driver="ESRI Shapefile", crs=f"EPSG:{UTM_30N}",
                    encoding="utf-8", schema=SCHEMA) as sink:
        for i in range(count):
            x, y = 400000 + 12 * i, 590000
            sink.write({"geometry": mapping(box(x, y, x + 8, y + 8)),
                        "properties": {"name": f"Maison {i} Koné", "n": i}})
    return path


def patch(path: Path, at: int, packed: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[at:at + len(packed)] = packed
    path.write_bytes(bytes(data))


def refusal(path: Path) -> SpatialFileError:
    with pytest.raises(SpatialFileError) as caught:
        read_spatial_file(path, UTM_30N)
    assert str(path) in str(caught.value)
    return caught.value


def test_the_written_shapefile_is_read_whole(tmp_path):
    source = read_spatial_file(write_footprints(tmp_path), UTM_30N)
    assert [f.attributes for f in source.features] == [
        {"name": f"Maison {i} Koné", "n": i} for i in range(4)]
    assert source.encoding == "UTF-8" and not source.problems


def test_a_dbf_with_fewer_records_than_shapes_is_refused(tmp_path):
    """GDAL read 2 features of 4 here, as if the file held only those."""
    path = write_footprints(tmp_path)
    patch(tmp_path / "footprints.dbf", 4, struct.pack("<I", 2))
    error = refusal(path)
    assert error.kind == "damaged_shapefile"
    assert "its .dbf holds 2 record(s) and its .shx 4 shape(s)" in str(error)


def test_a_dbf_from_another_version_of_the_layer_is_refused(tmp_path):
    path = write_footprints(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    write_footprints(other, count=6)
    (tmp_path / "footprints.dbf").write_bytes((other / "footprints.dbf").read_bytes())
    assert "its .dbf holds 6 record(s) and its .shx 4 shape(s)" in str(refusal(path))


def test_a_dbf_cut_short_is_refused(tmp_path):
    """GDAL read the one whole record left, and so one feature of 4."""
    path = write_footprints(tmp_path)
    dbf = tmp_path / "footprints.dbf"
    dbf.write_bytes(dbf.read_bytes()[:HEADER_LENGTH + RECORD_LENGTH + 30])
    assert "its .dbf is cut short: it holds 1 of its 4 records" in str(refusal(path))


@pytest.mark.parametrize("at, packed, said", [
    (10, struct.pack("<H", 60), "a record is 60 bytes long, but its 2 field(s) take 59"),
    (10, struct.pack("<H", 0), "a record is 0 bytes long"),
    (32 + 16, bytes([10]), "a record is 59 bytes long, but its 2 field(s) take 29"),
    (8, struct.pack("<H", 100), "the records start at byte 100, but its list of fields "
                                "ends at byte 97"),
    (8, struct.pack("<H", 65535), "the records start at byte 65535"),
    (96, b" ", "has no end to its list of fields"),
])
def test_a_dbf_header_that_does_not_match_its_fields_is_refused(tmp_path, at, packed, said):
    """GDAL gave shifted texts ('aison 1 Koné'), wrong numbers or no attributes at all."""
    path = write_footprints(tmp_path)
    patch(tmp_path / "footprints.dbf", at, packed)
    error = refusal(path)
    assert error.kind == "damaged_shapefile" and said in str(error)


@pytest.mark.parametrize("cpg", [b"klingon", b"UTF-16", b"UTF-32LE", b"rot13", b"base64",
                                 b"\xff\xfe"])
def test_a_cpg_naming_no_known_dbf_encoding_is_refused(tmp_path, cpg):
    """GDAL read 'Koné' as 'KonÃ©' (or the field names as Chinese) without a word."""
    path = write_footprints(tmp_path)
    (tmp_path / "footprints.cpg").write_bytes(cpg)
    error = refusal(path)
    assert error.kind == "encoding" and "its .cpg names the encoding" in str(error)


@pytest.mark.parametrize("cpg, codec, text", [
    (b"1252", "cp1252", "Koné"), (b"CP1252", "cp1252", "Koné"), (b"88591", "latin-1", "Koné"),
    (b"ISO-8859-1", "latin-1", "Koné"), (b"ANSI 1251", "cp1251", "Konй"),
    (b"utf8", "utf-8", "Koné"), (b" UTF-8 \r\n", "utf-8", "Koné"), (b"65001", "utf-8", "Koné"),
])
def test_cpg_names_are_read_as_gdal_reads_them(tmp_path, cpg, codec, text):
    path = write_footprints(tmp_path)
    (tmp_path / "footprints.cpg").write_bytes(cpg)
    patch(tmp_path / "footprints.dbf", HEADER_LENGTH + RECORD_LENGTH + 1,
          text.encode(codec).ljust(40))  # the second name, in that code page
    source = read_spatial_file(path, UTM_30N)
    assert source.features[1].attributes["name"] == text
    assert not source.problems


def test_a_text_not_in_the_declared_encoding_is_named(tmp_path):
    path = write_footprints(tmp_path)
    patch(tmp_path / "footprints.dbf", HEADER_LENGTH + RECORD_LENGTH + 1, b"Kon\xe9".ljust(40))
    (problem,) = read_spatial_file(path, UTM_30N).problems
    assert problem.kind == "encoding" and problem.field == "name" and problem.index == 1
    assert "cannot be read as UTF-8" in problem.reason


def test_a_refused_shapefile_writes_nothing(tmp_path):
    store = SettlementStore.create(tmp_path / "own.sqlite", UTM_30N, actor="tester")
    try:
        site = store.settlements.add(Settlement(code="KOU", name="Koumassi Campement"))
        path = write_footprints(tmp_path)
        patch(tmp_path / "footprints.dbf", 4, struct.pack("<I", 3))
        report = import_structures(store, path, site.id, mode="valid_only")
        assert not report.written and report.imported == 0
        assert [p.kind for p in report.problems] == ["damaged_shapefile"]
        assert store.db.scalar("SELECT count(*) FROM spatial_unit") == 0
    finally:
        store.close()
