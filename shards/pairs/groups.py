"""Groups of source pairs: which pages share a site or template (few-shot context, hold-out).

The one owner of the rule: `augment` (samples, splits) and `train` (scoring a folder of pairs,
`shards.pairs`) both read groups through it.

Every source pair belongs to one group, the first of these that applies:

1. `groups.json` in the input folder: a JSON object `{"<source id or file stem>":
   "<group>", ...}`. A key may be the pair's source id or its file stem (the two differ
   only for stems that are not valid ids, `shards.pairs.folder.source_id_for`). The file is
   checked as a whole: a file that is not such an object, a group that is not a printable
   string of 1-200 characters (`shards.schema.group_problem`), or one page listed under
   both its stem and its id with two groups is a `GroupsError` naming the file and every
   bad key. Keys that name no pair of the folder are named in a warning, not an error (a
   pair may have been removed or rejected by `augment render`).
2. the id prefix before the first `__` (double underscore), when both sides are non-empty:
   `shop__home` and `shop__cart` are group `shop`; `a__b__c` is group `a`.
3. the source id itself: every page its own group.

The group of each accepted source is written in its samples (`group`), counted per split in
the manifest (`groups`), and, with `split_by = "group"` (`augment.plan`), decides its
split and fold. `augment synth` writes a `groups.json` (the look family of each page) and
`augment render --urls` one naming each page's host.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..schema import group_problem
from ..storage import atomic

GROUPS_NAME = "groups.json"
SEPARATOR = "__"
MAX_GROUPS_BYTES = 64_000_000  # ~1,000,000 entries; a larger file is refused unread


class GroupsError(ValueError):
    """A groups.json that cannot be used; the message names the file and every bad key."""


def prefix_group(source_id: str) -> str:
    """Rules 2 and 3: the id's prefix before the first `__`, else the id itself."""
    i = source_id.find(SEPARATOR)
    return source_id[:i] if 0 < i < len(source_id) - len(SEPARATOR) else source_id


def read_groups(path: str | Path) -> dict[str, str]:
    """The table of a groups.json file (key -> group), checked: every problem in one error."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_GROUPS_BYTES:
            raise GroupsError(f"{path}: {size} bytes, above the limit of {MAX_GROUPS_BYTES}; not read")
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        if isinstance(e, GroupsError):
            raise
        raise GroupsError(f"{path}: not a groups file ({type(e).__name__}: {str(e)[:200]}); expected a JSON "
                          'object {"<source id or file stem>": "<group>", ...}') from None
    if not isinstance(table, dict):
        raise GroupsError(f"{path}: a JSON {type(table).__name__}, expected an object "
                          '{"<source id or file stem>": "<group>", ...}')
    bad = [f"key {k!r:.80}: the group {why}" for k, v in table.items() if (why := group_problem(v))]
    if bad:
        raise GroupsError(f"{path}: {len(bad)} bad entr{'y' if len(bad) == 1 else 'ies'}: " + "; ".join(bad[:20])
                          + ("; ..." if len(bad) > 20 else ""))
    return table


def assign_groups(pairs: Iterable[tuple[str, str]], input_dir: str | Path) -> tuple[dict[str, str], list[str]]:
    """(source id -> group for every (source id, file stem) of `pairs`, warnings): the rule of
    the module docstring, with `input_dir/groups.json` when there is one."""
    pairs = list(pairs)
    path = Path(input_dir) / GROUPS_NAME
    table = read_groups(path) if path.is_file() else {}
    groups, problems, used = {}, [], set()
    for sid, stem in pairs:
        listed = {k: table[k] for k in dict.fromkeys((sid, stem)) if k in table}
        if len(set(listed.values())) > 1:
            problems.append(f"page {sid} is listed as {stem!r} (group {table[stem]!r}) and as {sid!r} "
                            f"(group {table[sid]!r})")
        used.update(listed)
        groups[sid] = next(iter(listed.values())) if listed else prefix_group(sid)
    if problems:
        raise GroupsError(f"{path}: " + "; ".join(problems[:20]) + ("; ..." if len(problems) > 20 else ""))
    unknown = sorted(set(table) - used)
    warnings = [] if not unknown else [
        f"warning: {path}: {len(unknown)} of its {len(table)} keys name no source pair of the folder (not used): "
        f"{', '.join(unknown[:10])}{'...' if len(unknown) > 10 else ''}"]
    return groups, warnings


def write_groups(folder: str | Path, groups: dict[str, str]) -> Path:
    """Write `groups` as `folder/groups.json` (sorted keys, atomically), merged over the file
    already there: its entries for other ids are kept; a bad existing file is a GroupsError."""
    path = Path(folder) / GROUPS_NAME
    merged = read_groups(path) if path.is_file() else {}
    merged.update(groups)
    for k, v in merged.items():
        if why := group_problem(v):
            raise GroupsError(f"{path}: group of {k!r} {why}")
    atomic.write_json(path, merged)
    return path
