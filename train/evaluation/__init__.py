"""Held-out evaluation: metrics with intervals over sources, the layout prior, learning curves."""
