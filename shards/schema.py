"""The sample schema (version 3): what one sample in a shard is, and how it is checked.

A sample is three tar members sharing one key `<source id>_v<NN>` (variant 00 is the
untouched source): the screenshot (`png`, `jpg` or `webp`), the HTML (`html`) and the
metadata (`json`). The metadata fields are listed in `META_FIELDS`; DESIGN.md explains
each. Each entry of `sections` is ``{"type", "children", "token", "raw_token", "tag",
"box", "xpath", "region"}`` and each of `regions` ``{"type", "box", "xpath"}``
(`shards.tokens`: version 3 has the two levels of issue 35, the page's regions and the
sections inside them, ``region`` the index of a section's region); every list in the JSON holds one type of value, so
Arrow-based readers (HuggingFace `datasets`) can load it. Validation returns messages
naming the key and the field, never raises, so that `verify` can report every problem of
a shard at once.

`group` (the site or template a page belongs to, `augment.groups`) entered version 2 with
the few-shot issue (20): a sample written before it lacks the field, and a reader takes the
default `META_DEFAULTS` names (its own `source`: every page its own group), so older
version-2 shards stay readable and older readers ignore the new field. `sample_group(meta)`
applies the default.

Versions 1 (tokens only) and 2 (one level of sections, no regions) are refused with
`REBUILD`, which says how to write the shards again: their sections were cut by another rule,
so a model trained on them would learn other labels.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .tokens.vocab import MAX_CHILDREN, REGION_TYPES, ROLES, SECTION_TYPES

SCHEMA_VERSION = 3
REBUILD = ("rebuild the shards with this version: python -m augment run --input SOURCES --out OUT "
           "--overwrite")
IMAGE_EXTS = ("png", "jpg", "webp")
MEMBER_EXTS = frozenset(IMAGE_EXTS + ("html", "json"))
SPLITS = ("train", "val")
SOURCE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
KEY_RE = re.compile(r"^(?P<source>[A-Za-z0-9_-]{1,200})_v(?P<variant>\d{2,})$")

META_FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema": int,
    "source": str,
    "group": str,
    "variant": int,
    "seed": int,
    "split": str,
    "fold": (int, type(None)),
    "size": list,
    "homography": list,
    "ops": list,
    "elements": list,
    "regions": list,
    "sections": list,
    "difficulty": (int, float),
}
# Fields a version-2 sample written before they existed may lack: field -> the field whose
# value stands in for it (issue 20's `group`: absent = the page's own source id).
META_DEFAULTS = {"group": "source"}
MAX_GROUP_CHARS = 200
ELEMENT_FIELDS = ("id", "xpath", "source_xpath", "tag", "classes", "quad", "box", "parent")
SECTION_FIELDS = ("type", "children", "token", "raw_token", "tag", "box", "xpath", "region")
REGION_FIELDS = ("type", "box", "xpath")
# The manifest's vocabulary, per factor of a section label (role: one count per child).
VOCAB_FACTORS = ("token", "type", "role", "raw_token", "tag")


class SchemaError(ValueError):
    """A sample or key that breaks the data contract; the message names key and field."""


def check_source_id(source_id: str) -> str:
    """Return `source_id` if it may appear in a key, else raise naming the rule."""
    if not isinstance(source_id, str) or not SOURCE_ID_RE.match(source_id):
        raise SchemaError(
            f"source id {source_id!r} is not allowed: keys take only [A-Za-z0-9_-], 1-200 chars "
            "(a dot would split the tar member name, so webdataset would mis-group it)"
        )
    return source_id


def make_key(source_id: str, variant: int) -> str:
    """The sample key `<id>_v<NN>`."""
    check_source_id(source_id)
    if not isinstance(variant, int) or variant < 0:
        raise SchemaError(f"variant must be a non-negative int, found {variant!r}")
    return f"{source_id}_v{variant:02d}"


def parse_key(key: str) -> tuple[str, int]:
    """Split a sample key into (source id, variant); raise SchemaError naming the key."""
    m = KEY_RE.match(key) if isinstance(key, str) else None
    if not m:
        raise SchemaError(f"key {key!r} is not of the form <id>_v<NN> with id in [A-Za-z0-9_-]")
    return m["source"], int(m["variant"])


@dataclass
class Sample:
    """One sample ready for the writer: encoded image bytes, HTML text, metadata dict."""

    key: str
    image: bytes
    image_ext: str
    html: str
    meta: dict[str, Any] = field(default_factory=dict)


def group_problem(group: Any) -> str | None:
    """Why `group` cannot be a group id (None when it can): a non-empty printable string of at
    most MAX_GROUP_CHARS characters with no surrounding spaces (a host name, `shop`, `Site A`)."""
    if not isinstance(group, str):
        return f"must be a string, found {type(group).__name__}"
    if not group or len(group) > MAX_GROUP_CHARS or not group.isprintable() or group != group.strip():
        return (f"must be a printable string of 1-{MAX_GROUP_CHARS} characters without surrounding spaces, "
                f"found {group!r:.80}")
    return None


def sample_group(meta: dict[str, Any]) -> str:
    """The group of a sample's metadata: its `group`, else (written before issue 20) its `source`."""
    return meta.get("group", meta[META_DEFAULTS["group"]])


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_matrix(key: str, h: Any) -> list[str]:
    ok = isinstance(h, list) and len(h) == 3 and all(
        isinstance(r, list) and len(r) == 3 and all(_is_number(v) for v in r) for r in h
    )
    return [] if ok else [f"sample {key}: field 'homography' must be a 3x3 list of numbers, found {h!r:.80}"]


