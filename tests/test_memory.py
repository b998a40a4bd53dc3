"""The memory budget: the micro-batch rule, `max_memory` forms, batch splitting, and that
accumulated micro-batches give the full batch's gradient."""
from __future__ import annotations

import logging
import zlib

import pytest
import torch

from model_helpers import TINY_MODEL
from train import memory
from train.config import TrainConfigError, parse_memory, resolve
from train.phases import phase_defaults
from train.trainer import Trainer

G = 2**30


@pytest.mark.parametrize("budget,per,batch,fixed,want", [
    (100, 1, 64, 0, 64),  # all of it fits: no split
    (23, 1, 64, 0, 22),  # 23 fit: 3 even micro-batches of 22 (22, 22, 20)
    (10 + 5, 5, 8, 10, 1),  # room for exactly one
    (16 * G, G, 16, 0, 16),
    (8 * G + G // 2, G, 64, G, 7),  # 7 fit after the fixed part: 10 micro-batches of <= 7
])
def test_micro_batch_rule(budget, per, batch, fixed, want):
    size = memory.micro_batch_size(budget, per, batch, fixed)
    assert size == want and 1 <= size <= batch
    assert fixed + size * per <= budget


def test_a_budget_that_holds_no_sample_names_the_flag():
    with pytest.raises(ValueError, match="raise --max-memory"):
        memory.micro_batch_size(2 * G, G, 8, fixed=int(1.5 * G))
    with pytest.raises(ValueError, match="max_memory"):
        memory.micro_batch_size(G, 2 * G, 1)


@pytest.mark.parametrize("value,want", [
    ("8G", ("bytes", 8 * G)), ("512M", ("bytes", 512 * 2**20)), ("1.5GiB", ("bytes", 1.5 * G)),
    (8_000_000_000, ("bytes", 8e9)), ("8000000000", ("bytes", 8e9)), ("50%", ("share", 0.5)), ("100%", ("share", 1)),
])
def test_memory_forms(value, want):
    assert parse_memory(value) == want


@pytest.mark.parametrize("value", ["lots", "0", "0G", "150%", "0%", -1, 0, True, None, "8X"])
def test_bad_memory_is_refused_by_the_config_row(value):
    with pytest.raises(TrainConfigError, match="'max_memory' must be bytes, a size such as '8G'"):
        resolve(phase_defaults(1), {"max_memory": value}, {})


def test_share_is_of_the_machine_split_between_its_ranks(monkeypatch):
    cpu = torch.device("cpu")
    ram = memory.device_memory(cpu)
    assert memory.budget_bytes("50%", cpu) == ram // 2 and memory.budget_bytes("2G", cpu) == 2 * G
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert memory.device_memory(cpu) == ram // 2


def test_split_batch_keeps_order_and_context_owners():
    batch = {"key": list("abcd"), "image": torch.arange(4).view(4, 1), "boxes": torch.arange(8).view(4, 2),
             "context": {"key": list("vwxyz"), "image": torch.arange(5)},
             "context_owner": torch.tensor([0, 0, 2, 3, 3])}
    first, second = memory.split_batch(batch, 2)
    assert first["key"] == ["a", "b"] and second["image"].flatten().tolist() == [2, 3]
    assert first["context"]["key"] == ["v", "w"] and first["context_owner"].tolist() == [0, 0]
    assert second["context"]["image"].tolist() == [2, 3, 4] and second["context_owner"].tolist() == [0, 1, 1]
    alone = memory.split_batch({"key": list("ab"), "context": {"key": ["z"]}, "context_owner": torch.tensor([1])}, 1)
    assert "context" not in alone[0] and alone[1]["context_owner"].tolist() == [0]
    assert memory.split_batch(batch, 4) == [batch]


class PerPage(torch.nn.Module):
    """The objective run one page at a time, each page's noise and timesteps drawn from a generator
    seeded by its key: the loss is the mean over pages whatever the batch, and BatchNorm sees one
    page either way. A split into micro-batches can then change the gradient only through the
    trainer's splitting and loss weighting, which is what is tested."""

    def __init__(self, obj: torch.nn.Module):
        super().__init__()
        self.obj = obj

    def forward(self, batch: dict, generator: torch.Generator) -> dict:
        outs = [self.obj(page, torch.Generator().manual_seed(zlib.crc32(page["key"][0].encode())))
                for page in memory.split_batch(batch, 1)]
        return {"loss": torch.stack([o["loss"] for o in outs]).mean(), "t": torch.cat([o["t"] for o in outs]),
                "per_sample": torch.cat([o["per_sample"] for o in outs])}


def _trainer(shards, tmp_path, **kw) -> Trainer:
    table = dict(model={**TINY_MODEL, "dropout": 0.0}, batch_size=8, num_workers=0, shuffle_buffer=8,
                 variance_aware=False, unfreeze_every=0, max_steps=10, **kw)
    return Trainer(shards, tmp_path, resolve(phase_defaults(1), table, {}), progress=False)


@pytest.fixture
def one_thread():
    """One torch thread: two spinning OpenMP threads on a busy 2-core machine ran this 5-10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_micro_batches_give_the_full_batch_gradient(shards, tmp_path, one_thread):
    batch = None
    grads, params = {}, {}
    for size in (8, 2, 3):  # whole; 4 micro-batches of 2; uneven 3 + 3 + 2 (weighted by their share)
        trainer = _trainer(shards, tmp_path / str(size))
        batch = batch or next(trainer.batches())
        assert len(batch["key"]) == 8
        trainer.micro_size, trainer.wrapped = size, PerPage(trainer.obj)
        sums = trainer.accumulate([batch])
        grads[size] = {n: p.grad.clone() for n, p in trainer.obj.named_parameters() if p.grad is not None}
        trainer.optimizer_step()
        params[size] = {n: p.detach().clone() for n, p in trainer.obj.named_parameters()}
        if size == 8:
            loss = sums["loss"]
        assert sums["loss"] == pytest.approx(loss, rel=1e-5)
    for size in (2, 3):
        assert grads[size].keys() == grads[8].keys() and len(grads[8]) > 10
        for n, g in grads[8].items():
            torch.testing.assert_close(grads[size][n], g, rtol=1e-4, atol=1e-6, msg=n)
        for n, p in params[8].items():
            torch.testing.assert_close(params[size][n], p, rtol=1e-4, atol=1e-6, msg=n)


def test_a_tight_budget_splits_the_batch_and_says_so(shards, tmp_path, caplog):
    probe = _trainer(shards, tmp_path / "probe")
    params = sum(p.numel() for p in probe.obj.model.parameters())
    cost = memory.sample_cost("micro", TINY_MODEL["canvas_width"], 4, params)
    with caplog.at_level(logging.INFO, logger="train.memory"):
        trainer = _trainer(shards, tmp_path / "tight", max_memory=int(cost.fixed + 3.5 * cost.per_sample))
    assert trainer.micro_size == 3 and probe.micro_size == 8
    assert "batch of 8 split into 3 micro-batches of <= 3" in caplog.text
    sums = trainer.train_step([next(trainer.batches())])  # the real objective, split
    assert torch.isfinite(torch.tensor(sums["loss"]))
    with pytest.raises(TrainConfigError, match="raise --max-memory"):
        _trainer(shards, tmp_path / "none", max_memory=int(cost.fixed + 0.5 * cost.per_sample))


def test_checkpointing_plans_with_its_own_measured_cost_and_phase_4_fits_this_machine():
    from train.model import PRESETS

    params = 60_000_000  # of the order of the large preset's
    width = PRESETS["large"]["canvas_width"]
    plain = memory.sample_cost("large", width, 4, params, ema=True)
    kept = memory.sample_cost("large", width, 4, params, ema=True, checkpointing=True)
    assert kept.fixed == plain.fixed and kept.per_sample == memory.PER_SAMPLE_CHECKPOINTED["large"] < 4 * G
    assert plain.per_sample == memory.PER_SAMPLE["large"]
    budget = int(23.5 * G * 0.5)  # the default max_memory (50%) of a 24 GiB machine
    with pytest.raises(ValueError, match="max-memory"):
        memory.micro_batch_size(budget, plain.per_sample, 64, plain.fixed)
    assert memory.micro_batch_size(budget, kept.per_sample, 64, kept.fixed) >= 3
    # presets that were not probed with checkpointing keep the plain figure (an upper bound)
    assert memory.sample_cost("micro", 128, 4, 10, checkpointing=True) == memory.sample_cost("micro", 128, 4, 10)
