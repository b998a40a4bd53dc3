"""screen2section's data contract: sample schema, section tokens, shard writer, manifest,
verification and the streaming reader. Imports neither `augment` nor `train`."""
from .manifest import ManifestError, build_manifest, load_manifest, write_manifest
from .schema import SCHEMA_VERSION, Sample, SchemaError, make_key, parse_key, validate_meta
from .tokens import Section, derive_sections
from .writer import ShardWriter, read_sidecar, write_shard

__all__ = [
    "SCHEMA_VERSION", "Sample", "SchemaError", "make_key", "parse_key", "validate_meta",
    "Section", "derive_sections", "ShardWriter", "write_shard", "read_sidecar",
    "ManifestError", "build_manifest", "load_manifest", "write_manifest",
]