def _check_box(key: str, where: str, box: Any) -> list[str]:
    if box is None:
        return []
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
        return [f"sample {key}: {where} 'box' must be [x, y, w, h] numbers or null, found {box!r:.80}"]
    if box[2] < 0 or box[3] < 0:
        return [f"sample {key}: {where} 'box' has negative size {box!r}"]
    return []


def _check_elements(key: str, elements: list) -> list[str]:
    errors: list[str] = []
    for i, el in enumerate(elements):
        if not isinstance(el, dict):
            errors.append(f"sample {key}: elements[{i}] must be an object")
            continue
        missing = [f for f in ELEMENT_FIELDS if f not in el]
        if missing:
            errors.append(f"sample {key}: elements[{i}] lacks fields {missing}")
            continue
        quad = el["quad"]
        if quad is not None and not (isinstance(quad, list) and len(quad) == 4):
            errors.append(f"sample {key}: elements[{i}] 'quad' must be 4 [x, y] corners or null")
        errors += _check_box(key, f"elements[{i}]", el["box"])
        if len(errors) > 20:  # one broken sample should not flood the report
            break
    return errors


def _check_region(key: str, i: int, r: Any) -> list[str]:
    where = f"sample {key}: regions[{i}]"
    if not isinstance(r, dict):
        return [f"{where} must be an object"]
    missing = [f for f in REGION_FIELDS if f not in r]
    if missing:
        return [f"{where} lacks fields {missing}"]
    errors = [] if r["type"] in REGION_TYPES else [f"{where} 'type' is {r['type']!r}, not one of REGION_TYPES"]
    if not isinstance(r["xpath"], str):
        errors.append(f"{where} 'xpath' must be a string")
    if r["box"] is None:
        return errors + [f"{where} 'box' is null: only located regions are labels"]
    return errors + _check_box(key, f"regions[{i}]", r["box"])


