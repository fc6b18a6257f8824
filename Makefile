# Two entry points (see README): `make demo` and `make test` (ruff, then pytest). Both create .venv and
# install the package (with the C++ kernels) through constraints.txt, which pins torch.
# --no-compile: no .pyc for all of torch & co. up front (~360 MB of a ~1.9 GB venv); Python writes
# them for the modules it imports.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py constraints.txt csrc/* 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: setup demo quality style test bench clean

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "optimum-ro needs Python 3.11 (set PYTHON=...)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -c constraints.txt -e ".[dev,bench]"
	rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/optimum-ro demo

# ruff (configured in pyproject.toml): `quality` checks, `style` rewrites.
quality: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

style: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: quality
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/optimum-ro bench

clean:
	rm -rf $(VENV) build *.egg-info optimum_ro/sparse/_C*.so
