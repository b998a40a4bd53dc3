"""The pieces of section labelling, one idea per module; `shards.tokens` puts them together.

- `vocab`: the closed tables (section types, child roles, class synonyms, landmarks);
- `walk`: the semantic section walk and a section's type from its markup;
- `roles`: a section's children roles, and schema 1's raw token;
- `blocks`: visual blocks, the sections of pages whose markup names too few;
- `fill`: every visible part in a section: gaps, tall columns split, unnamed blocks typed;
- `coverage`: the share of a page's content inside its sections (the measure of `fill`).
"""
