"""Take part of the demo settlement through adjudication, as a land office would.

Used by ``build.py demo``, the certificate benchmark and tests: it makes
the office's team (an administrator, a supervisor and a land officer,
with the passwords below: a demo store only), the office signing key
(under the demo passphrase below),
verifies the claims of some blocks, puts them on public display for a
period that is over, writes down one objection that stays open, and has
the land officer approve the rest. What comes out is a store where some
parcels can be certified and others are refused for reasons a land
officer would recognise (an open objection, shares that do not add up).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ..adjudication import adjudication
from ..certificates.office_keys import active_office_key, create_office_key, unlock_office_key
from ..store.users import sign_in

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

#: login, full name, role, password (demo only: printed in the README)
DEMO_TEAM = (
    ("admin", "Adjoua Administratrice", "administrator", "demo-admin"),
    ("supervisor", "Seydou Traoré", "supervisor", "demo-supervisor"),
    ("officer", "Mariam Koné", "land_officer", "demo-officer"),
)
#: the passphrase of the demo office's signing key (demo only: printed in the README)
DEMO_KEY_PASSPHRASE = "demo office key passphrase"
DISPLAY_PERIOD = ("2026-09-01", "2026-09-30")
APPROVAL_DAY = "2026-10-15"


@dataclass
class DemoAdjudication:
    verified: int
    displayed: int
    approved: int
    objections_open: int


def ensure_demo_team(store: "SettlementStore") -> None:
    """The demo office's users and signing key (once per store)."""
    if store.users.count() == 0:
        login, name, role, password = DEMO_TEAM[0]
        store.users.create(login, name, role, password=password)
    sign_in(store, DEMO_TEAM[0][0], DEMO_TEAM[0][3])
    for login, name, role, password in DEMO_TEAM[1:]:
        if store.users.by_login(login) is None:
            store.users.create(login, name, role, password=password)
    if active_office_key(store) is None:
        create_office_key(store, "Demo land office, Koumassi", DEMO_KEY_PASSPHRASE)


def sign_in_as(store: "SettlementStore", role: str) -> None:
    """Sign in as the demo team's member of ``role``; the land officer also unlocks the
    office key, as a land officer does before issuing."""
    login, _name, _role, password = next(m for m in DEMO_TEAM if m[2] == role)
    sign_in(store, login, password)
    if role == "land_officer" and active_office_key(store) is not None:
        unlock_office_key(store, DEMO_KEY_PASSPHRASE)


def adjudicate_blocks(store: "SettlementStore", blocks: Sequence[str] | None = None,
                      *, objection: bool = True) -> DemoAdjudication:
    """Verify, display and approve the claims of ``blocks`` (all blocks when None)."""
    ensure_demo_team(store)
    where = "t.adjudication_state = 'enumerated' AND t.end_lifespan_version IS NULL"
    params: list = []
    if blocks is not None:
        where += f" AND u.block IN {store.db.json_list_sql}"
        params.append(_json(blocks))
    rows = store.db.query(
        "SELECT t.id, u.settlement_id, u.block FROM social_tenure t "
        f"JOIN spatial_unit u ON u.id = t.spatial_unit_id WHERE {where} ORDER BY u.code, t.id",
        params)
    claim_ids = [r["id"] for r in rows]
    if not claim_ids:
        return DemoAdjudication(0, 0, 0, 0)
    sign_in_as(store, "supervisor")
    verified = adjudication.verify(store, claim_ids, note="demo: checked on site")
    displayed = 0
    for settlement_id, block in sorted({(r["settlement_id"], r["block"]) for r in rows},
                                       key=lambda pair: (pair[0], pair[1] or "")):
        display = adjudication.open_public_display(
            store, settlement_id, *DISPLAY_PERIOD, block=block, place="Chef's yard")
        displayed += len(adjudication.display_list(store, display.id))
    objected: set[str] = set()
    if objection:
        first = claim_ids[0]
        adjudication.record_objection(
            store, first, "Moussa Diarra", "Says the back wall stands on his plot",
            raised_on="2026-09-12", objector_contact="neighbour, same block")
        objected.add(first)
    sign_in_as(store, "land_officer")
    blocked = {r["id"] for r in store.db.query(
        "SELECT t.id FROM social_tenure t WHERE t.spatial_unit_id IN (SELECT spatial_unit_id "
        f"FROM social_tenure WHERE id IN {store.db.json_list_sql})", (_json(objected),))}
    approvable = [c for c in claim_ids if c not in blocked]
    approved = adjudication.approve(store, approvable, today=APPROVAL_DAY,
                                    note="demo: objection period over") if approvable else 0
    return DemoAdjudication(verified, displayed, approved, len(objected))


def _json(values) -> str:
    import json

    return json.dumps(list(values))
