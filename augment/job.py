"""The parallel job: plan shards, build the missing ones with joblib, write the manifest.

`build_shard` is the pure work unit (task -> one shard + sidecar); it runs the same under
any joblib backend. A rerun of the same command keeps every shard whose sidecar matches
its bytes and the job's hash and builds only the rest; output written with another config
or other inputs is refused unless `overwrite`; one that keeps shards written under other
package versions (each sidecar records its builder's, `shards.storage.versions`) says so in a warning
naming each package and both versions. Bad sources never stop the job (unless
`strict`; both are `RunOptions`): they are recorded, once, in the sidecar of the source's group-0 shard, and
gathered into `rejects.jsonl`, so sources = accepted + rejected always holds. Any exception
while reading a source is such a reject (`sources.load_pair`); one while augmenting a
variant drops that variant alone (`augment_failed`, a `rejects.jsonl` row with a `variant`,
counted in the manifest's `stats.variants_failed`), so no single page stops a job.

The job holds `--out`'s lock (`shards.storage.lock`) from start to finish: a second job on the same
folder is refused naming the first. It touches only its own files there: shards and
sidecars named `<split>-NNNNNN.tar[.json]`, `manifest.json`, `rejects.jsonl` and its own
temporary files; anything else in the folder is left alone and named in a log line.
On Ctrl-C or SIGTERM the workers are stopped with it (joblib kills its loky workers when the
consuming loop is left by an exception); finished shards stay, a rerun builds the rest.

With `rerender` (`--rerender`) each variant that a structure op changed is drawn by
Chromium from the pair's snapshot (`<id>.mhtml`, `augment.render.rerender`; one browser per
worker process, reused): a snapshot that cannot be read rejects its source (`bad_snapshot`),
a page that fails to render again drops that variant (`rerender_failed`, the browser's
reason in `error`), and a pair without a snapshot is painted as without the setting,
counted (`sources_painted_no_snapshot`). The snapshots enter the input fingerprint then.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import cv2
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from shards.schema import SCHEMA_VERSION
from shards.storage import atomic, versions
from shards.storage.lock import hold
from shards.storage.manifest import boxes_warning, build_manifest, write_manifest
from shards.storage.writer import ShardWriter
from shards.views.cli_support import progress_enabled

from .backends import execution
from .config import AugmentConfig
from .groups import GROUPS_NAME, assign_groups
from .pipeline import augment_page, build_sample
from .render.rerender import RerenderError, check_browser, pair_snapshot, rerender_hook
from .render.snapshot import Snapshot
from .plan import ShardTask, Source, plan_tasks
from .resume import (REJECTS_NAME, clear_conflicts, existing_state, foreign_files, input_fingerprint,
                     kept_versions_note)
from .run_options import RunOptions
from .sources import Reject, SourcePair, discover, load_pair, nested_pair_folders, pair_stem

log = logging.getLogger(__name__)


class JobError(RuntimeError):
    """The job cannot start or go on; the message says what to do."""


def _reject_row(source_id: str, r: Reject) -> dict[str, str]:
    row = {"source": source_id, "reason": r.reason, "message": str(r)}
    return row | ({"error": r.error} if r.error else {})


def _load(task: ShardTask, cfg: AugmentConfig, strict: bool, stats: Counter, rejects: list) -> Iterable:
    for src in task.sources:
        counts: Counter = Counter()  # merged only for an accepted source, and once (group 0)
        try:
            page = load_pair(src.pair, cfg.max_pixels, counts, require_boxes=strict)
            snapshot = pair_snapshot(src.pair.html, counts) if cfg.rerender else None
        except Reject as r:
            if strict:
                raise
            if task.group == 0:
                rejects.append(_reject_row(src.pair.source_id, r))
            continue
        if task.group == 0:
            stats.update(counts)
        yield src, page, snapshot


def _variant(page: Any, v: int, cfg: AugmentConfig, src: Any, strict: bool, stats: Counter,
             failed: list, snapshot: Snapshot | None = None) -> Any:
    """One variant's sample, or None when augmenting it failed (recorded in `failed`)."""
    try:
        aug = augment_page(page, v, cfg, rerender=rerender_hook(snapshot))
        sample = build_sample(aug, v, cfg, src.split, src.fold, group=src.group)
    except Exception as e:  # noqa: BLE001 - one variant never stops a job: see the module docstring
        sid, name = src.pair.source_id, type(e).__name__
        reason, error = ("rerender_failed", e.reason) if isinstance(e, RerenderError) else ("augment_failed", name)
        message = f"{sid} variant {v}: {name} while augmenting: {str(e)[:300]}"
        if strict:
            raise Reject(reason, message, error) from e
        failed.append({"source": sid, "variant": v, "reason": reason, "error": error, "message": message})
        stats["variants_failed"] += 1
        return None
    stats.update({f"skipped_{k}": n for k, n in aug.skipped.items()})
    stats["variants_rerendered"] += any(o["op"] == "rerender" for o in aug.ops)
    return sample


