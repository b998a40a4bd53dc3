"""The parallel job: plan shards, build the missing ones with joblib, write the manifest.

`build_shard` is the pure work unit (task -> one shard + sidecar); it runs the same under
any joblib backend. A rerun of the same command keeps every shard whose sidecar matches
its bytes and the job's hash and builds only the rest; output written with another config
or other inputs is refused unless `overwrite`. Bad sources never stop the job (unless
`strict`; both are `RunOptions`): they are recorded, once, in the sidecar of the source's group-0 shard, and
gathered into `rejects.jsonl`, so sources = accepted + rejected always holds.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import cv2
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from shards import atomic
from shards.manifest import boxes_warning, build_manifest, write_manifest
from shards.schema import SCHEMA_VERSION
from shards.writer import ShardWriter, file_sha256, read_sidecar, sidecar_path

from .backends import execution
from .config import AugmentConfig
from .pipeline import augment_page, build_sample
from .plan import ShardTask, plan_tasks
from .run_options import RunOptions
from .sources import Reject, SourcePair, discover, load_pair

REJECTS_NAME = "rejects.jsonl"


class JobError(RuntimeError):
    """The job cannot start or go on; the message says what to do."""


def _reject_row(source_id: str, r: Reject) -> dict[str, str]:
    return {"source": source_id, "reason": r.reason, "message": str(r)}


def _load(task: ShardTask, cfg: AugmentConfig, strict: bool, stats: Counter, rejects: list) -> Iterable:
    for src in task.sources:
        try:
            page = load_pair(src.pair, cfg.max_pixels, stats if task.group == 0 else Counter(),
                             require_boxes=strict)
        except Reject as r:
            if strict:
                raise
            if task.group == 0:
                rejects.append(_reject_row(src.pair.source_id, r))
            continue
        yield src, page


def build_shard(task: ShardTask, cfg: AugmentConfig, opts: RunOptions, out: str | Path,
                job_hash: str) -> dict[str, Any]:
    """Build one shard (variant-major order) and return its sidecar."""
    if opts.jobs != 1 or opts.backend != "loky":
        cv2.setNumThreads(1)  # one process per core already; OpenCV's own pool would oversubscribe
    stats: Counter = Counter()
    rejects: list[dict[str, str]] = []
    samples: dict[tuple[int, str], Any] = {}
    for src, page in _load(task, cfg, opts.strict, stats, rejects):
        for v in task.variants:
            aug = augment_page(page, v, cfg)
            stats.update({f"skipped_{k}": n for k, n in aug.skipped.items()})
            samples[(v, src.pair.source_id)] = build_sample(aug, v, cfg, src.split, src.fold)
        stats["accepted"] += task.group == 0
    w = ShardWriter(Path(out) / task.name, job_hash, task.split)
    try:
        for key in sorted(samples):
            w.write(samples[key])
    except BaseException:
        w.abort()
        raise
    return w.close({"group": task.group, "rejects": rejects, "stats": dict(sorted(stats.items()))})


def input_fingerprint(pairs: list[SourcePair]) -> str:
    """sha256 over every input file's name and content (what a rerun must match)."""
    h = hashlib.sha256()
    for p in sorted(pairs, key=lambda p: p.source_id):
        for f in (p.image, p.html, p.boxes):
            if f is not None:
                h.update(f.name.encode("utf-8"))
                with open(f, "rb") as fh:
                    h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()


@dataclass
class JobSummary:
    """What a job did; `text()` is the closing summary printed by the CLI."""

    out: Path
    sources: dict[str, int]
    rejects: Counter
    samples: int
    bytes: int
    built: int
    kept: int
    seconds: float
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)

    def text(self) -> str:
        rej = ", ".join(f"{r}={n}" for r, n in sorted(self.rejects.items())) or "none"
        return (f"sources read {self.sources['total']}, accepted {self.sources['accepted']}, "
                f"rejected {self.sources['rejected']} ({rej})\n"
                f"samples {self.samples} in {self.built + self.kept} shards ({self.built} built, {self.kept} kept), "
                f"{self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s "
                f"({self.samples / max(self.seconds, 1e-9):.1f} samples/s overall)\n"
                + (f"{warning}\n" if (warning := boxes_warning(self.manifest)) else "")
                + f"output: {self.out}")


def _existing_state(out: Path, tasks: list[ShardTask], job_hash: str) -> tuple[dict[str, dict], list[str]]:
    """(done sidecars by shard name, conflicts): what a rerun can keep and what it must not mix."""
    done, conflicts = {}, []
    planned = {t.name for t in tasks}
    for side in sorted(out.glob("*.tar.json")):
        name = side.name[: -len(".json")]
        info = read_sidecar(out / name)
        if info is None or info.get("config_hash") != job_hash or name not in planned:
            conflicts.append(name)
            continue
        if (out / name).exists() and file_sha256(out / name) == (info["sha256"], info["bytes"]):
            done[name] = info
    return done, conflicts


