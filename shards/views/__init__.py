"""What users see of shard sets: the CLIs' shared behaviour, the contact sheet, the export and its card.
May import: every other part of `shards`; nothing of `shards` imports it except `shards.cli`.
"""
