"""A user's own folder of source pairs: read with its true sections (those of variant 00 in
shards), scored by `train evaluate --pairs`, used as few-shot context by `train predict --context`."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import train.evaluation.evaluate as evaluate_module
from augment.synth import write_synth
from model_helpers import TINY_MODEL, striped_page
from shards.pairs.groups import GROUPS_NAME
from shards.pairs.pages import PairsError, read_pairs
from train.checkpoint import CheckpointError
from train.cli import main
from train.config import resolve
from train.evaluation.evaluate import evaluate_pairs_checkpoint
from train.inference import context_from_pairs, load_model
from train.phases import phase_defaults
from train.trainer import fit

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(model=TINY_MODEL, batch_size=4, max_steps=1, eval_every=100, num_workers=0, shuffle_buffer=8,
            checkpoint_every=1, warmup_steps=1, sampling=dict(steps=2, threshold=0.2))


@pytest.fixture(scope="module")
def synth_pairs(tmp_path_factory) -> Path:
    """The 8 synthetic pairs the `shards` fixture is built from (page i depends on (seed, i) only)."""
    src = tmp_path_factory.mktemp("synth")
    write_synth(src, 8, seed=2, progress=False)
    return src


def _user_folder(synth: Path, out: Path) -> Path:
    """Six good pairs in groups a (4) and b (2), one without boxes, one with a broken boxes file."""
    for i in range(8):
        for ext in ("png", "html", "boxes.json"):
            shutil.copy(synth / f"page-{i:05d}.{ext}", out / f"page-{i:05d}.{ext}")
    (out / "page-00006.boxes.json").unlink()
    (out / "page-00007.boxes.json").write_text('{"viewport": [')
    groups = {f"page-{i:05d}": ("a" if i < 4 else "b") for i in range(8)}
    (out / GROUPS_NAME).write_text(json.dumps(groups))
    return out


@pytest.fixture
def user_pairs(synth_pairs, tmp_path) -> Path:
    return _user_folder(synth_pairs, tmp_path)


@pytest.fixture(scope="module")
def few_shot_checkpoint(shards, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run-few-shot")
    fit(shards, run, resolve(phase_defaults(1), {**TINY, "few_shot_max": 2, "few_shot_k": 2}, {}), progress=False)
    return run / "last.pt"


@pytest.fixture(scope="module")
def plain_checkpoint(shards, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run-plain")
    fit(shards, run, resolve(phase_defaults(1), TINY, {}), progress=False)
    return run / "last.pt"


def test_the_reader_gives_sections_groups_and_rejects(user_pairs):
    pages, rejects, warnings = read_pairs(user_pairs)
    by_id = {p.source_id: p for p in pages}
    assert sorted(by_id) == [f"page-{i:05d}" for i in range(7)] and not warnings
    good = by_id["page-00000"]
    assert good.scorable and good.sections and good.group == "a" and by_id["page-00005"].group == "b"
    assert all(s["token"].startswith(s["type"]) and len(s["box"]) == 4 for s in good.sections)
    assert good.meta()["__key__"] == "page-00000_v00" and good.meta()["size"] == [good.image.shape[1],
                                                                                  good.image.shape[0]]
    no_boxes = by_id["page-00006"]  # readable, predicted on, but no true sections: not scorable
    assert not no_boxes.scorable and no_boxes.sections == []
    assert [(r["id"], r["reason"]) for r in rejects] == [("page-00007", "bad_boxes")]
    assert rejects[0]["file"].endswith("page-00007.html") and "page-00007.boxes.json" in rejects[0]["message"]


def test_the_group_is_the_id_prefix_without_a_groups_file(synth_pairs, tmp_path):
    for i, name in enumerate(("shop__home", "shop__cart", "blog")):
        for ext in ("png", "html", "boxes.json"):
            shutil.copy(synth_pairs / f"page-{i:05d}.{ext}", tmp_path / f"{name}.{ext}")
    pages, _, _ = read_pairs(tmp_path)
    assert {p.source_id: p.group for p in pages} == {"blog": "blog", "shop__cart": "shop", "shop__home": "shop"}
    with pytest.raises(PairsError, match="no such folder"):
        read_pairs(tmp_path / "missing")


def test_a_pair_has_the_sections_of_its_variant_00_in_shards(synth_pairs, shards):
    """One owner for the labels: the reader and `augment run` give a page the same sections."""
    variant_00 = {}
    for tar in sorted(shards.glob("*.tar")):
        with tarfile.open(tar) as t:
            for m in t.getmembers():
                if m.name.endswith("_v00.json"):
                    meta = json.loads(t.extractfile(m).read())
                    variant_00[meta["source"]] = meta
    pages, rejects, _ = read_pairs(synth_pairs)
    assert not rejects and len(variant_00) == len(pages) == 8
    for p in pages:
        want = variant_00[p.source_id]
        assert p.group == want["group"]
        assert [s["token"] for s in p.sections] == [s["token"] for s in want["sections"]]
        assert [s["xpath"] for s in p.sections] == [s["xpath"] for s in want["sections"]]
        np.testing.assert_allclose([s["box"] for s in p.sections], [s["box"] for s in want["sections"]], atol=1e-3)


def test_evaluate_pairs_scores_every_scorable_pair_and_lists_the_rest(few_shot_checkpoint, user_pairs, tmp_path,
                                                                      capsys):
    out = tmp_path / "scores.json"
    code = main(["evaluate", "--checkpoint", str(few_shot_checkpoint), "--pairs", str(user_pairs),
                 "--context-k", "0", "--out", str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 0
    assert "pairs of" in captured.out and "6 sources" in captured.out and "token" in captured.out
    result = json.loads(out.read_text())
    assert result["pages"]["model"]["sources"] == 6 and result["samples"] == 6 and result["context_k"] == 0
    assert result["pages"]["prior"]["sources"] == 6  # the prior saved in the checkpoint, scored beside it
    assert {(r["id"], r["reason"]) for r in result["rejects"]} == {("page-00006", "no_boxes"),
                                                                   ("page-00007", "bad_boxes")}
    assert "page-00007.boxes.json" in captured.err and "no_boxes" in captured.err


def test_context_k_draws_other_pages_of_the_same_group(few_shot_checkpoint, user_pairs, monkeypatch):
    drawn = []
    real = evaluate_module.draw_context

    def spy(candidates, target, k, seed):
        chosen = real(candidates, target, k, seed)
        drawn.append((target, chosen))
        return chosen

    monkeypatch.setattr(evaluate_module, "draw_context", spy)
    first = evaluate_pairs_checkpoint(few_shot_checkpoint, user_pairs, context_k=2)
    assert first["context_k"] == 2 and len(drawn) == 6
    for target, chosen in drawn:
        assert len(chosen) == (2 if target["group"] == "a" else 1)  # group b has one other scored pair
        assert all(c["group"] == target["group"] and c["source"] != target["source"] for c in chosen)
    keys = [[c["key"] for c in chosen] for _, chosen in drawn]
    drawn.clear()
    again = evaluate_pairs_checkpoint(few_shot_checkpoint, user_pairs, context_k=2)
    assert [[c["key"] for c in chosen] for _, chosen in drawn] == keys and again == first  # deterministic


def test_predict_with_context_from_a_folder_of_pairs(few_shot_checkpoint, user_pairs, tmp_path, capsys):
    img, _ = striped_page(np.random.default_rng(5))
    page = tmp_path / "in" / "page.png"  # not in the folder of pairs
    page.parent.mkdir()
    Image.fromarray(img).save(page)
    context, left_out = context_from_pairs(user_pairs, k=2)
    assert len(context) == 2 and {r["id"] for r in left_out} == {"page-00006", "page-00007"}
    assert context[0][1] == read_pairs(user_pairs)[0][0].sections
    model = load_model(few_shot_checkpoint)
    assert model.predict(page, context=context) == model.predict(img, context=context)
    code = main(["predict", "--checkpoint", str(few_shot_checkpoint), str(page), "--context", str(user_pairs),
                 "--context-k", "3", "--json", "-q"])
    captured = capsys.readouterr()
    assert code == 0 and isinstance(json.loads(captured.out), list)
    assert "3 context pages" in captured.err and "not used as context" in captured.err


def test_context_errors_are_one_line_naming_the_file_and_the_fix(few_shot_checkpoint, plain_checkpoint, user_pairs,
                                                                  tmp_path):
    img, _ = striped_page(np.random.default_rng(6))
    page = tmp_path / "in" / "page.png"  # not in the folder of pairs
    page.parent.mkdir()
    Image.fromarray(img).save(page)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "page.png").write_bytes(page.read_bytes())  # a screenshot without its HTML: no pair

    def run(*argv):
        return subprocess.run([sys.executable, "-m", "train", *argv], capture_output=True, text=True, cwd=ROOT,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})

    plain = run("predict", "--checkpoint", str(plain_checkpoint), str(page), "--context", str(user_pairs))
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert str(plain_checkpoint) in plain.stderr and "few_shot_max" in plain.stderr
    none = run("predict", "--checkpoint", str(few_shot_checkpoint), str(page), "--context", str(empty))
    assert none.returncode == 2 and "no usable context pair" in none.stderr and str(empty) in none.stderr
    both = run("evaluate", "--checkpoint", str(few_shot_checkpoint), "--pairs", str(user_pairs), "--shards", "x")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    with pytest.raises(CheckpointError, match="few-shot context"):
        evaluate_pairs_checkpoint(plain_checkpoint, user_pairs, context_k=1)
    with pytest.raises(PairsError, match="no pair can be scored"):
        evaluate_pairs_checkpoint(few_shot_checkpoint, empty, context_k=0)
