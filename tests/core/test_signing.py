"""Office keys, the signed QR payload, and what a check says about a scanned code, on both
backends: valid, revoked, superseded, forged (each kind of tampering), malformed; and no
text at all makes a check raise."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
from certificate_samples import (
    KEY_PASSPHRASE,
    TODAY,
    FakeRender,
    approved_parcels_for_test,
    with_people,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stdm_plugin.core.certificates.certificates import find_certificate, issue_certificate
from stdm_plugin.core.certificates.office_keys import (
    active_office_key,
    export_public_keys,
    office_keys,
)
from stdm_plugin.core.certificates.signing import (
    MalformedPayloadError,
    OfficeKeyError,
    parse_payload,
    sign,
    verify_signature,
)
from stdm_plugin.core.certificates.verification import verify_payload

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture
def issued(store, tmp_path):
    with_people(store)
    [unit] = approved_parcels_for_test(store, 1)
    return issue_certificate(store, unit.id, FakeRender(), str(tmp_path / "out"), today=TODAY)


def with_part(payload: str, index: int, change) -> str:
    parts = payload.split("|")
    parts[index] = change(parts[index])
    return "|".join(parts)


def flip(text: str, at: int) -> str:
    """Change one character for another of the same alphabet."""
    char = text[at]
    other = "B" if char != "B" else "C"
    if char.isdigit():
        other = "7" if char != "7" else "8"
    return text[:at] + other + text[at + 1:]


# --- parsing -------------------------------------------------------------------------------
def test_parse_payload(issued):
    parsed = parse_payload(issued.qr_payload)
    assert parsed.number == issued.number and len(parsed.signature) == 64
    assert parsed.message == issued.qr_payload.rsplit("|", 1)[0]
    assert parse_payload(issued.qr_payload + "\r\n") == parsed  # a scanner's line end


@pytest.mark.parametrize("bad, says", [
    ("", "not a certificate code"),
    ("hello", "not a certificate code"),
    ("STDM2|KOU-2026-000001|a|b|c", "not a certificate code"),
    ("STDM2|KOU-2026-000001|2026-13-01|" + "A" * 43 + "|0123456789abcdef|" + "A" * 86, "date"),
    ("STDM2|KOU-2026-000001|26-01-01|" + "A" * 43 + "|0123456789abcdef|" + "A" * 86, "date"),
    ("STDM2|KOU-2026-000001|" + "A" * 43 + "|0123456789abcdef|" + "A" * 86, "not a"),
    ("STDM1|KOU-2026-000001|a|b", "not a certificate code"),
    ("STDM1|KOU 2026 000001|" + "A" * 43 + "|0123456789abcdef|" + "A" * 86, "number"),
    ("STDM1|KOU-2026-1|" + "A" * 43 + "|0123456789abcdef|" + "A" * 86, "number"),
    ("STDM1|KOU-2026-٠٠٠٠٠١|" + "A" * 43 + "|0123456789abcdef|" + "A" * 86, "number"),
    ("STDM1|KOU-2026-000001|" + "A" * 42 + "|0123456789abcdef|" + "A" * 86, "digest"),
    ("STDM1|KOU-2026-000001|" + "A" * 42 + "=|0123456789abcdef|" + "A" * 86, "digest"),
    ("STDM1|KOU-2026-000001|" + "A" * 42 + "B|0123456789abcdef|" + "A" * 86, "canonical"),
    ("STDM1|KOU-2026-000001|" + "A" * 43 + "|0123456789ABCDEF|" + "A" * 86, "key id"),
    ("STDM1|KOU-2026-000001|" + "A" * 43 + "|0123456789abcde|" + "A" * 86, "key id"),
    ("STDM1|KOU-2026-000001|" + "A" * 43 + "|0123456789abcdef|" + "A" * 85, "signature"),
    ("STDM1|KOU-2026-000001|" + "A" * 43 + "|0123456789abcdef|" + "A" * 85 + "+", "signature"),
    ("STDM1|KOU-2026-000001|" + "A" * 43 + "|0123456789abcdef|" + "A" * 86 + "|", "not a"),
    ("STDM1|" + "K" * 400, "too long"),
])
def test_malformed_payloads(store, bad, says):
    with pytest.raises(MalformedPayloadError, match=says):
        parse_payload(bad)
    checked = verify_payload(store, bad)
    assert checked.status == "malformed" and says in checked.details and checked.number is None


def test_not_text_is_malformed(store):
    for thing in (None, b"STDM1|x", 42, ["STDM1"]):
        assert verify_payload(store, thing).status == "malformed"


# --- tampering -----------------------------------------------------------------------------
def test_one_changed_character_is_forged(store, issued):
    payload = issued.qr_payload
    number_changed = with_part(payload, 1, lambda n: n[:-1] + ("2" if n[-1] != "2" else "3"))
    date_changed = with_part(payload, 2, lambda d: d[:-1] + ("2" if d[-1] != "2" else "3"))
    digest_changed = with_part(payload, 3, lambda d: flip(d, 10))
    signature_changed = with_part(payload, 5, lambda s: flip(s, 20))
    for forged in (number_changed, date_changed, digest_changed, signature_changed):
        checked = verify_payload(store, forged)
        assert checked.status == "forged", forged
        assert checked.reason in ("bad_signature", "unknown_key", "not_in_register",
                                  "hash_mismatch"), forged
        assert "does not match its content" in checked.details
    key_changed = with_part(payload, 4, lambda k: k[:3] + ("0" if k[3] != "0" else "1") + k[4:])
    assert "never had" in verify_payload(store, key_changed).details


def test_another_office_key_is_forged(new_store, tmp_path):
    ours, theirs = new_store(), new_store()
    for store in (ours, theirs):
        with_people(store)
    [unit] = approved_parcels_for_test(ours, 1)
    issued = issue_certificate(ours, unit.id, FakeRender(), str(tmp_path), today=TODAY)
    cert = find_certificate(ours, issued.number)
    _, counterfeit = sign(theirs.signer, cert.number, cert.snapshot_sha256, TODAY)
    checked = verify_payload(ours, counterfeit)
    assert checked.status == "forged" and "never had" in checked.details
    assert checked.reason == "unknown_key"
    assert verify_payload(theirs, issued.qr_payload).status == "forged"
    ours_public = active_office_key(ours).public_key
    assert verify_signature(ours_public, issued.qr_payload)
    assert not verify_signature(ours_public, counterfeit)
    assert not verify_signature(active_office_key(theirs).public_key, issued.qr_payload)


def test_right_signature_over_the_wrong_content_is_forged(store, issued):
    """What a thief of the office key could make: the register still tells."""
    cert = find_certificate(store, issued.number)
    day = cert.issued_at[:10]
    _, unknown_number = sign(store.signer, "KOU-2026-000777", cert.snapshot_sha256, day)
    checked = verify_payload(store, unknown_number)
    assert checked.status == "forged" and "no certificate KOU-2026-000777" in checked.details
    assert checked.reason == "not_in_register"
    other_content = hashlib.sha256(b"another parcel").hexdigest()
    _, changed_content = sign(store.signer, cert.number, other_content, day)
    checked = verify_payload(store, changed_content)
    assert checked.status == "forged" and "differs from certificate" in checked.details
    assert checked.reason == "hash_mismatch"


def test_tampered_register_is_forged(store, issued):
    cert = find_certificate(store, issued.number)
    content = json.loads(cert.snapshot)
    content["holders"][0]["name"] = "Someone Else"
    changed = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(Exception, match="cannot be changed"):  # the database rule holds...
        with store.transaction():
            store.db.execute("UPDATE certificate SET snapshot = ? WHERE id = ?",
                             (changed, cert.id))
    with store.transaction():  # ...until someone with the file or the server drops it
        if store.db.dialect == "spatialite":
            store.db.execute("DROP TRIGGER certificate_frozen")
        else:
            store.db.execute("ALTER TABLE certificate DISABLE TRIGGER certificate_kept")
        store.db.execute("UPDATE certificate SET snapshot = ? WHERE id = ?", (changed, cert.id))
    checked = verify_payload(store, issued.qr_payload)
    assert checked.status == "forged" and checked.details.startswith("Register tampered")
    assert checked.reason == "register_tampered"


# --- keys and offline checks ---------------------------------------------------------------
def test_keys_and_offline_check(store, issued, tmp_path):
    [key] = office_keys(store)
    assert key.id == hashlib.sha256(base64.b64decode(key.public_key)).hexdigest()[:16]
    assert key.retired_at is None and key.created_by == "admin"
    private = store.db.scalar("SELECT private_key FROM office_key")
    assert private.startswith("stdm-key1:scrypt:") and KEY_PASSPHRASE not in private
    assert store.signer._private.hex() not in private  # kept encrypted, never in the clear
    assert base64.b64encode(store.signer._private).decode() not in private
    exported = export_public_keys(store, str(tmp_path / "keys.json"))
    assert private not in exported
    with open(tmp_path / "keys.json", encoding="utf-8") as handle:
        assert json.load(handle) == json.loads(exported)
    assert verify_signature(json.loads(exported)["keys"][0]["public_key"], issued.qr_payload)
    assert not verify_signature(key.public_key, "garbage")
    with pytest.raises(OfficeKeyError):
        verify_signature("not a key", issued.qr_payload)


# --- nothing raises ------------------------------------------------------------------------
PART = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=100)
B64 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/",
              min_size=40, max_size=90)


@FUZZ
@given(text=st.one_of(
    st.text(max_size=400),
    st.builds(lambda parts: "|".join(parts), st.lists(PART, max_size=7)),
    st.builds(lambda n, d, k, s: f"STDM1|{n}|{d}|{k}|{s}",
              st.from_regex(r"[A-Za-z0-9_-]{1,12}-[0-9]{5,10}", fullmatch=True),
              B64, st.from_regex(r"[0-9a-fA-F]{14,18}", fullmatch=True), B64),
    st.builds(lambda n, t, d, k, s: f"STDM2|{n}|{t}|{d}|{k}|{s}",
              st.from_regex(r"[A-Za-z0-9_-]{1,12}-[0-9]{5,10}", fullmatch=True),
              st.from_regex(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,3}", fullmatch=True),
              B64, st.from_regex(r"[0-9a-fA-F]{14,18}", fullmatch=True), B64)))
def test_any_text_gets_an_answer(store, text):
    checked = verify_payload(store, text)
    assert checked.status in ("malformed", "forged")
    assert checked.details
    assert verify_signature("A" * 43 + "=", text) in (True, False)


@FUZZ
@given(data=st.data())
def test_mutations_of_a_real_payload(store, issued, data):
    payload = issued.qr_payload
    at = data.draw(st.integers(0, len(payload) - 1))
    inserted = data.draw(st.text(min_size=0, max_size=3))
    cut = data.draw(st.integers(0, 2))
    mutated = payload[:at] + inserted + payload[at + cut:]
    checked = verify_payload(store, mutated)
    if mutated.strip(" \t\r\n") == payload:
        assert checked.status == "valid"
    else:
        assert checked.status in ("malformed", "forged"), mutated


def test_without_cryptography_the_pure_path_signs_the_same_bytes(store, issued, monkeypatch):
    """A stock Windows QGIS has no ``cryptography``: certificates still sign and verify."""
    import sys

    from stdm_plugin.core.certificates import signing
    from stdm_plugin.core.certificates.certificates import find_certificate

    cert = find_certificate(store, issued.number)
    with_library = sign(store.signer, cert.number, cert.snapshot_sha256, cert.issued_at[:10])
    for name in ("cryptography", "cryptography.hazmat.primitives.asymmetric",
                 "cryptography.hazmat.primitives.asymmetric.ed25519"):
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    assert signing.signing_library() == "pure Python"
    assert sign(store.signer, cert.number, cert.snapshot_sha256,
                cert.issued_at[:10]) == with_library  # Ed25519 is deterministic
    assert verify_payload(store, issued.qr_payload).status == "valid"
    assert verify_payload(store, altered(issued.qr_payload)).status == "forged"
    assert verify_signature(active_office_key(store).public_key, issued.qr_payload)
    with pytest.raises(OfficeKeyError):  # 32 bytes, but not a point of the curve
        verify_signature(base64.b64encode(b"\xff" * 32).decode(), "STDM1|x")


def altered(payload: str) -> str:
    head, signature = payload.rsplit("|", 1)
    return f"{head}|{flip(signature, 5)}"
