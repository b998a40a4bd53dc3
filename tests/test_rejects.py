"""Every reject reason: the job goes on, the reason and message are recorded, counts add up."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.sources import Reject
from augment.synth import write_synth
from shards import load_manifest

QUIET = RunOptions(progress=False)
STRICT = RunOptions(strict=True, progress=False)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("good")
    write_synth(d, 2, seed=1, progress=False)
    return d


def _png(w: int, h: int) -> bytes:
    return cv2.imencode(".png", np.full((h, w, 3), 200, np.uint8))[1].tobytes()


HTML = b"<html><body><section><h1>x</h1></section></body></html>"


def _bad_cases(d: Path) -> dict[str, tuple[str, str]]:
    """Write one bad source per case; return id -> (reason, message fragment)."""
    png = _png(64, 48)
    (d / "zero.png").write_bytes(b"")
    (d / "zero.html").write_bytes(HTML)
    (d / "trunc.png").write_bytes(png[: len(png) // 2])
    (d / "trunc.html").write_bytes(HTML)
    (d / "notimg.png").write_bytes(b"<html>this is not a png</html>")
    (d / "notimg.html").write_bytes(HTML)
    (d / "lonely.png").write_bytes(png)
    (d / "nohtml.html").write_bytes(HTML)
    for name, html in (("empty", b"   "), ("binary", b"\x00\x01\x02PNG"),
                       ("latin", "<p>caf\xe9</p>".encode("latin-1"))):
        (d / f"{name}.png").write_bytes(png)
        (d / f"{name}.html").write_bytes(html)
    (d / "badbox.png").write_bytes(png)
    (d / "badbox.html").write_bytes(HTML)
    (d / "badbox.boxes.json").write_text("{not json")
    (d / "vp.png").write_bytes(png)
    (d / "vp.html").write_bytes(HTML)
    (d / "vp.boxes.json").write_text(json.dumps({"viewport": [1280, 4000], "elements": []}))
    (d / "dup.png").write_bytes(png)
    (d / "dup.jpg").write_bytes(png)
    (d / "dup.html").write_bytes(HTML)
    return {
        "zero": ("unreadable_image", "zero.png: not a readable image"),
        "trunc": ("unreadable_image", "trunc.png"),
        "notimg": ("unreadable_image", "notimg.png: not a readable image"),
        "lonely": ("missing_partner", "lonely.png: no .html partner"),
        "nohtml": ("missing_partner", "nohtml.html: no image"),
        "empty": ("bad_html", "HTML is empty"),
        "binary": ("bad_html", "NUL bytes"),
        "latin": ("bad_html", "not UTF-8"),
        "badbox": ("bad_boxes", "badbox.boxes.json: not a boxes file"),
        "vp": ("viewport_mismatch", "viewport 1280x4000 differs from the image 64x48"),
        "dup": ("duplicate_id", "several images for one id"),
    }


@pytest.fixture(scope="module")
def job(good, tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    for p in good.iterdir():
        shutil.copy(p, d / p.name)
    cases = _bad_cases(d)
    out = tmp_path_factory.mktemp("out")
    run_job(d, out, load_config(None, factor=2), QUIET)
    return d, out, cases


def test_every_bad_source_is_rejected_with_its_reason(job):
    _, out, cases = job
    rows = {r["source"]: r for r in map(json.loads, (out / "rejects.jsonl").read_text().splitlines())}
    assert set(rows) == set(cases)
    for sid, (reason, fragment) in cases.items():
        assert rows[sid]["reason"] == reason, (sid, rows[sid])
        assert fragment in rows[sid]["message"], (sid, rows[sid]["message"])


def test_counts_add_up(job):
    _, out, cases = job
    m = load_manifest(out)
    assert m["sources"]["accepted"] == 2
    assert m["sources"]["rejected"] == len(cases)
    assert m["sources"]["total"] == 2 + len(cases)
    assert sum(m["rejects"].values()) == len(cases)
    assert m["totals"]["samples"] == 2 * 2


def test_oversized_image_is_rejected_before_decoding(tmp_path):
    (tmp_path / "big.png").write_bytes(_png(300, 300))
    (tmp_path / "big.html").write_bytes(HTML)
    out = tmp_path / "out"
    run_job(tmp_path, out, load_config(None, factor=1, max_pixels=50_000), QUIET)
    row = json.loads((out / "rejects.jsonl").read_text())
    assert row["reason"] == "image_too_large"
    assert "300x300 = 90000 pixels, above the limit of 50000" in row["message"]


def test_strict_stops_at_the_first_bad_source(job, tmp_path):
    src, _, _ = job
    with pytest.raises(Reject, match=r"dup: several images for one id \(dup.jpg, dup.png\)"):
        run_job(src, tmp_path / "a", load_config(None, factor=1), STRICT)
    only = tmp_path / "only"
    only.mkdir()
    for p in src.glob("trunc.*"):
        shutil.copy(p, only / p.name)
    with pytest.raises(Reject, match="trunc.png: image data does not decode"):
        run_job(only, tmp_path / "b", load_config(None, factor=1), STRICT)
    assert not list((tmp_path / "b").glob("*.tar"))
