"""Shard I/O: write MB/s and read samples/s of the `shards` package, against bare baselines.

On the samples of one cached `augment run` (same bytes for every contender):
- write: `shards.storage.writer.ShardWriter` (canonical JSON, key checks, sha256, fsync, atomic
  rename, sidecar) against plain `tarfile` writing the very member bytes it produced, and
  against the same-work baseline: `tarfile` through a sha256 of every byte, then fsync
  (what the writer must do, the plain way); `tarfile` + fsync alone separates durability
  from hashing;
- read: the `shards.storage.reader.make_pipeline` stream (tar parsing with contract checks, JSON,
  image decode) in-process and through a DataLoader with 1 and 2 workers, against bare
  `cv2.imdecode` of the same image bytes held in memory (one core), and against a
  map-style Dataset over the same samples stored as loose files (same worker counts).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from shards.schema import IMAGE_EXTS, Sample
from shards.storage.reader import decode_image, make_pipeline
from shards.storage.writer import ShardWriter, encode_members

from . import common

NAME = "shard_io"
QUICK = dict(sources=6, factor=4, copies=3, repeats=1)
FULL = dict(sources=24, factor=10, copies=4, repeats=3)
WORKERS = (0, 1, 2)
TARGETS = {"write_ratio_vs_tarfile": 0.9, "write_ratio_vs_same_work": 1.0, "read_ratio_vs_bare_decode": 0.9}


def load_samples(shards: Path) -> list[Sample]:
    samples = []
    for raw in make_pipeline(shards, "train", shuffle_buffer=0, decode=False):
        ext = next(e for e in IMAGE_EXTS if e in raw)
        samples.append(Sample(raw["__key__"], raw[ext], ext, raw["html"].decode("utf-8"), json.loads(raw["json"])))
    return samples


def write_ours(samples: list[Sample], out: Path, copies: int) -> int:
    """`copies` shards of every sample through ShardWriter; returns bytes written."""
    total = 0
    for c in range(copies):
        with ShardWriter(out / f"ours-{c:06d}.tar") as w:
            for s in samples:
                w.write(s)
        total += w.info["bytes"]
    return total


class Sha256File:
    """A file object that hashes (sha256) every byte on its way to `fh`, as one would."""

    def __init__(self, fh: Any):
        self.fh, self.sha = fh, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.fh.write(data)

    def tell(self) -> int:
        return self.fh.tell()


def write_tarfile(samples: list[Sample], out: Path, copies: int, fsync: bool, sha256: bool = False) -> int:
    """The same samples with plain tarfile + json.dumps, as anyone would write them
    (optionally hashed through sha256 and fsynced); returns bytes written."""
    total = 0
    for c in range(copies):
        path = out / f"raw-{c:06d}.tar"
        with open(path, "wb") as fh:
            with tarfile.open(fileobj=Sha256File(fh) if sha256 else fh, mode="w") as tar:
                for s in samples:
                    members = ((s.image_ext, s.image), ("html", s.html.encode("utf-8")),
                               ("json", json.dumps(s.meta, sort_keys=True).encode("utf-8")))
                    for ext, data in members:
                        info = tarfile.TarInfo(f"{s.key}.{ext}")
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        total += path.stat().st_size
    return total


class LooseFiles(Dataset):
    """Map-style baseline: one sample = `<key>.<ext>` + `.html` + `.json` files in a folder."""

    def __init__(self, folder: Path, keys: list[str], ext: str):
        self.folder, self.keys, self.ext = folder, keys, ext

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> tuple[np.ndarray, dict[str, Any]]:
        base = self.folder / self.keys[i]
        meta = json.loads(base.with_suffix(".json").read_bytes())
        meta["html"] = base.with_suffix(".html").read_text(encoding="utf-8")
        return decode_image(base.with_suffix(f".{self.ext}").read_bytes()), meta


def write_loose(samples: list[Sample], folder: Path) -> LooseFiles:
    folder.mkdir(parents=True, exist_ok=True)
    for s in samples:
        for ext, data in encode_members(s).items():
            if ext != "__key__":
                (folder / f"{s.key}.{ext}").write_bytes(data)
    return LooseFiles(folder, [s.key for s in samples], samples[0].image_ext)


def drain(dataset: Any, workers: int) -> int:
    """Samples delivered by a DataLoader over `dataset` (workers=0: in-process iteration)."""
    it = dataset if workers == 0 else DataLoader(dataset, batch_size=None, num_workers=workers)
    return sum(1 for _ in it)


def bare_decode(images: list[bytes]) -> int:
    for data in images:
        cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return len(images)


def measure_write(samples: list[Sample], work: Path, copies: int, repeats: int) -> dict[str, Any]:
    out = work / "sio-write"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    nbytes = write_ours(samples, out, copies)
    secs, _ = common.race({"shards_writer": lambda: write_ours(samples, out, copies),
                           "tarfile": lambda: write_tarfile(samples, out, copies, False),
                           "tarfile_fsync": lambda: write_tarfile(samples, out, copies, True),
                           "tarfile_sha256_fsync": lambda: write_tarfile(samples, out, copies, True, True)}, repeats)
    mbs = {k: round(nbytes / 1e6 / v, 1) for k, v in secs.items()}
    return {"bytes": nbytes, "seconds": {k: round(v, 4) for k, v in secs.items()}, "mb_per_s": mbs,
            "write_ratio_vs_tarfile": common.ratio(mbs["shards_writer"], mbs["tarfile"]),
            "write_ratio_vs_tarfile_fsync": common.ratio(mbs["shards_writer"], mbs["tarfile_fsync"]),
            "write_ratio_vs_same_work": common.ratio(mbs["shards_writer"], mbs["tarfile_sha256_fsync"])}


def measure_read(shards: Path, samples: list[Sample], work: Path, repeats: int) -> dict[str, Any]:
    n = len(samples)
    loose = write_loose(samples, work / "sio-loose")
    images = [s.image for s in samples]
    pipe = lambda: make_pipeline(shards, "train", shuffle_buffer=0)  # noqa: E731
    contenders = {"bare_decode": lambda: bare_decode(images)}
    for w in WORKERS:
        contenders[f"shards_reader_w{w}"] = lambda w=w: drain(pipe(), w)
        contenders[f"loose_files_w{w}"] = lambda w=w: drain(loose, w)
    secs, cpu = common.race(contenders, repeats)
    rate = {k: round(n / v, 1) for k, v in secs.items()}
    in_process = ("bare_decode", "shards_reader_w0", "loose_files_w0")  # CPU time sees only these
    return {"samples": n, "seconds": {k: round(v, 4) for k, v in secs.items()}, "samples_per_s": rate,
            # like for like: both decode on one core in this process (workers add IPC, below)
            "read_ratio_vs_bare_decode": common.ratio(rate["shards_reader_w0"], rate["bare_decode"]),
            "read_ratio_vs_loose_files": common.ratio(rate["shards_reader_w0"], rate["loose_files_w0"]),
            "cpu_seconds": {k: round(cpu[k], 4) for k in in_process},
            "read_ratio_vs_bare_decode_cpu": common.ratio(cpu["bare_decode"], cpu["shards_reader_w0"]),
            "read_ratio_by_workers": {f"w{w}": _worker_ratios(rate, w) for w in WORKERS}}


def _worker_ratios(rate: dict[str, float], w: int) -> dict[str, float | None]:
    ours = rate[f"shards_reader_w{w}"]
    return {"vs_bare_decode": common.ratio(ours, rate["bare_decode"]),
            "vs_loose_files": common.ratio(ours, rate[f"loose_files_w{w}"])}


def measure(sources: int, factor: int, copies: int, repeats: int, work: Path, seed: int = 0) -> dict[str, Any]:
    """Every figure of the benchmark (see the module docstring) as a JSON-ready dict."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    shards = common.cached_shards(work, sources, factor, seed)
    samples = load_samples(shards)
    if not samples:
        raise RuntimeError(f"{shards}: no training samples to benchmark with; raise --sources")
    r = {"settings": {"sources": sources, "factor": factor, "copies": copies, "repeats": repeats, "seed": seed,
                      "workers": list(WORKERS), "opencv_threads": 1,
                      "timing": "best of interleaved repeats, perf_counter"},
         "write": measure_write(samples, work, copies, repeats), "read": measure_read(shards, samples, work, repeats)}
    r["write_ratio_vs_tarfile"] = r["write"]["write_ratio_vs_tarfile"]
    r["write_ratio_vs_same_work"] = r["write"]["write_ratio_vs_same_work"]
    r["read_ratio_vs_bare_decode"] = r["read"]["read_ratio_vs_bare_decode"]
    r["targets"] = {k: {"target": v, "measured": r[k], "met": r[k] is not None and r[k] >= v}
                    for k, v in TARGETS.items()}
    return r


def report(r: dict[str, Any]) -> str:
    w, rd = r["write"], r["read"]
    base_w, base_r = w["mb_per_s"]["tarfile"], rd["samples_per_s"]["bare_decode"]
    same = w["mb_per_s"].get("tarfile_sha256_fsync")  # runs recorded before 2026-12-05 have no same-work baseline
    wrows = [(k, v, common.ratio(v, base_w), common.ratio(v, same) if same else None) for k, v in w["mb_per_s"].items()]
    rrows = [(k, v, common.ratio(v, base_r)) for k, v in rd["samples_per_s"].items()]
    return "\n".join([common.table(("write", "MB/s", "x tarfile", "x same work"), wrows), "",
                      common.table(("read", "samples/s", "x bare decode"), rrows)])


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    common.size_flags(p, QUICK, FULL)
    p.add_argument("--copies", type=int, help="shards written per timed write (default 4, quick 3)")
    p.add_argument("--repeats", type=int, help="timed repeats, best kept (default 3, quick 1)")
    return common.run_sized(NAME, p.parse_args(argv), QUICK, FULL, measure, report)


if __name__ == "__main__":
    sys.exit(main())
