import hashlib
import os

import pytest

from stdm_plugin.core import MissingReferenceError, ValidationError
from stdm_plugin.core.register.documents import DocumentIntegrityError

JPEG = b"\xff\xd8\xff\xe0" + b"photo of the house" * 10


def test_embedded_document_keeps_bytes_checksum_and_type(store, person):
    doc = store.documents.attach(JPEG, "C:\\photos\\maison.bin", document_type="photo",
                                 party_id=person.id)
    assert doc.file_name == "maison.bin"
    assert doc.mime_type == "image/jpeg"
    assert doc.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert store.documents.content(doc.id) == JPEG
    assert [d.id for d in store.documents.for_record("party_id", person.id)] == [doc.id]


def needs_documents_folder(store):
    if store.documents_dir is None:
        pytest.skip("PostGIS stores keep every document inside the database")


def test_folder_document_is_named_by_checksum_not_by_the_user(store, parcel):
    needs_documents_folder(store)
    doc = store.documents.attach(b"%PDF-1.7 ...", "../../etc/passwd", document_type="other",
                                 spatial_unit_id=parcel.id, storage="folder")
    assert doc.file_name == "passwd"
    stored = os.path.join(store.documents_dir, doc.relative_path)
    assert os.path.realpath(stored).startswith(os.path.realpath(store.documents_dir))
    assert open(stored, "rb").read() == b"%PDF-1.7 ..."
    assert doc.mime_type == "application/pdf"


def test_a_changed_or_missing_file_is_detected(store, person):
    needs_documents_folder(store)
    doc = store.documents.attach(b"signed form v1", "form.txt", document_type="signed_form",
                                 party_id=person.id, storage="folder")
    path = os.path.join(store.documents_dir, doc.relative_path)
    with open(path, "wb") as handle:
        handle.write(b"signed form v2")
    with pytest.raises(DocumentIntegrityError, match="checksum"):
        store.documents.content(doc.id)
    os.remove(path)
    assert [(p.file_name, p.problem) for p in store.documents.verify()] == [
        ("form.txt", "missing")]


def test_document_must_target_exactly_one_existing_record(store, person, parcel):
    with pytest.raises(ValidationError, match="exactly one"):
        store.documents.attach(JPEG, "a.jpg", document_type="photo", party_id=person.id,
                               spatial_unit_id=parcel.id)
    with pytest.raises(MissingReferenceError):
        store.documents.attach(JPEG, "a.jpg", document_type="photo", party_id="ghost")
    assert store.documents.count() == 0
    if store.documents_dir is not None:
        with pytest.raises(MissingReferenceError):
            store.documents.attach(JPEG, "a.jpg", document_type="photo", party_id="ghost",
                                   storage="folder")
        assert not os.path.exists(store.documents_dir) or not any(
            files for _, _, files in os.walk(store.documents_dir))


def test_empty_document_is_refused(store, person):
    with pytest.raises(ValidationError, match="empty"):
        store.documents.attach(b"", "a.jpg", document_type="photo", party_id=person.id)


def test_updating_a_document_keeps_its_embedded_bytes(store, person):
    doc = store.documents.attach(JPEG, "a.jpg", document_type="photo", party_id=person.id)
    store.documents.update(doc.id, document_type="id_scan")
    assert store.documents.content(doc.id) == JPEG
    assert store.documents.get(doc.id).document_type == "id_scan"
