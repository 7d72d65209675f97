"""The public display list on paper: the claims of one display, for the notice board.

Laid out by QTextDocument and written by QPdfWriter, which need no window
and no print layout, so the list prints the same under
QT_QPA_PLATFORM=offscreen as in QGIS. The document is laid out for the
PDF's own resolution and drawn page by page, so that each page gets its
footer (settlement, period, "Page 2 of 3") and the table header repeats.
Also here: how a claim's share reads ("1/2"), on screen and on paper alike.
"""
from __future__ import annotations

import html
import os

from qgis.PyQt.QtCore import QMarginsF, QRectF, QSizeF, Qt
from qgis.PyQt.QtGui import (
    QFont,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
)

from ...core.adjudication.adjudication import PublicDisplay, display_list
from ...core.store.model import Party
from ..i18n import tr

FONT_FAMILY = "DejaVu Sans"
MARGINS_MM = QMarginsF(15, 15, 15, 12)


def share_text(numerator: int, denominator: int) -> str:
    """A share as people write it: "1/2", or "1" for the whole."""
    return "1" if numerator == denominator else f"{numerator}/{denominator}"


def holder_name(row: dict) -> str:
    """The holder's name from a row with party_type, first_name, last_name, group_name."""
    return Party.from_row(row).display_name


def period_text(display: PublicDisplay) -> str:
    return tr("{0} to {1}").format(display.starts_on, display.ends_on)


def block_text(block: str | None, *, start: bool = False) -> str:
    if start:
        return tr("Block {0}").format(block) if block else tr("All blocks")
    return tr("block {0}").format(block) if block else tr("all blocks")


def list_title(settlement_name: str) -> str:
    return tr("Public display of claims — {0}").format(settlement_name)


def _cell(text: object, align: str = "left") -> str:
    return f'<td align="{align}">{html.escape(str(text))}</td>'


def display_list_html(store, display: PublicDisplay, lang: str = "en") -> str:
    """The list as HTML for QTextDocument: title, period and place, then the table."""
    settlement = store.settlements.get(display.settlement_id)
    rows = display_list(store, display.id)
    tenure_labels = store.lookups.labels("tenure_type", lang)
    facts = [block_text(display.block, start=True), period_text(display)]
    if display.place:
        facts.append(tr("at {0}").format(display.place))
    parcels = len({row["parcel_code"] for row in rows})
    heads = (tr("Parcel"), tr("Block"), tr("Area (m²)"), tr("Holder"), tr("Tenure"),
             tr("Share"))
    body = "".join(
        "<tr>" + _cell(row["parcel_code"]) + _cell(row["block"] or "—")
        + _cell(f"{row['area_m2']:.0f}" if row["area_m2"] is not None else "—", "right")
        + _cell(holder_name(row))
        + _cell(tenure_labels.get(row["tenure_type"], row["tenure_type"] or "—"))
        + _cell(share_text(row["share_numerator"], row["share_denominator"]), "right")
        + "</tr>" for row in rows)
    return (
        f"<h2>{html.escape(list_title(f'{settlement.name} ({settlement.code})'))}</h2>"
        f"<p><b>{html.escape(' · '.join(facts))}</b></p>"
        f'<p style="margin-bottom: 10px;">{html.escape(notice_text(display))}</p>'
        '<table border="1" cellspacing="0" cellpadding="4" width="100%" '
        'style="border-collapse: collapse; border-color: #888888;">'
        "<thead><tr>" + "".join(f'<th align="left" bgcolor="#e8e8e8">{html.escape(h)}</th>'
                                for h in heads) + "</tr></thead>"
        f"<tbody>{body}</tbody></table>"
        f"<p>{html.escape(tr('{0} claim(s) on {1} parcel(s).').format(len(rows), parcels))}"
        "</p>")


def notice_text(display: PublicDisplay) -> str:
    return tr("Anyone who objects to a claim listed here, or who finds a name, a share or a "
              "parcel wrong, may say so to the land office team until {0}, the last day of "
              "the display.").format(display.ends_on)


def write_display_list(store, display_id: str, path: str, lang: str = "en") -> int:
    """Write the A4 PDF of one public display to ``path``; returns its number of pages."""
    display: PublicDisplay = store.public_displays.get(display_id)  # type: ignore[assignment]
    settlement = store.settlements.get(display.settlement_id)
    writer = QPdfWriter(path)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.A4), QPageLayout.Portrait,
                                     MARGINS_MM, QPageLayout.Millimeter))
    writer.setResolution(300)
    writer.setTitle(list_title(settlement.name))
    writer.setCreator("STDM Settlement Mapper")
    area = writer.pageLayout().paintRectPixels(writer.resolution())
    footer_height = writer.resolution() * 0.4  # a 10 pt line and the space above it
    document = QTextDocument()
    document.documentLayout().setPaintDevice(writer)  # lay out in the PDF's pixels
    document.setDefaultFont(QFont(FONT_FAMILY, 10))
    document.setHtml(display_list_html(store, display, lang))
    page = QSizeF(area.width(), area.height() - footer_height)
    document.setPageSize(page)
    pages = document.pageCount()
    footer = tr("{0} · {1} · {2}").format(settlement.name, block_text(display.block),
                                           period_text(display))
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(tr("Could not write {0}").format(path))
    try:
        painter.setFont(QFont(FONT_FAMILY, 8))
        for number in range(pages):
            if number:
                writer.newPage()
            painter.save()
            painter.translate(0, -number * page.height())
            document.drawContents(painter, QRectF(0, number * page.height(), page.width(),
                                                  page.height()))
            painter.restore()
            bottom = QRectF(0, area.height() - footer_height / 2, area.width(),
                            footer_height / 2)
            painter.drawText(bottom, int(Qt.AlignLeft | Qt.AlignVCenter), footer)
            painter.drawText(bottom, int(Qt.AlignRight | Qt.AlignVCenter),
                             tr("Page {0} of {1}").format(number + 1, pages))
    finally:
        painter.end()
    if not os.path.exists(path):
        raise OSError(tr("Could not write {0}").format(path))
    return pages
