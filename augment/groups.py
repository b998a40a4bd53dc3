"""Groups of source pairs for augment: the rule itself is `shards.pairs.groups` (one owner, shared
with `train evaluate --pairs`); this module adds what only augment needs, `SPLIT_BY`.

The group of each accepted source is written in its samples (`group`), counted per split in
the manifest (`groups`), and, with `split_by = "group"` (`augment.plan`), decides its
split and fold.
"""
from __future__ import annotations

from collections.abc import Callable

from shards.pairs.groups import (GROUPS_NAME, MAX_GROUPS_BYTES, SEPARATOR, GroupsError, assign_groups, prefix_group,
                                 read_groups, write_groups)

__all__ = ["GROUPS_NAME", "MAX_GROUPS_BYTES", "SEPARATOR", "SPLIT_BY", "GroupsError", "assign_groups",
           "prefix_group", "read_groups", "write_groups"]
# `split_by` setting -> the unit whose hash picks a source's split and fold (source id, group)
SPLIT_BY: dict[str, Callable[[str, str], str]] = {
    "source": lambda source_id, group: source_id,
    "group": lambda source_id, group: group,
}
