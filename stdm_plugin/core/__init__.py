"""The STDM domain, free of Qt and QGIS.

``import stdm_plugin.core`` must work where QGIS is not installed: the
store, schema, migrations and domain rules live here and are tested alone.
This module is the core's front door: the settlement store, its records and
the typed errors. Each capability (store, register, forms, submissions,
adjudication, certificates, safety, exchange, cadastre, packages, demo) is a
subpackage; README.md's developer section says which may import which.
"""
from .settlement_store import SettlementStore
from .store.errors import (
    ConcurrentEditError,
    InvalidGeometryError,
    MissingReferenceError,
    NewerStoreError,
    NotAStoreError,
    ReadOnlyStoreError,
    RecordNotFoundError,
    ShareExceededError,
    StdmError,
    StoreError,
    StoreExistsError,
    StoreLockedError,
    UnknownCrsError,
    ValidationError,
)
from .store.model import Party, Settlement, SocialTenure, SpatialUnit, SupportingDocument
from .store.store import PLUGIN_VERSION

__version__ = PLUGIN_VERSION

__all__ = [
    "ConcurrentEditError", "InvalidGeometryError", "MissingReferenceError", "NewerStoreError",
    "NotAStoreError",
    "Party", "ReadOnlyStoreError", "RecordNotFoundError", "SettlementStore", "Settlement",
    "ShareExceededError", "SocialTenure", "SpatialUnit", "StdmError", "StoreError",
    "StoreExistsError", "StoreLockedError", "SupportingDocument", "UnknownCrsError",
    "ValidationError",
]
