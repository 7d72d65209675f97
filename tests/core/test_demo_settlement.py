import pathlib
from collections import Counter
from fractions import Fraction

from stdm_plugin.core.demo.settlement import load_demo_settlement

DEMO = pathlib.Path(__file__).resolve().parents[2] / "demo" / "data"


def test_demo_settlement_loads_whole_and_consistent(new_store):
    with new_store(actor="demo") as store:
        counts = load_demo_settlement(store, DEMO)
        assert counts["parcels"] >= 300
        assert store.spatial_units.count() == counts["parcels"] + counts["structures"]
        assert store.tenure.count() == counts["tenure"]
        types = Counter(t.tenure_type for t in store.tenure.find())
        assert {"owner", "co_owner", "tenant", "customary", "occupant", "disputed"} <= set(types)
        for unit in store.spatial_units.parcels()[:60]:
            assert store.tenure.share_total(unit.id) <= Fraction(1)
            assert 150 < unit.area_m2 < 700  # ~16 m x 21 m plots
        households = store.parties.find("party_type = 'household'")
        assert all(store.parties.members(h.id) for h in households[:40])