def _clear(out: Path, names: list[str]) -> None:
    for name in names:
        for p in (out / name, sidecar_path(out / name)):
            p.unlink(missing_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)


def _run_tasks(todo: list[ShardTask], cfg: AugmentConfig, opts: RunOptions, out: Path,
               job_hash: str) -> list[dict]:
    if not todo:
        return []
    bar = tqdm(total=len(todo), desc="shards", unit="shard", disable=not opts.progress)
    results, samples, rejects, t0 = [], 0, 0, time.perf_counter()
    with execution(out, backend=opts.backend, jobs=opts.jobs, scheduler=opts.scheduler):
        stream = Parallel(return_as="generator_unordered")(
            delayed(build_shard)(t, cfg, opts, out, job_hash) for t in todo)
        for info in stream:
            results.append(info)
            samples += info["samples"]
            rejects += len(info["rejects"])
            bar.set_postfix(samples_s=f"{samples / (time.perf_counter() - t0):.1f}", rejects=rejects)
            bar.update()
    bar.close()
    return results


def _write_rejects(out: Path, rows: list[dict[str, str]]) -> None:
    text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    atomic.write_bytes(out / REJECTS_NAME, text.encode("utf-8"))


def run_job(input_dir: str | Path, out: str | Path, cfg: AugmentConfig,
            opts: RunOptions = RunOptions()) -> JobSummary:
    """Run (or resume) `augment run` with output settings `cfg`, run as `opts` says: see the
    module docstring."""
    t0 = time.perf_counter()
    # absolute: work units may run in processes with another working directory (Dask workers)
    input_dir, out = Path(input_dir).resolve(), Path(out).resolve()
    if not input_dir.is_dir():
        raise JobError(f"--input {input_dir}: not a directory of source pairs")
    pairs, early = discover(input_dir)
    complete = [p for p in pairs if p.image is not None and p.html is not None]
    for p in pairs:
        if p not in complete:
            try:
                load_pair(p)
            except Reject as r:
                early.append((p.source_id, r))
    if opts.strict and early:
        raise early[0][1]
    fingerprint = input_fingerprint(complete)
    # the schema version too: output of another schema is never resumed into, always rebuilt
    job_hash = hashlib.sha256(f"{cfg.hash()}:{fingerprint}:schema{SCHEMA_VERSION}".encode()).hexdigest()[:16]
    tasks = plan_tasks(complete, cfg)
    out.mkdir(parents=True, exist_ok=True)
    atomic.remove_stale_temps(out)
    done, conflicts = _existing_state(out, tasks, job_hash)
    if conflicts and not opts.overwrite:
        raise JobError(f"{out}: holds shards from another config or input ({', '.join(conflicts[:3])}"
                       f"{'...' if len(conflicts) > 3 else ''}); pass --overwrite to replace them or use another --out")
    _clear(out, conflicts)
    todo = [t for t in tasks if t.name not in done]
    sidecars = list(done.values()) + _run_tasks(todo, cfg, opts, out, job_hash)
    summary = _finish(out, cfg, sidecars, early, fingerprint, job_hash, input_dir)
    summary.built, summary.kept = len(todo), len(sidecars) - len(todo)
    summary.seconds = time.perf_counter() - t0
    return summary


def _finish(out: Path, cfg: AugmentConfig, sidecars: list[dict], early: list, fingerprint: str,
            job_hash: str, input_dir: Path) -> JobSummary:
    rows = [_reject_row(sid, r) for sid, r in early] + [r for s in sidecars for r in s.get("rejects", [])]
    rows.sort(key=lambda r: (r["source"], r["reason"]))
    stats: Counter = Counter()
    for s in sidecars:
        stats.update(s.get("stats", {}))
    accepted = stats.pop("accepted", 0)
    per_split = Counter()
    for s in sidecars:
        if s.get("group") == 0:
            per_split[s["split"]] += s["sources"]
    sources = {"total": accepted + len(rows), "accepted": accepted, "rejected": len(rows), **per_split}
    reasons = Counter(r["reason"] for r in rows)
    clean = [{k: v for k, v in s.items() if k not in ("rejects", "stats", "group")} for s in sidecars]
    manifest = build_manifest(clean, sources=sources, rejects=dict(reasons), config=cfg.job_dict(),
                              config_hash=job_hash, input_fingerprint=fingerprint, stats=dict(stats))
    manifest["input"] = str(input_dir.resolve())
    _write_rejects(out, rows)
    write_manifest(out, manifest)
    return JobSummary(out, sources, reasons, manifest["totals"]["samples"], manifest["totals"]["bytes"],
                      0, 0, 0.0, manifest)
