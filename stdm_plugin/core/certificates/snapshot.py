"""What a certificate certifies, frozen at issue, and whether a parcel may have one.

The snapshot is the certificate's content as data: the parcel (with its
geometry, so that a reprint draws the same outline), the holders and
their shares, who issued it and when. Its canonical JSON is hashed, the
hash is signed, and the register keeps the JSON beside the hash; a later
edit of the parcel or of a holder's name cannot change what was certified.
The sheet handed to the renderer is always built from the snapshot, at
issue and at every reprint alike.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..adjudication.adjudication import open_objections
from ..store.model import Party, SocialTenure, SpatialUnit
from ..store.records import json_list
from .sheet import CertificateSheet, SheetHolder

if TYPE_CHECKING:
    from ..store.store import Store
    from ..store.users import User

#: 2: the QR code carries the issue date (payload STDM2); 1: it does not (STDM1)
FORMAT_VERSION = 2
#: supporting document types printed as the holder's photo (seeded lookups)
PHOTO_DOCUMENT_TYPES = ("photo",)
PHOTO_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
                    "image/tiff": ".tif", "image/webp": ".webp"}


@dataclass
class ParcelClaims:
    """A parcel with its current claims and their parties, as read for issuing."""

    parcel_id: str
    code: str  #: the parcel's code (or the id asked for, when there is no such unit)
    parcel: SpatialUnit | None
    claims: list[SocialTenure]
    parties: dict[str, Party]

    def holder_name(self, claim: SocialTenure) -> str:
        party = self.parties.get(claim.party_id or "")
        return party.display_name.strip() if party else ""

    def describe(self, claim: SocialTenure) -> str:
        name = self.holder_name(claim) or "an unnamed party"
        return f"the claim of {name} (claim {(claim.id or '')[:8]})"


def read_parcel_claims(store: "Store", parcel_id: str, *,
                       lock: bool = False) -> ParcelClaims:
    """The parcel and its claims; ``lock`` holds them until the transaction ends."""
    found = store.spatial_units.find("id = ? AND kind = 'parcel'", (parcel_id,))
    parcel = found[0] if found else None
    code = store.db.scalar("SELECT code FROM spatial_unit WHERE id = ?", (parcel_id,))
    if lock and parcel is not None:
        store.db.lock_rows("spatial_unit", [parcel_id])  # no new claim meanwhile
    claims = store.tenure.on_spatial_unit(parcel_id) if parcel is not None else []
    if lock and claims:
        store.db.lock_rows("social_tenure", sorted(c.id for c in claims))  # type: ignore[misc]
        claims = store.tenure.on_spatial_unit(parcel_id)  # as they are now locked
    party_ids = sorted({c.party_id for c in claims if c.party_id})
    parties = {p.id: p for p in store.parties.find(  # type: ignore[misc]
        f"id IN {store.db.json_list_sql}", (json_list(party_ids),),
        include_retired=True)} if party_ids else {}
    state = ParcelClaims(parcel_id, code or parcel_id, parcel, claims,  # type: ignore[arg-type]
                         parties)
    claims.sort(key=lambda c: (state.holder_name(c), c.party_id or "", c.id or ""))
    return state


def problems_of(store: "Store", state: ParcelClaims, *,
                superseding: str | None = None) -> list[str]:
    """Why the parcel cannot have a certificate now; empty when it can.

    ``superseding`` is the id of the valid certificate being replaced: the
    only one allowed to exist already.
    """
    code = state.code
    if state.parcel is None:
        return [f"{code} is not a current parcel."]
    problems = _geometry_problems(state.parcel)
    if not state.claims:
        problems.append(f"{code} has no current claims to certify.")
    for claim in state.claims:
        if claim.adjudication_state != "approved":
            problems.append(f"{code}: {state.describe(claim)} is "
                            f"{claim.adjudication_state.replace('_', ' ')}, not approved.")
        if not state.holder_name(claim):
            problems.append(f"{code}: {state.describe(claim)} names a party with no name "
                            "to print.")
    by_claim = {c.id: c for c in state.claims}
    for objection in open_objections(store, sorted(by_claim)):  # type: ignore[arg-type]
        claim = by_claim[objection.social_tenure_id]
        problems.append(f"{code}: {state.describe(claim)} has an open objection by "
                        f"{objection.objector_name} (raised {objection.raised_on}).")
    total = sum((c.share for c in state.claims), Fraction(0))
    if state.claims and total != 1:
        problems.append(f"{code}: the shares of the current claims add up to {total}, "
                        "not 1.")
    for row in store.db.query(
            "SELECT id, number FROM certificate WHERE spatial_unit_id = ? AND status = 'valid' "
            "ORDER BY number", (state.parcel_id,)):
        if row["id"] != superseding:
            problems.append(f"{code} already has a valid certificate, {row['number']}: "
                            "reprint it, or supersede it.")
    return problems


def _geometry_problems(parcel: SpatialUnit) -> list[str]:
    geometry = parcel.boundary
    if geometry is None or geometry.is_empty:
        return [f"{parcel.code}: the parcel has no boundary to print."]
    if not geometry.is_valid:
        from shapely.validation import explain_validity

        return [f"{parcel.code}: the boundary is not a valid polygon "
                f"({explain_validity(geometry)}); correct it first."]
    return []


def issuing_problems(store: "Store", parcel_id: str) -> list[str]:
    """Reasons a land officer can read why ``parcel_id`` cannot be certified now."""
    return problems_of(store, read_parcel_claims(store, parcel_id))


def geometry_wkb(geometry: Any) -> bytes:
    """The geometry's WKB in one stable form: normalised, 2D, little-endian."""
    import shapely

    return shapely.to_wkb(shapely.normalize(geometry), output_dimension=2, byte_order=1)


