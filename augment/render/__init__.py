"""`augment render`: HTML files or URLs -> source pairs, through a real headless Chromium.

Per page it writes `<id>.png` (the full page, up to `max_height`), `<id>.html` (the DOM
after load), `<id>.boxes.json` (every element whose display is not none and whose box
is not empty and meets the captured area, clipped to it, in CSS pixels = screenshot pixels,
under the xpath `augment run` gives it) and `<id>.mhtml` (the page's self-contained
snapshot, from which `augment run --rerender` renders edited pages again).

The pages are untrusted: what they may load is the asset root's rule (`guard.py`), the
browser runs in its own sandbox where the platform allows (`sandbox.py`), and every output
is bounded (elements in the capture only, `max_elements`, the HTML size `augment run` reads).

- `inputs.py`  what to render (a folder of HTML files or a URL list), the ids, the asset root
- `guard.py`   the asset root: which URL a page, its frames and pop-ups may load
- `sandbox.py` how Chromium is started: its own sandbox, also as root (a user namespace)
- `browser.py` finding and starting the system Chromium; one page, deterministic and offline
- `collect.js` the in-page walk that lists elements, boxes and lxml-style xpaths
- `extract.py` checking those xpaths against the project's own parse; the boxes file
- `job.py`     the resumable job: concurrency, restarts after a crash, rejects, summary
- `snapshot.py` the snapshot: captured, made canonical (the same bytes every time), read back
- `rerender.py` rendering an edited page again from its snapshot, one browser per process
"""
from .browser import BrowserError, find_browser
from .inputs import RenderError
from .job import REJECTS_NAME, RenderOptions, RenderSummary, is_complete, render_pages

__all__ = ["BrowserError", "REJECTS_NAME", "RenderError", "RenderOptions", "RenderSummary", "find_browser",
           "is_complete", "render_pages"]
