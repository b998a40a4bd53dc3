"""Phase 1, micro (< 2,500 source pairs): make the most of very little data.

A ~1M-parameter model with heavy regularization (dropout 0.4, weight decay 1e-4), linear
warmup + cosine annealing, variance-aware timestep sampling (spend steps where the loss
is noisy), an optional pretrained backbone from a local weights file unfrozen layer group
by layer group, and K-fold cross-validation by source (`--fold i|all`).
"""
NAME = "micro"
MIN_SOURCES = 0
PHASE = 1
DEFAULTS = dict(preset="micro", model=dict(dropout=0.4), weight_decay=1e-4, lr=1e-3, warmup_steps=50,
                variance_aware=True, unfreeze_every=200, batch_size=16)
