"""The demo settlement and a package of it returned from the field, for the merge tests.

The field edits are made the way QField makes them: plain sqlite3 with
mod_spatialite on the package's field_store.sqlite, committed at the end.
"""
from __future__ import annotations

import pathlib
import sqlite3

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.packages.field_package import PACKAGE_STORE, PackageRequest, cut_package

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO_DATA = ROOT / "demo" / "data"
LONG_NAME = "Aminata Fanta Marie-Christine épouse Kouadio-Bamba de la Lagune Ébrié"
OFFICE_NAME = "Aminata (corrected at the office)"


def demo_store(path) -> SettlementStore:
    store = SettlementStore.create(path, 32630, actor="office")
    load_demo_settlement(store, DEMO_DATA)
    return store


def cut(store, folder) -> str:
    cut_package(store, folder, PackageRequest(team="Equipe A", blocks=["B1A"],
                                              enumerators=["moussa"], device="Tablet 3"))
    return str(folder)


def field_database(folder) -> sqlite3.Connection:
    """The package's database as QField opens it: sqlite3 with mod_spatialite."""
    con = sqlite3.connect(str(pathlib.Path(folder) / PACKAGE_STORE))
    con.enable_load_extension(True)
    con.load_extension("mod_spatialite")
    con.row_factory = sqlite3.Row
    return con


def returned_package(store, folder) -> dict:
    """Cut block B1A into ``folder``; in the field, a person is renamed and an enumerated
    claim (not theirs) deleted; at the office, the same person is renamed differently."""
    folder = cut(store, folder)
    con = field_database(folder)
    person = con.execute("SELECT id, last_name FROM party WHERE party_type = 'person' AND "
                         "end_lifespan_version IS NULL ORDER BY id LIMIT 1").fetchone()
    claim = con.execute("SELECT id FROM social_tenure WHERE adjudication_state = 'enumerated' "
                        "AND party_id <> ? ORDER BY id LIMIT 1", (person["id"],)).fetchone()
    con.execute("UPDATE party SET first_name = ?, updated_by = 'moussa' WHERE id = ?",
                (LONG_NAME, person["id"]))
    con.execute("DELETE FROM social_tenure WHERE id = ?", (claim["id"],))
    con.commit()
    con.close()
    store.parties.update(person["id"], first_name=OFFICE_NAME)
    return {"folder": folder, "person": person["id"], "last_name": person["last_name"],
            "claim": claim["id"]}
