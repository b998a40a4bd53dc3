"""Scoring a model on held-out sources, with intervals and the layout prior beside it.

Every held-out source is scored once at its untouched variant 00 (``pages``) and, separately,
at up to ``variants`` of its augmented variants (``variants``). Each page's metrics
(train.evaluation.metrics) are summed per source; a score is the sum over sources of the
numerators over the sum of the denominators, and its 95% interval is a percentile bootstrap
over *sources* (``scipy.stats.bootstrap``, paired numerators and denominators), so pages of
one source never count as independent evidence. The layout prior (train.evaluation.prior) is
scored on the same pages by the same code.

A user's folder of source pairs (`train evaluate --pairs`, :func:`evaluate_pairs`) is scored
the same way, each pair at its original page as variant 00 (`shards.pairs` gives it the true
sections augment would). With ``context_k``, each page gets that many few-shot context pages
drawn (`train.data.episodes.draw_context`, seeded by the page's key) from the untouched pages of
other sources of its group.

Both levels of the labels are scored (issue 35): the sections, and the regions the model's
sections make (`train.evaluation.levels`: sections of one predicted region type that touch)
against the page's true regions, by the same metrics (``regions`` in the result; the children
and raw-token metrics mean nothing there).

The numbers do not depend on the loader: the selected pages are gathered, sorted by key and
batched in that order, and each page's sampling noise comes from a generator seeded by the
evaluation seed and the page's key. Memory: the gathered canvases (uint8, at most
``max_sources`` x (1 + ``variants``) of them; ~0.2 MB each at the micro preset).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import bootstrap
from torch import nn
from torch.utils.data import DataLoader

from shards.pairs.folder import Reject
from shards.pairs.pages import PairPage, PairsError, read_pairs, reject_record
from shards.schema import parse_key
from shards.storage.hashing import hash64, hash_unit
from shards.storage.manifest import load_manifest
from shards.storage.reader import ShardReadError

from ..config import SamplingConfig
from ..data.episodes import draw_context
from ..data.inputs import InputSpec, collate, to_device
from ..data.stream import sample_stream
from ..diffusion.sampling import page_generators, read_at, sample
from ..model import unwrap
from .levels import REGION_METRICS, region_stats
from .metrics import METRICS, add_stats, page_stats
from .prior import LayoutPrior

GROUPS = ("pages", "variants")
# who is scored: the model as configured; the dense head's boxes read by the reader ("finding alone":
# train.model.dense_decode); the reader at the true boxes ("reading alone"); the layout prior
WHO = ("model", "finding", "reading", "prior")
REGION_WHO = ("model", "prior")  # the regions the model's sections make; the prior's


@dataclass
class EvalSettings:
    """One settings object for every evaluation (training-time, `train evaluate`)."""

    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    batch_size: int = 16
    num_workers: int = 0
    max_sources: int = 0  # 0 = every held-out source
    variants: int = 2  # augmented variants per source scored beside its variant 00
    fold: int | None = None  # K-fold: score this fold of the train split instead of val
    on_error: str = "raise"
    seed: int = 0
    resamples: int = 1000  # bootstrap resamples
    context_k: int = 0  # few-shot: context pages per page, from other held-out sources of its group


class _Selection:
    """Picklable sample filter: variants 0..k and, when capped, a hash-chosen share of sources."""

    def __init__(self, variants: int, share: float, seed: int, fold: int | None) -> None:
        self.variants, self.share, self.seed, self.fold = variants, share, seed, fold

    def __call__(self, meta: dict[str, Any]) -> bool:
        source, variant = parse_key(meta["__key__"])
        if variant > self.variants:
            return False
        if self.fold is not None and meta.get("fold") != self.fold:
            return False
        return self.share >= 1.0 or hash_unit(f"{self.seed}:eval:{source}") < self.share


def gather(shards: str | Path, split: str, spec: InputSpec, settings: EvalSettings) -> list[dict[str, Any]]:
    """The encoded held-out pages, sorted by key."""
    manifest = load_manifest(shards)
    splits = {name: t for name, t in manifest["splits"].items() if t.get("shards")}
    if split not in splits:
        raise ShardReadError(f"{shards}: no shards for split {split!r}; this directory has {sorted(splits) or 'none'}")
    n_sources = splits[split].get("sources", 0) or 1
    share = 1.0 if not settings.max_sources else settings.max_sources / n_sources
    keep = _Selection(settings.variants, share, settings.seed, settings.fold)
    ds = sample_stream(shards, split, spec, seed=settings.seed, epoch=0, keep=keep, shuffle_buffer=0,
                       on_error=settings.on_error, repeat=False, split_nodes=False)
    # one sample at a time (no batching in the workers): the order of arrival does not matter
    pages = DataLoader(ds, batch_size=None, num_workers=settings.num_workers, collate_fn=_identity)
    return sorted(pages, key=lambda it: it["key"])


def _identity(x: Any) -> Any:
    return x


def _true(item: dict[str, Any], factors) -> tuple:
    m = item["mask"]
    return (item["boxes"][m], item["types"][m].tolist(),
            [factors.decode_children(c) for c in item["children"][m].tolist()], item["raw"][m].tolist())


def _interval(num: np.ndarray, den: np.ndarray, resamples: int, seed: int) -> list[float] | None:
    if len(num) < 2 or den.sum() == 0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        res = bootstrap((num, den), lambda n, d, axis=-1: n.sum(axis) / d.sum(axis), paired=True,
                        vectorized=True, n_resamples=resamples, method="percentile", confidence_level=0.95,
                        random_state=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return None if math.isnan(lo) or math.isnan(hi) else [round(lo, 4), round(hi, 4)]


def summarize(per_source: dict[str, dict[str, list[float]]], resamples: int, seed: int) -> dict[str, Any]:
    """{metric: value} and {metric: [lo, hi]} from per-source (numerator, denominator) sums."""
    sources = sorted(per_source)
    values, intervals = {}, {}
    for k in METRICS:
        num = np.array([per_source[s].get(k, [0.0, 0.0])[0] for s in sources], dtype=np.float64)
        den = np.array([per_source[s].get(k, [0.0, 0.0])[1] for s in sources], dtype=np.float64)
        values[k] = round(float(num.sum() / den.sum()), 4) if den.sum() else None
        intervals[k] = _interval(num, den, resamples, seed)
    return {"value": values, "ci": intervals, "sources": len(sources)}


@torch.no_grad()
def score_items(model: nn.Module, items: list[dict[str, Any]], candidates: list[dict[str, Any]],
                settings: EvalSettings, factors, *, prior: LayoutPrior | None = None,
                device: torch.device | str = "cpu") -> dict[str, dict[str, dict[str, dict[str, list[float]]]]]:
    """Per-source metric sums of ``model`` (and ``prior``) on the encoded ``items``, by group
    ("pages": variant 00, "variants"); with ``settings.context_k``, each page gets that many
    context pages drawn from ``candidates`` of its group, never of its own source."""
    stats: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {who: {g: {} for g in GROUPS} for who in WHO}
    stats.update({f"{who}@regions": {g: {} for g in GROUPS} for who in REGION_WHO})
    finding_settings = dataclasses.replace(settings.sampling, init="dense")
    for start in range(0, len(items), settings.batch_size):
        chunk = items[start:start + settings.batch_size]
        if settings.context_k:
            chunk = [{**it, "context": draw_context(candidates, it, settings.context_k, f"{settings.seed}:context")}
                     for it in chunk]
        batch = to_device(collate(chunk), device)
        gens = page_generators([hash64(f"{settings.seed}:{it['key']}") & 0x7FFFFFFFFFFFFFFF for it in chunk])
        context = unwrap(model).batch_context(batch)
        preds = sample(model, batch["image"], batch["extent"], settings.sampling, gens, context)
        # finding alone: the dense head's boxes, read; reading alone: the reader at the true boxes
        finds = preds if settings.sampling.init == "dense" else sample(
            model, batch["image"], batch["extent"], finding_settings, gens, context)
        reads = read_at(model, batch["image"], batch["extent"],
                        [b[m] for b, m in zip(batch["boxes"], batch["mask"])], settings.sampling.guidance_scale,
                        context)
        for it, pred, find, read in zip(chunk, preds, finds, reads):
            source, variant = parse_key(it["key"])
            group = "pages" if variant == 0 else "variants"
            true = _true(it, factors)
            for who, p in (("model", pred), ("finding", find), ("reading", read)):
                add_stats(stats[who][group].setdefault(source, {}), page_stats(
                    p.boxes, p.types.tolist(), [factors.decode_children(c) for c in p.children.tolist()],
                    p.raw.tolist(), *true))
            add_stats(stats["model@regions"][group].setdefault(source, {}),
                      region_stats(pred.boxes, pred.regions.tolist(), it))
            if prior is not None:
                prior_stats = page_stats(prior.boxes, list(prior.types),
                                         [factors.decode_children(c) for c in prior.children], list(prior.raw), *true)
                add_stats(stats["prior"][group].setdefault(source, {}), prior_stats)
                add_stats(stats["prior@regions"][group].setdefault(source, {}),
                          region_stats(prior.boxes, prior.region_ids(factors), it))
    return stats


def _summaries(stats: dict[str, Any], settings: EvalSettings, with_prior: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in GROUPS:
        entry = {who: summarize(stats[who][group], settings.resamples, settings.seed)
                 for who in ("model", "finding", "reading")}
        if with_prior:
            entry["prior"] = summarize(stats["prior"][group], settings.resamples, settings.seed)
        out[group] = entry
    out["regions"] = {group: {who: summarize(stats[f"{who}@regions"][group], settings.resamples, settings.seed)
                              for who in REGION_WHO if with_prior or who != "prior"} for group in GROUPS}
    out["score"] = out["pages"]["model"]["value"]["token"]
    return out


def _by(stats: dict[str, Any], by: dict[str, str], settings: EvalSettings, with_prior: bool) -> dict[str, Any]:
    """The summaries of each subset of sources that ``by`` (source id -> subset name) names."""
    return {name: _summaries({who: {g: {s: v for s, v in per.items() if by.get(s) == name} for g, per in groups.items()}
                              for who, groups in stats.items()}, settings, with_prior)
            for name in sorted(set(by.values()))}


@torch.no_grad()
def evaluate(model: nn.Module, shards: str | Path, split: str, spec: InputSpec, settings: EvalSettings, *,
             prior: LayoutPrior | None = None, device: torch.device | str = "cpu",
             by: dict[str, str] | None = None) -> dict[str, Any]:
    """Held-out scores of ``model`` on ``split`` (module docstring); with ``by`` (source id ->
    subset name, e.g. the kind of page), also each subset's own scores (``by``)."""
    items = gather(shards, split, spec, settings)
    candidates = [it for it in items if parse_key(it["key"])[1] == 0]  # context comes from untouched pages
    stats = score_items(model, items, candidates, settings, spec.factors, prior=prior, device=device)
    out: dict[str, Any] = {"split": split, "fold": settings.fold, "samples": len(items),
                           "sampling": vars(settings.sampling).copy(), "context_k": settings.context_k}
    if by:
        out["by"] = _by(stats, by, settings, prior is not None)
    return {**out, **_summaries(stats, settings, prior is not None)}


