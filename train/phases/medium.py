"""Phase 3, medium (25,000-99,999 source pairs): standard diffusion training at scale.

Full diffusion training with classifier-free guidance (scale 7.5 at sampling), mixed
precision (bf16 autocast on CPU, fp16 with a GradScaler on CUDA) and label smoothing 0.1.
Activation checkpointing of the transformer blocks (train.model.recompute): a full-height
384 x 1536 page needs ~2.5 GiB for backward without it.
"""
NAME = "medium"
MIN_SOURCES = 25_000
PHASE = 3
DEFAULTS = dict(preset="medium", model=dict(checkpointing=True), sampling=dict(guidance_scale=7.5), amp=True,
                loss=dict(label_smoothing=0.1), batch_size=64, lr=3e-4)
