"""Modality-aware loss weighting by learned homoscedastic uncertainty (Kendall, Gal & Cipolla
2018, "Multi-task learning using uncertainty to weigh losses", eq. 7):

    L = sum_i  L_i / (2 sigma_i^2) + log sigma_i

with one sigma per modality: ``visual`` (image–structure alignment, multi-scale agreement),
``structural`` (section tokens) and ``geometric`` (boxes). The network learns s_i = log
sigma_i^2 (stable: no positivity constraint), so the term is computed as
0.5 * exp(-s_i) * L_i + 0.5 * s_i. At the optimum exp(s_i) = L_i: a modality whose loss
stays high (noisy, hard) is down-weighted, and the log term stops sigma growing forever.
The s_i are parameters: put this module's parameters in the optimizer.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

MODALITIES: tuple[str, ...] = ("visual", "structural", "geometric")


class ModalityAwareLossWeighting(nn.Module):
    def __init__(self, modalities: Sequence[str] = MODALITIES, init_log_var: float = 0.0) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.log_vars = nn.Parameter(torch.full((len(self.modalities),), float(init_log_var)))

    def weights(self) -> dict[str, torch.Tensor]:
        """The effective weight 1 / (2 sigma_i^2) of each modality (detached)."""
        w = 0.5 * torch.exp(-self.log_vars.detach())
        return {m: w[i] for i, m in enumerate(self.modalities)}

    def forward(self, losses: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``losses``: scalar loss per modality (a subset is fine: absent modalities add
        nothing, their sigma included). Returns ``loss`` and ``weight.<modality>``."""
        unknown = set(losses) - set(self.modalities)
        if unknown:
            raise KeyError(f"unknown modalities {sorted(unknown)}; expected {self.modalities}")
        total = self.log_vars.new_zeros(())
        out: dict[str, torch.Tensor] = {}
        for i, m in enumerate(self.modalities):
            if m not in losses:
                continue
            s = self.log_vars[i]
            total = total + 0.5 * torch.exp(-s) * losses[m] + 0.5 * s
            out[f"weight.{m}"] = 0.5 * torch.exp(-s.detach())
        out["loss"] = total
        return out
