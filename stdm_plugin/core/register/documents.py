"""Supporting documents (LADM sources): photos, ID scans, signed forms.

A document is kept inside the store (a BLOB, the default: a copied store
carries its evidence) or in the documents folder beside it, named by its
SHA-256 so that no user-supplied name decides where a file is written.
Either way its checksum is recorded and checked when it is read back.
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from dataclasses import dataclass

from ..store.errors import MissingReferenceError, StdmError, ValidationError
from ..store.model import SupportingDocument
from ..store.records import RecordRepository, require

TARGETS = {"party_id": "parties", "spatial_unit_id": "spatial_units",
           "social_tenure_id": "tenure"}
MAX_DOCUMENT_BYTES = 200 * 1024 * 1024
# File signatures for the kinds of evidence field teams bring back.
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
    (b"GIF8", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


class DocumentIntegrityError(StdmError):
    """A stored document is missing or its bytes no longer match its SHA-256."""


@dataclass
class DocumentProblem:
    document_id: str
    file_name: str
    problem: str


def sniff_mime(content: bytes, file_name: str) -> str:
    for signature, mime in SIGNATURES:
        if content.startswith(signature):
            return mime
    if content[8:12] == b"WEBP" and content.startswith(b"RIFF"):
        return "image/webp"
    guessed, _ = mimetypes.guess_type(file_name)
    return guessed or "application/octet-stream"


class DocumentRepository(RecordRepository):
    table = "supporting_document"
    record_class = SupportingDocument
    unselected_columns = ("content",)  # read on demand by content()

    def validate(self, record: SupportingDocument) -> None:
        targets = [f for f in TARGETS if getattr(record, f)]
        require(len(targets) == 1,
                "A document is attached to exactly one party, spatial unit or tenure record",
                table=self.table, field="party_id", record_id=record.id)
        self.store.lookups.check(self.table, "document_type", record.document_type,
                                 record_id=record.id, required=True)
        field = targets[0]
        repo = getattr(self.store, TARGETS[field])
        if not repo.exists(getattr(record, field)):
            raise MissingReferenceError(
                f"Document {record.file_name!r} is attached to {repo.table} "
                f"{getattr(record, field)!r}, which does not exist", table=self.table,
                field=field, value=getattr(record, field), record_id=record.id)

    def attach(self, content: bytes, file_name: str, *, document_type: str,
               party_id: str | None = None, spatial_unit_id: str | None = None,
               social_tenure_id: str | None = None, storage: str = "embedded",
               mime_type: str | None = None,
               submission_id: str | None = None) -> SupportingDocument:
        """Store ``content`` as evidence for one record; returns the new document.

        ``submission_id`` names the imported submission that brought the file.
        """
        require(storage in ("embedded", "folder"), f"Unknown storage {storage!r}",
                table=self.table, field="storage", value=storage)
        require(0 < len(content) <= MAX_DOCUMENT_BYTES,
                f"{file_name!r} is empty or larger than {MAX_DOCUMENT_BYTES // 2**20} MiB",
                table=self.table, field="size_bytes", value=len(content))
        name = os.path.basename(file_name.replace("\\", "/")) or "document"
        digest = hashlib.sha256(content).hexdigest()
        record = SupportingDocument(
            party_id=party_id, spatial_unit_id=spatial_unit_id,
            social_tenure_id=social_tenure_id, document_type=document_type, file_name=name,
            mime_type=mime_type or sniff_mime(content, name), sha256=digest,
            size_bytes=len(content), storage=storage, submission_id=submission_id)
        written = None
        if storage == "folder":
            record.relative_path = f"{digest[:2]}/{digest}"
            written = self._write_to_folder(record.relative_path, content)
        else:
            record.content = content
        try:
            self.add(record)
        except BaseException:
            if written:  # the file is only kept if its record landed
                self._remove_if_unreferenced(record.relative_path)  # type: ignore[arg-type]
            raise
        return record

    def attach_file(self, path: str, **kwargs) -> SupportingDocument:
        with open(path, "rb") as handle:
            content = handle.read()
        return self.attach(content, os.path.basename(path), **kwargs)

    def _folder_path(self, relative_path: str) -> str:
        base = self.store.documents_dir
        if base is None:
            raise ValidationError("This store has no documents folder", table=self.table,
                                  field="storage")
        full = os.path.realpath(os.path.join(base, relative_path))
        if not full.startswith(os.path.realpath(base) + os.sep):
            raise ValidationError(f"Document path {relative_path!r} leaves the documents folder",
                                  table=self.table, field="relative_path", value=relative_path)
        return full

    def _write_to_folder(self, relative_path: str, content: bytes) -> str | None:
        full = self._folder_path(relative_path)
        if os.path.exists(full):
            return None  # same bytes already stored (named by checksum)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(full), prefix=".incoming-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, full)
        return full

    def _remove_if_unreferenced(self, relative_path: str) -> None:
        used = self.db.scalar("SELECT count(*) FROM supporting_document WHERE relative_path = ?",
                              (relative_path,))
        if not used:
            os.remove(self._folder_path(relative_path))

    def content(self, document_id: str) -> bytes:
        """The document's bytes, refused if they no longer match the recorded SHA-256."""
        record = self.get(document_id, include_retired=True)
        data = self._raw_content(record)  # type: ignore[arg-type]
        if data is None:
            raise DocumentIntegrityError(
                f"Document {record.file_name!r} ({document_id}) is missing from "
                f"{self.store.documents_dir}")
        if hashlib.sha256(data).hexdigest() != record.sha256:
            raise DocumentIntegrityError(
                f"Document {record.file_name!r} ({document_id}) does not match its checksum")
        return data

    def _raw_content(self, record: SupportingDocument) -> bytes | None:
        if record.storage == "embedded":
            blob = self.db.scalar("SELECT content FROM supporting_document WHERE id = ?",
                                  (record.id,))
            return None if blob is None else bytes(blob)
        path = self._folder_path(record.relative_path or "")
        if not os.path.exists(path):
            return None
        with open(path, "rb") as handle:
            return handle.read()

    def verify(self) -> list[DocumentProblem]:
        """Every document that is missing or whose bytes changed."""
        problems = []
        for record in self.find(include_retired=True):
            data = self._raw_content(record)  # type: ignore[arg-type]
            if data is None:
                problems.append(DocumentProblem(record.id, record.file_name, "missing"))
            elif hashlib.sha256(data).hexdigest() != record.sha256:
                problems.append(DocumentProblem(record.id, record.file_name,
                                                "checksum mismatch"))
        return problems

    def for_record(self, field: str, record_id: str) -> list[SupportingDocument]:
        require(field in TARGETS, f"Unknown document target {field!r}", table=self.table,
                field=field)
        return self.find(f"{field} = ?", (record_id,))  # type: ignore[return-value]
