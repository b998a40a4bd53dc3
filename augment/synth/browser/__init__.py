"""The browser engine of `augment synth`: pages written as HTML with real CSS frameworks, drawn by Chromium.

The painter (`augment.synth.page`) draws its pages itself; this engine writes pages the way
the web does and lets the system Chromium draw them through `augment render`'s machinery,
with the regions and sections of each page known by construction. The modules, bottom up:

- `assets` (+ `frameworks.toml`): the pinned npm packages (CSS frameworks, icon fonts,
  `@fontsource` fonts), fetched only by `python -m augment synth-assets`, staged per run;
- `words`: English sentences from the Python standard library's docstrings;
- `markup`: the element tree, its HTML and the xpaths of its marked regions and sections;
- `kits`: each framework's component markup (`KITS`);
- `theme`: per-page theme variables, the page's stylesheet, icons, SVG pictures and charts;
- `parts`: one builder per section type (`PARTS`);
- `layouts`: the page grammar, one builder per layout (`LAYOUTS`);
- `grammar`: one page from (seed, i): the seeded choices and the HTML;
- `write`: the pages rendered into source pairs with `<id>.truth.json` (`write_browser_synth`).
"""
from .assets import DEFAULT_CACHE, MANIFEST, SynthError, fetch_assets
from .grammar import WIDTHS, parse_widths
from .layouts import LAYOUTS
from .write import TRUTH_SUFFIX, BrowserSynthOptions, BrowserSynthSummary, write_browser_synth

__all__ = ["DEFAULT_CACHE", "LAYOUTS", "MANIFEST", "TRUTH_SUFFIX", "WIDTHS", "BrowserSynthOptions",
           "BrowserSynthSummary", "SynthError", "fetch_assets", "parse_widths", "write_browser_synth"]
