"""Timestep samplers: how training picks diffusion timesteps (registered in ``TIMESTEP_SAMPLERS``).

``uniform``: t ~ U{1..T}, weight 1, structural and geometric terms mixed equally.

``variance_aware``: variance-aware loss scheduling over diffusion timesteps.

Importance sampling of timesteps (Nichol & Dhariwal 2021, "Improved DDPM", eq. 17-18; the
practice LayoutDM, Inoue et al. 2023, inherits from its D3PM/DDPM code): keep a running
estimate of the second moment of each timestep's loss,

    m_t <- decay * m_t + (1 - decay) * mean(L_t^2)      (m_t = L_t^2 at the first visit)

and, once every timestep has been seen ``warmup`` times, draw t with

    p_t = (1 - u) * sqrt(m_t) / sum_s sqrt(m_s) + u / T

(u, ``uniform_prob``, keeps every step reachable), weighting each sample's loss by
1 / (T p_t) so the expected weighted loss equals the uniform-t loss while its variance
shrinks: noisy timesteps are visited more, with a smaller weight each. Until then t is
uniform with weight 1.

Time-dependent mixing of the structural and geometric terms (coarse to fine):

    loss_t = alpha(t) * L_structural + beta(t) * L_geometric
    alpha(t) = 1 + shift * (2 t / T - 1),   beta(t) = 1 - shift * (2 t / T - 1)

Near t = T the proposals are pure noise and what must be decided is *which* sections the page
has, so the structural terms (presence, what each section is) weigh more; near t = 0 the
proposals sit on the sections and what is left is refining their geometry, so the box term
does. alpha + beta = 2 keeps the
overall scale; ``shift=0`` gives equal weights, ``shift`` must be in [0, 1).

In multi-process training, feed ``update`` the gathered losses of all ranks (or call it on
every rank with its own and accept per-rank estimates) so ranks draw from the same p.
"""

from __future__ import annotations

import torch
from torch import nn


class VarianceAwareTimestepSampler(nn.Module):
    """Timestep sampler with p_t ∝ sqrt(EMA[L_t^2]) and the alpha(t)/beta(t) token/box mix.

    Timesteps are 1..T. State lives in buffers (CPU), so it checkpoints with ``state_dict``.
    """

    def __init__(
        self,
        num_timesteps: int,
        decay: float = 0.9,
        warmup: int = 10,
        uniform_prob: float = 1e-3,
        shift: float = 0.5,
    ) -> None:
        super().__init__()
        if not 0 <= shift < 1:
            raise ValueError("shift must be in [0, 1)")
        self.num_timesteps, self.decay, self.warmup = num_timesteps, decay, warmup
        self.uniform_prob, self.shift = uniform_prob, shift
        self.register_buffer("second_moment", torch.zeros(num_timesteps, dtype=torch.float64))
        self.register_buffer("counts", torch.zeros(num_timesteps, dtype=torch.long))

    @property
    def ready(self) -> bool:
        """True once every timestep has ``warmup`` observations (importance sampling on)."""
        return bool((self.counts >= self.warmup).all())

    def probabilities(self) -> torch.Tensor:
        """p_t for t = 1..T as a [T] float64 tensor (uniform until ``ready``)."""
        T = self.num_timesteps
        if not self.ready:
            return torch.full((T,), 1.0 / T, dtype=torch.float64)
        p = self.second_moment.sqrt()
        p = p / p.sum() if p.sum() > 0 else torch.full_like(p, 1.0 / T)
        return (1 - self.uniform_prob) * p + self.uniform_prob / T

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``batch_size`` timesteps: (t [B] long in 1..T, importance weights [B] float)."""
        p = self.probabilities()
        gen_device = generator.device
        idx = torch.multinomial(p.to(gen_device), batch_size, replacement=True, generator=generator)
        weights = 1.0 / (self.num_timesteps * p.to(gen_device)[idx])
        return (idx + 1).to(device), weights.float().to(device)

    @torch.no_grad()
    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Fold the per-sample (unweighted) losses observed at timesteps ``t`` into m_t."""
        idx = t.detach().long().cpu() - 1
        sq = losses.detach().double().cpu() ** 2
        T = self.num_timesteps
        n = torch.bincount(idx, minlength=T)
        mean_sq = torch.zeros(T, dtype=torch.float64).index_add_(0, idx, sq) / n.clamp_min(1)
        seen = n > 0
        first = seen & (self.counts == 0)
        ema = self.decay * self.second_moment + (1 - self.decay) * mean_sq
        self.second_moment.copy_(torch.where(first, mean_sq, torch.where(seen, ema, self.second_moment)))
        self.counts += n

    def mix(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha(t), beta(t)): the weights of the structural and geometric terms at timesteps t."""
        x = self.shift * (2 * t.float() / self.num_timesteps - 1)
        return 1 + x, 1 - x


class UniformTimestepSampler(nn.Module):
    """t ~ U{1..T}, importance weight 1, structural and geometric terms weighted equally."""

    def __init__(self, num_timesteps: int) -> None:
        super().__init__()
        self.num_timesteps = num_timesteps

    def sample(self, batch_size: int, generator: torch.Generator,
               device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.randint(1, self.num_timesteps + 1, (batch_size,), generator=generator, device=generator.device)
        return t.to(device), torch.ones(batch_size, device=device)

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        pass

    def mix(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        one = torch.ones_like(t, dtype=torch.float32)
        return one, one


TIMESTEP_SAMPLERS: dict[str, type[nn.Module]] = {
    "uniform": UniformTimestepSampler,
    "variance_aware": VarianceAwareTimestepSampler,
}
