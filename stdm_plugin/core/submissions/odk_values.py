"""Reading ODK/KoBo answers: choices, numbers, dates, geometries, instance ids.

Each parser either returns a value the store takes or raises
SubmissionValueError with a ``kind`` and a sentence a supervisor can act
on (which values are accepted, which date format is expected, why a shape
is not a polygon). Nothing is guessed: an answer that does not fit is
reported, never bent into shape.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from fractions import Fraction
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from ..store.errors import SubmissionValueError

WGS84 = 4326
BARE_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                       r"[0-9a-fA-F]{12}$")
#: strftime directives shown to people as the pattern they type
FORMAT_WORDS = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "hh", "%M": "mm", "%S": "ss",
                "%y": "YY", "%b": "Mon", "%f": "ffffff", "%z": "+hh:mm"}


def instance_id(value: str) -> str:
    """The ODK instanceID of a submission: KoBo's ``_uuid`` lacks the ``uuid:`` prefix."""
    value = value.strip()
    return f"uuid:{value}" if BARE_UUID.match(value) else value


def choice(value: str, values: Mapping[str, Any], *, column: str) -> Any:
    """The model code for a choice answer, or a refusal listing the accepted answers."""
    if value in values:
        return values[value]
    accepted = ", ".join(repr(v) for v in values)
    raise SubmissionValueError(
        f"{column}: {value!r} is not one of the answers the mapping knows ({accepted}); "
        "add it to the mapping's values for this column", kind="unknown_choice",
        field=column, value=value)


def whole_number(value: str, *, column: str) -> int:
    """An integer answer; ``3.0`` (a spreadsheet's way of writing 3) is taken as 3."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number != number or not number.is_integer() or abs(number) > 2**53:
        raise SubmissionValueError(f"{column}: {value!r} is not a whole number",
                                   kind="bad_number", field=column, value=value)
    return int(number)


def share(value: str, *, column: str) -> tuple[int, int]:
    """A tenure share written ``1/2``, ``1`` or ``0.25``, as numerator and denominator."""
    text = value.strip().replace(" ", "")
    try:
        fraction = Fraction(text)
    except (ValueError, ZeroDivisionError):
        fraction = Fraction(-1)
    if not 0 < fraction <= 1:
        raise SubmissionValueError(
            f"{column}: {value!r} is not a share between 0 and 1 (write it 1/2, 1/3 or 1)",
            kind="bad_number", field=column, value=value)
    if fraction.denominator > MAX_SHARE_DENOMINATOR:
        # a spreadsheet's 0.333333333333 is 1/3; a share finer than a millionth is not
        # a share anyone holds (and its terms would not fit the store's integers)
        near = fraction.limit_denominator(1000)
        if near == 0 or abs(near - fraction) > Fraction(1, 10**9):
            raise SubmissionValueError(
                f"{column}: {value!r} is too fine a share to hold exactly (write it as a "
                "fraction such as 1/3)", kind="bad_number", field=column, value=value)
        fraction = near
    return fraction.numerator, fraction.denominator


#: the finest share an answer may give (the store's rule allows up to 10**9)
MAX_SHARE_DENOMINATOR = 10**6


def readable_format(fmt: str) -> str:
    """``%Y-%m-%d`` as ``YYYY-MM-DD``, the way the message shows the expected form."""
    for directive, word in FORMAT_WORDS.items():
        fmt = fmt.replace(directive, word)
    return fmt


def date_value(value: str, formats: Sequence[str], *, column: str) -> str:
    """A date answer in one of the accepted formats, as the store's ISO ``YYYY-MM-DD``."""
    text = value.strip()
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    expected = " or ".join(readable_format(f) for f in formats)
    raise SubmissionValueError(
        f"{column}: {value!r} is not a date written {expected}; correct it, or add its "
        "format to the mapping's date_formats", kind="bad_date", field=column, value=value)


def timestamp(value: str, *, column: str) -> str:
    """A submission time (ODK Central ``SubmissionDate``, KoBo ``_submission_time``) in UTC.

    Times without an offset are taken as written (the servers write UTC).
    """
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SubmissionValueError(
            f"{column}: {value!r} is not a date and time written YYYY-MM-DDThh:mm:ss",
            kind="bad_date", field=column, value=value) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- geometries ---------------------------------------------------------------
