"""Typed errors of the STDM core.

Each refusal the store makes has its own type so that the GUI can show a
precise message and tests can assert the reason, not a string. Every
message names the file, record and field involved when there is one.
"""
from __future__ import annotations

from .redaction import redact


class StdmError(Exception):
    """Base of every error the core raises on purpose."""


class StoreError(StdmError):
    """A problem with the store file or database as a whole."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class NotAStoreError(StoreError):
    """The file exists but is not an STDM settlement store."""


class NewerStoreError(StoreError):
    """The store was written by a newer plugin version than this one."""

    def __init__(self, message: str, path: str | None, found: int, supported: int) -> None:
        super().__init__(message, path)
        self.found = found
        self.supported = supported


class StoreLockedError(StoreError):
    """Another program holds a write lock on the store."""


class ReadOnlyStoreError(StoreError):
    """The store (or its folder) cannot be written."""


class StoreExistsError(StoreError):
    """Refusing to overwrite an existing file when creating a store."""


class UnknownCrsError(StdmError):
    """The coordinate reference system asked for does not exist or cannot be stored."""

    def __init__(self, message: str, crs: str) -> None:
        super().__init__(message)
        self.crs = crs


class ValidationError(StdmError):
    """A record breaks a domain rule. ``table``, ``field`` and ``value`` say where."""

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        field: str | None = None,
        value: object = None,
        record_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.table = table
        self.field = field
        self.value = value
        self.record_id = record_id


class ShareExceededError(ValidationError):
    """The tenure shares on one spatial unit would add up to more than 1."""


class MissingReferenceError(ValidationError):
    """A record points at another record that does not exist (or is retired)."""


class InvalidGeometryError(ValidationError):
    """A geometry is empty, of the wrong type, or not valid."""


class RecordNotFoundError(StdmError):
    """No current record with that id."""

    def __init__(self, table: str, record_id: str) -> None:
        super().__init__(f"No current record in {table} with id {record_id}")
        self.table = table
        self.record_id = record_id


class ConcurrentEditError(StdmError):
    """Someone else saved the record since it was read: nothing was overwritten."""

    def __init__(self, table: str, record_id: str, changed_by: str | None,
                 changed_at: str | None) -> None:
        super().__init__(
            f"{table} {record_id} was changed by {changed_by or 'someone'} at "
            f"{changed_at or 'an unknown time'} after you opened it; nothing was overwritten. "
            "Reload it and make your change again.")
        self.table = table
        self.record_id = record_id
        self.changed_by = changed_by
        self.changed_at = changed_at


class SubmissionValueError(ValidationError):
    """One answer of an imported submission that cannot be taken as it is.

    ``kind`` names the problem (``unknown_choice``, ``bad_date``,
    ``bad_number``, ``bad_geometry``, ``missing_media``,
    ``required_missing``...) so that the import report, and a test, can say
    which without parsing the message.
    """

    def __init__(self, message: str, *, kind: str, field: str | None = None,
                 value: object = None) -> None:
        super().__init__(message, field=field, value=value)
        self.kind = kind


class SubmissionFileError(StdmError):
    """An export file that cannot be read at all (encoding, format, missing sheet).

    ``line`` and ``offset`` say where in the file, when known.
    """

    def __init__(self, message: str, *, path: str, kind: str, line: int | None = None,
                 offset: int | None = None, value: object = None) -> None:
        super().__init__(message)
        self.path = path
        self.kind = kind
        self.line = line
        self.offset = offset
        self.value = value


class MappingError(StdmError):
    """A submission field mapping that does not hold together; says where in it."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class ClaimLockedError(ValidationError):
    """A claim past enumeration was edited or deleted without being sent back first."""


class PermissionDeniedError(StdmError):
    """The person working does not have the role this action needs."""

    def __init__(self, message: str, *, action: str, role: str | None,
                 needed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.action = action
        self.role = role
        self.needed = needed


class AccountLockedError(PermissionDeniedError):
    """Too many wrong passwords in a row: signing in waits until ``locked_until``."""

    def __init__(self, message: str, *, locked_until: str) -> None:
        super().__init__(message, action="sign_in", role=None, needed=())
        self.locked_until = locked_until


class AdjudicationError(ValidationError):
    """A claim cannot move to the state asked for (wrong state, open objection...)."""


class CertificateRefusedError(StdmError):
    """A parcel cannot be certified now; ``reasons`` holds one readable sentence each."""

    def __init__(self, parcel_code: str, reasons: list[str]) -> None:
        super().__init__(f"No certificate for {parcel_code}: " + " ".join(reasons))
        self.parcel_code = parcel_code
        self.reasons = list(reasons)


class CertificateStatusError(ValidationError):
    """A register act that the certificate's status forbids (reprinting a revoked one...)."""


class SpatialFileError(StdmError):
    """A Shapefile, GeoPackage or GeoJSON file that cannot be read at all.

    ``kind`` says why (``missing_file``, ``zip_archive``, ``not_spatial``,
    ``missing_sidecar``, ``layer``, ``empty_layer``, ``encoding``,
    ``wrong_geometry_type``, ``unreadable``...); ``path`` and ``layer`` say
    which file. Problems of single features are not errors but
    ``spatial_files.FeatureProblem`` entries of the import report.
    """

    def __init__(self, message: str, *, path: str, kind: str, layer: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.kind = kind
        self.layer = layer


class SourceCrsError(SpatialFileError):
    """The file's coordinate reference system is missing or not understood.

    The caller can read the file anyway by giving the CRS its coordinates
    are in (``source_crs``), e.g. after asking the user.
    """


class ExportError(StdmError):
    """An export that cannot be made (bad choice, unwritable target, failed write).

    Nothing is left at the target when it is raised; the message never
    carries an ID or phone number (it is redacted here, whoever wrote it).
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(redact(message))
        self.path = path


class ExportTargetExistsError(ExportError):
    """The export would overwrite files that are already there (and overwrite was not asked)."""


class FieldPackageError(StdmError):
    """A field package that cannot be made or merged; nothing was written.

    ``kind`` says why, for the GUI and tests: ``area``, ``target_exists``,
    ``not_a_package``, ``corrupt``, ``other_store``, ``unknown_base``,
    ``older_schema``, ``newer_schema``, ``unresolved``, ``conflict_choice``,
    ``rule``, ``document``, ``stale``, ``protected`` (a package setting what only the
    office's own actions may set).
    """

    def __init__(self, message: str, *, kind: str, path: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path


class PackageCancelledError(StdmError):
    """The caller asked to stop cutting or merging a package; nothing was written."""
