"""The STDM domain, free of Qt and QGIS.

``import stdm_plugin.core`` must work where QGIS is not installed: the
store, schema, migrations and domain rules live here and are tested alone.
"""
__version__ = "0.1.0"

from .store.errors import (  # noqa: E402
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
from .store.model import Party, Settlement, SocialTenure, SpatialUnit, SupportingDocument  # noqa: E402
from .store.store import SettlementStore  # noqa: E402

__all__ = [
    "ConcurrentEditError", "InvalidGeometryError", "MissingReferenceError", "NewerStoreError",
    "NotAStoreError",
    "Party", "ReadOnlyStoreError", "RecordNotFoundError", "SettlementStore", "Settlement",
    "ShareExceededError", "SocialTenure", "SpatialUnit", "StdmError", "StoreError",
    "StoreExistsError", "StoreLockedError", "SupportingDocument", "UnknownCrsError",
    "ValidationError",
]
