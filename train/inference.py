"""Using a trained model: ``load_model(path).predict(image)`` -> the page's sections.

``load_model`` reads a training checkpoint (``RUN/best.pt``, ``RUN/last.pt``; EMA weights when
it has them) or a folder written by :func:`export` (``model.safetensors`` + ``config.json``:
no pickle on that path at all). ``predict`` accepts a file path, a PIL image or an RGB uint8
array and returns plain :class:`Section` objects, top to bottom, with boxes in the page's
pixels.

Few-shot context (a model trained with ``few_shot_max`` > 0): ``predict(image, context=[(image,
sections), ...])`` with pages of the same site or template and their true sections;
:func:`context_from_pairs` reads them from a folder of source pairs (`shards.pairs`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from shards.storage.hashing import hash64
from shards.views.show import PALETTE

from . import checkpoint as ckpt
from .config import SamplingConfig, TrainConfig
from .data.inputs import InputSpec, boxes_to_pixels, collate, to_canvas, to_device
from .data.vocab import Factors
from .diffusion.sampling import page_generators, sample
from .model import ModelConfig, SectionModel


@dataclass(frozen=True)
class Section:
    """One predicted section: canonical ``token`` = ``type@role@role...``; ``box`` = (x, y, w, h)
    in page pixels; ``score`` = the presence probability; ``region`` = the type of the region it
    lies in (`shards.tokens.REGION_TYPES`: sections of one region type that touch make a region)."""

    type: str
    children: tuple[str, ...]
    token: str
    raw_token: str
    box: tuple[float, float, float, float]
    score: float
    region: str = "main"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["children"], d["box"] = list(self.children), list(self.box)
        return d


def as_rgb_array(image: Any) -> np.ndarray:
    """A path, PIL image or array -> RGB uint8 H x W x 3."""
    if isinstance(image, (str, Path)):
        from shards.storage.images import read_image

        return read_image(image)
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL.Image without importing PIL
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"expected an RGB uint8 array H x W x 3, found dtype {arr.dtype} and shape {arr.shape}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return arr[:, :, :3]


class Predictor:
    """A trained model with what it needs to name sections: factor tables and sampling settings."""

    def __init__(self, model: SectionModel, factors: Factors, sampling: SamplingConfig | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.model = model.to(device).eval()
        self.factors, self.sampling = factors, sampling or SamplingConfig()
        self.device = torch.device(device)

    @torch.no_grad()
    def predict(self, image: Any, *, context: Sequence[tuple[Any, Sequence[dict]]] = (),
                seed: int = 0) -> list[Section]:
        """The sections of one screenshot (path, PIL image or RGB array), top to bottom.

        ``context``: few-shot context pages of the same site or template, each ``(image,
        sections)`` with sections as dicts with ``type``, ``children`` and ``box`` (x, y, w, h
        in that page's pixels), e.g. from `shards.pairs.pages.read_pair` (a model trained without
        few-shot context ignores them)."""
        return self.predict_batch([image], context=context, seed=seed)[0]

    def _context_items(self, context: Sequence[tuple[Any, Sequence[dict]]]) -> list[dict[str, Any]]:
        cfg = self.model.cfg
        spec = InputSpec.of(cfg, self.factors)
        items = []
        for i, (image, sections) in enumerate(context):
            arr = as_rgb_array(image)
            meta = {"size": [arr.shape[1], arr.shape[0]], "__key__": f"context-{i}_v00", "source": f"context-{i}",
                    "group": "context", "sections": [{"raw_token": "", "children": [], **s} for s in sections]}
            items.append(spec.encode(arr, meta))
        return items

    @torch.no_grad()
    def predict_batch(self, images: Sequence[Any], *, context: Sequence[tuple[Any, Sequence[dict]]] = (),
                      seed: int = 0) -> list[list[Section]]:
        """The sections of several screenshots; ``context`` (as in :meth:`predict`) serves them all."""
        cfg = self.model.cfg
        arrays = [as_rgb_array(im) for im in images]
        shared = self._context_items(context) if context and self.model.context is not None else []
        items = []
        for i, arr in enumerate(arrays):
            tensor, _, extent = to_canvas(arr, cfg.canvas_width, cfg.canvas_height)
            items.append({"image": tensor, "extent": torch.tensor(extent), "key": f"page-{i}", "context": shared})
        batch = to_device(collate(items), self.device)
        gens = page_generators([hash64(f"{seed}:{i}") & 0x7FFFFFFFFFFFFFFF for i in range(len(items))])
        preds = sample(self.model, batch["image"], batch["extent"], self.sampling, gens,
                       self.model.batch_context(batch))
        f = self.factors
        out = []
        for arr, pred in zip(arrays, preds):
            px = boxes_to_pixels(pred.boxes, (arr.shape[1], arr.shape[0]))
            out.append([Section(f.types[int(t)], f.decode_children(c), f.token(int(t), c), f.raw[int(r)],
                                tuple(round(float(v), 1) for v in box), round(float(s), 4), f.regions[int(g)])
                        for t, c, r, box, s, g in zip(pred.types.tolist(), pred.children.tolist(), pred.raw.tolist(),
                                                      px, pred.scores.tolist(), pred.regions.tolist())])
        return out


def require_few_shot(predictor: Predictor, where: str | Path, what: str) -> None:
    """A CheckpointError naming ``where`` when the model has no few-shot context layers, which
    would silently ignore the context ``what`` asks for."""
    if predictor.model.context is None:
        raise ckpt.CheckpointError(f"{where}: {what} needs a model trained with few-shot context, and this one was "
                                   "trained without (its model config has few_shot false); train one with "
                                   "--set few_shot_max=K --set few_shot_k=K, or leave the context out")


def context_from_pairs(folder: str | Path, k: int = 0) -> tuple[list[tuple[np.ndarray, list[dict]]], list[dict]]:
    """(context, left out): the pairs of ``folder`` that have true sections (`shards.pairs`),
    sorted by id, the first ``k`` of them (0 = all), as ``(image, sections)`` for
    :meth:`Predictor.predict`; and the pairs not used (rejected, or without boxes) as
    `shards.pairs.pages.reject_record` dicts. A folder with no usable pair is a PairsError."""
    from shards.pairs.pages import PairsError, read_pairs

    if k < 0:
        raise PairsError(f"--context-k {k}: give a number of context pages >= 0 (0 = every pair of {folder})")
    pages, rejects, _ = read_pairs(folder)
    left_out = rejects + [{"id": p.source_id, "file": str(p.file), "reason": "no_boxes",
                           "message": f"{p.file}: no element has a box, so no true sections: not usable as context"}
                          for p in pages if not p.scorable]
    usable = [p for p in pages if p.scorable]
    if not usable:
        raise PairsError(f"{folder}: no usable context pair ({len(pages)} read, {len(left_out)} rejected or without "
                         "boxes); give <id>.png + <id>.html + <id>.boxes.json pairs of the same site or template")
    return [(p.image, p.sections) for p in (usable[:k] if k else usable)], left_out


EXPORT_WEIGHTS, EXPORT_CONFIG = "model.safetensors", "config.json"
EXPORT_FORMAT = "screen2section-model"


def export(checkpoint: str | Path, out: str | Path) -> Path:
    """Write a checkpoint's model as ``out/model.safetensors`` (the weights prediction uses:
    EMA when the run kept one) and ``out/config.json`` (model config, factor tables, sampling
    settings, the layout prior); return ``out``."""
    import json

    from safetensors.torch import save

    from shards.storage import atomic

    predictor = load_model(checkpoint)
    state = ckpt.load(checkpoint)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().contiguous().cpu() for k, v in predictor.model.state_dict().items()}
    # Serialized in memory and written through shards.storage.atomic, as checkpoints are: safetensors'
    # own save_file created the file 0600, so an export was unreadable to the other users of a
    # shared filesystem; atomic gives it the mode an ordinary open() would (0666 less the umask).
    atomic.write_bytes(out / EXPORT_WEIGHTS, save(weights, metadata={"format": EXPORT_FORMAT}))
    meta = {"format": EXPORT_FORMAT, "model_config": predictor.model.cfg.to_dict(), "tdc": predictor.model.tdc,
            "factors": predictor.factors.to_dict(), "sampling": vars(predictor.sampling).copy(),
            "prior": state.get("prior"), "step": state["step"]}
    atomic.write_bytes(out / EXPORT_CONFIG, (json.dumps(meta, indent=1) + "\n").encode("utf-8"))
    return out


def _load_export(folder: Path, device: str | torch.device, sampling: SamplingConfig | None) -> Predictor:
    import json

    from safetensors.torch import load_file

    try:
        meta = json.loads((folder / EXPORT_CONFIG).read_text(encoding="utf-8"))
        assert meta.get("format") == EXPORT_FORMAT
    except (OSError, ValueError, AssertionError) as e:
        raise ckpt.CheckpointError(f"{folder}: not a model exported by `train export` "
                                   f"(its {EXPORT_CONFIG} is missing or of another format: {e})") from None
    model = SectionModel(ModelConfig.from_dict({**meta["model_config"], "weights_path": None}))
    weights = load_file(str(folder / EXPORT_WEIGHTS), device=str(device))
    if meta.get("tdc"):  # one denoiser copy per timestep group: the routing table is a saved buffer
        model.start_tdc(weights["denoiser.group_of"].cpu())
    _fit(folder, *model.load_state_dict(weights, strict=False))
    return Predictor(model, Factors.from_dict(meta["factors"]), sampling or SamplingConfig(**meta["sampling"]), device)


def _fit(where: str | Path, missing: list[str], unexpected: list[str]) -> None:
    """A CheckpointError naming `where` when the weights do not fit the model."""
    if any("region_head" in k or "null_region" in k for k in missing):
        raise ckpt.CheckpointError(f"{where}: this model was trained before the reader named each section's region "
                                   "(sample schema 3, two levels of labels); train it again on shards of this "
                                   "version: python -m augment run ..., then python -m train fit ...")
    if missing or unexpected:
        raise ckpt.CheckpointError(f"{where}: the weights do not fit the model its config describes "
                                   f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


def load_model(path: str | Path, device: str | torch.device = "cpu",
               sampling: SamplingConfig | None = None) -> Predictor:
    """A :class:`Predictor` from a checkpoint file or an exported folder; ``sampling``
    defaults to the run's settings."""
    if Path(path).is_dir():
        return _load_export(Path(path), device, sampling)
    state = ckpt.load(path, device)
    cfg = TrainConfig.from_dict(state["config"])
    model_cfg = ModelConfig.from_dict({**state["model_config"], "weights_path": None})
    model = SectionModel(model_cfg)
    if state["tdc"]:
        from .objective import Objective

        obj = Objective(cfg, model)
        obj.start_tdc()
    _fit(path, *model.load_state_dict(ckpt.model_weights(state), strict=False))  # EMA where kept
    return Predictor(model, Factors.from_dict(state["factors"]), sampling or cfg.sampling, device)


def draw_overlay(image: np.ndarray, sections: Sequence[Section]) -> np.ndarray:
    """The screenshot with each section's box and token drawn on it."""
    import cv2

    out = image.copy()
    scale = max(0.6, image.shape[1] / 1600)
    for i, s in enumerate(sections):
        colour = PALETTE[i % len(PALETTE)]
        x, y, w, h = (int(round(v)) for v in s.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, max(2, int(3 * scale)))
        cv2.putText(out, s.token, (x + 6, y + int(24 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, colour,
                    max(1, int(2 * scale)), cv2.LINE_AA)
    return out
