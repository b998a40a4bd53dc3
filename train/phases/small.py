"""Phase 2, small (2,500-24,999 source pairs): curriculum and divide-and-conquer.

A 3-stage curriculum by sample difficulty (easy, then medium, then all); two-stage
divide-and-conquer (TDC, arXiv 2312.13307): one denoiser on all timesteps, then one copy
per SNR group of timesteps fine-tuned with its own learning rate, the image encoder
shared; progressive data dropout (a shrinking random share of each epoch); modality-aware
uncertainty weighting; multi-scale consistency; early stopping on held-out token accuracy.
"""
NAME = "small"
MIN_SOURCES = 2_500
PHASE = 2
DEFAULTS = dict(preset="small", curriculum_stages=3, tdc_groups=2, tdc_start=0.6, data_dropout=0.2,
                loss=dict(weighting="uncertainty", consistency=1.0), early_stopping=4, batch_size=32, lr=5e-4)
