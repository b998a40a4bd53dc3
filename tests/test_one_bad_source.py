"""Issue 16, classes 1, 6 and 7: one bad source never stops a job; a job touches only its own
files; paths stay inside the input.

One job reads good synthetic pages beside hostile ones (a boxes file nested 100,000 deep, a
viewport of 1e400, numbers of 400 digits, text that starts with a form feed, sparse files
of 1 GiB, an unreadable file, a symbolic link out of the input) into an output folder that
already holds a user's files. Every bad source must be one reject with its reason and the
exception's class, every good one must be complete, and the user's files untouched.
Failures injected into the code (a bug while reading one source, or while augmenting one
variant) must be contained the same way.
"""
from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import stat
from collections import Counter
from pathlib import Path

import pytest

import augment.job
import augment.sources
from augment.config import load_config
from augment.job import JobError, run_job
from augment.run_options import RunOptions
from augment.sources import Reject
from augment.synth import write_synth
from shards.storage import atomic
from shards.storage.manifest import load_manifest
from shards.storage.reader import make_pipeline
from shards.storage.verify import verify_dir
from shards.tokens.htmlparse import MAX_HTML_BYTES

FACTOR = 2
GIB = 1 << 30
BASE = "page-00000"  # every hostile source starts as a copy of this good one
# placeholder on every text element of every variant: the form-feed page goes through it
CFG = dict(factor=FACTOR, val_fraction=0.0, ops={"placeholder": {"p": 1.0, "rate": 1.0}})


def _copy(src: Path, stem: str, **replace: str | bytes) -> None:
    """The three files of BASE under `stem`, with members replaced by `replace` (png/html/boxes)."""
    for ext, name in (("png", ".png"), ("html", ".html"), ("boxes", ".boxes.json")):
        dest = src / f"{stem}{name}"
        if ext in replace:
            data = replace[ext]
            dest.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        else:
            shutil.copyfile(src / f"{BASE}{name}", dest)


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        fh.truncate(size)  # no disk blocks: only reading it would cost anything


def _boxes(src: Path) -> dict:
    return json.loads((src / f"{BASE}.boxes.json").read_text())


# stem -> (reason, exception class or None, part of the message): each a reject, the job goes on
REJECTED = {
    "deep-boxes": ("bad_boxes", "RecursionError", "deep-boxes.boxes.json: not a boxes file (RecursionError"),
    "inf-viewport": ("bad_boxes", "OverflowError", "cannot convert float infinity to integer"),
    "long-viewport": ("viewport_mismatch", None, "differs from the image"),
    "huge-html": ("bad_html", None, f"huge-html: HTML is {GIB} bytes, above the limit of {MAX_HTML_BYTES}; not read"),
    "huge-boxes": ("bad_boxes", None, f"huge-boxes.boxes.json: the boxes file is {GIB} bytes, above the limit"),
    "huge-image": ("image_too_large", None, f"huge-image.png: {GIB} bytes, larger than any image of"),
    "unreadable": ("bad_html", "PermissionError", "unreadable.html: cannot read (PermissionError"),
    "linked": ("symlink_outside", None, "outside the input folder; not read (pass --follow-symlinks"),
}
# stem -> what must hold of it: accepted, every variant there
ACCEPTED = ("long-box", "formfeed")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    src, out, outside = root / "src", root / "out", root / "outside"
    write_synth(src, 3, seed=0, progress=False)
    boxes = _boxes(src)
    _copy(src, "deep-boxes", boxes="[" * 100_000 + "]" * 100_000)
    _copy(src, "inf-viewport", boxes=json.dumps({**boxes, "viewport": [1, 1]}).replace("[1, 1]", "[1e400, 1]"))
    _copy(src, "long-viewport", boxes=json.dumps({**boxes, "viewport": [int("9" * 400), 5]}))
    long_box = dict(boxes, elements=[dict(e, box=[int("9" * 400), 0, 10, 10]) if i == 3 else e
                                     for i, e in enumerate(boxes["elements"])])
    _copy(src, "long-box", boxes=json.dumps(long_box))
    html = (src / f"{BASE}.html").read_text()
    _copy(src, "formfeed", html=re.sub(r"<p>([^<]+)</p>", "<p>\f\\1\v</p>", html, count=3))
    for stem, ext in (("huge-html", ".html"), ("huge-boxes", ".boxes.json"), ("huge-image", ".png")):
        _copy(src, stem)
        _sparse(src / f"{stem}{ext}", GIB)
    _copy(src, "unreadable")
    outside.mkdir()
    _copy(src, "linked")
    os.replace(src / "linked.html", outside / "linked.html")
    (src / "linked.html").symlink_to(outside / "linked.html")
    nested = src / "batch-2"
    nested.mkdir()
    for name in ("png", "html"):
        shutil.copyfile(src / f"{BASE}.{name}", nested / f"nested.{name}")
    out.mkdir()
    user_files = {".tmp-notes.txt": b"my notes", "notes.tar.json": b"{not json", "notes.tar": b"not a tar"}
    for name, data in user_files.items():
        (out / name).write_bytes(data)

    read: list[str] = []
    real_read_bytes, real_read_text, real_open = Path.read_bytes, Path.read_text, builtins.open

    def read_bytes(self):
        read.append(self.name)
        if self.name == "unreadable.html":  # what chmod 000 does for anyone but root
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    def read_text(self, *a, **k):
        read.append(self.name)
        return real_read_text(self, *a, **k)

    def opened(file, *a, **k):
        read.append(Path(str(file)).name if isinstance(file, (str, Path)) else "")
        return real_open(file, *a, **k)

    mask = os.umask(0o022)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Path, "read_bytes", read_bytes)
            mp.setattr(Path, "read_text", read_text)
            mp.setattr(builtins, "open", opened)
            summary = run_job(src, out, load_config(None, **CFG), RunOptions(jobs=1, progress=False))
    finally:
        os.umask(mask)
    rows = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    samples = Counter(raw["__key__"].rsplit("_v", 1)[0] for raw in make_pipeline(out, "train", shuffle_buffer=0,
                                                                                 decode=False))
    return summary, out, rows, samples, read, user_files