def _point(text: str, *, column: str, value: str, position: int) -> tuple[float, float]:
    parts = text.split()
    where = f"point {position}" if position else "the point"
    if not 2 <= len(parts) <= 4:
        raise SubmissionValueError(
            f"{column}: {where} {text!r} is not 'latitude longitude [altitude accuracy]'",
            kind="bad_geometry", field=column, value=value)
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise SubmissionValueError(f"{column}: {where} {text!r} has a coordinate that is not "
                                   "a number", kind="bad_geometry", field=column,
                                   value=value) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        hint = (" (it looks like longitude first; ODK writes latitude first)"
                if -90 <= lon <= 90 and -180 <= lat <= 180 else "")
        raise SubmissionValueError(
            f"{column}: {where} has latitude {lat} and longitude {lon}, outside the earth"
            f"{hint}", kind="bad_geometry", field=column, value=value)
    return lon, lat


def odk_points(value: str, *, column: str) -> list[tuple[float, float]]:
    """ODK's ``lat lon alt acc;lat lon alt acc;...`` as (longitude, latitude) pairs."""
    pieces = [p.strip() for p in value.strip().split(";")]
    while pieces and not pieces[-1]:
        pieces.pop()  # ODK Collect ends some shapes with a ';'
    if not pieces:
        raise SubmissionValueError(f"{column}: no coordinates", kind="bad_geometry",
                                   field=column, value=value)
    if any(not p for p in pieces):
        raise SubmissionValueError(f"{column}: an empty point between two ';'",
                                   kind="bad_geometry", field=column, value=value)
    return [_point(p, column=column, value=value, position=i + 1 if len(pieces) > 1 else 0)
            for i, p in enumerate(pieces)]


@lru_cache(maxsize=8)
def _to_store_crs(srid: int) -> Callable | None:
    if srid == WGS84:
        return None
    from pyproj import Transformer

    return Transformer.from_crs(WGS84, srid, always_xy=True).transform


def _ring(points: list[tuple[float, float]], *, column: str, value: str,
          what: str) -> list[tuple[float, float]]:
    """A closed ring of at least three distinct corners; an unclosed one is closed."""
    if points[0] != points[-1]:
        points = [*points, points[0]]
    corners = len(set(points[:-1]))
    if corners < 3:
        raise SubmissionValueError(
            f"{column}: a {what} needs at least 3 distinct corners, this one has {corners}",
            kind="bad_geometry", field=column, value=value)
    return points


def odk_geometry(value: str, kind: str, *, column: str, srid: int, polygon: bool) -> Any:
    """A geopoint, geotrace or geoshape answer as a shapely geometry in the store's CRS.

    ``polygon`` asks for an area (a parcel boundary): a geoshape, or a
    geotrace that comes back to its start. Validity is judged after the
    transformation, on the geometry the store will hold.
    """
    from shapely.geometry import LineString, Point, Polygon
    from shapely.ops import transform
    from shapely.validation import explain_validity

    points = odk_points(value, column=column)
    if kind == "geopoint":
        if len(points) != 1:
            raise SubmissionValueError(f"{column}: a geopoint has one point, not {len(points)}",
                                       kind="bad_geometry", field=column, value=value)
        geometry: Any = Point(points[0])
    elif kind == "geoshape" or (kind == "geotrace" and polygon):
        if kind == "geotrace" and points[0] != points[-1]:
            raise SubmissionValueError(
                f"{column}: this geotrace does not come back to its first point, so it is a "
                "line, not a boundary", kind="bad_geometry", field=column, value=value)
        geometry = Polygon(_ring(points, column=column, value=value, what="shape"))
    elif kind == "geotrace":
        if len(set(points)) < 2:
            raise SubmissionValueError(f"{column}: a geotrace needs at least 2 distinct points",
                                       kind="bad_geometry", field=column, value=value)
        geometry = LineString(points)
    else:
        raise ValueError(f"unknown ODK geometry type {kind!r}")
    project = _to_store_crs(srid)
    if project is not None:
        geometry = transform(project, geometry)
    if not geometry.is_valid:
        raise SubmissionValueError(
            f"{column}: the {kind} is not a valid {geometry.geom_type.lower()}: "
            f"{explain_validity(geometry)}", kind="bad_geometry", field=column, value=value)
    if polygon and geometry.geom_type != "Polygon":
        raise SubmissionValueError(f"{column}: a {kind} cannot be a boundary; use a geoshape",
                                   kind="bad_geometry", field=column, value=value)
    return geometry
