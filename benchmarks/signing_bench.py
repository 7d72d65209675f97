#!/usr/bin/env python3
"""Signing benchmark: the pure-Python Ed25519 (what a stock Windows QGIS signs with) against
``cryptography`` (OpenSSL), and what unlocking the office key costs.

Each variant signs, then verifies, ``n`` certificate payloads of the real form
(``STDM2|number|date|digest|key|signature``) with one key, in this process,
interleaved over the repeats; the median per operation is reported with the
ratio to ``cryptography`` measured in the same run. ``unlock`` is one scrypt
derivation and decryption of the office key (key_vault.unprotect), which a
batch of certificates does once.
"""
from __future__ import annotations

import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _payloads(n: int) -> list[bytes]:
    import hashlib

    from stdm_plugin.core.certificates.signing import b64url

    return [f"STDM2|KOU-2026-{i:06d}|2026-12-07|"
            f"{b64url(hashlib.sha256(str(i).encode()).digest())}|0123456789abcdef".encode()
            for i in range(1, n + 1)]


def _pure(private: bytes, payloads: list[bytes]) -> tuple[float, float]:
    from stdm_plugin.core.certificates import ed25519

    public = ed25519.public_key(private)
    start = time.perf_counter()
    signatures = [ed25519.sign(private, p) for p in payloads]
    signed = time.perf_counter()
    assert all(ed25519.verify(public, p, s) for p, s in zip(payloads, signatures))
    return signed - start, time.perf_counter() - signed


def _library(private: bytes, payloads: list[bytes]) -> tuple[float, float]:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.from_private_bytes(private)
    public = key.public_key()
    start = time.perf_counter()
    signatures = [ed25519.Ed25519PrivateKey.from_private_bytes(private).sign(p)
                  for p in payloads]  # as sign_bytes does: the key loaded per signature
    signed = time.perf_counter()
    for p, s in zip(payloads, signatures):
        public.verify(s, p)
    return signed - start, time.perf_counter() - signed


def _unlock() -> float:
    from stdm_plugin.core.certificates.key_vault import protect, unprotect

    stored = protect(bytes(32), "a passphrase of several words")
    start = time.perf_counter()
    unprotect(stored, "a passphrase of several words")
    return time.perf_counter() - start


def bench(n: int, repeat: int) -> None:
    import os

    private = os.urandom(32)
    payloads = _payloads(n)
    runs: dict[str, list[tuple[float, float]]] = {"pure_python": [], "cryptography": []}
    unlocks = []
    for _ in range(repeat):
        runs["pure_python"].append(_pure(private, payloads))
        runs["cryptography"].append(_library(private, payloads))
        unlocks.append(_unlock())
    print(f"Signing: {n} certificate payloads signed then verified with one key "
          f"(median of {repeat}, interleaved)")
    print(f"{'variant':<14}{'sign ms':>10}{'verify ms':>11}{'signs/s':>10}")
    medians = {}
    for variant, times in runs.items():
        sign_ms = statistics.median(t[0] for t in times) / n * 1000
        verify_ms = statistics.median(t[1] for t in times) / n * 1000
        medians[variant] = (sign_ms, verify_ms)
        print(f"{variant:<14}{sign_ms:>10.3f}{verify_ms:>11.3f}{1000 / sign_ms:>10.0f}")
    pure, library = medians["pure_python"], medians["cryptography"]
    print(f"ratio pure_python/cryptography: sign {pure[0] / library[0]:.0f}x, "
          f"verify {pure[1] / library[1]:.0f}x")
    print(f"unlock (scrypt + decrypt, once per batch): "
          f"{statistics.median(unlocks) * 1000:.0f} ms")
