"""The repositories of one open store, created once per store."""
from __future__ import annotations

from .adjudication.adjudication import ObjectionRepository, PublicDisplayRepository
from .certificates.certificates import CertificateRepository
from .register.documents import DocumentRepository
from .store.lookups import LookupRepository
from .register.parties import PartyRepository
from .register.spatial_units import SettlementRepository, SpatialUnitRepository
from .register.tenure import TenureRepository
from .store.users import UserRepository


class Repositories:
    def __init__(self, store) -> None:
        self.lookups = LookupRepository(store)
        self.settlements = SettlementRepository(store)
        self.parties = PartyRepository(store)
        self.spatial_units = SpatialUnitRepository(store)
        self.tenure = TenureRepository(store)
        self.documents = DocumentRepository(store)
        self.users = UserRepository(store)
        self.public_displays = PublicDisplayRepository(store)
        self.objections = ObjectionRepository(store)
        self.certificates = CertificateRepository(store)
