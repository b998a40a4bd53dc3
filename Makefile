# screen2section: `make demo` and `make test` work on a fresh clone with nothing installed.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= demo_out
JOBS ?= 2

.PHONY: setup test demo bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'

setup: $(PY)

test: $(PY)
	$(PY) -m pytest -q

demo: $(PY)
	$(PY) -m augment synth --out $(OUT)/sources --count 200 --seed 0
	$(PY) -m augment run --input $(OUT)/sources --out $(OUT)/shards --factor 10 --jobs $(JOBS) --seed 0
	$(PY) -m shards verify $(OUT)/shards
	$(PY) -m shards inspect $(OUT)/shards
	$(PY) -m shards show $(OUT)/shards --n 8 --out $(OUT)/contact_sheet.png
	@echo
	@echo "demo outputs:"
	@echo "  source pairs   $(OUT)/sources"
	@echo "  shards         $(OUT)/shards (manifest.json, rejects.jsonl)"
	@echo "  contact sheet  $(OUT)/contact_sheet.png"

bench: $(PY)
	@echo "benchmarks are not built yet (issue: throughput benchmarks)"; exit 1

clean:
	rm -rf $(OUT) .pytest_cache build *.egg-info
