"""Two-stage divide-and-conquer (TDC; "Not All Steps are Equal", arXiv 2312.13307).

Stage 1 trains one denoiser on every timestep. Stage 2 splits the timesteps into K groups
of equal width in log signal-to-noise ratio and fine-tunes one copy of the denoiser per
group, each with its own learning rate, while the image encoder stays shared. `TDCModel`
has the same interface as `DiffusionSectionTransformer` (encode_image, denoise, forward,
the pooled embeddings), so training losses and the sampler use it unchanged: every sample
is routed to the copy that owns its timestep, so sampling uses the group's denoiser at
each step.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .diffusion import DiffusionSchedule
from .model import DiffusionSectionTransformer, ModelOutput


def snr_groups(schedule: DiffusionSchedule, groups: int) -> torch.Tensor:
    """[T+1] long: the group of each timestep 0..T (equal spans of log SNR, high SNR first)."""
    ab = schedule.alpha_bar_table().double().clamp(1e-9, 1 - 1e-9)
    log_snr = torch.log(ab / (1 - ab))
    lo, hi = float(log_snr[1:].min()), float(log_snr[1:].max())
    edges = torch.linspace(hi, lo, groups + 1)[1:-1]
    return (log_snr[:, None] < edges[None, :]).sum(1).long()


class TDCModel(nn.Module):
    """K denoiser copies over one shared image encoder, routed by timestep group."""

    def __init__(self, base: DiffusionSectionTransformer, groups: int):
        super().__init__()
        self.cfg = base.cfg
        self.encoder = base.encoder
        experts = []
        for _ in range(groups):
            expert = copy.deepcopy(base)
            expert.encoder = self.encoder  # shared, not copied
            experts.append(expert)
        self.experts = nn.ModuleList(experts)
        self.register_buffer("group_of", snr_groups(DiffusionSchedule.from_config(base.cfg), groups))

    def expert_parameters(self, g: int) -> list[nn.Parameter]:
        """Parameters of copy `g` that are its own (the shared encoder excluded)."""
        shared = {id(p) for p in self.encoder.parameters()}
        return [p for p in self.experts[g].parameters() if id(p) not in shared]

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def denoise(self, memory, tokens_t, boxes_t, t, drop_cond=None, images=None,
                teacher_boxes=None) -> ModelOutput:
        group = self.group_of[t.clamp(0, len(self.group_of) - 1)]
        merged: list[torch.Tensor | None] | None = None
        for g, expert in enumerate(self.experts):
            idx = (group == g).nonzero(as_tuple=True)[0]
            if len(idx) == 0:
                continue
            out = expert.denoise(memory[idx], tokens_t[idx], boxes_t[idx], t[idx],
                                 *(None if x is None else x[idx] for x in (drop_cond, images, teacher_boxes)))
            if merged is None:
                merged = [None if x is None else x.new_empty((len(t),) + x.shape[1:]) for x in out]
            for whole, part in zip(merged, out):
                if whole is not None:
                    whole[idx] = part
        return ModelOutput(*merged)

    def forward(self, images, tokens_t, boxes_t, t, drop_cond=None) -> ModelOutput:
        return self.denoise(self.encode_image(images), tokens_t, boxes_t, t, drop_cond, images)

    def read_regions(self, images: torch.Tensor, boxes: torch.Tensor,
                     drop_cond: torch.Tensor | None = None) -> torch.Tensor | None:
        """The reader of the copy that denoises the last step (t = 0)."""
        return self.experts[int(self.group_of[0])].read_regions(images, boxes, drop_cond)

    def image_embedding(self, memory: torch.Tensor) -> torch.Tensor:
        return self.experts[0].image_embedding(memory)

    def structure_embedding(self, tokens, boxes, slot_mask) -> torch.Tensor:
        return self.experts[0].structure_embedding(tokens, boxes, slot_mask)