def _check_section(key: str, i: int, s: Any, regions: int) -> list[str]:
    where = f"sample {key}: sections[{i}]"
    if not isinstance(s, dict):
        return [f"{where} must be an object"]
    missing = [f for f in SECTION_FIELDS if f not in s]
    if missing:
        return [f"{where} lacks fields {missing}"]
    errors = []
    if s["type"] not in SECTION_TYPES:
        errors.append(f"{where} 'type' is {s['type']!r}, not one of SECTION_TYPES")
    kids = s["children"]
    if not (isinstance(kids, list) and len(kids) <= MAX_CHILDREN and all(k in ROLES for k in kids)
            and len(set(kids)) == len(kids)):
        errors.append(f"{where} 'children' must be a list of at most {MAX_CHILDREN} distinct ROLES, found {kids!r:.80}")
    elif s["type"] in SECTION_TYPES and s["token"] != "@".join([s["type"], *kids]):
        errors.append(f"{where} 'token' {s['token']!r} is not type@children")
    for name in ("raw_token", "tag", "xpath"):
        if not isinstance(s[name], str) or not s[name]:
            errors.append(f"{where} '{name}' must be a non-empty string")
    region = s["region"]
    if not (isinstance(region, int) and not isinstance(region, bool) and 0 <= region < regions):
        errors.append(f"{where} 'region' must index one of the sample's {regions} regions, found {region!r:.40}")
    if s["box"] is None:
        errors.append(f"{where} 'box' is null: only located sections are labels")
    else:
        errors += _check_box(key, f"sections[{i}]", s["box"])
    return errors


def _check_sections(key: str, sections: list, regions: list) -> list[str]:
    errors: list[str] = []
    for i, r in enumerate(regions):
        errors += _check_region(key, i, r)
    for i, s in enumerate(sections):
        errors += _check_section(key, i, s, len(regions))
        if len(errors) > 20:
            break
    return errors


def section_factors(section: dict[str, Any]) -> list[tuple[str, str]]:
    """(factor, value) pairs one section adds to the vocabulary counts."""
    return ([(f, section[f]) for f in ("token", "type", "raw_token", "tag")]
            + [("role", r) for r in section["children"]])


def schema_mismatch(key: str, found: Any) -> str:
    """The message for a sample of another schema version."""
    return f"sample {key}: schema version {found!r}, this build reads version {SCHEMA_VERSION}; {REBUILD}"


def validate_meta(key: str, meta: Any) -> list[str]:
    """Every way `meta` breaks the schema, as messages naming `key` and the field."""
    if not isinstance(meta, dict):
        return [f"sample {key}: metadata must be a JSON object, found {type(meta).__name__}"]
    if "schema" in meta and meta["schema"] != SCHEMA_VERSION:
        return [schema_mismatch(key, meta["schema"])]
    errors = []
    for name, kind in META_FIELDS.items():
        if name not in meta:
            if name in META_DEFAULTS:
                continue
            errors.append(f"sample {key}: missing field '{name}'")
        elif not isinstance(meta[name], kind) or isinstance(meta[name], bool):
            errors.append(f"sample {key}: field '{name}' has type {type(meta[name]).__name__}")
    if errors:
        return errors
    if meta["split"] not in SPLITS:
        errors.append(f"sample {key}: field 'split' is {meta['split']!r}, expected one of {SPLITS}")
    if "group" in meta and (why := group_problem(meta["group"])):
        errors.append(f"sample {key}: field 'group' {why}")
    size = meta["size"]
    if not (len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        errors.append(f"sample {key}: field 'size' must be [w, h] positive ints, found {size!r}")
    if not 0.0 <= float(meta["difficulty"]) <= 1.0:
        errors.append(f"sample {key}: field 'difficulty' must lie in [0, 1], found {meta['difficulty']}")
    try:
        source, variant = parse_key(key)
        if (source, variant) != (meta["source"], meta["variant"]):
            errors.append(f"sample {key}: fields 'source'/'variant' ({meta['source']}, {meta['variant']}) "
                          "disagree with the key")
    except SchemaError as e:
        errors.append(str(e))
    errors += _check_matrix(key, meta["homography"])
    errors += _check_elements(key, meta["elements"])
    errors += _check_sections(key, meta["sections"], meta["regions"])
    return errors


def validate_members(key: str, exts: list[str]) -> list[str]:
    """Check that a key has exactly one image member, one html and one json."""
    errors = []
    images = [e for e in exts if e in IMAGE_EXTS]
    if len(images) != 1:
        errors.append(f"sample {key}: needs exactly one image member (png|jpg|webp), found {images}")
    for need in ("html", "json"):
        if need not in exts:
            errors.append(f"sample {key}: missing member '{key}.{need}'")
    unknown = sorted(set(exts) - MEMBER_EXTS)
    if unknown:
        errors.append(f"sample {key}: unexpected members {unknown}")
    return errors
