"""Stable numbers from text: the one way both stages turn a name into a seed or a fraction.

Python's `hash()` is salted per process, so anything that must come out the same in every
worker, on every machine and in every rerun (op generators, split and fold assignment,
per-epoch sample dropping) hashes with sha256 instead: the first 8 bytes of the digest of
the UTF-8 text, read little-endian. Changing this changes every split and every augmented
byte, so it lives here once.
"""
from __future__ import annotations

import hashlib


def hash64(text: str) -> int:
    """An unsigned 64-bit integer from `text` (sha256 of its UTF-8 bytes, first 8 bytes little-endian)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def hash_unit(text: str) -> float:
    """A number in [0, 1) from `text`, uniform over texts: `hash64(text) / 2**64`."""
    return hash64(text) / 2**64
