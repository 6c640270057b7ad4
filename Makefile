# One place that knows how to install archc and its test references; README and .ci/run call these targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# the CUDA build of torch 2.14.1 pairs with torchvision 0.29.1 (timm and the reference checks need torchvision)
TORCH := torch==2.14.1 torchvision==0.29.1
APT_PACKAGES := dataset-fashion-mnist graphviz chromium postgresql

.PHONY: demo install install-system test test-all

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[torch,keras,experiments,test]"

# Debian packages the tests read or call: Fashion-MNIST IDX files, Graphviz dot, headless Chromium, PostgreSQL
# (tests/sweep starts its own server on a free port)
install-system:
	@if command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get install -y -q $$missing || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$missing; }; \
	  fi; \
	fi

demo: install
	$(VENV)/bin/archc compile specs/densenet121.yaml --backend torch --force

test: install install-system
	$(PY) -m pytest -q -n 2 -m "not slow" --durations=25 tests

# everything, the long reference checks (deep nets at full resolution) included
test-all: install install-system
	$(PY) -m pytest -q -n 2 tests
