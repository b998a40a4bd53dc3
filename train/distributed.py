"""Running under `torchrun`: process group set-up from the environment, and helpers.

`torchrun` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous variables; without them
the trainer runs as a single process. Backend: nccl with CUDA, gloo on CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def init() -> DistInfo:
    """Join the torchrun process group if there is one; pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return DistInfo(rank, world, local, device)


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def max_over_ranks(info: DistInfo, value: int) -> int:
    """The max of `value` over ranks (so every rank stops when any one says stop)."""
    if info.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.long, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def shutdown(info: DistInfo) -> None:
    if info.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
