"""Source pairs: a folder of (screenshot, HTML, boxes) found, read, grouped and given true sections.
May import: `shards.storage`, `shards.tokens`, `shards.schema`; never `shards.views`.

`from shards.pairs import read_pairs` is the user's entry point (docs/evaluation.md's); the other
names live in their modules: `pages` (finding and reading pairs) and `groups` (the group rule).
"""
from .pages import PairPage, PairsError, read_pairs

__all__ = ["PairPage", "PairsError", "read_pairs"]
