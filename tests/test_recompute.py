"""Activation checkpointing (`model.checkpointing`, train.model.recompute) changes memory and
time, never results: the same loss and gradients on one batch, dropout included; and the
setting is validated like every model setting and on by default where the phases say."""
from __future__ import annotations

import pytest
import torch

from model_helpers import tiny_batch, tiny_model
from train.config import TrainConfig, TrainConfigError, resolve
from train.objective import Objective
from train.phases import phase_defaults


def _loss_and_grads(checkpointing: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    # dropout on, so the recomputed forward must draw the masks the first one drew
    cfg = TrainConfig(model={"checkpointing": checkpointing, "dropout": 0.2, "encoder_layers": 2})
    model = tiny_model(cfg, seed=0)
    assert model.encoder.checkpointing is checkpointing and model.denoiser.checkpointing is checkpointing
    obj = Objective(cfg, model).train()
    batch = tiny_batch(model, n=3, seed=1)
    torch.manual_seed(7)  # dropout's global generator: the same draws for both models
    out = obj(batch, torch.Generator().manual_seed(3))
    out["loss"].backward()
    return out["loss"].detach(), {n: p.grad.clone() for n, p in obj.named_parameters() if p.grad is not None}


def test_checkpointed_and_plain_models_give_the_same_loss_and_gradients():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same reduction order in both runs
    try:
        plain_loss, plain = _loss_and_grads(False)
        ckpt_loss, ckpt = _loss_and_grads(True)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(ckpt_loss, plain_loss, rtol=1e-5, atol=1e-5)
    assert ckpt.keys() == plain.keys() and any(n.startswith("model.encoder.blocks") for n in plain) \
        and any(n.startswith("model.denoiser.blocks") for n in plain)
    for name, g in plain.items():
        torch.testing.assert_close(ckpt[name], g, rtol=1e-5, atol=1e-5, msg=name)


def test_checkpointing_is_on_in_phases_3_and_4_and_validated():
    assert [resolve(phase_defaults(p), None, {}).model.get("checkpointing", False) for p in (1, 2, 3, 4)] == [
        False, False, True, True]
    assert resolve(phase_defaults(4), None, {}, assignments=[{"model": {"checkpointing": False}}]).model[
        "checkpointing"] is False
    with pytest.raises(TrainConfigError, match="'model.checkpointing' must be true or false, found 'yes'") as e:
        resolve(phase_defaults(3), {"model": {"checkpointing": "yes", "dropout": 2}}, {})
    assert "model.dropout" in str(e.value)  # every problem at once
