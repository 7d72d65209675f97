"""A settlement with people, keys and approved claims, for the certificate tests."""
from __future__ import annotations

import os
import time

from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SocialTenure, SpatialUnit
from stdm_plugin.core.adjudication.adjudication import approve, open_public_display, verify
from stdm_plugin.core.certificates.office_keys import create_office_key, unlock_office_key
from stdm_plugin.core.store.users import sign_in

DISPLAY = ("2026-01-05", "2026-02-04")
AFTER_DISPLAY = "2026-02-10"
TODAY = "2026-03-01"


class FakeRender:
    """Writes a small PDF-ish file and remembers each sheet (and its photos' bytes)."""

    def __init__(self, fail_for: tuple[str, ...] = ()) -> None:
        self.sheets = []
        self.photos: list[dict[str, bytes]] = []
        self.fail_for = fail_for

    def __call__(self, sheet, path: str) -> None:
        if sheet.parcel_code in self.fail_for:
            with open(path, "wb") as handle:  # half written, then the renderer dies
                handle.write(b"%PDF-1.4 broken")
            raise RuntimeError(f"layout export failed for {sheet.parcel_code}")
        self.sheets.append(sheet)
        self.photos.append({h.name: open(h.photo_path, "rb").read()
                            for h in sheet.holders if h.photo_path})
        with open(path, "wb") as handle:
            handle.write(b"%PDF-1.4 fake certificate " + sheet.number.encode() + b"\n"
                         + sheet.qr_payload.encode() + b"\n%%EOF\n")


def render_to(sheet, path: str) -> None:
    """A picklable render for worker processes; as slow as a small real layout export,
    so that the workers' transactions overlap."""
    time.sleep(0.02)
    with open(path, "wb") as handle:
        handle.write(b"%PDF-1.4 " + sheet.number.encode())


#: every account of with_people signs in with it
PASSWORD = "correct horse"
#: the office key's passphrase in these tests
KEY_PASSPHRASE = "battery staple office key"


def with_people(store) -> None:
    """admin (who also makes the office key), sup, officer, enum; officer signed in, with
    the office key unlocked."""
    secret = PASSWORD
    store.users.create("admin", "Ama Administrator", "administrator", secret)
    sign_in(store, "admin", secret)
    store.users.create("sup", "Serge Supervisor", "supervisor", secret)
    store.users.create("officer", "Aïcha Traoré", "land_officer", secret)
    store.users.create("enum", "Eric Enumerator", "enumerator", secret)
    create_office_key(store, "Koumassi land office", KEY_PASSPHRASE)
    sign_in(store, "officer", secret)
    unlock_office_key(store, KEY_PASSPHRASE)


def as_user(store, login: str, password: str = PASSWORD) -> None:
    sign_in(store, login, password)


def settlement(store, code: str = "KOU") -> Settlement:
    found = store.settlements.by_code(code)
    return found or store.settlements.add(Settlement(code=code, name="Koumassi Campement"))


def parcel_with_claims(store, site: Settlement, x: float, holders=(("Awa", "Koné", "owner", 1, 1),),
                       block: str | None = "B1") -> tuple[SpatialUnit, list[SocialTenure]]:
    unit = store.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, land_use="residential", block=block,
        boundary=box(400000 + x, 590000, 400000 + x + 20, 590015)))
    claims = []
    for first, last, tenure, n, d in holders:
        party = store.parties.add(Party(first_name=first, last_name=last))
        claims.append(store.tenure.add(SocialTenure(
            party_id=party.id, spatial_unit_id=unit.id, tenure_type=tenure,
            share_numerator=n, share_denominator=d)))
    return unit, claims


def adjudicate(store, site: Settlement, claim_ids, password: str = PASSWORD) -> None:
    """verified by the supervisor, displayed, approved by the officer after the period."""
    me = store.user.login if store.user else "officer"
    sign_in(store, "sup", password)
    verify(store, claim_ids)
    open_public_display(store, site.id, *DISPLAY)
    sign_in(store, "officer", password)
    approve(store, claim_ids, today=AFTER_DISPLAY)
    sign_in(store, me, password)


def approved_parcels_for_test(store, count: int, *, start: int = 0, code: str = "KOU",
                              block: str | None = "B1") -> list[SpatialUnit]:
    site = settlement(store, code)
    made = [parcel_with_claims(store, site, 30 * (start + i), block=block) for i in range(count)]
    adjudicate(store, site, [c.id for _, claims in made for c in claims])
    return [unit for unit, _ in made]


def pdfs_in(folder) -> list[str]:
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
