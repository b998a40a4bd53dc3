"""What users see of shard sets: the CLIs' shared behaviour, the contact sheet, the export and its card.
May import: every other part of `shards`; only `shards.cli` imports it (and the three CLIs, `cli_support`).
"""
