"""Section labels: what a section token is and the one rule that reads it off a page's HTML and boxes.
May import: nothing else of `shards` (lxml and numpy only); `shards.schema` and everything above import it.

One idea per module; `rule` puts them together and its `__all__` is this package's API
(`shards.tokens.derive_sections`, the closed tables, the section walk), loaded on first use:
`shards.schema` needs only `vocab` and should not pay for lxml and numpy.

- `vocab`: the closed tables (section types, child roles, class synonyms, landmarks);
- `htmlparse`: the one HTML parser, bounded in bytes and depth, every stage reads pages with;
- `walk`: the semantic section walk and a section's type from its markup;
- `roles`: a section's children roles, and schema 1's raw token;
- `blocks`: visual blocks, the sections of pages whose markup names too few;
- `fill`: every visible part in a section: gaps, tall columns split, unnamed blocks typed;
- `coverage`: the share of a page's content inside its sections (the measure of `fill`);
- `rule`: `derive_sections`, the section rule both stages use.
"""
from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    rule = importlib.import_module(".rule", __name__)
    if name not in rule.__all__:
        raise AttributeError(f"module 'shards.tokens' has no attribute {name!r}")
    value = getattr(rule, name)
    globals()[name] = value
    return value
