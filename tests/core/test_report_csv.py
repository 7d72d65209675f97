"""Saved reports are written whole or not at all."""
import pytest

from stdm_plugin.core.store.report_csv import write_report_csv


def test_a_report_is_written_with_empty_cells_for_none(tmp_path):
    path = write_report_csv(tmp_path / "report.csv", ("parcel", "reason"),
                            [("KOU-P00001", None), ("KOU-P00002", "Awa Koné — 1/2")])
    assert open(path, encoding="utf-8-sig").read().splitlines() == [
        "parcel,reason", "KOU-P00001,", "KOU-P00002,Awa Koné — 1/2"]
    assert open(path, "rb").read().startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    write_report_csv(tmp_path / "plain.csv", ("a",), [("b",)], bom=False)
    assert (tmp_path / "plain.csv").read_bytes() == b"a\r\nb\r\n"


def test_a_report_that_fails_half_way_leaves_the_old_file_and_no_partial(tmp_path):
    target = tmp_path / "report.csv"
    target.write_text("the report saved yesterday\n", encoding="utf-8")

    def rows():
        yield ("KOU-P00001", "refused")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_report_csv(target, ("parcel", "outcome"), rows())
    assert target.read_text(encoding="utf-8") == "the report saved yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]