def share_text(share: Fraction) -> str:
    """"1/2", or "1" for a whole share."""
    return str(share)


def build_snapshot(store: "Store", state: ParcelClaims, *, number: str, series: str,
                   issued_at: str, issuer: "User", language: str) -> dict[str, Any]:
    """The content certified; every value a plain JSON value."""
    parcel = state.parcel
    assert parcel is not None  # checked by problems_of
    settlement = store.settlements.get(parcel.settlement_id, include_retired=True)  # type: ignore[arg-type]
    wkb = geometry_wkb(parcel.boundary)
    holders = [{
        "party_id": claim.party_id,
        "claim_id": claim.id,
        "name": state.holder_name(claim),
        "tenure_type": claim.tenure_type,
        "share": f"{claim.share.numerator}/{claim.share.denominator}",
    } for claim in state.claims]
    holders.sort(key=lambda h: (h["name"], h["party_id"]))
    return {
        "format_version": FORMAT_VERSION,
        "store_id": store.store_id,
        "number": number,
        "series": series,
        "settlement": {"code": settlement.code, "name": settlement.name},
        "parcel": {
            "id": parcel.id, "code": parcel.code, "block": parcel.block,
            "land_use": parcel.land_use,
            "area_m2": None if parcel.area_m2 is None else round(parcel.area_m2, 2),
            "srid": store.srid,
            "geometry_sha256": hashlib.sha256(wkb).hexdigest(),
            "geometry_wkb": wkb.hex(),
        },
        "holders": holders,
        "issued_at": issued_at,
        "issued_by": {"login": issuer.login, "full_name": issuer.full_name},
        "language": language,
    }


def canonical_json(snapshot: dict[str, Any]) -> str:
    """The one text of a snapshot that is hashed and kept in the register."""
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def certificate_sheet(store: "Store", snapshot: dict[str, Any], qr_payload: str,
                      photo_dir: str, extra: dict | None = None) -> CertificateSheet:
    """What the renderer draws, from the snapshot alone (plus labels and photos)."""
    language = snapshot["language"]
    tenure_labels = store.lookups.labels("tenure_type", language)
    land_uses = store.lookups.labels("land_use", language)
    parcel = snapshot["parcel"]
    holders = []
    for index, holder in enumerate(snapshot["holders"]):
        share = Fraction(holder["share"])
        holders.append(SheetHolder(
            name=holder["name"],
            tenure_type=tenure_labels.get(holder["tenure_type"], holder["tenure_type"]),
            share=share_text(share),
            photo_path=holder_photo(store, holder["party_id"], photo_dir, index)))
    return CertificateSheet(
        number=snapshot["number"],
        settlement_code=snapshot["settlement"]["code"],
        settlement_name=snapshot["settlement"]["name"],
        parcel_code=parcel["code"],
        parcel_wkb=bytes.fromhex(parcel["geometry_wkb"]),
        srid=parcel["srid"],
        area_m2=parcel["area_m2"] or 0.0,
        holders=tuple(holders),
        issue_date=snapshot["issued_at"][:10],
        issued_by=snapshot["issued_by"]["full_name"],
        qr_payload=qr_payload,
        language=language,
        block=parcel["block"],
        land_use=land_uses.get(parcel["land_use"], parcel["land_use"])
        if parcel["land_use"] else None,
        extra=dict(extra or {}))


def holder_photo(store: "Store", party_id: str, photo_dir: str,
                 index: int) -> str | None:
    """The holder's latest photo written into ``photo_dir``, or None if there is none."""
    placeholders = ", ".join("?" for _ in PHOTO_DOCUMENT_TYPES)
    photos = [d for d in store.documents.find(
        f"party_id = ? AND document_type IN ({placeholders})",
        (party_id, *PHOTO_DOCUMENT_TYPES), order_by="created_at DESC, id")
        if d.mime_type in PHOTO_EXTENSIONS]
    if not photos:
        return None
    photo = photos[0]
    path = os.path.join(photo_dir, f"holder-{index + 1:02d}{PHOTO_EXTENSIONS[photo.mime_type]}")
    with open(path, "wb") as handle:
        handle.write(store.documents.content(photo.id))  # refused if its checksum fails
    return path
