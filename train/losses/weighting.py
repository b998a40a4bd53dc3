"""How the named losses become one scalar: one interface, three ways (``WEIGHTINGS``).

Every weighting is called as ``weighting(parts) -> {"loss": total, ...logged weights}`` with
``parts`` the loss terms already scaled by their config weights (train.config.LossConfig),
and knows each term's *modality* (structural: what the sections are; geometric: where they
are; visual: agreement across views), given by train.objective.LOSSES.

- ``sum``: L = sum_k L_k.
- ``uncertainty``: per modality m, learned homoscedastic uncertainty (Kendall, Gal & Cipolla
  2018, eq. 7): L = sum_m L_m / (2 sigma_m^2) + log sigma_m, with L_m the sum of the
  modality's terms. The network learns s_m = log sigma_m^2, computed as
  0.5 exp(-s_m) L_m + 0.5 s_m; at the optimum exp(s_m) = L_m, so a modality whose loss stays
  high (noisy, hard) is down-weighted and the log term keeps sigma from growing forever.
- ``multitask``: Dynamic Weight Averaging across steps (Liu, Johns & Davison 2019, eq. 7)
  for each term k, w_k(s) = K exp(r_k / T) / sum_i exp(r_i / T), r_k = L_k(s-1) / L_k(s-2)
  (a term whose loss stopped falling gets more weight; w = 1 until two steps are recorded),
  then the uncertainty weighting above over the DWA-weighted modality sums.

The learned parameters (sigmas) and DWA history are module state: they are in the optimizer
and in checkpoints.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

MODALITIES: tuple[str, ...] = ("structural", "geometric", "visual")


class SumWeighting(nn.Module):
    def __init__(self, modality: Mapping[str, str]) -> None:
        super().__init__()

    def forward(self, parts: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        values = list(parts.values())
        return {"loss": sum(values[1:], values[0])}


class UncertaintyWeighting(nn.Module):
    def __init__(self, modality: Mapping[str, str]) -> None:
        super().__init__()
        self.modality = dict(modality)
        self.log_vars = nn.Parameter(torch.zeros(len(MODALITIES)))

    def combine(self, per_modality: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        total = self.log_vars.new_zeros(())
        out: dict[str, torch.Tensor] = {}
        for i, m in enumerate(MODALITIES):
            if m not in per_modality:
                continue
            s = self.log_vars[i]
            total = total + 0.5 * torch.exp(-s) * per_modality[m] + 0.5 * s
            out[f"weight.{m}"] = 0.5 * torch.exp(-s.detach())
        out["loss"] = total
        return out

    def forward(self, parts: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        grouped: dict[str, torch.Tensor] = {}
        for k, v in parts.items():
            m = self.modality[k]
            grouped[m] = grouped.get(m, 0) + v
        return self.combine(grouped)


class DynamicWeightAverage(nn.Module):
    """DWA weights for named terms from their last two recorded values (a buffer)."""

    def __init__(self, names: Sequence[str], temperature: float = 2.0) -> None:
        super().__init__()
        self.names, self.temperature = tuple(names), temperature
        self.register_buffer("history", torch.full((2, len(self.names)), float("nan")))

    def weights(self, present: Sequence[str]) -> dict[str, float]:
        """Weights of the ``present`` terms (summing to their number)."""
        idx = [self.names.index(k) for k in present]
        prev, prev2 = self.history[1, idx], self.history[0, idx]
        if not idx or torch.isnan(prev).any() or torch.isnan(prev2).any():
            return {k: 1.0 for k in present}
        r = prev / prev2.clamp_min(1e-12)
        w = len(idx) * torch.softmax(r / self.temperature, dim=0)
        return {k: float(w[i]) for i, k in enumerate(present)}

    @torch.no_grad()
    def record(self, losses: Mapping[str, torch.Tensor]) -> None:
        """Push one step's values (terms not given keep no value for this step)."""
        row = torch.full((len(self.names),), float("nan"), device=self.history.device)
        for k, v in losses.items():
            row[self.names.index(k)] = float(v)
        self.history.copy_(torch.stack([self.history[1], row]))


class MultiTaskWeighting(nn.Module):
    def __init__(self, modality: Mapping[str, str], temperature: float = 2.0) -> None:
        super().__init__()
        self.modality = dict(modality)
        self.dwa = DynamicWeightAverage(list(modality), temperature)
        self.uncertainty = UncertaintyWeighting(modality)

    def forward(self, parts: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        present = list(parts)
        w = self.dwa.weights(present)
        grouped: dict[str, torch.Tensor] = {}
        for k in present:
            m = self.modality[k]
            grouped[m] = grouped.get(m, 0) + w[k] * parts[k]
        out = self.uncertainty.combine(grouped)
        out.update({f"dwa.{k}": torch.tensor(w[k]) for k in present})
        if self.training:
            self.dwa.record({k: v.detach() for k, v in parts.items()})
        return out


WEIGHTINGS: dict[str, type[nn.Module]] = {
    "sum": SumWeighting,
    "uncertainty": UncertaintyWeighting,
    "multitask": MultiTaskWeighting,
}
