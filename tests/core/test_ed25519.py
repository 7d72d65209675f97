"""The pure-Python Ed25519 (core/certificates/ed25519.py) that signs certificates where the
``cryptography`` package is missing: RFC 8032's test vectors, the same bytes as
``cryptography`` for random keys and messages, and a refusal, never an exception, for
every malformed key or signature."""
from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stdm_plugin.core.certificates import ed25519

#: RFC 8032, section 7.1: TEST 1, TEST 2 and TEST 3 (private key, public key, message, signature)
RFC_VECTORS = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701"
     "cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f361"
     "3d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f76"
     "0984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


@pytest.mark.parametrize("private, public, message, signature", RFC_VECTORS)
def test_rfc_8032_vectors(private, public, message, signature):
    private, message = bytes.fromhex(private), bytes.fromhex(message)
    assert ed25519.public_key(private).hex() == public
    assert ed25519.sign(private, message).hex() == signature
    assert ed25519.verify(bytes.fromhex(public), message, bytes.fromhex(signature))
    assert not ed25519.verify(bytes.fromhex(public), message + b"\0", bytes.fromhex(signature))


@settings(max_examples=40, deadline=None, database=None)
@given(private=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300))
def test_the_same_bytes_as_cryptography(private, message):
    library = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization

    theirs = library.Ed25519PrivateKey.from_private_bytes(private)
    public = theirs.public_key().public_bytes(serialization.Encoding.Raw,
                                              serialization.PublicFormat.Raw)
    assert ed25519.public_key(private) == public
    assert ed25519.sign(private, message) == theirs.sign(message)
    assert ed25519.verify(public, message, theirs.sign(message))


def test_signatures_that_are_not_canonical_or_not_points_are_refused():
    private, public_hex, _, signature_hex = RFC_VECTORS[1]
    public, signature = bytes.fromhex(public_hex), bytes.fromhex(signature_hex)
    message = b"\x72"
    r_part, s = signature[:32], int.from_bytes(signature[32:], "little")
    # S + L verifies the same equation; RFC 8032 and OpenSSL refuse it (malleability)
    assert not ed25519.verify(public, message, r_part + (s + ed25519.L).to_bytes(32, "little"))
    not_a_point = (2 ** 255 - 1).to_bytes(32, "little")  # y >= p: no canonical encoding
    assert not ed25519.verify(public, message, not_a_point + signature[32:])
    assert not ed25519.verify(not_a_point, message, signature)
    assert not ed25519.is_public_key(not_a_point) and ed25519.is_public_key(public)
    for wrong in (b"", public[:31], public + b"\0"):
        assert not ed25519.verify(wrong, message, signature)
    for wrong in (b"", signature[:63], signature + b"\0"):
        assert not ed25519.verify(public, message, wrong)
    with pytest.raises(ValueError, match="32 bytes"):
        ed25519.sign(b"short", message)


@settings(max_examples=60, deadline=None, database=None)
@given(public=st.binary(min_size=32, max_size=32), signature=st.binary(min_size=64,
                                                                        max_size=64))
def test_any_bytes_get_an_answer(public, signature):
    assert ed25519.verify(public, b"STDM2|x", signature) in (True, False)


def test_keys_are_random_and_sign_deterministically():
    first, second = ed25519.generate_private_key(), ed25519.generate_private_key()
    assert first != second and len(first) == 32
    message = hashlib.sha256(os.urandom(8)).digest()
    assert ed25519.sign(first, message) == ed25519.sign(first, message)
    assert not ed25519.verify(ed25519.public_key(second), message, ed25519.sign(first, message))
