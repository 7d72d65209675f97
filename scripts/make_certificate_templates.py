#!/usr/bin/env python3
"""Build the occupancy certificate print layouts (resources/certificate_*.qpt).

The templates are generated rather than drawn by hand so that the English and
French certificates stay the same document with different words, and so that a
change of layout is a reviewable diff of this script. The .qpt files are still
ordinary QGIS layout templates: a land office can open one with *Project ▸ New
Print Layout ▸ Create from template*, adjust it (logo, wording, stamp box) and
point the plugin at its own copy, as long as the required item ids stay.

Every variable value comes from a field of the atlas coverage layer that
``stdm_plugin.qgis.certificates.layout.CertificateRenderer`` builds (one feature
per certificate, with the parcel as its geometry); the map follows that feature.

Run: ``.venv/bin/python scripts/make_certificate_templates.py [--out resources]``
"""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
import uuid

# Qt writes XML attributes in hash order; a fixed seed, set before Qt loads,
# makes that order (and so the .qpt files) the same on every run.
os.environ.setdefault("QT_HASH_SEED", "0")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsFillSymbol,
    QgsLayoutItem,
    QgsLayoutItemGroup,
    QgsLayoutItemLabel,
    QgsLayoutItemMap,
    QgsLayoutItemPage,
    QgsLayoutItemPicture,
    QgsLayoutItemPolyline,
    QgsLayoutItemScaleBar,
    QgsLayoutItemShape,
    QgsLayoutMeasurement,
    QgsLayoutObject,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLineSymbol,
    QgsPrintLayout,
    QgsProject,
    QgsProperty,
    QgsReadWriteContext,
    QgsRectangle,
    QgsScaleBarSettings,
    QgsTextFormat,
    QgsUnitTypes,
)
from qgis.PyQt.QtCore import QPointF, Qt  # noqa: E402
from qgis.PyQt.QtGui import QColor, QFont, QPolygonF  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

INK = "#1b2a3a"  # a dark blue-black: reads as official on screen and prints as black
MUTED = "#5a6470"
SERIF = "Serif"  # generic families: fontconfig/Windows pick the local serif/sans face
SANS = "Sans Serif"
NORTH_ARROW = ":/images/north_arrows/layout_default_north_arrow.svg"  # inside QGIS itself

# Page geometry, millimetres on an A4 portrait page.
LEFT, RIGHT = 16.0, 194.0
WIDTH = RIGHT - LEFT
MAP_TOP, MAP_HEIGHT, MAP_WIDTH = 147.0, 82.0, 130.0
PHOTOS_LEFT = RIGHT - 44.0

WORDING = {
    "en": {
        "register": "SETTLEMENT LAND REGISTER  ·  SOCIAL TENURE DOMAIN MODEL",
        "title": "Certificate of Occupancy",
        "number": 'No. [% "certificate_number" %]',
        "preamble": "This is to certify that the persons named below occupy the parcel "
                    "described in this certificate, as recorded in the settlement register "
                    "on the date of issue.",
        "settlement": "Settlement",
        "block": "Block",
        "parcel": "Parcel",
        "land_use": "Land use",
        "area": "Area",
        "holders": "Holders",
        "photos": "Photographs",
        "photos_order": "Holders in the order of\nthe list above.",
        "map": "Parcel plan",
        "map_legend": "Certified parcel in colour, neighbouring parcels outlined",
        "issue_date": "Date of issue",
        "issued_by": "Issued by",
        "officer": "Land officer",
        "holder_sign": "Holder(s)",
        "witness": "Witness / Chief",
        "signatures": "Signatures",
        "verify": "Scan the QR code to verify this certificate in the STDM register.",
        "locale": "en",
    },
    "fr": {
        "register": "REGISTRE FONCIER DU QUARTIER  ·  MODÈLE DU DOMAINE FONCIER SOCIAL",
        "title": "Certificat d'occupation",
        "number": 'N° [% "certificate_number" %]',
        "preamble": "Il est certifié que les personnes désignées ci-dessous occupent la "
                    "parcelle décrite dans le présent certificat, telle qu'inscrite au "
                    "registre du quartier à la date de délivrance.",
        "settlement": "Quartier",
        "block": "Îlot",
        "parcel": "Parcelle",
        "land_use": "Usage du sol",
        "area": "Superficie",
        "holders": "Titulaires",
        "photos": "Photographies",
        "photos_order": "Titulaires dans l'ordre\nde la liste ci-dessus.",
        "map": "Plan de la parcelle",
        "map_legend": "Parcelle certifiée en couleur, parcelles voisines en contour",
        "issue_date": "Date de délivrance",
        "issued_by": "Délivré par",
        "officer": "L'agent foncier",
        "holder_sign": "Le(s) titulaire(s)",
        "witness": "Le témoin / le chef",
        "signatures": "Signatures",
        "verify": "Scannez le code QR pour vérifier ce certificat dans le registre STDM.",
        "locale": "fr",
    },
}


