"""The synthetic source-pair generator: (screenshot, HTML, boxes) pages with exact boxes.

A package of its own because nothing in the augmentation pipeline needs it: only the CLI
(`python -m augment synth`), the tests and the benchmarks draw synthetic pages. The modules,
bottom up:

- `kit`: class vocabularies (Bootstrap-like and Tailwind-like), palettes and words;
- `layout`: the layout tree, from which the pixels, the HTML and the boxes are all emitted;
- `raster`: the painter that draws the tree's pixels, inside each node's box;
- `sections`: one builder per section kind (what goes inside a hero, a pricing table...);
- `page`: the look of a page, which sections it has, fitting its height, writing the files;
- `signature`: what the painter drew for each section, with no markup in it (the label
  ceiling's perfect reader, `benchmarks.label_ceiling`).

Every section type of `shards.tokens.SECTION_TYPES` the generator paints is painted so it
can be told apart (features have icons, prices are in the accent colour, a CTA has
buttons and a signup its form), and always recorded: a class name of its group in
`shards.tokens.TYPE_CLASSES`, or an id naming it.

Every page is a pure function of the RNG it is given: same seed, same bytes.

The subpackage `browser` is the other engine (`augment synth --engine browser`): pages written
as HTML with real CSS frameworks and drawn by Chromium, with their regions and sections
(`<id>.truth.json`); it is imported only when asked for.
"""
from .page import MAX_HEIGHT, MIN_HEIGHT, WIDTH, synth_page, write_synth

__all__ = ["MAX_HEIGHT", "MIN_HEIGHT", "WIDTH", "synth_page", "write_synth"]
