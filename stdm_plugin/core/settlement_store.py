"""The settlement store as the plugin uses it: an open store with every capability's records.

``Store`` (core/store/store.py) knows the database, the person working and
the transactions; the capabilities below this module (register,
adjudication, certificates) write through it. This is where they meet:
``store.parties``, ``store.tenure``, ``store.certificates``... The
capabilities above (safety, exchange, cadastre, packages, demo), the qgis
and gui layers and the tests open stores through this class.
"""
from __future__ import annotations

from .adjudication.adjudication import ObjectionRepository, PublicDisplayRepository
from .certificates.certificates import CertificateRepository
from .register.documents import DocumentRepository
from .register.parties import PartyRepository
from .register.spatial_units import SettlementRepository, SpatialUnitRepository
from .register.tenure import TenureRepository
from .store.backend import Backend
from .store.lookups import LookupRepository
from .store.store import Store
from .store.users import UserRepository


class SettlementStore(Store):
    """An open settlement store with its repositories, made once per store."""

    def __init__(self, backend: Backend, *, actor: str, path: str | None) -> None:
        super().__init__(backend, actor=actor, path=path)
        self.lookups = LookupRepository(self)
        self.settlements = SettlementRepository(self)
        self.parties = PartyRepository(self)
        self.spatial_units = SpatialUnitRepository(self)
        self.tenure = TenureRepository(self)
        self.documents = DocumentRepository(self)
        self.users = UserRepository(self)
        self.public_displays = PublicDisplayRepository(self)
        self.objections = ObjectionRepository(self)
        self.certificates = CertificateRepository(self)