@torch.no_grad()
def evaluate_pairs(model: nn.Module, pages: list[PairPage], spec: InputSpec, settings: EvalSettings, *,
                   prior: LayoutPrior | None = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Scores of ``model`` on a folder's pairs (`shards.pairs.pages.read_pairs`), each at its original
    page as variant 00 of a held-out source is, context drawn from the other scored pairs of
    its group. Pairs without true sections are the caller's to leave out (not scorable)."""
    items = sorted((spec.encode(p.image, p.meta()) for p in pages), key=lambda it: it["key"])
    stats = score_items(model, items, items, settings, spec.factors, prior=prior, device=device)
    out: dict[str, Any] = {"samples": len(items), "sampling": vars(settings.sampling).copy(),
                           "context_k": settings.context_k}
    return {**out, **_summaries(stats, settings, prior is not None)}


def _cell(entry: dict[str, Any], who: str, k: str) -> tuple[str, str]:
    """One metric of one row as (value, interval) text; '-' where it is not there."""
    if who not in entry:
        return "-", ""
    v, ci = entry[who]["value"][k], entry[who]["ci"][k]
    return ("-" if v is None else f"{v:.3f}"), ("" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]")


def format_table(result: dict[str, Any]) -> str:
    """The held-out scores as a text table: model and prior with 95% intervals, per group."""
    lines = []
    for group in GROUPS:
        entry = result.get(group)
        if not entry or not entry["model"]["sources"]:
            continue
        if "pairs" in result:
            title = f"pairs of {result['pairs']} (original pages): {entry['model']['sources']} sources"
        else:
            title = (f"{'variant 00 (untouched pages)' if group == 'pages' else 'augmented variants'}: "
                     f"{entry['model']['sources']} held-out sources")
        lines.append(title)
        lines.append(f"  {'metric':<10} {'model':>7} {'95% CI':>15}   {'prior':>7} {'95% CI':>15}   "
                     f"{'finding':>7} {'reading':>7}")
        for k in METRICS:
            (mv, mci), (pv, pci) = _cell(entry, "model", k), _cell(entry, "prior", k)
            fv, rv = _cell(entry, "finding", k)[0], _cell(entry, "reading", k)[0]
            lines.append(f"  {k:<10} {mv:>7} {mci:>15}   {pv:>7} {pci:>15}   {fv:>7} {rv:>7}")
    if lines:
        lines.append("finding: the dense head's boxes alone, read; reading: the reader at the true boxes")
    entry = (result.get("regions") or {}).get("pages")
    if entry and entry["model"]["sources"]:
        lines.append(f"regions (the model's sections grouped by their region type), {entry['model']['sources']} "
                     "sources, untouched pages")
        lines.append(f"  {'metric':<10} {'model':>7} {'95% CI':>15}   {'prior':>7} {'95% CI':>15}")
        for k in REGION_METRICS:
            (mv, mci), (pv, pci) = _cell(entry, "model", k), _cell(entry, "prior", k)
            lines.append(f"  {k:<10} {mv:>7} {mci:>15}   {pv:>7} {pci:>15}")
    return "\n".join(lines)


def _load(checkpoint: str | Path, context_k: int | None, max_sources: int, variants: int,
          device: torch.device | str, sampling: dict[str, Any] | None = None
          ) -> tuple[dict[str, Any], Any, Any, InputSpec, EvalSettings]:
    """(checkpoint state, run config, predictor, input spec, settings) of a `train evaluate`;
    a few-shot ``context_k`` for a model without context layers is a CheckpointError."""
    from .. import checkpoint as ckpt
    from ..config import TrainConfig
    from ..inference import load_model, require_few_shot

    state = ckpt.load(checkpoint)
    cfg = TrainConfig.from_dict(state["config"])
    predictor = load_model(checkpoint, device)
    context_k = cfg.few_shot_k if context_k is None else context_k
    if context_k:
        require_few_shot(predictor, checkpoint, f"--context-k {context_k}")
    spec = InputSpec.of(predictor.model.cfg, predictor.factors)
    run_sampling = dataclasses.replace(cfg.sampling, **(sampling or {}))
    bad = [f"sampling.{name} must be {rule}" for ok, name, rule in run_sampling.checks() if not ok]
    if bad:
        raise ValueError("; ".join(bad))
    settings = EvalSettings(sampling=run_sampling, batch_size=cfg.batch_size, num_workers=0,
                            max_sources=max_sources,
                            variants=variants, on_error=cfg.on_error, seed=cfg.seed, context_k=context_k)
    return state, cfg, predictor, spec, settings


def evaluate_checkpoint(checkpoint: str | Path, shards: str | Path, split: str = "val", *, max_sources: int = 0,
                        variants: int = 2, context_k: int | None = None, sampling: dict[str, Any] | None = None,
                        device: torch.device | str = "cpu", by: dict[str, str] | None = None) -> dict[str, Any]:
    """`train evaluate`: a checkpoint's held-out scores on ``split`` of ``shards``, beside the
    layout prior of the run's own training data (saved in the checkpoint; fitted on the train
    split of ``shards`` for a checkpoint without one). ``context_k``: few-shot context pages
    per page (default: the run's ``few_shot_k``); ``sampling``: settings of the run's
    `SamplingConfig` to change, e.g. ``{"init": "noise"}``; ``by``: scores per subset of sources too
    (`evaluate`)."""
    from ..data.stream import EpochFilter
    from .prior import fit_prior

    state, cfg, predictor, spec, settings = _load(checkpoint, context_k, max_sources, variants, device, sampling)
    if state.get("prior"):
        prior = LayoutPrior.from_dict(state["prior"])
    else:
        prior = fit_prior(shards, spec, keep=EpochFilter(max_variants=cfg.max_variants), on_error=cfg.on_error)
    return evaluate(predictor.model, shards, split, spec, settings, prior=prior, device=device, by=by)


def evaluate_pairs_checkpoint(checkpoint: str | Path, folder: str | Path, *, context_k: int | None = None,
                              sampling: dict[str, Any] | None = None,
                              device: torch.device | str = "cpu") -> dict[str, Any]:
    """`train evaluate --pairs`: a checkpoint's scores on a user's folder of source pairs
    (`evaluate_pairs`), beside the layout prior saved in the checkpoint (none for a checkpoint
    without one). Bad pairs and pairs with no box are listed in ``rejects`` (id, file, reason,
    message); a folder with no scorable pair is a PairsError."""
    state, _, predictor, spec, settings = _load(checkpoint, context_k, 0, 0, device, sampling)
    pages, rejects, warnings = read_pairs(folder)
    for p in pages:
        if not p.scorable:
            rejects.append(reject_record(p.source_id, p.file, Reject(
                "no_boxes", f"{p.file}: no element has a box (no {p.source_id}.boxes.json and no data-bbox), so the "
                            "page has no true sections: not scored (it can still be predicted on; render it to get "
                            "boxes: python -m augment render --html DIR --out PAIRS)")))
    scored = [p for p in pages if p.scorable]
    if not scored:
        raise PairsError(f"{folder}: no pair can be scored ({len(pages)} read, {len(rejects)} rejected or without "
                         "boxes); give <id>.png + <id>.html + <id>.boxes.json pairs, e.g. from "
                         "`python -m augment render` or `python -m augment synth`")
    prior = LayoutPrior.from_dict(state["prior"]) if state.get("prior") else None
    result = evaluate_pairs(predictor.model, scored, spec, settings, prior=prior, device=device)
    return {"pairs": str(folder), **result, "rejects": sorted(rejects, key=lambda r: r["id"]), "warnings": warnings}
