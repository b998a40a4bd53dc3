"""Phase 4, large (>= 100,000 source pairs): distributed training.

DistributedDataParallel under `torchrun` (gloo on CPU, nccl on GPU), gradient
accumulation, an EMA of the weights (torch.optim.swa_utils) used for evaluation, and the
multi-task loss (dynamic weight averaging + uncertainty weighting + layout penalties).
Activation checkpointing of the transformer blocks (train.model.recompute): a full-height
512 x 2048 page needs ~11.5 GiB for backward without it.
"""
NAME = "large"
MIN_SOURCES = 100_000
PHASE = 4
DEFAULTS = dict(preset="large", model=dict(checkpointing=True), grad_accum=2, ema_decay=0.999, amp=True,
                sampling=dict(guidance_scale=7.5),
                loss=dict(weighting="multitask", layout=0.1, diversity=0.01, label_smoothing=0.1),
                batch_size=64, lr=3e-4)
