"""One simulated user for the concurrency test, run in its own process."""
from __future__ import annotations

from shapely.geometry import box

from stdm_plugin.core import (
    ConcurrentEditError,
    Party,
    SettlementStore,
    ShareExceededError,
    SocialTenure,
    SpatialUnit,
    StoreLockedError,
)


def open_store(location: tuple, actor: str) -> SettlementStore:
    if location[0] == "spatialite":
        return SettlementStore.open(location[1], actor=actor, timeout_ms=30000)
    return SettlementStore.open_postgis(location[1], location[2], actor=actor)


def retry(action, attempts: int = 200):
    for _ in range(attempts):
        try:
            return action()
        except (ConcurrentEditError, StoreLockedError):
            continue
    raise RuntimeError("gave up after repeated conflicts")


def increment(store: SettlementStore, parcel_id: str) -> int:
    """Read, change, save with the version read: a lost update is impossible."""
    conflicts = 0
    while True:
        current = store.spatial_units.get(parcel_id)
        try:
            store.spatial_units.update(parcel_id, expected_version=current.row_version,
                                       remarks=str(int(current.remarks or "0") + 1))
            return conflicts
        except (ConcurrentEditError, StoreLockedError):
            conflicts += 1


def work(location: tuple, worker: int, settlement_id: str, parcel_id: str,
         new_parcels: int, increments: int) -> dict:
    with open_store(location, f"user{worker}") as store:
        codes = []
        for i in range(new_parcels):
            x = 1000 * worker + 20 * i
            unit = retry(lambda x=x: store.spatial_units.add(SpatialUnit(
                kind="parcel", settlement_id=settlement_id, boundary=box(x, 0, x + 15, 15))))
            codes.append(unit.code)
        conflicts = sum(increment(store, parcel_id) for _ in range(increments))
        holder = retry(lambda: store.parties.add(Party(first_name=f"Claimant {worker}")))
        try:
            retry(lambda: store.tenure.add(SocialTenure(
                party_id=holder.id, spatial_unit_id=parcel_id, tenure_type="co_owner",
                share_numerator=1, share_denominator=4)))
            claimed = True
        except ShareExceededError:
            claimed = False
    return {"codes": codes, "conflicts": conflicts, "claimed": claimed}