def build_shard(task: ShardTask, cfg: AugmentConfig, opts: RunOptions, out: str | Path,
                job_hash: str) -> dict[str, Any]:
    """Build one shard (variant-major order) and return its sidecar."""
    if opts.jobs != 1 or opts.backend != "loky":
        cv2.setNumThreads(1)  # one process per core already; OpenCV's own pool would oversubscribe
    stats: Counter = Counter()
    rejects: list[dict[str, str]] = []
    failed: list[dict[str, Any]] = []
    samples: dict[tuple[int, str], Any] = {}
    for src, page, snapshot in _load(task, cfg, opts.strict, stats, rejects):
        for v in task.variants:
            sample = _variant(page, v, cfg, src, opts.strict, stats, failed, snapshot)
            if sample is not None:
                samples[(v, src.pair.source_id)] = sample
        stats["accepted"] += task.group == 0
    w = ShardWriter(Path(out) / task.name, job_hash, task.split)
    try:
        for key in sorted(samples):
            w.write(samples[key])
    except BaseException:
        w.abort()
        raise
    # the versions of the process that built it (a Dask worker's own): `shards.storage.versions`
    extra = {"group": task.group, "rejects": rejects, "stats": dict(sorted(stats.items())),
             "versions": versions.current()}
    return w.close(extra | ({"failed": failed} if failed else {}))


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
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        rej = ", ".join(f"{r}={n}" for r, n in sorted(self.rejects.items())) or "none"
        stats = self.manifest.get("stats", {})
        failed = int(stats.get("variants_failed", 0))
        rerendered = (f"re-rendered in Chromium: {stats.get('variants_rerendered', 0)} variants of "
                      f"{stats.get('sources_rerendered', 0)} sources; sources without a snapshot, painted: "
                      f"{stats.get('sources_painted_no_snapshot', 0)}\n"
                      if self.manifest.get("config", {}).get("rerender") else "")
        return (f"sources read {self.sources['total']}, accepted {self.sources['accepted']}, "
                f"rejected {self.sources['rejected']} ({rej})\n"
                + (f"variants dropped {failed} (augment_failed or rerender_failed; see {REJECTS_NAME})\n"
                   if failed else "") + rerendered
                + f"samples {self.samples} in {self.built + self.kept} shards ({self.built} built, {self.kept} kept), "
                f"{self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s "
                f"({self.samples / max(self.seconds, 1e-9):.1f} samples/s overall)\n"
                + (f"{warning}\n" if (warning := boxes_warning(self.manifest)) else "")
                + "".join(f"{note}\n" for note in self.notes)
                + f"output: {self.out}")


def _run_tasks(todo: list[ShardTask], cfg: AugmentConfig, opts: RunOptions, out: Path,
               job_hash: str) -> list[dict]:
    if not todo:
        return []
    bar = tqdm(total=len(todo), desc="shards", unit="shard", disable=not progress_enabled(opts.progress))
    results, samples, rejects, t0 = [], 0, 0, time.perf_counter()
    with execution(out, backend=opts.backend, jobs=opts.jobs, scheduler=opts.scheduler):
        stream = Parallel(return_as="generator_unordered")(
            delayed(build_shard)(t, cfg, opts, out, job_hash) for t in todo)
        try:
            for info in stream:
                results.append(info)
                samples += info["samples"]
                rejects += len(info["rejects"])
                bar.set_postfix(samples_s=f"{samples / (time.perf_counter() - t0):.1f}", rejects=rejects)
                bar.update()
        finally:
            stream.close()  # on Ctrl-C/SIGTERM (or an error) joblib aborts and kills its workers here
            bar.close()
    return results


def _write_rejects(out: Path, rows: list[dict[str, str]]) -> None:
    text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    atomic.write_bytes(out / REJECTS_NAME, text.encode("utf-8"))


