"""Storage: how samples land on disk and come back: atomic writes, locks, hashing, image reading,
tar members, the shard writer and reader, the manifest, versions and verification.
May import: `shards.schema` (and through it `shards.tokens`); never `shards.pairs` or `shards.views`.
"""
