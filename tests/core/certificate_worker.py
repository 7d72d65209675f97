"""One land officer issuing certificates in their own process (the concurrency test)."""
from __future__ import annotations

from certificate_samples import KEY_PASSPHRASE, PASSWORD, render_to
from concurrent_worker import open_store

from stdm_plugin.core import StoreLockedError
from stdm_plugin.core.certificates.certificates import issue_certificate
from stdm_plugin.core.certificates.office_keys import unlock_office_key
from stdm_plugin.core.store.users import sign_in


def issue_share(location: tuple, parcel_ids: list[str], out_dir: str, today: str) -> list[str]:
    numbers = []
    with open_store(location, "officer") as store:
        sign_in(store, "officer", PASSWORD)
        unlock_office_key(store, KEY_PASSPHRASE)
        for parcel_id in parcel_ids:
            for _ in range(200):
                try:
                    numbers.append(issue_certificate(store, parcel_id, render_to, out_dir,
                                                     today=today).number)
                    break
                except StoreLockedError:
                    continue
            else:
                raise RuntimeError(f"gave up issuing {parcel_id} after repeated lock waits")
    return numbers
