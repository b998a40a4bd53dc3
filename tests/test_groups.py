"""Groups of source pairs (issue 20): groups.json, the prefix rule, group hold-out, the
manifest's groups, `shards inspect`, the synthetic families and the render inputs."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from augment.config import ConfigError, load_config
from augment.groups import GROUPS_NAME, GroupsError, assign_groups, prefix_group, read_groups, write_groups
from augment.job import run_job
from augment.plan import plan_tasks
from augment.render.inputs import from_html_dir, from_url_file
from augment.render.job import RenderInput, RenderSummary, _write_groups
from augment.resume import input_fingerprint
from augment.run_options import RunOptions
from augment.sources import SourcePair, discover
from augment.synth import synth_page, write_synth
from augment.synth.page import new_look, synth_layout
from shards import load_manifest
from shards.cli import inspect_text
from shards.schema import sample_group, validate_meta
from shards.storage.manifest import shard_paths
from shards.storage.tario import iter_tar_samples
from shards.storage.verify import verify_dir

QUIET = RunOptions(progress=False)


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize("sid, group", [
    ("shop__home", "shop"), ("shop__cart", "shop"), ("a__b__c", "a"), ("a___b", "a"),
    ("__home", "__home"), ("___home", "___home"), ("shop__", "shop__"), ("a__", "a__"), ("a___", "a"),
    ("page-00003", "page-00003"), ("one_underscore", "one_underscore"),
])
def test_prefix_rule(sid, group):
    assert prefix_group(sid) == group


def _pairs(*ids: str) -> list[tuple[str, str]]:
    return [(i, i) for i in ids]


def test_groups_json_by_id_or_stem_then_prefix_then_id(tmp_path):
    (tmp_path / GROUPS_NAME).write_text(json.dumps({"a": "site-1", "my page": "Site A", "shop__x": "other"}))
    groups, warnings = assign_groups([("a", "a"), ("my_page-1234abcd", "my page"), ("shop__x", "shop__x"),
                                      ("shop__y", "shop__y"), ("lone", "lone")], tmp_path)
    assert groups == {"a": "site-1", "my_page-1234abcd": "Site A", "shop__x": "other", "shop__y": "shop",
                      "lone": "lone"}
    assert warnings == []


def test_without_groups_json_the_prefix_and_id_rules_apply(tmp_path):
    assert assign_groups(_pairs("x__1", "x__2", "y"), tmp_path) == ({"x__1": "x", "x__2": "x", "y": "y"}, [])


def test_ids_groups_json_lists_that_are_not_pairs_are_named_in_a_warning(tmp_path):
    (tmp_path / GROUPS_NAME).write_text(json.dumps({"a": "g", "gone": "g", "also-gone": "h"}))
    groups, warnings = assign_groups(_pairs("a", "b"), tmp_path)
    assert groups == {"a": "g", "b": "b"}
    assert len(warnings) == 1 and "2 of its 3 keys name no source pair" in warnings[0]
    assert "also-gone, gone" in warnings[0] and str(tmp_path / GROUPS_NAME) in warnings[0]


@pytest.mark.parametrize("text, expect", [
    ("{not json", r"groups.json: not a groups file \(JSONDecodeError"),
    ('["a", "b"]', r"groups.json: a JSON list, expected an object"),
    ('{"a": 3, "b": "", "c": " pad", "d": "ok", "e": "tab\\there"}',
     r"groups.json: 4 bad entries: key 'a': the group must be a string, found int; key 'b': the group must be a "
     r"printable string .*found ''; key 'c': .*found ' pad'; key 'e': .*found 'tab\\there'"),
    (b"\xff\xfe".decode("latin-1"), r"not a groups file \(UnicodeDecodeError"),
])
def test_a_bad_groups_json_is_one_error_naming_the_file_and_every_bad_key(tmp_path, text, expect):
    (tmp_path / GROUPS_NAME).write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    with pytest.raises(GroupsError, match=expect):
        assign_groups(_pairs("a"), tmp_path)


def test_a_page_listed_under_stem_and_id_with_two_groups_is_an_error(tmp_path):
    (tmp_path / GROUPS_NAME).write_text(json.dumps({"my page": "x", "my_page-1234abcd": "y"}))
    with pytest.raises(GroupsError, match=r"page my_page-1234abcd is listed as 'my page' \(group 'x'\) and as "
                                          r"'my_page-1234abcd' \(group 'y'\)"):
        assign_groups([("my_page-1234abcd", "my page")], tmp_path)


def test_write_groups_merges_over_the_file_there(tmp_path):
    write_groups(tmp_path, {"b": "g2", "a": "g1"})
    write_groups(tmp_path, {"a": "g3", "c": "g1"})
    assert read_groups(tmp_path / GROUPS_NAME) == {"a": "g3", "b": "g2", "c": "g1"}
    assert list(json.loads((tmp_path / GROUPS_NAME).read_text())) == ["a", "b", "c"]


# ---------------------------------------------------------------- splits


def _fake_pairs(n_groups: int, per_group: int) -> tuple[list[SourcePair], dict[str, str]]:
    pairs, groups = [], {}
    for g in range(n_groups):
        for j in range(per_group + g % 3):
            sid = f"site{g:03d}__p{j:02d}"
            pairs.append(SourcePair(sid, Path(f"{sid}.png"), Path(f"{sid}.html"), None))
            groups[sid] = f"site{g:03d}"
    return pairs, groups


def _assignment(pairs, cfg, groups=None) -> dict[str, tuple[str, int | None, str]]:
    return {s.pair.source_id: (s.split, s.fold, s.group) for t in plan_tasks(pairs, cfg, groups) if t.group == 0
            for s in t.sources}


def test_group_hold_out_leaves_no_group_on_both_sides_and_none_across_folds():
    pairs, _ = _fake_pairs(60, 4)  # the groups come from the id prefix
    cfg = load_config(None, factor=1, val_fraction=0.25, folds=4, split_by="group")
    got = _assignment(pairs, cfg)
    splits, folds = {}, {}
    for split, fold, group in got.values():
        splits.setdefault(group, set()).add(split)
        folds.setdefault(group, set()).add(fold)
    assert len(splits) == 60 and all(len(s) == 1 for s in splits.values())
    assert all(len(f) == 1 for f in folds.values())
    held = sum(s == {"val"} for s in splits.values())
    assert 5 <= held <= 25  # a quarter of 60 groups, give or take the hash
    assert set().union(*folds.values()) == {None, 0, 1, 2, 3}
    # the same pages split per source do straddle: the setting is what keeps groups whole
    per_source = _assignment(pairs, load_config(None, factor=1, val_fraction=0.25, folds=4))
    straddle = {}
    for split, _fold, group in per_source.values():
        straddle.setdefault(group, set()).add(split)
    assert sum(len(s) == 2 for s in straddle.values()) > 5


def test_a_page_that_is_its_own_group_splits_the_same_either_way():
    pairs = [SourcePair(f"page-{i:05d}", Path("x.png"), Path("x.html"), None) for i in range(200)]
    by_group = _assignment(pairs, load_config(None, factor=1, split_by="group"))
    by_source = _assignment(pairs, load_config(None, factor=1))
    assert by_group == by_source


def test_split_by_is_a_checked_setting_with_a_flag():
    assert load_config(None).split_by == "source"
    with pytest.raises(ConfigError, match=r"config 'split_by' must be one of \('group', 'source'\), found 'site'"):
        load_config(None, split_by="site")
    out = subprocess.run([sys.executable, "-m", "augment", "run", "--split-by", "group", "--print-config"],
                         capture_output=True, text=True, check=True)
    assert 'split_by = "group"' in out.stdout


def test_groups_json_is_an_input_of_the_job(tmp_path):
    pairs = [SourcePair("a", None, None, None)]
    before = input_fingerprint(pairs)
    (tmp_path / GROUPS_NAME).write_text('{"a": "x"}')
    with_groups = input_fingerprint(pairs, groups_file=tmp_path / GROUPS_NAME)
    (tmp_path / GROUPS_NAME).write_text('{"a": "y"}')
    assert len({before, with_groups, input_fingerprint(pairs, groups_file=tmp_path / GROUPS_NAME)}) == 3


# ---------------------------------------------------------------- a real job


@pytest.fixture(scope="module")
def grouped(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """12 synthetic pages in 5 groups (groups.json over the generator's), split by group, plus
    a page whose image is broken (a reject, not counted in its group)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("out")
    write_synth(src, 12, seed=7, progress=False)
    table = {f"page-{i:05d}": f"site-{i % 5}" for i in range(12)}
    (src / GROUPS_NAME).write_text(json.dumps(table))
    (src / "site-9__broken.png").write_bytes(b"not a png")
    (src / "site-9__broken.html").write_text("<html><body><h1>x</h1></body></html>")
    run_job(src, out, load_config(None, factor=2, val_fraction=0.4, folds=2, samples_per_shard=4,
                                  split_by="group"), QUIET)
    return src, out, table


def test_samples_carry_their_group_and_whole_groups_are_held_out(grouped):
    _, out, table = grouped
    assert verify_dir(out) == []
    seen: dict[str, set] = {}
    metas = []
    for path in shard_paths(out, load_manifest(out)):
        with open(path, "rb") as fh:
            metas += [json.loads(members["json"]) for _, members in iter_tar_samples(fh, path.name)]
    assert len(metas) == 12 * 2
    for meta in metas:
        assert meta["group"] == table[meta["source"]]
        seen.setdefault(meta["group"], set()).add((meta["split"], meta["fold"]))
    assert len(seen) == 5 and all(len(v) == 1 for v in seen.values())
    assert {split for v in seen.values() for split, _ in v} == {"train", "val"}  # seed 0 holds out some


def test_manifest_counts_accepted_sources_per_group_and_split(grouped):
    _, out, table = grouped
    m = load_manifest(out)
    expect = Counter(table.values())
    assert {g: n for split in m["groups"].values() for g, n in split.items()} == dict(expect)
    assert "site-9" not in str(m["groups"]) and m["sources"]["rejected"] == 1
    for split in ("train", "val"):
        assert sum(m["groups"][split].values()) == m["splits"][split]["sources"]
        assert m["splits"][split]["groups"] == len(m["groups"][split])
    assert not set(m["groups"]["train"]) & set(m["groups"]["val"])
    assert m["config"]["split_by"] == "group"


def test_inspect_prints_the_groups(grouped):
    _, out, _ = grouped
    m = load_manifest(out)
    text = inspect_text(out, head=2)
    n_train, n_val = len(m["groups"]["train"]), len(m["groups"]["val"])
    assert f"groups: 5 (train {n_train}, val {n_val}; in both splits 0); sources per group 2-3, median 2; " \
           "largest: site-0 3, site-1 3" in text
    cli = subprocess.run([sys.executable, "-m", "shards", "inspect", str(out), "--head", "2"], capture_output=True,
                         text=True, check=True)
    assert "largest: site-0 3, site-1 3" in cli.stdout


def test_a_bad_groups_json_stops_augment_run_naming_it(grouped, tmp_path):
    src, _, _ = grouped
    bad = tmp_path / "src"
    bad.mkdir()
    for p in sorted(src.glob("page-0000[01].*")):
        (bad / p.name).write_bytes(p.read_bytes())
    (bad / GROUPS_NAME).write_text('{"page-00000": 7}')
    out = subprocess.run([sys.executable, "-m", "augment", "run", "--input", str(bad), "--out", str(tmp_path / "o"),
                          "--factor", "1", "--no-progress"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "groups.json: 1 bad entry: key 'page-00000': the group must be a string" in out.stderr
    assert not (tmp_path / "o").exists()


def test_old_v2_samples_without_a_group_read_as_their_own_source():
    from conftest import make_sample

    meta = make_sample("site__a", 0).meta
    assert "group" not in meta and validate_meta("site__a_v00", meta) == []
    assert sample_group(meta) == "site__a"  # not the prefix: the rule is applied when writing, once
    assert validate_meta("site__a_v00", meta | {"group": ""})[0].startswith(
        "sample site__a_v00: field 'group' must be a printable string")
    assert validate_meta("site__a_v00", meta | {"group": 3}) == ["sample site__a_v00: field 'group' has type int"]
    assert sample_group(meta | {"group": "site"}) == "site"


# ---------------------------------------------------------------- synthetic families


def test_synth_families_have_realistic_sizes_and_are_deterministic():
    counts = Counter(new_look(np.random.default_rng([0, i])).family for i in range(500))
    sizes = sorted(counts.values())
    assert len(counts) == 48 and sizes[0] >= 3 and sizes[-1] <= 25 and 9 <= sizes[len(sizes) // 2] <= 12
    assert counts == Counter(new_look(np.random.default_rng([0, i])).family for i in range(500))


def test_write_synth_writes_each_pages_family(tmp_path):
    write_synth(tmp_path, 4, seed=3, progress=False)
    table = read_groups(tmp_path / GROUPS_NAME)
    assert table == {f"page-{i:05d}": synth_layout(f"page-{i:05d}", np.random.default_rng([3, i])).look.family
                     for i in range(4)}
    pairs, _ = discover(tmp_path)
    assert assign_groups(((p.source_id, p.source_id) for p in pairs), tmp_path) == (table, [])


def _painted(img: np.ndarray, colour: tuple[int, int, int]) -> int:
    """Pixels of exactly `colour`."""
    return int((img == np.asarray(colour, np.uint8)).all(-1).sum())


def test_pages_of_a_family_share_their_colours():
    """Two pages of one family paint the same primary and second background; a page of
    another primary never paints the first one's primary."""
    looks = [(i, new_look(np.random.default_rng([0, i]))) for i in range(60)]
    by_family: dict[str, list] = {}
    for i, look in looks:
        by_family.setdefault(look.family, []).append((i, look))
    (i, look), (j, _) = next(v for v in by_family.values() if len(v) >= 2)[:2]
    other = next(k for k, lk in looks if lk.primary != look.primary)
    a, b, c = (synth_page(f"page-{k:05d}", np.random.default_rng([0, k]))[0] for k in (i, j, other))
    assert _painted(a, look.primary) >= 200 and _painted(b, look.primary) >= 200
    assert _painted(c, look.primary) == 0


# ---------------------------------------------------------------- render inputs


def test_urls_are_grouped_by_host_and_html_folders_by_their_groups_json(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("https://Shop.Example.com/a\nhttps://shop.example.com/b?x=1\nhttp://blog.example.org/\n"
                    f"{(tmp_path / 'p.html').as_uri()}\n")
    items, _ = from_url_file(urls, allow_network=True)
    assert [i.group for i in items] == ["shop.example.com", "shop.example.com", "blog.example.org", None]
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("a.html", "my page.html", "c.html"):
        (pages / name).write_text("<p>x</p>")
    (pages / GROUPS_NAME).write_text(json.dumps({"a": "docs", "my page": "blog"}))
    items, _ = from_html_dir(pages)
    assert [(i.source_id[:7], i.group) for i in items] == [("a", "docs"), ("c", None), ("my_page", "blog")]
    (pages / GROUPS_NAME).write_text('{"a": ""}')
    with pytest.raises(GroupsError, match="groups.json: 1 bad entry"):
        from_html_dir(pages)


def test_render_writes_the_groups_of_complete_pages_only(tmp_path):
    for ext in (".png", ".html", ".boxes.json"):
        (tmp_path / f"done{ext}").write_text("x")
    (tmp_path / "half.png").write_text("x")  # a page that failed: no pair, no entry
    items = [RenderInput("done", "u", "u", "h1"), RenderInput("half", "u", "u", "h1"),
             RenderInput("nogroup", "u", "u", None)]
    summary = RenderSummary(tmp_path)
    _write_groups(tmp_path, items, summary)
    assert read_groups(tmp_path / GROUPS_NAME) == {"done": "h1"}
    assert (summary.grouped, summary.groups) == (1, 1) and "groups.json: 1 pages in 1 groups" in summary.text()