def run_job(input_dir: str | Path, out: str | Path, cfg: AugmentConfig,
            opts: RunOptions = RunOptions()) -> JobSummary:  # noqa: B008 - frozen, never mutated
    """Run (or resume) `augment run` with output settings `cfg`, run as `opts` says: see the
    module docstring."""
    t0 = time.perf_counter()
    # absolute: work units may run in processes with another working directory (Dask workers)
    input_dir, out = Path(input_dir).resolve(), Path(out).resolve()
    if not input_dir.is_dir():
        raise JobError(f"--input {input_dir}: not a directory of source pairs")
    if input_dir == out:
        raise JobError(f"--out {out}: is the --input folder; give the shards a folder of their own")
    if out.exists() and not out.is_dir():
        raise JobError(f"--out {out}: exists and is not a folder")
    if cfg.rerender:
        check_browser()  # BrowserError, saying how to get one, before any work is sent
    try:
        pairs, early = discover(input_dir, opts.follow_symlinks)
        nested = nested_pair_folders(input_dir)
    except OSError as e:
        raise JobError(f"--input {input_dir}: cannot list it ({e.strerror})") from None
    page_groups, group_notes = assign_groups(((p.source_id, pair_stem(p)) for p in pairs), input_dir)
    complete = [p for p in pairs if p.image is not None and p.html is not None]
    for p in pairs:
        if p not in complete:
            try:
                load_pair(p)
            except Reject as r:
                early.append((p.source_id, r))
    notes = [] if not nested else [
        f"note: {len(nested)} subfolder(s) of --input hold files named like source pairs, which are not read "
        f"(only the top level is): {', '.join(nested[:5])}{'...' if len(nested) > 5 else ''}"]
    if not complete:
        found = ", ".join(f"{n} {r}" for r, n in sorted(Counter(r.reason for _, r in early).items()))
        raise JobError(f"--input {input_dir}: no source pairs (<id>.png|jpg|webp + <id>.html) at its top level "
                       f"({found or 'no image or .html files'}{'; ' + notes[0][6:] if notes else ''})")
    notes += group_notes
    for note in notes:
        log.warning("%s", note)
    if opts.strict and early:
        raise early[0][1]
    out.mkdir(parents=True, exist_ok=True)
    with hold(out, "augment run"):
        summary = _locked_run(input_dir, out, cfg, opts, complete, early, page_groups)
    summary.notes = notes + summary.notes
    summary.seconds = time.perf_counter() - t0
    return summary


def _locked_run(input_dir: Path, out: Path, cfg: AugmentConfig, opts: RunOptions, complete: list[SourcePair],
                early: list, page_groups: dict[str, str]) -> JobSummary:
    groups_file = input_dir / GROUPS_NAME
    fingerprint = input_fingerprint(complete, cfg.max_pixels, groups_file if groups_file.is_file() else None,
                                    snapshots=cfg.rerender)
    # the schema version too: output of another schema is never resumed into, always rebuilt
    job_hash = hashlib.sha256(f"{cfg.hash()}:{fingerprint}:schema{SCHEMA_VERSION}".encode()).hexdigest()[:16]
    tasks = plan_tasks(complete, cfg, page_groups)
    atomic.remove_stale_temps(out)
    if foreign := foreign_files(out):
        log.info("--out %s: leaving %d file(s) this job did not write alone: %s", out, len(foreign),
                 ", ".join(foreign[:10]) + ("..." if len(foreign) > 10 else ""))
    done, conflicts = existing_state(out, tasks, job_hash)
    if conflicts and not opts.overwrite:
        raise JobError(f"{out}: holds shards from another config or input ({', '.join(conflicts[:3])}"
                       f"{'...' if len(conflicts) > 3 else ''}); pass --overwrite to replace them or use another --out")
    clear_conflicts(out, conflicts)
    todo = [t for t in tasks if t.name not in done]
    if kept_note := kept_versions_note(out, done):
        log.warning("%s", kept_note)
    sidecars = list(done.values()) + _run_tasks(todo, cfg, opts, out, job_hash)
    planned = [src for t in tasks if t.group == 0 for src in t.sources]
    summary = _finish(out, cfg, sidecars, early, fingerprint, job_hash, input_dir, planned)
    summary.built, summary.kept = len(todo), len(sidecars) - len(todo)
    summary.notes = [kept_note] if kept_note else []
    return summary


def _group_counts(planned: list[Source], rows: list[dict[str, str]]) -> dict[str, dict[str, int]]:
    """split -> group -> accepted sources (planned and not rejected), for the manifest."""
    rejected = {r["source"] for r in rows}
    counts: dict[str, Counter] = {}
    for src in planned:
        if src.pair.source_id not in rejected:
            counts.setdefault(src.split, Counter())[src.group] += 1
    return counts


def _finish(out: Path, cfg: AugmentConfig, sidecars: list[dict], early: list, fingerprint: str,
            job_hash: str, input_dir: Path, planned: list[Source]) -> JobSummary:
    rows = [_reject_row(sid, r) for sid, r in early] + [r for s in sidecars for r in s.get("rejects", [])]
    rows.sort(key=lambda r: (r["source"], r["reason"]))
    failed = sorted((r for s in sidecars for r in s.get("failed", [])), key=lambda r: (r["source"], r["variant"]))
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
    clean = [{k: v for k, v in s.items() if k not in ("rejects", "stats", "group", "failed", "versions")}
             for s in sidecars]
    manifest = build_manifest(clean, sources=sources, rejects=dict(reasons), config=cfg.job_dict(),
                              config_hash=job_hash, input_fingerprint=fingerprint, stats=dict(stats),
                              groups=_group_counts(planned, rows),
                              versions=versions.gather(s.get("versions") for s in sidecars))
    manifest["input"] = str(input_dir.resolve())
    _write_rejects(out, sorted(rows + failed, key=lambda r: (r["source"], r.get("variant", -1), r["reason"])))
    write_manifest(out, manifest)
    return JobSummary(out, sources, reasons, manifest["totals"]["samples"], manifest["totals"]["bytes"],
                      0, 0, 0.0, manifest)
