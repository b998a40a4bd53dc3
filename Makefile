# screen2section: `make demo` and `make test` work on a fresh clone with nothing installed.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= demo_out
JOBS ?= 2
FACTOR ?= 10
STEPS ?= 300
EVAL_EVERY ?= 100

.PHONY: setup test demo bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask]'

setup: $(PY)

test: $(PY)
	$(PY) -m pytest -q

demo: $(PY)
	$(PY) -m augment synth --out $(OUT)/sources --count 200 --seed 0
	$(PY) -m augment run --input $(OUT)/sources --out $(OUT)/shards --factor $(FACTOR) --jobs $(JOBS) --seed 0
	$(PY) -m shards verify $(OUT)/shards
	$(PY) -m shards inspect $(OUT)/shards --head 5
	$(PY) -m shards show $(OUT)/shards --n 8 --out $(OUT)/contact_sheet.png
	$(PY) -m train fit --shards $(OUT)/shards --run $(OUT)/run --max-steps $(STEPS) --eval-every $(EVAL_EVERY)
	$(PY) -m train evaluate --checkpoint $(OUT)/run/last.pt --shards $(OUT)/shards --split val
	$(PY) -m train predict --checkpoint $(OUT)/run/last.pt --out $(OUT)/overlay.png \
	  $(OUT)/sources/$$($(PY) -c "from shards.reader import make_pipeline as m; print(next(iter(m('$(OUT)/shards', 'val', shuffle_buffer=0, decode=False)))['__key__'].rsplit('_v', 1)[0])").png
	$(PY) -m train report $(OUT)/run --out $(OUT)/curves.png
	@echo
	@echo "demo outputs:"
	@echo "  source pairs    $(OUT)/sources"
	@echo "  shards          $(OUT)/shards (manifest.json, rejects.jsonl)"
	@echo "  contact sheet   $(OUT)/contact_sheet.png"
	@echo "  training run    $(OUT)/run (config.json, last.pt, best.pt, metrics.jsonl)"
	@echo "  learning curves $(OUT)/curves.png"
	@echo "  prediction      $(OUT)/overlay.png (a held-out page)"

bench: $(PY)
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(OUT) .pytest_cache build *.egg-info
