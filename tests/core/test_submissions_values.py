"""ODK answers read into store values: geometries in the store's CRS, dates, numbers."""
import pytest
from pyproj import Transformer
from shapely.geometry import Point
from submission_samples import households, mapping, shape, write_export

from stdm_plugin.core.store.errors import SubmissionValueError
from stdm_plugin.core.submissions.odk_values import (
    date_value,
    instance_id,
    odk_geometry,
    share,
    timestamp,
    whole_number,
)
from stdm_plugin.core.submissions.submissions import import_submissions

TO_LONLAT = Transformer.from_crs(32630, 4326, always_xy=True)


def lat_lon_pairs(odk: str):
    return [tuple(map(float, p.split()[:2])) for p in odk.split(";")]


def test_geoshape_and_geopoint_round_trip_in_a_utm_store(store, settlement, tmp_path):
    rows = households(1)
    files, media = write_export(tmp_path, rows)
    assert import_submissions(store, files, mapping(), media_dir=media).problems == []
    parcel = store.spatial_units.parcels()[0]
    ring = list(parcel.boundary.geoms[0].exterior.coords)
    assert 300_000 < ring[0][0] < 500_000 and 500_000 < ring[0][1] < 700_000  # metres, UTM 30N
    back = [TO_LONLAT.transform(x, y) for x, y in ring]
    for (lon, lat), (want_lat, want_lon) in zip(back, lat_lon_pairs(rows[0]["parcel_shape"])):
        assert lon == pytest.approx(want_lon, abs=1e-9)
        assert lat == pytest.approx(want_lat, abs=1e-9)
    structure = store.spatial_units.structures()[0]
    lon, lat = TO_LONLAT.transform(structure.location.x, structure.location.y)
    want_lat, want_lon = lat_lon_pairs(rows[0]["structure_point"])[0]
    assert (lon, lat) == (pytest.approx(want_lon, abs=1e-9), pytest.approx(want_lat, abs=1e-9))


def test_latitude_comes_first_and_lands_on_the_utm_grid():
    # On UTM 30N's central meridian (3 degrees west) at the equator: 500000 E, 0 N.
    point = odk_geometry("0 -3 0 0", "geopoint", column="gps", srid=32630, polygon=False)
    assert (point.x, point.y) == (pytest.approx(500_000, abs=1e-6), pytest.approx(0, abs=1e-6))
    west = odk_geometry("5.3 -3.95 10 5", "geopoint", column="gps", srid=32630, polygon=False)
    assert west.x < 500_000 and west.y == pytest.approx(585_830, abs=200)
    assert odk_geometry("5.3 -3.95", "geopoint", column="gps", srid=4326,
                        polygon=False).equals(Point(-3.95, 5.3))


def test_geotraces_are_lines_unless_they_close_into_a_boundary():
    trace = "5.3 -3.95 0 0;5.3001 -3.95 0 0;5.3001 -3.9499 0 0"
    line = odk_geometry(trace, "geotrace", column="path", srid=4326, polygon=False)
    assert line.geom_type == "LineString" and len(line.coords) == 3
    with pytest.raises(SubmissionValueError, match="does not come back to its first point"):
        odk_geometry(trace, "geotrace", column="path", srid=4326, polygon=True)
    closed = odk_geometry(trace + ";5.3 -3.95 0 0", "geotrace", column="path", srid=4326,
                          polygon=True)
    assert closed.geom_type == "Polygon"


def test_an_odk_shape_with_a_trailing_semicolon_or_left_open_is_taken():
    odk = shape(5.3, -3.95)
    closed = odk_geometry(odk + ";", "geoshape", column="s", srid=32630, polygon=True)
    left_open = odk_geometry(odk.rsplit(";", 1)[0], "geoshape", column="s", srid=32630,
                             polygon=True)
    assert closed.equals(left_open) and closed.area == pytest.approx(300, rel=0.01)


@pytest.mark.parametrize("text,why", [
    ("", "no coordinates"),
    ("5.3 -3.95;;5.4 -3.95;5.4 -3.9", "empty point"),
    ("5.3", "not 'latitude longitude"),
    ("5.3 -3.95 1 2 3", "not 'latitude longitude"),
])
def test_unreadable_coordinates_are_refused(text, why):
    with pytest.raises(SubmissionValueError, match=why) as info:
        odk_geometry(text, "geoshape", column="plot", srid=32630, polygon=True)
    assert (info.value.kind, info.value.field, info.value.value) == ("bad_geometry", "plot",
                                                                     text)


def test_dates_numbers_shares_and_keys():
    assert date_value("01/04/1980", ["%Y-%m-%d", "%d/%m/%Y"], column="dob") == "1980-04-01"
    with pytest.raises(SubmissionValueError, match="YYYY-MM-DD or DD/MM/YYYY") as info:
        date_value("1980.04.01", ["%Y-%m-%d", "%d/%m/%Y"], column="dob")
    assert info.value.kind == "bad_date"
    assert whole_number("3.0", column="n") == 3
    with pytest.raises(SubmissionValueError, match="not a whole number"):
        whole_number("3.5", column="n")
    assert share("1/3", column="s") == (1, 3) and share("0.25", column="s") == (1, 4)
    with pytest.raises(SubmissionValueError, match="between 0 and 1"):
        share("3/2", column="s")
    assert timestamp("2024-03-01T11:10:00.123+01:00", column="t") == "2024-03-01T10:10:00.123Z"
    assert instance_id("464423ec-b7a0-4924-b3e4-ce85bb6a5286") == (
        "uuid:464423ec-b7a0-4924-b3e4-ce85bb6a5286")
    assert instance_id("uuid:464423ec-b7a0-4924-b3e4-ce85bb6a5286").count("uuid:") == 1


@pytest.mark.parametrize("text,expected", [
    ("0.333333333333", (1, 3)),  # a spreadsheet's third
    ("0.25", (1, 4)),
    ("0.1234", (617, 5000)),
])
def test_a_decimal_share_becomes_the_fraction_it_writes(text, expected):
    assert share(text, column="share") == expected


@pytest.mark.parametrize("text", ["2.321888084919493e-144", "0.1234567891234"])
def test_a_share_too_fine_to_hold_is_refused(text):
    """Found by the XLSX fuzz: the exact fraction of 2.3e-144 overflowed SQLite's integers."""
    with pytest.raises(SubmissionValueError, match="too fine a share"):
        share(text, column="share")