@pytest.mark.parametrize("stem", sorted(REJECTED))
def test_each_bad_source_is_one_reject_with_its_reason_and_class(job, stem):
    _, _, rows, samples, _, _ = job
    reason, error, message = REJECTED[stem]
    (row,) = [r for r in rows if r["source"] == stem]
    assert (row["reason"], row.get("error")) == (reason, error)
    assert message in row["message"]
    assert stem not in samples


@pytest.mark.parametrize("stem", ["page-00000", "page-00001", "page-00002", *ACCEPTED])
def test_every_good_source_is_complete(job, stem):
    _, _, rows, samples, _, _ = job
    assert samples[stem] == FACTOR and not [r for r in rows if r["source"] == stem]


def test_nothing_is_lost_and_the_output_verifies(job):
    summary, out, rows, samples, _, _ = job
    m = load_manifest(out)
    assert m["sources"]["total"] == m["sources"]["accepted"] + m["sources"]["rejected"] == 13
    assert (m["sources"]["accepted"], m["sources"]["rejected"]) == (5, len(REJECTED)) == (5, len(rows))
    assert sum(samples.values()) == m["totals"]["samples"] == 5 * FACTOR
    assert m["stats"]["boxes_invalid"] >= 1  # the 400-digit box: ignored and counted, the page kept
    assert verify_dir(out) == []


def test_the_form_feed_page_went_through_the_placeholder_op(job):
    _, out, *_ = job
    metas = [json.loads(raw["json"]) for raw in make_pipeline(out, "train", shuffle_buffer=0, decode=False)
             if raw["__key__"] == "formfeed_v01"]
    assert [o["op"] for o in metas[0]["ops"]][-1] == "placeholder"


def test_files_over_their_limit_are_never_read(job):
    *_, read, _ = job
    assert not {"huge-html.html", "huge-boxes.boxes.json", "huge-image.png"} & set(read)


def test_subfolders_with_pairs_are_named_not_silently_skipped(job):
    summary, *_ = job
    assert any("1 subfolder(s) of --input hold files named like source pairs" in n and "batch-2" in n
               for n in summary.notes)
    assert "batch-2" in summary.text()


def test_the_users_files_in_out_are_left_alone(job):
    _, out, *_, user_files = job
    assert {name: (out / name).read_bytes() for name in user_files} == user_files


def test_outputs_follow_the_umask_not_mkstemps_0600(job):
    _, out, *_ = job
    modes = {stat.S_IMODE((out / n).stat().st_mode) for n in os.listdir(out)
             if n.endswith((".tar", ".json", ".jsonl")) and not n.startswith("notes")}
    assert modes == {0o644}


def test_follow_symlinks_reads_a_link_out_of_the_input(tmp_path):
    src, outside = tmp_path / "src", tmp_path / "outside"
    write_synth(src, 2, seed=0, progress=False)
    outside.mkdir()
    os.replace(src / f"{BASE}.html", outside / "page.html")
    (src / f"{BASE}.html").symlink_to(outside / "page.html")
    cfg = load_config(None, factor=1, val_fraction=0.0)
    refused = run_job(src, tmp_path / "a", cfg, RunOptions(progress=False))
    assert dict(refused.rejects) == {"symlink_outside": 1} and refused.sources["accepted"] == 1
    followed = run_job(src, tmp_path / "b", cfg, RunOptions(progress=False, follow_symlinks=True))
    assert followed.sources["accepted"] == 2 and not followed.rejects


