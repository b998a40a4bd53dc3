VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= demo_out

.PHONY: setup test demo bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'

setup: $(PY)

test: $(PY)
	$(PY) -m pytest -q

demo: $(PY)
	$(PY) -m augment demo --out $(OUT)

bench: $(PY)
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(OUT) .pytest_cache build *.egg-info
