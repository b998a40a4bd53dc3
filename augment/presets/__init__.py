"""Augmentation presets: named TOML overlays applied over the base settings.

`augment run --preset NAME` applies ``augment/presets/NAME.toml`` over the base values
(the op DEFAULTS, listed in ``augment/default.toml``); a ``--config`` file and flags are
applied after it, so they win. The preset's name is recorded in the job config (and so in
the manifest and the config hash).

- ``seed``: the seed project's ranges, the base values: rotation +-15 deg, scale 0.8-1.2,
  translation +-10%, perspective, rescale so the long side is 256-1024 px.
- ``web``: screenshots as browsers make them: rotation <= 1 deg, no scale, translation or
  perspective, crops that are full-width vertical scroll windows, rescale by the page
  width (512-1280 px) so a tall page stays tall, cut to a scroll window of at most
  2,048 px high (`ops.spatial` ``max_height``).

`DEFAULT_PRESET` is the one place the default is set.
"""
from __future__ import annotations

from pathlib import Path

DEFAULT_PRESET = "web"
PRESETS: dict[str, Path] = {p.stem: p for p in sorted(Path(__file__).parent.glob("*.toml"))}
