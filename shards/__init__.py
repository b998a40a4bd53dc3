"""screen2section's data contract: sample schema, section tokens, shard writer, manifest,
verification and the streaming reader. Imports neither `augment` nor `train`.

The names below are loaded on first use (PEP 562): the writer imports webdataset, which
imports torch, and a module that needs only the schema or the atomic writes should not
pay for that (`import augment.config` took 1.8 s with eager imports here, 0.04 s without).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ManifestError": "storage.manifest", "build_manifest": "storage.manifest", "load_manifest": "storage.manifest",
    "write_manifest": "storage.manifest",
    "SCHEMA_VERSION": "schema", "Sample": "schema", "SchemaError": "schema", "make_key": "schema",
    "parse_key": "schema", "validate_meta": "schema",
    "Section": "tokens", "derive_sections": "tokens", "SECTION_TYPES": "tokens", "ROLES": "tokens",
    "MAX_CHILDREN": "tokens",
    "ShardWriter": "storage.writer", "read_sidecar": "storage.writer", "write_shard": "storage.writer",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'shards' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