def test_a_link_inside_the_input_is_read(tmp_path):
    src = tmp_path / "src"
    write_synth(src, 1, seed=0, progress=False)
    (src / "real").mkdir()
    os.replace(src / f"{BASE}.png", src / "real" / "page.png")
    (src / f"{BASE}.png").symlink_to(src / "real" / "page.png")
    summary = run_job(src, tmp_path / "out", load_config(None, factor=1, val_fraction=0.0), RunOptions(progress=False))
    assert summary.sources["accepted"] == 1 and not summary.rejects


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; the job fixture simulates it instead")
def test_a_chmod_000_file_is_a_reject(tmp_path):
    src = tmp_path / "src"
    write_synth(src, 2, seed=0, progress=False)
    (src / f"{BASE}.html").chmod(0)
    summary = run_job(src, tmp_path / "out", load_config(None, factor=1, val_fraction=0.0), RunOptions(progress=False))
    assert dict(summary.rejects) == {"bad_html": 1} and summary.sources["accepted"] == 1


@pytest.fixture
def three(tmp_path):
    src = tmp_path / "src"
    write_synth(src, 3, seed=0, progress=False)
    return src


def test_a_bug_while_reading_one_source_is_a_reject_naming_its_class(three, tmp_path, monkeypatch):
    real = augment.sources.page_from_arrays

    def buggy(source_id, *a, **k):
        if source_id == "page-00001":
            raise ZeroDivisionError("division by zero")
        return real(source_id, *a, **k)

    monkeypatch.setattr(augment.sources, "page_from_arrays", buggy)
    out = tmp_path / "out"
    summary = run_job(three, out, load_config(None, factor=FACTOR, val_fraction=0.0), RunOptions(progress=False))
    (row,) = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert (row["source"], row["reason"], row["error"]) == ("page-00001", "load_failed", "ZeroDivisionError")
    assert "page-00001.html: ZeroDivisionError while reading source page-00001: division by zero" in row["message"]
    assert summary.samples == 2 * FACTOR and verify_dir(out) == []


def test_a_variant_that_fails_to_augment_is_dropped_alone(three, tmp_path, monkeypatch):
    real = augment.job.augment_page

    def buggy(page, v, cfg, *a, **k):
        if (page.source_id, v) == ("page-00002", 1):
            raise ValueError("All strings must be XML compatible")
        return real(page, v, cfg, *a, **k)

    monkeypatch.setattr(augment.job, "augment_page", buggy)
    out = tmp_path / "out"
    summary = run_job(three, out, load_config(None, factor=3, val_fraction=0.0), RunOptions(progress=False))
    rows = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert rows == [{"source": "page-00002", "variant": 1, "reason": "augment_failed", "error": "ValueError",
                     "message": "page-00002 variant 1: ValueError while augmenting: All strings must be XML "
                                "compatible"}]
    m = load_manifest(out)
    assert (m["stats"]["variants_failed"], m["sources"]["accepted"], m["totals"]["samples"]) == (1, 3, 8)
    assert "variants dropped 1 (augment_failed" in summary.text()
    assert verify_dir(out) == []
    with pytest.raises(Reject, match="page-00002 variant 1: ValueError"):  # --strict stops there instead
        run_job(three, tmp_path / "strict", load_config(None, factor=3, val_fraction=0.0),
                RunOptions(progress=False, strict=True))


def test_an_input_without_pairs_is_an_error_naming_what_it_found(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(JobError, match="no source pairs .* at its top level \\(no image or .html files\\)"):
        run_job(empty, tmp_path / "out", load_config(None))
    (empty / "lonely.png").write_bytes(b"x")
    with pytest.raises(JobError, match="at its top level \\(1 missing_partner\\)"):
        run_job(empty, tmp_path / "out", load_config(None))
    (empty / "lonely.png").unlink()
    (empty / "sub").mkdir()
    write_synth(empty / "sub", 1, seed=0, progress=False)
    with pytest.raises(JobError, match="1 subfolder\\(s\\) of --input hold files named like source pairs.*: sub"):
        run_job(empty, tmp_path / "out", load_config(None))
    assert not (tmp_path / "out").exists()


def test_own_temp_names_are_recognised_and_nothing_else():
    assert atomic.is_own_temp(".tmp-train-000000.tar.ab_12xyz.s2s")
    for name in (".tmp-notes.txt", ".tmp-train-000000.tar.abc", ".tmp-x.toolongname.s2s", "train-000000.tar"):
        assert not atomic.is_own_temp(name), name


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic.write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == mode