def font(family: str, size: float, bold: bool = False, italic: bool = False) -> QFont:
    result = QFont(family)
    result.setPointSizeF(size)
    result.setBold(bold)
    result.setItalic(italic)
    return result


def place(item: QgsLayoutItem, item_id: str, x: float, y: float, w: float, h: float) -> None:
    item.setId(item_id)
    item.attemptMove(QgsLayoutPoint(x, y, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(w, h, QgsUnitTypes.LayoutMillimeters))


def label(layout: QgsPrintLayout, item_id: str, text: str, box: tuple[float, float, float, float],
          qfont: QFont, colour: str = INK, align=Qt.AlignLeft,
          valign=Qt.AlignTop) -> QgsLayoutItemLabel:
    item = QgsLayoutItemLabel(layout)
    item.setText(text)
    item.setFont(qfont)
    item.setFontColor(QColor(colour))
    item.setHAlign(align)
    item.setVAlign(valign)
    item.setMarginX(0)
    item.setMarginY(0)
    layout.addLayoutItem(item)
    place(item, item_id, *box)
    return item


def rule(layout: QgsPrintLayout, item_id: str, x1: float, y: float, x2: float,
         width: float = 0.3, colour: str = INK) -> QgsLayoutItemPolyline:
    item = QgsLayoutItemPolyline(QPolygonF([QPointF(x1, y), QPointF(x2, y)]), layout)
    item.setSymbol(QgsLineSymbol.createSimple({
        "line_color": colour, "line_width": str(width), "capstyle": "flat"}))
    item.setId(item_id)
    layout.addLayoutItem(item)
    return item


def frame(layout: QgsPrintLayout, item_id: str, inset: float, width: float) -> None:
    item = QgsLayoutItemShape(layout)
    item.setShapeType(QgsLayoutItemShape.Rectangle)
    item.setSymbol(QgsFillSymbol.createSimple({
        "style": "no", "outline_color": INK, "outline_width": str(width)}))
    layout.addLayoutItem(item)
    place(item, item_id, inset, inset, 210 - 2 * inset, 297 - 2 * inset)


def data_defined(item: QgsLayoutItem, key: int, expression: str) -> None:
    properties = item.dataDefinedProperties()
    properties.setProperty(key, QgsProperty.fromExpression(expression))
    item.setDataDefinedProperties(properties)


def field_picture(layout: QgsPrintLayout, item_id: str, field: str, svg: bool,
                  box: tuple[float, float, float, float]) -> QgsLayoutItemPicture:
    """A picture whose file comes from a coverage field; left out of the export when empty.

    The format is fixed (not "unknown") so that an empty path draws nothing
    instead of QGIS's missing-image cross.
    """
    item = QgsLayoutItemPicture(layout)
    item.setMode(QgsLayoutItemPicture.FormatSVG if svg else QgsLayoutItemPicture.FormatRaster)
    item.setResizeMode(QgsLayoutItemPicture.Zoom)
    item.setPictureAnchor(QgsLayoutItem.Middle)
    layout.addLayoutItem(item)
    place(item, item_id, *box)
    data_defined(item, QgsLayoutObject.PictureSource, f'"{field}"')
    data_defined(item, QgsLayoutObject.ExcludeFromExports,
                 f"coalesce(\"{field}\", '') = ''")
    return item


def header(layout: QgsPrintLayout, words: dict[str, str]) -> None:
    frame(layout, "border_outer", 8, 0.9)
    frame(layout, "border_inner", 10, 0.25)
    label(layout, "register", words["register"], (LEFT, 14, WIDTH, 5),
          font(SANS, 7.5), MUTED, Qt.AlignHCenter)
    label(layout, "title", words["title"].upper(), (LEFT, 20, WIDTH, 11),
          font(SERIF, 22, bold=True), INK, Qt.AlignHCenter)
    label(layout, "certificate_number", words["number"], (LEFT, 32, WIDTH, 7),
          font(SERIF, 13, bold=True), INK, Qt.AlignHCenter)
    rule(layout, "rule_title_1", LEFT, 41.0, RIGHT, 0.6)
    rule(layout, "rule_title_2", LEFT, 42.2, RIGHT, 0.2)
    label(layout, "preamble", words["preamble"], (LEFT, 45, WIDTH, 9),
          font(SERIF, 9.5, italic=True), INK, Qt.AlignJustify)


def particulars(layout: QgsPrintLayout, words: dict[str, str]) -> None:
    """The parcel's particulars on the left, the QR code and its note on the right."""
    locale = words["locale"]
    rows = [
        ("settlement", words["settlement"],
         '[% "settlement_code" %] — [% "settlement_name" %]'),
        ("block", words["block"], """[% coalesce("block", '—') %]"""),
        ("parcel_code", words["parcel"], '[% "parcel_code" %]'),
        ("land_use", words["land_use"], """[% coalesce("land_use", '—') %]"""),
        ("area", words["area"], f"""[% format_number("area_m2", 1, '{locale}') %] m²"""),
    ]
    top = 58.0
    for index, (item_id, caption, value) in enumerate(rows):
        y = top + index * 7.5
        label(layout, f"{item_id}_caption", caption, (LEFT, y + 0.6, 34, 5),
              font(SANS, 8.5), MUTED)
        label(layout, item_id, value, (LEFT + 36, y, 100, 6), font(SERIF, 11.5, bold=True))
        rule(layout, f"{item_id}_rule", LEFT, y + 6.4, LEFT + 136, 0.1, "#b8bec6")
    field_picture(layout, "qr_code", "qr_path", True, (158, 57, 36, 36))
    label(layout, "verification_note", words["verify"], (150, 94.5, 44, 9),
          font(SANS, 7), MUTED, Qt.AlignHCenter)


def holders(layout: QgsPrintLayout, words: dict[str, str]) -> None:
    """The holders over the full width: six lines of 10 pt without wrapping."""
    label(layout, "holders_heading", words["holders"].upper(), (LEFT, 99, 90, 5),
          font(SANS, 8.5, bold=True), INK)
    rule(layout, "holders_rule", LEFT, 104.5, RIGHT, 0.3)
    label(layout, "holders", '[% "holders" %]', (LEFT, 106.5, WIDTH, 28.5), font(SERIF, 10))


def photos(layout: QgsPrintLayout, words: dict[str, str]) -> None:
    """Up to four holder photos, two by two beside the map, in the order of the list."""
    heading = label(layout, "photos_heading", words["photos"].upper(),
                    (PHOTOS_LEFT, 139, 44, 5), font(SANS, 8.5, bold=True), INK)
    width, height, gap = 21.0, 27.0, 2.0
    for number in range(1, 5):
        row, column = divmod(number - 1, 2)
        box = (PHOTOS_LEFT + column * (width + gap), MAP_TOP + row * (height + gap),
               width, height)
        photo = field_picture(layout, f"holder_photo_{number}", f"photo_{number}", False, box)
        photo.setFrameEnabled(True)
        photo.setFrameStrokeColor(QColor("#8a929c"))
        photo.setFrameStrokeWidth(QgsLayoutMeasurement(0.2, QgsUnitTypes.LayoutMillimeters))
    caption = label(layout, "photos_caption", words["photos_order"],
                    (PHOTOS_LEFT, MAP_TOP + 2 * height + gap + 1.5, RIGHT - PHOTOS_LEFT, 8),
                    font(SANS, 6.5, italic=True), MUTED)
    no_photo = " AND ".join(f"coalesce(\"photo_{n}\", '') = ''" for n in range(1, 5))
    for item in (heading, caption):  # no heading over an empty space
        data_defined(item, QgsLayoutObject.ExcludeFromExports, no_photo)


def parcel_map(layout: QgsPrintLayout, words: dict[str, str]) -> None:
    label(layout, "map_heading", words["map"].upper(), (LEFT, 139, 40, 5),
          font(SANS, 8.5, bold=True), INK)
    label(layout, "map_legend", words["map_legend"], (LEFT + 40, 139.6, MAP_WIDTH - 40, 5),
          font(SANS, 7, italic=True), MUTED, Qt.AlignRight)
    rule(layout, "map_rule", LEFT, 144.5, RIGHT, 0.3)
    item = QgsLayoutItemMap(layout)
    layout.addLayoutItem(item)
    place(item, "parcel_map", LEFT, MAP_TOP, MAP_WIDTH, MAP_HEIGHT)
    # after sizing: an extent set on a zero-size item gets a NaN height
    item.setExtent(QgsRectangle(0, 0, MAP_WIDTH, MAP_HEIGHT))
    item.setFrameEnabled(True)
    item.setFrameStrokeColor(QColor(INK))
    item.setFrameStrokeWidth(QgsLayoutMeasurement(0.3, QgsUnitTypes.LayoutMillimeters))
    item.setBackgroundColor(QColor("#ffffff"))
    item.setAtlasDriven(True)
    item.setAtlasScalingMode(QgsLayoutItemMap.Auto)
    item.setAtlasMargin(1.2)

    arrow = QgsLayoutItemPicture(layout)
    arrow.setMode(QgsLayoutItemPicture.FormatSVG)
    arrow.setPicturePath(NORTH_ARROW, QgsLayoutItemPicture.FormatSVG)
    arrow.setLinkedMap(item)
    arrow.setBackgroundEnabled(True)
    arrow.setBackgroundColor(QColor(255, 255, 255, 220))
    layout.addLayoutItem(arrow)
    place(arrow, "north_arrow", LEFT + MAP_WIDTH - 11, MAP_TOP + 2, 9, 13)

    bar = QgsLayoutItemScaleBar(layout)
    bar.setStyle("Single Box")
    bar.setLinkedMap(item)
    bar.setUnits(QgsUnitTypes.DistanceMeters)
    bar.setUnitLabel("m")
    bar.setMapUnitsPerScaleBarUnit(1)
    bar.setNumberOfSegmentsLeft(0)
    bar.setNumberOfSegments(4)
    bar.setUnitsPerSegment(5)
    bar.setSegmentSizeMode(QgsScaleBarSettings.SegmentSizeFitWidth)
    bar.setMinimumBarWidth(30)
    bar.setMaximumBarWidth(50)
    bar.setHeight(1.6)
    text = QgsTextFormat()
    text.setFont(font(SANS, 7))
    text.setSize(7)
    text.setColor(QColor(INK))
    bar.setTextFormat(text)
    bar.setBackgroundEnabled(True)
    bar.setBackgroundColor(QColor(255, 255, 255, 220))
    bar.setBoxContentSpace(1.2)
    layout.addLayoutItem(bar)
    bar.setId("scale_bar")
    bar.refreshItemSize()
    height = bar.sizeWithUnits().height()  # its width follows the atlas scale, its height not
    bar.attemptMove(QgsLayoutPoint(LEFT + 1.5, MAP_TOP + MAP_HEIGHT - height - 1.5,
                                   QgsUnitTypes.LayoutMillimeters))
    item.addLabelBlockingItem(arrow)  # parcel codes are not hidden under the arrow or bar
    item.addLabelBlockingItem(bar)


def issue(layout: QgsPrintLayout, words: dict[str, str]) -> None:
    locale = words["locale"]
    label(layout, "issue_date_caption", words["issue_date"], (LEFT, 233.6, 34, 5),
          font(SANS, 8.5), MUTED)
    label(layout, "issue_date",
          f"""[% format_date(to_date("issue_date"), 'd MMMM yyyy', '{locale}') %]""",
          (LEFT + 36, 233, 52, 6), font(SERIF, 11, bold=True))
    label(layout, "issued_by_caption", words["issued_by"], (106, 233.6, 26, 5),
          font(SANS, 8.5), MUTED)
    label(layout, "issued_by", '[% "issued_by" %]', (132, 233, 62, 6),
          font(SERIF, 11, bold=True))


def signatures(layout: QgsPrintLayout, words: dict[str, str]) -> None:
    """Three signature boxes; grouped so the designer moves them as one block."""
    heading = label(layout, "signatures_heading", words["signatures"].upper(),
                    (LEFT, 243, 60, 5), font(SANS, 8.5, bold=True), INK)
    parts = [heading, rule(layout, "signatures_rule", LEFT, 248.5, RIGHT, 0.3)]
    width, gap = 54.0, (WIDTH - 3 * 54.0) / 2
    for index, key in enumerate(("officer", "holder_sign", "witness")):
        x = LEFT + index * (width + gap)
        parts.append(rule(layout, f"signature_line_{index + 1}", x, 272, x + width, 0.25))
        parts.append(label(layout, f"signature_caption_{index + 1}", words[key],
                           (x, 273.5, width, 5), font(SANS, 8.5), MUTED, Qt.AlignHCenter))
    group = QgsLayoutItemGroup(layout)
    layout.addLayoutItem(group)
    for part in parts:
        group.addItem(part)
    group.setId("signatures")


def build_layout(project: QgsProject, language: str) -> QgsPrintLayout:
    words = WORDING[language]
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.setName(f"STDM certificate of occupancy ({language})")
    layout.pageCollection().page(0).setPageSize("A4", QgsLayoutItemPage.Portrait)
    header(layout, words)
    particulars(layout, words)
    holders(layout, words)
    photos(layout, words)
    parcel_map(layout, words)
    issue(layout, words)
    signatures(layout, words)
    atlas = layout.atlas()
    atlas.setEnabled(True)
    atlas.setHideCoverage(False)
    atlas.setFilenameExpression('"certificate_number"')
    return layout


def stable_uuids(path: pathlib.Path, language: str) -> None:
    """Replace QGIS's random item uuids by ones derived from their order in the file.

    Each uuid is replaced everywhere it occurs, so the references between items
    (groups, the scale bar's map, label blocking) hold; a re-run of this script
    then rewrites identical files, and a template change shows as a small diff.
    """
    text = path.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for match in re.finditer(r"\{[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\}", text):
        if match.group() not in found:
            name = f"stdm-certificate/{language}/{len(found)}"
            found[match.group()] = "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, name)) + "}"
    for old, new in found.items():
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def write_templates(out: pathlib.Path) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    project = QgsProject()
    for language in WORDING:
        path = out / f"certificate_{language}.qpt"
        layout = build_layout(project, language)
        if not layout.saveAsTemplate(str(path), QgsReadWriteContext()):
            raise OSError(f"could not write {path}")
        stable_uuids(path, language)
        written.append(path)
        del layout
    project.clear()
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "resources")
    args = parser.parse_args(argv)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        for path in write_templates(args.out):
            print(path)
    finally:
        app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
