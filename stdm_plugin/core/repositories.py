"""The repositories of one open store, created once per store."""
from __future__ import annotations

from .adjudication import ObjectionRepository, PublicDisplayRepository
from .certificates import CertificateRepository
from .documents import DocumentRepository
from .lookups import LookupRepository
from .parties import PartyRepository
from .spatial_units import SettlementRepository, SpatialUnitRepository
from .tenure import TenureRepository
from .users import UserRepository


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
